//! The ancestry graph: one petgraph DAG type for every lineage the crate records. Its
//! nodes are mechanisms (built from an evolution run's event log) or models (the model
//! swarm's base, experts, particles and baseline merges); its typed edges (mutation,
//! crossover, graft, repair, merge, fine-tune) carry agent, operator, tick, the
//! diagnosis that motivated them and, for merges, the exact coefficient the source
//! enters the child with. One set of queries (ancestors, primary parents) and one set of
//! writers (DOT here, GraphML and the tables in [`export`]) serve both.

pub mod export;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::sim::components::AgentKind;
use crate::sim::events::Event;
use crate::sim::operators::{MadeBy, Operator};

/// What the ancestry records of a mechanism.
#[derive(Debug, Clone, PartialEq)]
pub struct MechNode {
    /// Birth tick.
    pub tick: u32,
    /// Structural hash (hex).
    pub hash: String,
    /// Canonical genome text.
    pub genome: String,
    /// Claimed fitness, once evaluated.
    pub claimed: Option<f64>,
    /// Verified fitness, once verified.
    pub verified: Option<f64>,
    /// Tick it left the population.
    pub retired: Option<u32>,
    /// Its genome as born, when its constants were tuned before its claim (`genome`
    /// is then the tuned one).
    pub untuned: Option<String>,
}

impl MechNode {
    /// The genome's name (`(mechanism NAME ...)`).
    pub fn name(&self) -> &str {
        let rest = self.genome.trim_start().strip_prefix("(mechanism").unwrap_or("");
        rest.split_whitespace().next().unwrap_or("").trim_end_matches(')')
    }
}

/// What a model node is (model-swarm lineages).
#[derive(Debug, Clone, PartialEq)]
pub enum ModelKind {
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

impl ModelKind {
    /// Short label.
    pub fn label(&self) -> String {
        match self {
            ModelKind::Base => "base".into(),
            ModelKind::Expert(s) => format!("expert-{s}"),
            ModelKind::Grown => "grown".into(),
            ModelKind::Particle { particle, iteration } => format!("p{particle}-it{iteration}"),
            ModelKind::Baseline(name) => name.clone(),
        }
    }

    /// The iteration that produced it (0 for everything but later particle positions).
    pub fn iteration(&self) -> u32 {
        match self {
            ModelKind::Particle { iteration, .. } => *iteration as u32,
            _ => 0,
        }
    }
}

/// What the ancestry records of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelNode {
    /// What it is.
    pub kind: ModelKind,
    /// Validation loss (the swarm's utility), once evaluated.
    pub valid: Option<f64>,
    /// Checkpoint file name in the run folder, when saved.
    pub checkpoint: Option<String>,
}

/// A node's payload: a mechanism or a model.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A mechanism of an evolution run.
    Mechanism(MechNode),
    /// A model of a model-swarm run.
    Model(ModelNode),
}

impl NodeKind {
    /// `mechanism` or `model`, as the exports write it.
    pub fn name(&self) -> &'static str {
        match self {
            NodeKind::Mechanism(_) => "mechanism",
            NodeKind::Model(_) => "model",
        }
    }

    /// Short label: the genome's name, or the model's kind (`expert-copy`, `p0-it3`).
    pub fn label(&self) -> String {
        match self {
            NodeKind::Mechanism(m) => m.name().to_string(),
            NodeKind::Model(m) => m.kind.label(),
        }
    }
}

/// A node: its id (unique in its graph: mechanism ids, or model ids counted from 0) and
/// payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Node id.
    pub id: u64,
    /// The mechanism or model.
    pub kind: NodeKind,
}

impl Node {
    /// The mechanism, when the node is one.
    pub fn mechanism(&self) -> Option<&MechNode> {
        match &self.kind {
            NodeKind::Mechanism(m) => Some(m),
            NodeKind::Model(_) => None,
        }
    }

    /// The model, when the node is one.
    pub fn model(&self) -> Option<&ModelNode> {
        match &self.kind {
            NodeKind::Model(m) => Some(m),
            NodeKind::Mechanism(_) => None,
        }
    }

    /// Birth tick (a model's iteration).
    pub fn tick(&self) -> u32 {
        match &self.kind {
            NodeKind::Mechanism(m) => m.tick,
            NodeKind::Model(m) => m.kind.iteration(),
        }
    }
}

/// The kind of an ancestry edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeKind {
    /// One-parent change by the proposer.
    Mutation,
    /// Subtree crossover (proposer or recombiner).
    Crossover,
    /// Graft of donor material.
    Graft,
    /// Repair (dead-gene pruning by the verifier).
    Repair,
    /// A weighted merge: the child is an affine combination of its sources (genome
    /// constants by the recombiner's constant swarm, model weights by the model swarm);
    /// the edge carries the source's coefficient.
    Merge,
    /// A model fine-tuned from its source.
    FineTune,
}

