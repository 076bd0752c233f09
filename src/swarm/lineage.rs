//! The model-lineage graph of one swarm run: a petgraph DAG of model nodes (the base,
//! the experts, grown pool members, every evaluated particle position, the baseline
//! merges) with fine-tune and merge edges carrying the coefficient each source enters
//! the child with. Exported as GraphML and DOT like [`crate::ancestry`].

use std::fmt::Write as _;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

/// What a model node is.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// The base model pretrained on the skill mixture.
    Base,
    /// A fine-tuned expert, with its skill.
    Expert(String),
    /// A pool member grown by interpolating or extrapolating two experts.
    Grown,
    /// A particle position, with particle index and iteration (0 = initial).
    Particle {
        /// Particle index.
        particle: usize,
        /// Iteration that produced it.
        iteration: usize,
    },
    /// A baseline merge (soup, task arithmetic, TIES), with its name.
    Baseline(String),
}

impl NodeKind {
    /// Short label.
    pub fn label(&self) -> String {
        match self {
            NodeKind::Base => "base".into(),
            NodeKind::Expert(s) => format!("expert-{s}"),
            NodeKind::Grown => "grown".into(),
            NodeKind::Particle { particle, iteration } => format!("p{particle}-it{iteration}"),
            NodeKind::Baseline(name) => name.clone(),
        }
    }
}

/// A model node.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelNode {
    /// Node id, unique in the graph.
    pub id: u64,
    /// What it is.
    pub kind: NodeKind,
    /// Validation loss (the swarm's utility), once evaluated.
    pub valid: Option<f64>,
    /// Checkpoint file name in the run folder, when saved.
    pub checkpoint: Option<String>,
}

/// A fine-tune or merge edge from a source model to a child.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeEdge {
    /// `fine-tune`, or the merge term: `position`, `personal-best`, `global-best`,
    /// `global-worst`, `momentum` (the two positions whose difference is the carried
    /// velocity), `interpolate`, `soup`, `task-arithmetic`, `ties`.
    pub term: String,
    /// The coefficient the source enters the child with (1 for a fine-tune).
    pub coefficient: f64,
}

/// The lineage graph with an index from node id to node.
#[derive(Debug, Clone, Default)]
pub struct ModelLineage {
    /// The graph.
    pub graph: DiGraph<ModelNode, MergeEdge>,
    index: std::collections::BTreeMap<u64, NodeIndex>,
    next: u64,
}

impl ModelLineage {
    /// Add a node and return its id.
    pub fn add(&mut self, kind: NodeKind, valid: Option<f64>) -> u64 {
        let id = self.next;
        self.next += 1;
        let n = self.graph.add_node(ModelNode { id, kind, valid, checkpoint: None });
        self.index.insert(id, n);
        id
    }

    /// Add an edge from `source` to `child` (ignored if either is unknown).
    pub fn link(&mut self, source: u64, child: u64, term: &str, coefficient: f64) {
        if let (Some(&s), Some(&c)) = (self.index.get(&source), self.index.get(&child)) {
            self.graph.add_edge(s, c, MergeEdge { term: term.to_string(), coefficient });
        }
    }

    /// The node with this id.
    pub fn node(&self, id: u64) -> Option<&ModelNode> {
        self.index.get(&id).map(|&n| &self.graph[n])
    }

    /// Record the checkpoint file of a node.
    pub fn set_checkpoint(&mut self, id: u64, file: &str) {
        if let Some(&n) = self.index.get(&id) {
            self.graph[n].checkpoint = Some(file.to_string());
        }
    }

    /// Record the validation utility of a node evaluated after it was added.
    pub fn set_valid(&mut self, id: u64, valid: f64) {
        if let Some(&n) = self.index.get(&id) {
            self.graph[n].valid = Some(valid);
        }
    }

    /// Every ancestor of `id` (including itself), sorted by id.
    pub fn ancestors(&self, id: u64) -> Vec<u64> {
        self.index.get(&id).map_or_else(Vec::new, |&start| crate::ancestry::ancestor_ids(&self.graph, start, |n| n.id))
    }

    /// Graphviz DOT text.
    pub fn to_dot(&self) -> String {
        let mut s = String::from("digraph lineage {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
        for n in self.graph.node_indices() {
            let m = &self.graph[n];
            let valid = m.valid.map(|v| format!("\\nvalid {v:.4}")).unwrap_or_default();
            let _ = writeln!(s, "  n{} [label=\"#{} {}{}\"];", m.id, m.id, m.kind.label(), valid);
        }
        for e in self.graph.edge_references() {
            let w = e.weight();
            let _ = writeln!(
                s,
                "  n{} -> n{} [label=\"{} {:.3}\"];",
                self.graph[e.source()].id,
                self.graph[e.target()].id,
                w.term,
                w.coefficient
            );
        }
        s.push_str("}\n");
        s
    }

    /// GraphML text (networkx, Gephi).
    pub fn to_graphml(&self) -> String {
        let mut s = String::from(concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n",
            "  <key id=\"kind\" for=\"node\" attr.name=\"kind\" attr.type=\"string\"/>\n",
            "  <key id=\"valid\" for=\"node\" attr.name=\"valid\" attr.type=\"double\"/>\n",
            "  <key id=\"checkpoint\" for=\"node\" attr.name=\"checkpoint\" attr.type=\"string\"/>\n",
            "  <key id=\"term\" for=\"edge\" attr.name=\"term\" attr.type=\"string\"/>\n",
            "  <key id=\"coefficient\" for=\"edge\" attr.name=\"coefficient\" attr.type=\"double\"/>\n",
            "  <graph id=\"lineage\" edgedefault=\"directed\">\n",
        ));
        for n in self.graph.node_indices() {
            let m = &self.graph[n];
            let _ = write!(s, "    <node id=\"n{}\"><data key=\"kind\">{}</data>", m.id, xml(&m.kind.label()));
            if let Some(v) = m.valid {
                let _ = write!(s, "<data key=\"valid\">{v}</data>");
            }
            if let Some(c) = &m.checkpoint {
                let _ = write!(s, "<data key=\"checkpoint\">{}</data>", xml(c));
            }
            s.push_str("</node>\n");
        }
        for (i, e) in self.graph.edge_references().enumerate() {
            let w = e.weight();
            let _ = writeln!(
                s,
                "    <edge id=\"e{i}\" source=\"n{}\" target=\"n{}\"><data key=\"term\">{}</data><data key=\"coefficient\">{}</data></edge>",
                self.graph[e.source()].id,
                self.graph[e.target()].id,
                xml(&w.term),
                w.coefficient
            );
        }
        s.push_str("  </graph>\n</graphml>\n");
        s
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_walk_merge_edges_back_to_the_base() {
        let mut l = ModelLineage::default();
        let base = l.add(NodeKind::Base, None);
        let a = l.add(NodeKind::Expert("copy".into()), Some(1.0));
        let b = l.add(NodeKind::Expert("add".into()), Some(2.0));
        l.link(base, a, "fine-tune", 1.0);
        l.link(base, b, "fine-tune", 1.0);
        let m = l.add(NodeKind::Particle { particle: 0, iteration: 1 }, Some(0.5));
        l.link(a, m, "position", 0.7);
        l.link(b, m, "global-best", 0.3);
        let other = l.add(NodeKind::Grown, None);
        assert_eq!(l.ancestors(m), vec![base, a, b, m]);
        assert_eq!(l.ancestors(other), vec![other]);
        assert!(l.to_dot().contains("n1 -> n3 [label=\"position 0.700\"]"));
        assert!(l.to_graphml().contains("<data key=\"kind\">expert-copy</data>"));
    }
}
