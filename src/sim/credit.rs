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
        update(stats.0.entry((diagnosis, lineage.operator.to_string())).or_default());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::diagnosis::Diagnosis;
    use crate::sim::predictor::FEATURES;
    use bevy_ecs::system::RunSystemOnce;

    fn lineage(agent: AgentKind, diagnosis: Option<Diagnosis>, parent_fitness: Option<f64>) -> Lineage {
        Lineage {
            parents: vec![1],
            agent,
            operator: "mutate-constant".parse().unwrap(),
            diagnosis,
            tick: 3,
            parent_fitness,
            parent: Default::default(),
        }
    }

    #[test]
    fn a_child_credits_its_operator_under_the_diagnosis_and_its_agent() {
        let (mut stats, mut yields) = (OperatorStats::default(), AgentYield::default());
        let key = (Diagnosis::Stagnation, "mutate-constant".to_string());
        credit_child(&mut stats, &mut yields, &lineage(AgentKind::Proposer, Some(Diagnosis::Stagnation), None), |c| {
            c.trials += 1
        });
        credit_child(&mut stats, &mut yields, &lineage(AgentKind::Recombiner, None, None), |c| c.wins += 1);
        // The verifier's repairs credit no agent; without a diagnosis no operator either.
        credit_child(&mut stats, &mut yields, &lineage(AgentKind::Verifier, None, None), |c| c.trials += 5);
        assert_eq!(stats.0.len(), 1);
        assert_eq!(stats.0[&key], Credit { trials: 1, wins: 0 });
        assert_eq!(yields.proposer, Credit { trials: 1, wins: 0 });
        assert_eq!(yields.recombiner, Credit { trials: 0, wins: 1 });
    }

    fn run(outcomes: Vec<Outcome>) -> World {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml");
        let mut w = World::new();
        w.insert_resource(Settings(crate::scenario::load(&path).unwrap()));
        w.insert_resource(Outcomes(outcomes));
        w.insert_resource(OperatorStats::default());
        w.insert_resource(DebateStats::default());
        w.insert_resource(DebateBudget { extra: 2 });
        w.insert_resource(Pragmatist::default());
        w.insert_resource(AgentYield::default());
        w.insert_resource(Lessons::default());
        w.run_system_once(credit).unwrap();
        w
    }

    fn outcome(audited: bool, improved: Option<bool>, claimed: f64, predicted: Option<f64>) -> Outcome {
        Outcome {
            audited,
            improved,
            claimed,
            prediction: predicted.map(|probability| Prediction { features: [0.5; FEATURES], probability }),
            lineage: lineage(AgentKind::Proposer, Some(Diagnosis::Stagnation), Some(1.0)),
            signatures: [11, 22],
        }
    }

    #[test]
    fn the_credit_step_counts_trials_scores_predictions_and_remembers_failures() {
        let w = run(vec![
            // Debated, accepted, better than its parent.
            outcome(false, Some(true), 1.2, Some(0.8)),
            // An audited rejection that did not improve and fell far below its parent.
            outcome(true, Some(false), 1.0 - FAILURE_MARGIN - 0.01, Some(0.3)),
            // A seed: no parent to compare with, no prediction.
            outcome(false, None, 0.0, None),
        ]);
        assert!(w.resource::<Outcomes>().0.is_empty(), "the outcomes are consumed");
        let key = (Diagnosis::Stagnation, "mutate-constant".to_string());
        // Trials only for the evaluated, non-audited child with a parent; wins come from the verifier.
        assert_eq!(w.resource::<OperatorStats>().0[&key], Credit { trials: 1, wins: 0 });
        assert_eq!(w.resource::<AgentYield>().proposer, Credit { trials: 1, wins: 0 });
        let debate = w.resource::<DebateStats>();
        assert_eq!((debate.accepted, debate.accepted_improved, debate.audited, debate.audited_improved), (1, 1, 1, 0));
        assert_eq!(debate.scored, 2);
        assert!((debate.brier_sum - (0.2f64.powi(2) + 0.3f64.powi(2))).abs() < 1e-12);
        // Only the child below its parent by more than the margin left its signatures.
        assert_eq!(w.resource::<Lessons>().failures.iter().copied().collect::<Vec<_>>(), vec![11, 22]);
        // The pragmatist learned from both labelled predictions.
        assert_ne!(w.resource::<Pragmatist>().0, crate::sim::predictor::Predictor::default());
        // Too few audits for the budget to move.
        assert_eq!(w.resource::<DebateBudget>().extra, 2);
    }
}