impl EdgeKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Mutation => "mutation",
            EdgeKind::Crossover => "crossover",
            EdgeKind::Graft => "graft",
            EdgeKind::Repair => "repair",
            EdgeKind::Merge => "merge",
            EdgeKind::FineTune => "fine-tune",
        }
    }

    /// The kind of a mechanism birth made by `made`.
    pub fn of_birth(made: MadeBy) -> EdgeKind {
        match made {
            MadeBy::PruneDead => EdgeKind::Repair,
            MadeBy::Crossover { .. } | MadeBy::Operator(Operator::Crossover) => EdgeKind::Crossover,
            MadeBy::Operator(Operator::Graft) => EdgeKind::Graft,
            MadeBy::ConstantSwarm => EdgeKind::Merge,
            _ => EdgeKind::Mutation,
        }
    }
}

/// An edge from parent to child.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// Kind.
    pub kind: EdgeKind,
    /// Acting agent (the recombiner for every model-swarm merge and fine-tune).
    pub agent: AgentKind,
    /// Operator name (for model edges, the merge term: `position`, `global-best`, ...).
    pub operator: String,
    /// Tick (a model edge's iteration).
    pub tick: u32,
    /// Motivating diagnosis.
    pub diagnosis: Option<String>,
    /// Position of the parent in the child's parent list: 0 is the primary parent (the
    /// one mutated, or the first crossover parent), whose fitness the child is judged by.
    pub rank: usize,
    /// For merges and fine-tunes, the exact coefficient the source enters the child with.
    pub coefficient: Option<f64>,
}

/// The ancestry graph with an index from node id to node.
#[derive(Debug, Clone, Default)]
pub struct Ancestry {
    /// The graph.
    pub graph: DiGraph<Node, Edge>,
    /// Node of each id.
    pub index: BTreeMap<u64, NodeIndex>,
}

/// The ids of every node `start` descends from (itself included), sorted: what a
/// depth-first search reaches against the edges.
fn ancestor_ids(graph: &DiGraph<Node, Edge>, start: NodeIndex) -> Vec<u64> {
    let reversed = petgraph::visit::Reversed(graph);
    let mut dfs = petgraph::visit::Dfs::new(reversed, start);
    let mut ids = Vec::new();
    while let Some(n) = dfs.next(reversed) {
        ids.push(graph[n].id);
    }
    ids.sort_unstable();
    ids
}

impl Ancestry {
    /// Add a node (replacing the index entry of an id seen before). Returns its index.
    pub fn add(&mut self, id: u64, kind: NodeKind) -> NodeIndex {
        let n = self.graph.add_node(Node { id, kind });
        self.index.insert(id, n);
        n
    }

    /// Add an edge from `source` to `child` (ignored if either id is unknown).
    pub fn link(&mut self, source: u64, child: u64, edge: Edge) {
        if let (Some(&s), Some(&c)) = (self.index.get(&source), self.index.get(&child)) {
            self.graph.add_edge(s, c, edge);
        }
    }

    /// The node with this id.
    pub fn node(&self, id: u64) -> Option<&Node> {
        self.index.get(&id).map(|&n| &self.graph[n])
    }

    /// The mechanism with this id.
    pub fn mechanism(&self, id: u64) -> Option<&MechNode> {
        self.node(id).and_then(Node::mechanism)
    }

    /// The node with this id, mutably.
    pub fn node_mut(&mut self, id: u64) -> Option<&mut Node> {
        let &i = self.index.get(&id)?;
        self.graph.node_weight_mut(i)
    }

