//! The model lineage of one swarm run: an [`Ancestry`] whose nodes are models (the
//! base, the experts, grown pool members, every evaluated particle position, the
//! baseline merges) and whose fine-tune and merge edges carry the coefficient each source
//! enters the child with. The graph type, its queries and its GraphML and DOT writers
//! are the mechanism ancestry's; this module only numbers the models and spells the
//! swarm's edges.

use std::ops::Deref;

use crate::ancestry::{Ancestry, Edge, EdgeKind, ModelNode, NodeKind as Payload};
use crate::sim::components::AgentKind;

pub use crate::ancestry::ModelKind as NodeKind;

/// The lineage graph of a swarm run; reads as the [`Ancestry`] it is.
#[derive(Debug, Clone, Default)]
pub struct ModelLineage {
    graph: Ancestry,
    next: u64,
}

impl Deref for ModelLineage {
    type Target = Ancestry;

    fn deref(&self) -> &Ancestry {
        &self.graph
    }
}

impl ModelLineage {
    /// Add a model node and return its id (ids count from 0).
    pub fn add(&mut self, kind: NodeKind, valid: Option<f64>) -> u64 {
        let id = self.next;
        self.next += 1;
        self.graph.add(id, Payload::Model(ModelNode { kind, valid, checkpoint: None }));
        id
    }

    /// Add an edge from `source` to `child` (ignored if either is unknown): a
    /// `fine-tune`, or a merge term (`position`, `personal-best`, `global-best`,
    /// `global-worst`, `momentum` (the two positions whose difference is the carried
    /// velocity), `interpolate`, `soup`, `task-arithmetic`, `ties`), with the
    /// coefficient the source enters the child with (1 for a fine-tune).
    pub fn link(&mut self, source: u64, child: u64, term: &str, coefficient: f64) {
        let Some(&c) = self.graph.index.get(&child) else { return };
        let rank = self.graph.graph.edges_directed(c, petgraph::Direction::Incoming).count();
        let tick = self.graph.node(child).map_or(0, |n| n.tick());
        let kind = if term == "fine-tune" { EdgeKind::FineTune } else { EdgeKind::Merge };
        let edge = Edge {
            kind,
            agent: AgentKind::Recombiner,
            operator: term.to_string(),
            tick,
            diagnosis: None,
            rank,
            coefficient: Some(coefficient),
        };
        self.graph.link(source, child, edge);
    }

    /// The model with this id.
    pub fn node(&self, id: u64) -> Option<&ModelNode> {
        self.graph.node(id).and_then(|n| n.model())
    }

    fn model_mut(&mut self, id: u64) -> Option<&mut ModelNode> {
        match &mut self.graph.node_mut(id)?.kind {
            Payload::Model(m) => Some(m),
            Payload::Mechanism(_) => None,
        }
    }

    /// Record the checkpoint file of a node.
    pub fn set_checkpoint(&mut self, id: u64, file: &str) {
        if let Some(m) = self.model_mut(id) {
            m.checkpoint = Some(file.to_string());
        }
    }

    /// Record the validation utility of a node evaluated after it was added.
    pub fn set_valid(&mut self, id: u64, valid: f64) {
        if let Some(m) = self.model_mut(id) {
            m.valid = Some(valid);
        }
    }

    /// Graphviz DOT text: the ancestry's writer ([`Ancestry::to_dot`]).
    pub fn to_dot(&self) -> String {
        self.graph.to_dot()
    }

    /// GraphML text (networkx, Gephi): the ancestry's writer
    /// ([`crate::ancestry::export::graphml`]).
    pub fn to_graphml(&self) -> String {
        crate::ancestry::export::graphml(&self.graph)
    }
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
        l.set_checkpoint(a, "expert-copy.safetensors");
        assert_eq!(l.ancestors(m), vec![base, a, b, m]);
        assert_eq!(l.ancestors(other), vec![other]);
        assert_eq!(l.node(a).and_then(|n| n.checkpoint.as_deref()), Some("expert-copy.safetensors"));
        let dot = l.to_dot();
        assert!(dot.contains("1 -> 3 [id=2, label=\"position 0.700\", kind=\"merge\", coefficient=\"0.7\"]"), "{dot}");
        assert!(
            dot.contains("0 -> 1 [id=0, label=\"fine-tune 1.000\", kind=\"fine-tune\", coefficient=\"1\"]"),
            "{dot}"
        );
        let graphml = l.to_graphml();
        assert!(graphml.contains("<data key=\"label\">expert-copy</data><data key=\"kind\">model</data>"), "{graphml}");
        assert!(graphml.contains("<data key=\"ekind\">merge</data>"));
        assert!(graphml.contains("<data key=\"operator\">global-best</data>"));
        assert!(graphml.contains("<data key=\"rank\">1</data><data key=\"coefficient\">0.3</data>"), "{graphml}");
        assert!(graphml.contains("<data key=\"checkpoint\">expert-copy.safetensors</data>"));
    }
}
