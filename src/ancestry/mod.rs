//! The ancestry graph: a petgraph DAG of mechanisms built from the event log, with
//! typed edges (mutation, crossover, graft, repair) carrying agent, operator, tick and
//! the diagnosis that motivated them.

pub mod export;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::sim::components::AgentKind;
use crate::sim::events::Event;

/// A mechanism node.
#[derive(Debug, Clone, PartialEq)]
pub struct MechNode {
    /// Mechanism id.
    pub id: u64,
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
}

impl EdgeKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Mutation => "mutation",
            EdgeKind::Crossover => "crossover",
            EdgeKind::Graft => "graft",
            EdgeKind::Repair => "repair",
        }
    }
}

/// An edge from parent to child.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// Kind.
    pub kind: EdgeKind,
    /// Acting agent.
    pub agent: AgentKind,
    /// Operator name.
    pub operator: String,
    /// Tick.
    pub tick: u32,
    /// Motivating diagnosis.
    pub diagnosis: Option<String>,
    /// Position of the parent in the child's parent list: 0 is the primary parent (the
    /// one mutated, or the first crossover parent), whose fitness the child is judged by.
    pub rank: usize,
}

/// The ancestry graph with an index from mechanism id to node.
#[derive(Debug, Clone, Default)]
pub struct Ancestry {
    /// The graph.
    pub graph: DiGraph<MechNode, Edge>,
    /// Node of each mechanism id.
    pub index: BTreeMap<u64, NodeIndex>,
}

/// The ids of every node `start` descends from (itself included), sorted: what a
/// depth-first search reaches against the edges. Shared by the mechanism ancestry and
/// the model-swarm lineage.
pub fn ancestor_ids<N, E>(graph: &DiGraph<N, E>, start: NodeIndex, id: impl Fn(&N) -> u64) -> Vec<u64> {
    let reversed = petgraph::visit::Reversed(graph);
    let mut dfs = petgraph::visit::Dfs::new(reversed, start);
    let mut ids = Vec::new();
    while let Some(n) = dfs.next(reversed) {
        ids.push(id(&graph[n]));
    }
    ids.sort_unstable();
    ids
}

impl Ancestry {
    /// Build the graph from events in log order.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut a = Ancestry::default();
        for e in events {
            match e {
                Event::Born { tick, id, parents, agent, operator, diagnosis, hash, genome } => {
                    let node = a.graph.add_node(MechNode {
                        id: *id,
                        tick: *tick,
                        hash: hash.clone(),
                        genome: genome.clone(),
                        claimed: None,
                        verified: None,
                        retired: None,
                    });
                    a.index.insert(*id, node);
                    let kind = if operator == "prune-dead" {
                        EdgeKind::Repair
                    } else if operator.starts_with("crossover") {
                        EdgeKind::Crossover
                    } else if operator == "graft" {
                        EdgeKind::Graft
                    } else {
                        EdgeKind::Mutation
                    };
                    for (rank, p) in parents.iter().enumerate() {
                        if let Some(&pn) = a.index.get(p) {
                            a.graph.add_edge(
                                pn,
                                node,
                                Edge {
                                    kind,
                                    agent: *agent,
                                    operator: operator.clone(),
                                    tick: *tick,
                                    diagnosis: diagnosis.map(|d| d.as_str().to_string()),
                                    rank,
                                },
                            );
                        }
                    }
                }
                Event::Evaluated { id, claimed, .. } => {
                    if let Some(n) = a.node_mut(*id) {
                        n.claimed = Some(*claimed);
                    }
                }
                Event::Verified { id, verified, .. } => {
                    if let Some(n) = a.node_mut(*id) {
                        n.verified = Some(*verified);
                    }
                }
                Event::Retired { tick, id, .. } => {
                    if let Some(n) = a.node_mut(*id) {
                        n.retired = Some(*tick);
                    }
                }
                _ => {}
            }
        }
        a
    }

    fn node_mut(&mut self, id: u64) -> Option<&mut MechNode> {
        let &i = self.index.get(&id)?;
        self.graph.node_weight_mut(i)
    }

    /// Every ancestor of `id` (including itself), oldest first by id.
    pub fn ancestors(&self, id: u64) -> Vec<u64> {
        self.index.get(&id).map_or_else(Vec::new, |&start| ancestor_ids(&self.graph, start, |n| n.id))
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

    /// Graphviz DOT text (nodes labelled with id and fitness, edges with operator). Node
    /// ids are mechanism ids and each edge's `id` its edge key, as in every other export
    /// (petgraph's DOT writer numbers nodes by graph index, so it does not fit here).
    pub fn to_dot(&self) -> String {
        let mut s = String::from("digraph ancestry {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
        for n in self.graph.node_indices() {
            let m = &self.graph[n];
            let fit = match (m.verified, m.claimed) {
                (Some(v), _) => format!("verified {v:.3}"),
                (None, Some(c)) => format!("claimed {c:.3}"),
                _ => "unevaluated".to_string(),
            };
            let _ = writeln!(s, "  {} [label=\"{}\"];", m.id, dot_text(&format!("#{} t{}\n{fit}", m.id, m.tick)));
        }
        for (key, e) in self.graph.edge_references().enumerate() {
            let w = e.weight();
            let label =
                format!("{}{}", w.operator, w.diagnosis.as_ref().map(|d| format!(" ({d})")).unwrap_or_default());
            let _ = writeln!(
                s,
                "  {} -> {} [id={key}, label=\"{}\"];",
                self.graph[e.source()].id,
                self.graph[e.target()].id,
                dot_text(&label)
            );
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
