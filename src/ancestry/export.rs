//! Exports of a run for other tools: GraphML (networkx, Gephi), node-link JSON
//! (networkx), CSV and JSON tables (pandas), DOT (Graphviz). Everything is rebuilt from
//! the event log, and every format agrees: mechanisms are identified by their integer
//! id, edges by their integer key (their position in the graph, so parallel edges, a
//! child with the same parent twice, stay distinct everywhere), agents are spelled as in
//! the log (`proposer`), and an operator's parameter sits in its own field
//! (`crossover(d=0.83)` is operator `crossover`, parameter `d=0.83`). The graph writers
//! (GraphML, node-link JSON, the edges table) serve every ancestry, mechanisms and models
//! alike: a node's `kind` says which, and merge edges carry their exact `coefficient`.

use std::fmt::Write as _;

use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use serde_json::{Value, json};

use super::{Ancestry, Edge, MechNode, ModelNode, NodeKind};
use crate::sim::events::Event;

/// Escape text for XML attribute and element content.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An operator name and its parameter: `crossover(d=0.83)` is `("crossover", "d=0.83")`,
/// `prune-dead` is `("prune-dead", "")`.
pub fn split_operator(operator: &str) -> (&str, &str) {
    match operator.split_once('(') {
        Some((name, rest)) => (name, rest.strip_suffix(')').unwrap_or(rest)),
        None => (operator, ""),
    }
}

/// Everything the exports say about one mechanism.
struct NodeRow<'a> {
    id: u64,
    node: &'a MechNode,
    /// The genome's name (`(mechanism NAME ...)`).
    label: String,
    /// `alive` or `retired`.
    status: &'static str,
    /// Verified fitness when there is one, else the claim.
    fitness: Option<f64>,
}

fn node_row(id: u64, m: &MechNode) -> NodeRow<'_> {
    NodeRow {
        id,
        node: m,
        label: m.name().to_string(),
        status: if m.retired.is_some() { "retired" } else { "alive" },
        fitness: m.verified.or(m.claimed),
    }
}

/// The edges in key order with their endpoints' ids.
fn edges(a: &Ancestry) -> Vec<(usize, u64, u64, &Edge)> {
    a.graph
        .edge_references()
        .enumerate()
        .map(|(key, e)| (key, a.graph[e.source()].id, a.graph[e.target()].id, e.weight()))
        .collect()
}

/// The mechanism nodes in graph order.
fn nodes(a: &Ancestry) -> impl Iterator<Item = NodeRow<'_>> {
    a.graph.node_indices().filter_map(move |n: NodeIndex| {
        let node = &a.graph[n];
        node.mechanism().map(|m| node_row(node.id, m))
    })
}

/// The ancestry graph as GraphML: one node per mechanism or model (id = its id), one
/// edge per parent link (id = edge key), merges with their coefficient.
pub fn graphml(a: &Ancestry) -> String {
    let mut s = String::from(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n",
        "  <key id=\"label\" for=\"node\" attr.name=\"label\" attr.type=\"string\"/>\n",
        "  <key id=\"kind\" for=\"node\" attr.name=\"kind\" attr.type=\"string\"/>\n",
        "  <key id=\"status\" for=\"node\" attr.name=\"status\" attr.type=\"string\"/>\n",
        "  <key id=\"fitness\" for=\"node\" attr.name=\"fitness\" attr.type=\"double\"/>\n",
        "  <key id=\"tick\" for=\"node\" attr.name=\"tick\" attr.type=\"int\"/>\n",
        "  <key id=\"hash\" for=\"node\" attr.name=\"hash\" attr.type=\"string\"/>\n",
        "  <key id=\"claimed\" for=\"node\" attr.name=\"claimed\" attr.type=\"double\"/>\n",
        "  <key id=\"verified\" for=\"node\" attr.name=\"verified\" attr.type=\"double\"/>\n",
        "  <key id=\"retired\" for=\"node\" attr.name=\"retired\" attr.type=\"int\"/>\n",
        "  <key id=\"genome\" for=\"node\" attr.name=\"genome\" attr.type=\"string\"/>\n",
        "  <key id=\"ekind\" for=\"edge\" attr.name=\"kind\" attr.type=\"string\"/>\n",
        "  <key id=\"agent\" for=\"edge\" attr.name=\"agent\" attr.type=\"string\"/>\n",
        "  <key id=\"operator\" for=\"edge\" attr.name=\"operator\" attr.type=\"string\"/>\n",
        "  <key id=\"param\" for=\"edge\" attr.name=\"operator_param\" attr.type=\"string\"/>\n",
        "  <key id=\"etick\" for=\"edge\" attr.name=\"tick\" attr.type=\"int\"/>\n",
        "  <key id=\"diagnosis\" for=\"edge\" attr.name=\"diagnosis\" attr.type=\"string\"/>\n",
        "  <key id=\"rank\" for=\"edge\" attr.name=\"rank\" attr.type=\"int\"/>\n",
        "  <graph id=\"ancestry\" edgedefault=\"directed\">\n",
    ));
    for n in a.graph.node_indices() {
        let node = &a.graph[n];
        match &node.kind {
            NodeKind::Mechanism(m) => graphml_mechanism(&mut s, &node_row(node.id, m)),
            NodeKind::Model(m) => graphml_model(&mut s, node.id, m),
        }
    }
    for (key, source, target, w) in edges(a) {
        let (operator, param) = split_operator(&w.operator);
        let _ = write!(
            s,
            "    <edge id=\"{key}\" source=\"{source}\" target=\"{target}\"><data key=\"ekind\">{}</data><data key=\"agent\">{}</data><data key=\"operator\">{}</data><data key=\"param\">{}</data><data key=\"etick\">{}</data><data key=\"diagnosis\">{}</data><data key=\"rank\">{}</data>",
            w.kind.as_str(),
            w.agent.name(),
            xml(operator),
            xml(param),
            w.tick,
            xml(w.diagnosis.as_deref().unwrap_or("")),
            w.rank
        );
        if let Some(c) = w.coefficient {
            let _ = write!(s, "<data key=\"coefficient\">{c}</data>");
        }
        s.push_str("</edge>\n");
    }
    s.push_str("  </graph>\n</graphml>\n");
    s
}

