//! The credit step, after evaluate: what each evaluated child teaches the agents. Every
//! rule is a function its owner defines, so the analysis replays the event log with the
//! same definitions: operator and agent credit ([`credit_child`], shared by the verifier
//! for wins), the debate's tally and the pragmatist's calibration
//! ([`DebateStats::record_outcome`], [`DebateStats::score_prediction`] in
//! `agents/debater.rs`), the pragmatist's online learning, and failure signatures.

use bevy_ecs::prelude::*;

use super::components::{AgentKind, Lineage};
use super::predictor::Prediction;
use super::resources::{AgentYield, Credit, DebateBudget, DebateStats, Lessons, OperatorStats, Pragmatist, Settings};

/// A child that does this much worse than its parent (in log10 regret ratio) is
/// remembered as a failure signature.
pub const FAILURE_MARGIN: f64 = 0.3;

/// One evaluated child, as evaluate leaves it for the credit step.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Evaluated as an audit of a rejection.
    pub audited: bool,
    /// Whether it beat its primary parent on the same claim episodes (None for seeds).
    pub improved: Option<bool>,
    /// Its claimed fitness.
    pub claimed: f64,
    /// The pragmatist's prediction, when the child was debated.
    pub prediction: Option<Prediction>,
    /// Its lineage.
    pub lineage: Lineage,
    /// Structural and behavioural hashes (its failure signatures).
    pub signatures: [u64; 2],
}

/// The outcomes of this tick's evaluations, in evaluation (id) order.
#[derive(Resource, Debug, Default)]
pub struct Outcomes(pub Vec<Outcome>);

/// Update the credit of a child's operator (under its parent's diagnosis) and of the
/// agent that made it: `trials` when it is evaluated, `wins` when it verifies above its
/// parent.
pub fn credit_child(
    stats: &mut OperatorStats,
    yields: &mut AgentYield,
    lineage: &Lineage,
    update: impl Fn(&mut Credit),
) {
    if let Some(diagnosis) = lineage.diagnosis {
        update(stats.0.entry((diagnosis, lineage.operator.clone())).or_default());
    }
    match lineage.agent {
        AgentKind::Proposer => update(&mut yields.proposer),
        AgentKind::Recombiner => update(&mut yields.recombiner),
        _ => {}
    }
}

/// The credit system.
#[expect(clippy::too_many_arguments, reason = "a system names each resource it touches")]
pub fn credit(
    cfg: Res<Settings>,
    mut outcomes: ResMut<Outcomes>,
    mut stats: ResMut<OperatorStats>,
    mut debate: ResMut<DebateStats>,
    mut budget: ResMut<DebateBudget>,
    mut pragmatist: ResMut<Pragmatist>,
    mut yields: ResMut<AgentYield>,
    mut lessons: ResMut<Lessons>,
) {
    if outcomes.0.is_empty() {
        return;
    }
    for o in outcomes.0.drain(..) {
        if let (Some(better), Some(p)) = (o.improved, &o.prediction) {
            debate.score_prediction(p.probability, better);
            pragmatist.0.learn(&p.features, better);
        }
        // Operators and agents are credited with trials here and with wins only when a
        // child's verified fitness beats its parent (see the verifier): budget follows
        // verified, not claimed, improvements. Audits cannot win (they are retired).
        if !o.audited && o.improved.is_some() {
            credit_child(&mut stats, &mut yields, &o.lineage, |c| c.trials += 1);
        }
        if let Some(parent) = o.lineage.parent_fitness
            && o.claimed < parent - FAILURE_MARGIN
        {
            lessons.failures.extend(o.signatures);
        }
        if let (Some(better), true) = (o.improved, o.prediction.is_some()) {
            debate.record_outcome(o.audited, better);
        }
    }
    budget.follow(&debate, cfg.0.debate_max_extra);
}
