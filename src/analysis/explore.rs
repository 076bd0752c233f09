//! The data behind the report's interactive part: the whole ancestry (every mechanism
//! with its operator, diagnosis, fitness, evaluations and genome), the optimisation
//! history (every evaluation), progress with its spread, and, when an analysis ran the
//! champion, the configs its inner loop tried (parallel coordinates). Serialized as one
//! JSON blob into `report.html`, where `report.js` draws it; everything here is replayed
//! from the event log or comes from the analysis's seeded runs, so it is deterministic.

use std::collections::BTreeMap;

use petgraph::visit::EdgeRef;
use serde::Serialize;

use super::progress::Progress;
use super::run_data::RunData;
use crate::sim::events::Event;

/// One mechanism of the ancestry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeView {
    /// Mechanism id.
    pub id: u64,
    /// Birth tick.
    pub tick: u32,
    /// Creating agent (`seed` for the initial population).
    pub agent: String,
    /// Operator without its parameter.
    pub operator: String,
    /// The diagnosis that motivated it, if any.
    pub diagnosis: Option<String>,
    /// Primary parent (the one its improvement is judged against).
    pub parent: Option<u64>,
    /// Claimed fitness (mean over the claim episodes).
    pub claimed: Option<f64>,
    /// Verified fitness (fresh episodes).
    pub verified: Option<f64>,
    /// Evaluations it received (claims, race extensions and verifications).
    pub evaluations: usize,
    /// `alive` or `retired`.
    pub status: &'static str,
    /// Canonical genome text.
    pub genome: String,
}

/// One parent link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgeView {
    /// Parent id.
    pub source: u64,
    /// Child id.
    pub target: u64,
    /// Kind of birth.
    pub kind: &'static str,
    /// 0 for the primary parent.
    pub rank: usize,
}

/// One evaluation, for the optimisation-history plot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluationView {
    /// Tick.
    pub tick: u32,
    /// Mechanism id.
    pub id: u64,
    /// `claim` or `verify`.
    pub kind: &'static str,
    /// The fitness measured.
    pub fitness: f64,
}

/// The configs the champion's inner loop tried on one episode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KnobsView {
    /// The task of the episode.
    pub task: String,
    /// Whether the task is a GPT task (knobs are hyperparameters) or not (axes are the
    /// search space's dimensions).
    pub gpt: bool,
    /// One axis per knob: name, and the knob's value at the bottom and top of the axis.
    pub axes: Vec<(String, String, String)>,
    /// Per trial: its point in the unit cube and its score (lower is better).
    pub trials: Vec<(Vec<f64>, f64)>,
}

/// Tick, then the best, median and worst verified fitness of the living population
/// (serialized as a 4-element array, which the page reads by position).
pub type ProgressPoint = (u32, Option<f64>, Option<f64>, Option<f64>);

/// Everything the interactive report draws.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explorer {
    /// Run name.
    pub run: String,
    /// Ticks done.
    pub ticks: u32,
    /// The champion's id, if any.
    pub champion: Option<u64>,
    /// Every mechanism, by id.
    pub nodes: Vec<NodeView>,
    /// Every parent link (parallel links kept).
    pub edges: Vec<EdgeView>,
    /// Every evaluation in log order.
    pub history: Vec<EvaluationView>,
    /// Per tick: best, median and worst verified fitness of the living population.
    pub progress: Vec<ProgressPoint>,
    /// The champion's inner-loop configs (an analysis only).
    pub knobs: Option<KnobsView>,
    /// What the page cannot show and why (e.g. a live view without new episodes).
    pub notes: Vec<String>,
    /// In a live view (`outerloop watch`): the run folder's state the page shows; the
    /// page polls `/version` and reloads when it changes.
    pub live_version: Option<String>,
}