fn graphml_mechanism(s: &mut String, row: &NodeRow) {
    let m = row.node;
    let _ = write!(
        s,
        "    <node id=\"{}\"><data key=\"label\">{}</data><data key=\"kind\">mechanism</data><data key=\"status\">{}</data>",
        row.id,
        xml(&row.label),
        row.status
    );
    if let Some(f) = row.fitness {
        let _ = write!(s, "<data key=\"fitness\">{f}</data>");
    }
    let _ = write!(s, "<data key=\"tick\">{}</data><data key=\"hash\">{}</data>", m.tick, xml(&m.hash));
    if let Some(c) = m.claimed {
        let _ = write!(s, "<data key=\"claimed\">{c}</data>");
    }
    if let Some(v) = m.verified {
        let _ = write!(s, "<data key=\"verified\">{v}</data>");
    }
    if let Some(r) = m.retired {
        let _ = write!(s, "<data key=\"retired\">{r}</data>");
    }
    let _ = writeln!(s, "<data key=\"genome\">{}</data></node>", xml(&m.genome));
}

fn graphml_model(s: &mut String, id: u64, m: &ModelNode) {
    let _ = write!(
        s,
        "    <node id=\"{id}\"><data key=\"label\">{}</data><data key=\"kind\">model</data><data key=\"tick\">{}</data>",
        xml(&m.kind.label()),
        m.kind.iteration()
    );
    if let Some(v) = m.valid {
        let _ = write!(s, "<data key=\"valid\">{v}</data>");
    }
    if let Some(c) = &m.checkpoint {
        let _ = write!(s, "<data key=\"checkpoint\">{}</data>", xml(c));
    }
    s.push_str("</node>\n");
}

/// Write CSV records (the `csv` crate quotes as RFC 4180 says).
fn csv_text(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(header);
    for row in rows {
        let _ = w.write_record(&row);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn opt<T: ToString>(x: Option<T>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

/// How each mechanism was born, from its `Born` event: parents in order, agent,
/// operator, diagnosis.
struct Birth {
    parents: Vec<u64>,
    agent: &'static str,
    operator: String,
    diagnosis: Option<String>,
}

fn births(events: &[Event]) -> std::collections::BTreeMap<u64, Birth> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Born { id, parents, agent, operator, diagnosis, .. } => Some((
                *id,
                Birth {
                    parents: parents.clone(),
                    agent: agent.name(),
                    operator: operator.to_string(),
                    diagnosis: diagnosis.map(|d| d.as_str().to_string()),
                },
            )),
            _ => None,
        })
        .collect()
}

/// One row per mechanism (the graph's nodes): the fields every table export shares.
fn mechanism_rows(a: &Ancestry, events: &[Event]) -> Vec<Value> {
    let births = births(events);
    nodes(a)
        .map(|row| {
            let m = row.node;
            let birth = births.get(&row.id);
            let (operator, param) = birth.map(|b| split_operator(&b.operator)).unwrap_or(("", ""));
            json!({
                "id": row.id, "label": row.label, "kind": "mechanism", "status": row.status, "tick": m.tick,
                "parents": birth.map(|b| b.parents.clone()).unwrap_or_default(),
                "agent": birth.map(|b| b.agent), "operator": operator, "operator_param": param,
                "diagnosis": birth.and_then(|b| b.diagnosis.clone()),
                "fitness": row.fitness, "claimed": m.claimed, "verified": m.verified, "retired": m.retired,
                "hash": m.hash, "genome": m.genome,
            })
        })
        .collect()
}