    /// Build the graph from events in log order.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut a = Ancestry::default();
        for e in events {
            match e {
                Event::Born { tick, id, parents, agent, operator, diagnosis, hash, genome, coefficients } => {
                    let node = MechNode {
                        tick: *tick,
                        hash: hash.clone(),
                        genome: genome.clone(),
                        claimed: None,
                        verified: None,
                        retired: None,
                        untuned: None,
                    };
                    a.add(*id, NodeKind::Mechanism(node));
                    let kind = EdgeKind::of_birth(*operator);
                    for (rank, p) in parents.iter().enumerate() {
                        let edge = Edge {
                            kind,
                            agent: *agent,
                            operator: operator.to_string(),
                            tick: *tick,
                            diagnosis: diagnosis.map(|d| d.as_str().to_string()),
                            rank,
                            coefficient: coefficients.get(rank).copied(),
                        };
                        a.link(*p, *id, edge);
                    }
                }
                Event::Evaluated { id, claimed, .. } => {
                    if let Some(n) = a.mech_mut(*id) {
                        n.claimed = Some(*claimed);
                    }
                }
                Event::Verified { id, verified, .. } => {
                    if let Some(n) = a.mech_mut(*id) {
                        n.verified = Some(*verified);
                    }
                }
                Event::Retired { tick, id, .. } => {
                    if let Some(n) = a.mech_mut(*id) {
                        n.retired = Some(*tick);
                    }
                }
                Event::Tuned { id, hash, genome, .. } => {
                    if let Some(n) = a.mech_mut(*id)
                        && n.genome != *genome
                    {
                        n.untuned = Some(std::mem::replace(&mut n.genome, genome.clone()));
                        n.hash.clone_from(hash);
                    }
                }
                _ => {}
            }
        }
        a
    }

    fn mech_mut(&mut self, id: u64) -> Option<&mut MechNode> {
        match &mut self.node_mut(id)?.kind {
            NodeKind::Mechanism(m) => Some(m),
            NodeKind::Model(_) => None,
        }
    }

    /// Every ancestor of `id` (including itself), oldest first by id.
    pub fn ancestors(&self, id: u64) -> Vec<u64> {
        self.index.get(&id).map_or_else(Vec::new, |&start| ancestor_ids(&self.graph, start))
    }

    /// Direct parents of `id`, by id.
    pub fn parents(&self, id: u64) -> Vec<u64> {
        let Some(&n) = self.index.get(&id) else { return vec![] };
        let mut ids: Vec<u64> =
            self.graph.edges_directed(n, Direction::Incoming).map(|e| self.graph[e.source()].id).collect();
        ids.sort_unstable();
        ids
    }

    /// The edge from node `n`'s primary parent (lowest rank, then lowest parent id), if
    /// it has parents.
    pub fn primary_incoming(&self, n: NodeIndex) -> Option<petgraph::graph::EdgeReference<'_, Edge>> {
        self.graph.edges_directed(n, Direction::Incoming).min_by_key(|e| (e.weight().rank, self.graph[e.source()].id))
    }

    /// The path from a seed to `id` following primary parents (`parents[0]` of each
    /// birth).
    pub fn first_parent_path(&self, id: u64) -> Vec<(u64, Option<Edge>)> {
        let mut path = Vec::new();
        let mut cur = self.index.get(&id).copied();
        while let Some(n) = cur {
            let first = self.primary_incoming(n);
            path.push((self.graph[n].id, first.map(|e| e.weight().clone())));
            cur = first.map(|e| e.source());
        }
        path.reverse();
        path
    }

    /// Graphviz DOT text (nodes labelled with id and fitness or validation loss, edges
    /// with operator, and for merges the coefficient, rounded in the label and exact in
    /// the edge's `coefficient` attribute). Node ids are the graph's ids and each edge's
    /// `id` its edge key, as in every other export (petgraph's DOT writer numbers nodes by
    /// graph index, so it does not fit here).
    pub fn to_dot(&self) -> String {
        let mut s = String::from("digraph ancestry {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
        for n in self.graph.node_indices() {
            let node = &self.graph[n];
            let label = match &node.kind {
                NodeKind::Mechanism(m) => {
                    let fit = match (m.verified, m.claimed) {
                        (Some(v), _) => format!("verified {v:.3}"),
                        (None, Some(c)) => format!("claimed {c:.3}"),
                        _ => "unevaluated".to_string(),
                    };
                    format!("#{} t{}\n{fit}", node.id, m.tick)
                }
                NodeKind::Model(m) => {
                    let valid = m.valid.map(|v| format!("\nvalid {v:.4}")).unwrap_or_default();
                    format!("#{} {}{valid}", node.id, m.kind.label())
                }
            };
            let _ = writeln!(s, "  {} [label=\"{}\"];", node.id, dot_text(&label));
        }
        for (key, e) in self.graph.edge_references().enumerate() {
            let w = e.weight();
            let diagnosis = w.diagnosis.as_ref().map(|d| format!(" ({d})")).unwrap_or_default();
            let (source, target) = (self.graph[e.source()].id, self.graph[e.target()].id);
            match w.coefficient {
                None => {
                    let label = format!("{}{diagnosis}", w.operator);
                    let _ = writeln!(s, "  {source} -> {target} [id={key}, label=\"{}\"];", dot_text(&label));
                }
                Some(c) => {
                    let label = format!("{}{diagnosis} {c:.3}", w.operator);
                    let _ = writeln!(
                        s,
                        "  {source} -> {target} [id={key}, label=\"{}\", kind=\"{}\", coefficient=\"{c}\"];",
                        dot_text(&label),
                        w.kind.as_str()
                    );
                }
            }
        }
        s.push_str("}\n");
        s
    }
}

/// Text inside a DOT double-quoted string: backslashes and quotes escaped, line breaks
/// as DOT's `\n`.
fn dot_text(t: &str) -> String {
    t.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
