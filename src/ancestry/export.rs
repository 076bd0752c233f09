//! Exports of a run for other tools: GraphML (networkx, Gephi), JSON and CSV tables
//! (pandas), DOT (Graphviz). Everything is rebuilt from the event log.

use std::fmt::Write as _;

use petgraph::visit::EdgeRef;
use serde_json::{Value, json};

use super::{Ancestry, MechNode};
use crate::sim::events::Event;

/// Escape text for XML attribute and element content.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Quote a CSV field (RFC 4180).
fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

/// The ancestry graph as GraphML: one node per mechanism, one edge per parent link.
pub fn graphml(a: &Ancestry) -> String {
    let mut s = String::from(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n",
        "  <key id=\"tick\" for=\"node\" attr.name=\"tick\" attr.type=\"int\"/>\n",
        "  <key id=\"hash\" for=\"node\" attr.name=\"hash\" attr.type=\"string\"/>\n",
        "  <key id=\"claimed\" for=\"node\" attr.name=\"claimed\" attr.type=\"double\"/>\n",
        "  <key id=\"verified\" for=\"node\" attr.name=\"verified\" attr.type=\"double\"/>\n",
        "  <key id=\"retired\" for=\"node\" attr.name=\"retired\" attr.type=\"int\"/>\n",
        "  <key id=\"genome\" for=\"node\" attr.name=\"genome\" attr.type=\"string\"/>\n",
        "  <key id=\"kind\" for=\"edge\" attr.name=\"kind\" attr.type=\"string\"/>\n",
        "  <key id=\"agent\" for=\"edge\" attr.name=\"agent\" attr.type=\"string\"/>\n",
        "  <key id=\"operator\" for=\"edge\" attr.name=\"operator\" attr.type=\"string\"/>\n",
        "  <key id=\"etick\" for=\"edge\" attr.name=\"tick\" attr.type=\"int\"/>\n",
        "  <key id=\"diagnosis\" for=\"edge\" attr.name=\"diagnosis\" attr.type=\"string\"/>\n",
        "  <graph id=\"ancestry\" edgedefault=\"directed\">\n",
    ));
    for n in a.graph.node_indices() {
        let m = &a.graph[n];
        let _ = write!(
            s,
            "    <node id=\"m{}\"><data key=\"tick\">{}</data><data key=\"hash\">{}</data>",
            m.id,
            m.tick,
            xml(&m.hash)
        );
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
    for (i, e) in a.graph.edge_references().enumerate() {
        let w = e.weight();
        let _ = writeln!(
            s,
            "    <edge id=\"e{i}\" source=\"m{}\" target=\"m{}\"><data key=\"kind\">{}</data><data key=\"agent\">{:?}</data><data key=\"operator\">{}</data><data key=\"etick\">{}</data><data key=\"diagnosis\">{}</data></edge>",
            a.graph[e.source()].id,
            a.graph[e.target()].id,
            w.kind.as_str(),
            w.agent,
            xml(&w.operator),
            w.tick,
            xml(w.diagnosis.as_deref().unwrap_or(""))
        );
    }
    s.push_str("  </graph>\n</graphml>\n");
    s
}

/// How a mechanism was born, from its `Born` event.
struct BirthRow {
    id: u64,
    parents: Vec<u64>,
    agent: String,
    operator: String,
    diagnosis: Option<String>,
}

/// Every birth in log order.
fn births(events: &[Event]) -> Vec<BirthRow> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Born { id, parents, agent, operator, diagnosis, .. } => Some(BirthRow {
                id: *id,
                parents: parents.clone(),
                agent: format!("{agent:?}").to_lowercase(),
                operator: operator.clone(),
                diagnosis: diagnosis.map(|d| d.as_str().to_string()),
            }),
            _ => None,
        })
        .collect()
}

fn node_of(a: &Ancestry, id: u64) -> Option<&MechNode> {
    a.index.get(&id).map(|&n| &a.graph[n])
}

/// The mechanisms table as CSV, one row per mechanism ever born.
pub fn mechanisms_csv(a: &Ancestry, events: &[Event]) -> String {
    let mut s = String::from("id,tick,parents,agent,operator,diagnosis,claimed,verified,retired,hash,genome\n");
    for BirthRow { id, parents, agent, operator, diagnosis } in births(events) {
        let Some(m) = node_of(a, id) else { continue };
        let parents: Vec<String> = parents.iter().map(u64::to_string).collect();
        let _ = writeln!(
            s,
            "{id},{},{},{agent},{},{},{},{},{},{},{}",
            m.tick,
            csv(&parents.join(" ")),
            csv(&operator),
            diagnosis.unwrap_or_default(),
            opt(m.claimed),
            opt(m.verified),
            m.retired.map(|r| r.to_string()).unwrap_or_default(),
            m.hash,
            csv(m.genome.trim_end())
        );
    }
    s
}

/// The events table as CSV: tick, event kind, mechanism id (when there is one) and
/// the whole event as JSON.
pub fn events_csv(events: &[Event]) -> String {
    let mut s = String::from("tick,event,id,json\n");
    for e in events {
        let v = serde_json::to_value(e).unwrap_or(Value::Null);
        let kind = v.get("event").and_then(Value::as_str).unwrap_or("").to_string();
        let id = v.get("id").or_else(|| v.get("parent")).map(|x| x.to_string()).unwrap_or_default();
        let _ = writeln!(s, "{},{kind},{id},{}", e.tick(), csv(&v.to_string()));
    }
    s
}

/// The mechanisms table as JSON (an array of objects).
pub fn mechanisms_json(a: &Ancestry, events: &[Event]) -> String {
    let rows: Vec<Value> = births(events)
        .into_iter()
        .filter_map(|BirthRow { id, parents, agent, operator, diagnosis }| {
            let m = node_of(a, id)?;
            Some(json!({
                "id": id, "tick": m.tick, "parents": parents, "agent": agent, "operator": operator,
                "diagnosis": diagnosis, "claimed": m.claimed, "verified": m.verified, "retired": m.retired,
                "hash": m.hash, "genome": m.genome,
            }))
        })
        .collect();
    serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n"
}

/// The ancestry graph as node-link JSON (the layout networkx's `node_link_graph` reads).
pub fn ancestry_json(a: &Ancestry) -> String {
    let nodes: Vec<Value> = a
        .graph
        .node_indices()
        .map(|n| {
            let m = &a.graph[n];
            json!({"id": m.id, "tick": m.tick, "hash": m.hash, "claimed": m.claimed, "verified": m.verified, "retired": m.retired})
        })
        .collect();
    let links: Vec<Value> = a
        .graph
        .edge_references()
        .map(|e| {
            let w = e.weight();
            json!({
                "source": a.graph[e.source()].id, "target": a.graph[e.target()].id, "kind": w.kind.as_str(),
                "agent": format!("{:?}", w.agent).to_lowercase(), "operator": w.operator, "tick": w.tick, "diagnosis": w.diagnosis,
            })
        })
        .collect();
    let graph = json!({"directed": true, "multigraph": false, "graph": {}, "nodes": nodes, "links": links});
    serde_json::to_string_pretty(&graph).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv("a"), "a");
        assert_eq!(csv("a,b"), "\"a,b\"");
        assert_eq!(csv("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(xml("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