const MECHANISM_COLUMNS: [&str; 16] = [
    "id",
    "label",
    "kind",
    "status",
    "tick",
    "parents",
    "agent",
    "operator",
    "operator_param",
    "diagnosis",
    "fitness",
    "claimed",
    "verified",
    "retired",
    "hash",
    "genome",
];

/// The mechanisms table as CSV, one row per mechanism ever born (parents space-separated).
pub fn mechanisms_csv(a: &Ancestry, events: &[Event]) -> String {
    let cell = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.trim_end().to_string(),
        Value::Array(xs) => xs.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    };
    let rows = mechanism_rows(a, events).into_iter().map(|r| MECHANISM_COLUMNS.iter().map(|c| cell(&r[*c])).collect());
    csv_text(&MECHANISM_COLUMNS, rows)
}

/// The ancestry edges as CSV, one row per edge in key order (`coefficient` empty but for
/// merges and fine-tunes).
pub fn edges_csv(a: &Ancestry) -> String {
    let rows = edges(a).into_iter().map(|(key, source, target, w)| {
        let (operator, param) = split_operator(&w.operator);
        vec![
            key.to_string(),
            source.to_string(),
            target.to_string(),
            w.kind.as_str().to_string(),
            w.agent.name().to_string(),
            operator.to_string(),
            param.to_string(),
            w.tick.to_string(),
            opt(w.diagnosis.clone()),
            w.rank.to_string(),
            opt(w.coefficient),
        ]
    });
    csv_text(
        &[
            "key",
            "source",
            "target",
            "kind",
            "agent",
            "operator",
            "operator_param",
            "tick",
            "diagnosis",
            "rank",
            "coefficient",
        ],
        rows,
    )
}

/// The events table as CSV: tick, event kind, mechanism id (when there is one) and
/// the whole event as JSON.
pub fn events_csv(events: &[Event]) -> String {
    let rows = events.iter().map(|e| {
        let v = serde_json::to_value(e).unwrap_or(Value::Null);
        let kind = v.get("event").and_then(Value::as_str).unwrap_or("").to_string();
        let id = v.get("id").or_else(|| v.get("parent")).map(|x| x.to_string()).unwrap_or_default();
        vec![e.tick().to_string(), kind, id, v.to_string()]
    });
    csv_text(&["tick", "event", "id", "json"], rows)
}

/// The mechanisms table as JSON (an array of objects, the CSV's columns).
pub fn mechanisms_json(a: &Ancestry, events: &[Event]) -> String {
    serde_json::to_string_pretty(&mechanism_rows(a, events)).unwrap_or_default() + "\n"
}

/// The ancestry graph as node-link JSON (networkx's `node_link_graph`): a multigraph,
/// each link with its `key`, so parallel edges survive the round trip.
pub fn ancestry_json(a: &Ancestry) -> String {
    let nodes: Vec<Value> = a
        .graph
        .node_weights()
        .map(|node| match &node.kind {
            NodeKind::Mechanism(m) => {
                let row = node_row(node.id, m);
                json!({"id": row.id, "label": row.label, "kind": "mechanism", "status": row.status, "fitness": row.fitness,
                       "tick": m.tick, "hash": m.hash, "claimed": m.claimed, "verified": m.verified, "retired": m.retired})
            }
            NodeKind::Model(m) => json!({"id": node.id, "label": m.kind.label(), "kind": "model",
                                         "tick": m.kind.iteration(), "valid": m.valid, "checkpoint": m.checkpoint}),
        })
        .collect();
    let links: Vec<Value> = edges(a)
        .into_iter()
        .map(|(key, source, target, w)| {
            let (operator, param) = split_operator(&w.operator);
            json!({
                "key": key, "source": source, "target": target, "kind": w.kind.as_str(), "agent": w.agent.name(),
                "operator": operator, "operator_param": param, "tick": w.tick, "diagnosis": w.diagnosis, "rank": w.rank,
                "coefficient": w.coefficient,
            })
        })
        .collect();
    let graph = json!({"directed": true, "multigraph": true, "graph": {}, "nodes": nodes, "links": links});
    serde_json::to_string_pretty(&graph).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_split_from_their_parameters() {
        assert_eq!(split_operator("crossover(d=0.83)"), ("crossover", "d=0.83"));
        assert_eq!(split_operator("prune-dead"), ("prune-dead", ""));
        assert_eq!(xml("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