impl Explorer {
    /// The explorer of a run folder, replayed from its event log.
    pub fn new(data: &RunData, progress: &Progress) -> Self {
        let mut evaluations: BTreeMap<u64, usize> = BTreeMap::new();
        let mut history = Vec::new();
        for e in &data.events {
            match e {
                Event::Evaluated { tick, id, claimed, .. } => {
                    *evaluations.entry(*id).or_default() += 1;
                    history.push(EvaluationView { tick: *tick, id: *id, kind: "claim", fitness: *claimed });
                }
                Event::Verified { tick, id, verified, .. } => {
                    *evaluations.entry(*id).or_default() += 1;
                    history.push(EvaluationView { tick: *tick, id: *id, kind: "verify", fitness: *verified });
                }
                _ => {}
            }
        }
        let g = &data.ancestry.graph;
        let mut nodes: Vec<NodeView> = g
            .node_indices()
            .filter_map(|n| {
                let (id, m) = (g[n].id, g[n].mechanism()?);
                let primary = data.ancestry.primary_incoming(n);
                let (agent, operator, diagnosis) = match primary {
                    Some(e) => {
                        let w = e.weight();
                        let op = crate::ancestry::export::split_operator(&w.operator).0.to_string();
                        (w.agent.name().to_string(), op, w.diagnosis.clone())
                    }
                    None => ("seed".to_string(), "seed".to_string(), None),
                };
                Some(NodeView {
                    id,
                    tick: m.tick,
                    agent,
                    operator,
                    diagnosis,
                    parent: primary.map(|e| g[e.source()].id),
                    claimed: m.claimed,
                    verified: m.verified,
                    evaluations: evaluations.get(&id).copied().unwrap_or(0),
                    status: if m.retired.is_some() { "retired" } else { "alive" },
                    genome: m.genome.clone(),
                })
            })
            .collect();
        nodes.sort_by_key(|n| n.id);
        let mut edges: Vec<EdgeView> = g
            .edge_references()
            .map(|e| EdgeView {
                source: g[e.source()].id,
                target: g[e.target()].id,
                kind: e.weight().kind.as_str(),
                rank: e.weight().rank,
            })
            .collect();
        edges.sort_by_key(|e| (e.target, e.rank, e.source));
        let progress =
            progress.ticks.iter().map(|r| (r.tick, r.best_verified, r.median_verified, r.worst_verified)).collect();
        Explorer {
            run: data.scenario.name.clone(),
            ticks: data.ticks_done,
            champion: data.champion.as_ref().map(|c| c.id),
            nodes,
            edges,
            history,
            progress,
            knobs: None,
            notes: Vec::new(),
            live_version: None,
        }
    }

    /// The JSON the page reads, safe inside a `<script>` element.
    pub fn json(&self) -> String {
        // `</` would end the script element early; JSON allows `<\/`.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into()).replace("</", "<\\/")
    }
}

/// The configs the champion's inner loop tries on one fresh episode of `task` (seeded
/// from `seed`), for the parallel-coordinates plot; `None` when the task cannot be built.
pub fn champion_knobs(prog: &crate::genome::interp::Program, task: &str, budget: f64, seed: u64) -> Option<KnobsView> {
    let objective = crate::objective::registry::objective_by_name(task).ok()?;
    let episode = crate::rng::derive(seed, "explore-knobs", &[]);
    let trace =
        crate::inner::run_inner_with(prog, objective.as_ref(), episode, budget, crate::inner::FaultPolicy::SelfHealing);
    let space = objective.space();
    // Each axis runs over the knob's range: its values at the cube's two corners.
    let corner = |u: f64| -> Vec<String> {
        let text = space.describe(&space.decode(&vec![u; space.dim()]));
        text.split_whitespace().map(|kv| kv.split_once('=').map_or(kv, |(_, v)| v).to_string()).collect()
    };
    let (low, high) = (corner(0.0), corner(1.0));
    let axes = space
        .knobs()
        .iter()
        .enumerate()
        .map(|(i, k)| {
            (k.name.clone(), low.get(i).cloned().unwrap_or_default(), high.get(i).cloned().unwrap_or_default())
        })
        .collect();
    Some(KnobsView {
        task: task.to_string(),
        gpt: task.starts_with("gpt-"),
        axes,
        trials: trace.trials.iter().map(|t| (t.point.clone(), t.score)).collect(),
    })
}
