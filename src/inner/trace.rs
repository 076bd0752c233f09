//! The trace of one inner run: every trial, every healed fault, live-gene counts and
//! the outcome metrics.

use std::fmt::Write as _;

use crate::genome::ast::{Genome, Recommend};
use crate::genome::interp::LiveCounts;
use crate::genome::syntax::print_expr;
use crate::history::Trial;

/// A genome fault or failed trial the loop recovered from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HealKind {
    /// A hook ran out of fuel; the loop used a fallback value.
    OutOfFuel {
        /// The hook that ran dry.
        hook: &'static str,
    },
    /// `filter` rejected every retry; the last candidate was taken.
    FilterExhausted,
    /// The requested fidelity did not fit the remaining budget; a lower one was used.
    FidelityLowered,
    /// A trial failed (diverged or invalid); it was recorded with the failure score.
    TrialFailed,
    /// The episode's interpreter work bound ([`crate::genome::Limits::fuel_per_episode`])
    /// was spent at this trial: every later hook call is healed with its fallback
    /// (uniform proposals, accepting filter, full fidelity, no update). Recorded once.
    WorkBoundSpent,
}

/// One recovery, at trial index `trial`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Heal {
    /// Index of the trial the recovery belongs to.
    pub trial: usize,
    /// What happened.
    pub kind: HealKind,
}

/// The fault that ended an episode run without self-healing
/// ([`crate::inner::run::FaultPolicy::CrashOnFault`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Crash {
    /// Index of the trial the fault belongs to (the failed trial, or the trial whose
    /// hook ran out of fuel).
    pub trial: usize,
    /// The fault: [`HealKind::OutOfFuel`] or [`HealKind::TrialFailed`].
    pub fault: HealKind,
}

/// Outcome metrics of an inner run.
///
/// The episode's score is the *true* score of the config the mechanism recommends at
/// the end (its best-observed trial at the highest fidelity it reached), as the
/// objective knows it ([`crate::objective::Objective::true_score`]: a table's seed mean,
/// a live task's fresh re-evaluation). The best single observed draw is kept beside it
/// as a labelled secondary figure: it rewards luck (a repeat that lands a lucky seed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// True score of the recommended config (the observed score when the objective
    /// cannot tell).
    pub final_score: f64,
    /// Best single observed score at the highest fidelity reached (secondary).
    pub observed_score: f64,
    /// Index of the recommended trial.
    pub recommended: Option<usize>,
    /// `final_score - optimum`, when the objective knows its optimum.
    pub regret: Option<f64>,
    /// Mean of the best-so-far observed score at 20 evenly spaced budget points
    /// (area under the best-so-far curve, normalised by the budget).
    pub auc: f64,
    /// Area over the convergence curve ([`aocc`]), when the objective knows its optimum.
    pub aocc: Option<f64>,
    /// Compute spent.
    pub spent: f64,
    /// Number of trials.
    pub trials: usize,
}

/// Lower bound of the regret scale of [`aocc`] (a regret at or below it counts as solved).
pub const AOCC_LOWER: f64 = 1e-8;
/// Upper bound of the regret scale of [`aocc`] (a regret at or above it counts as nothing).
pub const AOCC_UPPER: f64 = 1e2;

/// Area over the convergence curve, as IOHprofiler and LLaMEA report it: the mean over
/// the budget of `1 - (log10 r - log10 lower) / (log10 upper - log10 lower)`, where `r` is
/// the best-so-far regret (the lowest observed score so far minus `optimum`) clipped to
/// `[AOCC_LOWER, AOCC_UPPER]`. In `[0, 1]`, higher is better.
///
/// The curve is a step function of the compute spent: a trial's score counts from the
/// start of its cost (as "after evaluation i" counts evaluation i), budget left unspent
/// holds the last value. With every trial costing 1 this is IOHprofiler's sum over
/// evaluations divided by the budget. A low-fidelity score is an observed score like any
/// other: where low fidelities are biased upwards (BBOB here), a cheap trial is credited
/// with what it showed, never with the true value it did not pay for.
pub fn aocc(trials: &[Trial], budget: f64, optimum: f64) -> f64 {
    if budget.is_nan() || budget <= 0.0 {
        return 0.0;
    }
    let (lo, hi) = (AOCC_LOWER.log10(), AOCC_UPPER.log10());
    let quality = |regret: f64| {
        let log = if regret > 0.0 { regret.log10() } else { lo };
        1.0 - (log.clamp(lo, hi) - lo) / (hi - lo)
    };
    let (mut area, mut spent, mut best) = (0.0, 0.0, f64::INFINITY);
    // `f64::min` skips a NaN score, so `best` is never NaN; before any trial it is +inf,
    // which counts as nothing.
    for t in trials {
        best = best.min(t.score - optimum);
        area += t.cost.min(budget - spent).max(0.0) * quality(best);
        spent += t.cost;
    }
    area += (budget - spent).max(0.0) * quality(best);
    area / budget
}

/// The regret an AOCC stands for: `10^(2 - 10 aocc)`, the geometric mean over the budget
/// of the best-so-far regret clipped to `[AOCC_LOWER, AOCC_UPPER]` (the AOCC is the mean
/// of `(2 - log10 r) / 10`). Ratios of these are the anytime analogue of final-regret
/// ratios: a log10 ratio of 1 is a curve ten times lower on average, in decades.
pub fn aocc_regret(aocc: f64) -> f64 {
    10f64.powf(AOCC_UPPER.log10() - (AOCC_UPPER.log10() - AOCC_LOWER.log10()) * aocc)
}

/// Index of the best observed trial at the highest fidelity level reached (so cheap
/// low-fidelity scores never stand in for full ones; first on ties).
pub fn best_observed(trials: &[Trial]) -> Option<usize> {
    let top = trials.iter().map(|t| t.level).max()?;
    let mut best: Option<usize> = None;
    for (i, t) in trials.iter().enumerate() {
        if t.level == top && best.is_none_or(|b| t.score < trials[b].score) {
            best = Some(i);
        }
    }
    best
}

/// Index of the trial standing for the recommended config under `rule`: for `Best` the
/// best observed trial; for `Mean` the first trial of the point whose trials at the
/// highest level reached have the lowest mean score (first point on ties).
pub fn recommended(trials: &[Trial], rule: Recommend) -> Option<usize> {
    recommendation(trials, rule).map(|r| r.0)
}

/// [`recommended`]'s trial with its observed value under `rule` (its score for `Best`,
/// the mean over the point's repeats at that level for `Mean`).
fn recommendation(trials: &[Trial], rule: Recommend) -> Option<(usize, f64)> {
    match rule {
        Recommend::Best => best_observed(trials).map(|i| (i, trials[i].score)),
        Recommend::Mean => {
            let top = trials.iter().map(|t| t.level).max()?;
            // (first index, sum, count) per distinct point, in order of first appearance.
            let mut points: Vec<(usize, f64, usize)> = Vec::new();
            let mut index: std::collections::HashMap<Vec<u64>, usize> = std::collections::HashMap::new();
            for (i, t) in trials.iter().enumerate().filter(|(_, t)| t.level == top) {
                let key = crate::history::point_key(&t.point);
                let slot = *index.entry(key).or_insert_with(|| {
                    points.push((i, 0.0, 0));
                    points.len() - 1
                });
                points[slot].1 += t.score;
                points[slot].2 += 1;
            }
            let mut best: Option<(usize, f64)> = None;
            for (first, sum, n) in points {
                let mean = sum / n as f64;
                if best.is_none_or(|(_, m)| mean < m) {
                    best = Some((first, mean));
                }
            }
            best
        }
    }
}

/// Compute the outcome of a list of trials: the config recommended under `rule` is
/// scored by `true_score` (`None`: its observed score, the mean over its repeats under
/// the `Mean` rule).
pub fn outcome(
    trials: &[Trial],
    budget: f64,
    optimum: Option<f64>,
    rule: Recommend,
    true_score: impl FnOnce(&Trial) -> Option<f64>,
) -> Outcome {
    let spent: f64 = trials.iter().map(|t| t.cost).sum();
    let observed = |ts: &[Trial]| best_observed(ts).map_or(f64::INFINITY, |i| ts[i].score);
    let pick = recommendation(trials, rule);
    let observed_score = observed(trials);
    let fallback = pick.map_or(observed_score, |p| p.1);
    let pick = pick.map(|p| p.0);
    let final_score = pick.and_then(|i| true_score(&trials[i])).unwrap_or(fallback);
    let mut auc = 0.0;
    let points = 20;
    let mut cum = 0.0;
    let mut upto = 0;
    let mut last_best = f64::NAN;
    let worst = trials.iter().map(|t| t.score).fold(f64::NEG_INFINITY, f64::max);
    for i in 1..=points {
        let mark = budget * i as f64 / points as f64;
        while upto < trials.len() && cum + trials[upto].cost <= mark + 1e-9 {
            cum += trials[upto].cost;
            upto += 1;
        }
        if upto > 0 {
            last_best = observed(&trials[..upto]);
        }
        auc += if last_best.is_nan() { worst } else { last_best };
    }
    auc /= points as f64;
    Outcome {
        final_score,
        observed_score,
        recommended: pick,
        regret: optimum.map(|o| final_score - o),
        aocc: optimum.map(|o| aocc(trials, budget, o)),
        auc,
        spent,
        trials: trials.len(),
    }
}

/// Everything one inner run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The objective's name.
    pub task: String,
    /// The episode seed.
    pub seed: u64,
    /// The compute budget.
    pub budget: f64,
    /// Trials in order.
    pub trials: Vec<Trial>,
    /// Recoveries in order.
    pub heals: Vec<Heal>,
    /// The fault that crashed the episode (only without self-healing).
    pub crash: Option<Crash>,
    /// Live-gene counts per node (canonical preorder).
    pub live: LiveCounts,
    /// Outcome metrics.
    pub outcome: Outcome,
}

impl Trace {
    /// A short human summary of the run.
    pub fn summary(&self) -> String {
        let o = &self.outcome;
        let mut s = format!(
            "task {} seed {} budget {}\n  trials {}  spent {:.3}  recommended config's true score {:.6e}  (best observed draw {:.6e})",
            self.task, self.seed, self.budget, o.trials, o.spent, o.final_score, o.observed_score
        );
        if let Some(r) = o.regret {
            let _ = write!(s, "  regret {r:.6e}");
        }
        let _ = write!(s, "\n  best-so-far AUC {:.6e}", o.auc);
        if let Some(a) = o.aocc {
            let _ = write!(s, "  AOCC {a:.4} (area over the convergence curve, higher is better)");
        }
        let mut by_source = std::collections::BTreeMap::new();
        for t in &self.trials {
            *by_source.entry(t.source.as_str()).or_insert(0usize) += 1;
        }
        let failed = self.trials.iter().filter(|t| t.status != crate::history::TrialStatus::Ok).count();
        let improved = self.trials.iter().filter(|t| t.improved).count();
        let _ = write!(s, "\n  sources {by_source:?}  improvements {improved}  failed trials {failed}");
        let _ = write!(s, "\n  heals {}", self.heals.len());
        let mut kinds = std::collections::BTreeMap::new();
        for h in &self.heals {
            *kinds.entry(format!("{:?}", h.kind)).or_insert(0usize) += 1;
        }
        for (k, n) in kinds {
            let _ = write!(s, "\n    {k}: {n}");
        }
        if let Some(c) = &self.crash {
            let _ = write!(s, "\n  crashed at trial {}: {:?}", c.trial, c.fault);
        }
        s.push('\n');
        s
    }
}

/// Live-gene status of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneReport {
    /// Node id in canonical preorder.
    pub node: usize,
    /// Hook the node belongs to.
    pub hook: &'static str,
    /// The node's subtree as text.
    pub text: String,
    /// Times evaluated.
    pub evaluated: u64,
    /// Times its value reached a decision.
    pub reached: u64,
}

impl GeneReport {
    /// A gene is live when its value reached at least one decision.
    pub fn is_live(&self) -> bool {
        self.reached > 0
    }
}

/// Per-node live-gene report for a genome and the counts of one or more runs.
pub fn gene_report(genome: &Genome, live: &LiveCounts) -> Vec<GeneReport> {
    genome
        .paths()
        .into_iter()
        .enumerate()
        .map(|(i, path)| {
            let text = genome.node(&path).map(print_expr).unwrap_or_default();
            GeneReport {
                node: i,
                hook: path.root.hook.name(),
                text,
                evaluated: live.evaluated.get(i).copied().unwrap_or(0),
                reached: live.reached.get(i).copied().unwrap_or(0),
            }
        })
        .collect()
}

/// Render the live-gene report as an indented table; dead genes are flagged.
pub fn render_gene_report(genome: &Genome, live: &LiveCounts) -> String {
    let rows = gene_report(genome, live);
    let mut s = String::from("live genes (node  hook      evaluated  reached  gene)\n");
    let paths = genome.paths();
    for (r, p) in rows.iter().zip(&paths) {
        let mut text = r.text.clone();
        if text.len() > 60 {
            text.truncate(57);
            text.push_str("...");
        }
        let flag = if r.is_live() { " " } else { "!" };
        let _ = writeln!(
            s,
            "{flag}{:>4}  {:<8} {:>10} {:>8}  {}{}",
            r.node,
            r.hook,
            r.evaluated,
            r.reached,
            "  ".repeat(p.steps.len()),
            text
        );
    }
    let dead: Vec<&GeneReport> = rows.iter().filter(|r| !r.is_live()).collect();
    if dead.is_empty() {
        s.push_str("every gene fired\n");
    } else {
        let _ = writeln!(s, "{} gene(s) never reached a decision (marked !)", dead.len());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(x: f64, level: usize, score: f64) -> Trial {
        crate::history::test_trial(x, score, level)
    }

    #[test]
    fn recommendations_follow_the_rule_at_the_top_level() {
        // Point 0.1 drew one lucky 1.0 among 3.0s; point 0.2 is steadily 2.0; a cheap
        // low-fidelity 0.5 never counts.
        let ts = vec![
            trial(0.1, 1, 3.0),
            trial(0.2, 1, 2.0),
            trial(0.1, 1, 1.0),
            trial(0.2, 1, 2.0),
            trial(0.3, 0, 0.5),
            trial(0.1, 1, 3.0),
        ];
        assert_eq!(recommended(&ts, Recommend::Best), Some(2));
        assert_eq!(recommended(&ts, Recommend::Mean), Some(1));
        assert_eq!(recommended(&[], Recommend::Mean), None);
        // Without a true score the outcome falls back to the observed score (the mean of
        // the repeats under `Mean`); the best draw is always reported beside it.
        let best = outcome(&ts, 6.0, Some(0.0), Recommend::Best, |_| None);
        assert_eq!((best.final_score, best.observed_score, best.recommended), (1.0, 1.0, Some(2)));
        let mean = outcome(&ts, 6.0, Some(0.0), Recommend::Mean, |_| None);
        assert_eq!((mean.final_score, mean.observed_score, mean.regret), (2.0, 1.0, Some(2.0)));
        // A true score replaces the observed one.
        let truth = outcome(&ts, 6.0, Some(0.5), Recommend::Best, |t| Some(t.point[0] * 10.0));
        assert_eq!((truth.final_score, truth.regret), (1.0, Some(0.5)));
    }

    #[test]
    fn aocc_is_iohprofilers_sum_over_unit_cost_evaluations() {
        // Regrets 1e2 (counts 0), 1e-3 (counts 0.5), 1e-9 (solved, counts 1), budget 4:
        // the last value holds for the unspent unit. (0 + 0.5 + 1 + 1) / 4.
        let ts = vec![trial(0.1, 0, 1e2), trial(0.2, 0, 1e-3), trial(0.3, 0, 1e-9)];
        assert!((aocc(&ts, 4.0, 0.0) - 0.625).abs() < 1e-12);
        // Worse values later never lower the best-so-far curve; an offset optimum shifts.
        let later = [ts.clone(), vec![Trial { score: 5.0, ..ts[0].clone() }]].concat();
        assert!((aocc(&later, 4.0, 0.0) - 0.625).abs() < 1e-12);
        // Regret 1 (the optimum moved to -1) counts 0.2 for every unit.
        assert!((aocc(&ts[1..], 4.0, -1.0) - 0.2).abs() < 1e-3);
        // A half-cost trial counts for half a unit; no trial, or no budget, is 0.
        let half: Vec<Trial> = ts.iter().map(|t| Trial { cost: 0.5, ..t.clone() }).collect();
        assert!((aocc(&half, 2.0, 0.0) - (0.0 + 0.25 + 0.5 + 0.5) / 2.0).abs() < 1e-12);
        assert_eq!(aocc(&[], 4.0, 0.0), 0.0);
        assert_eq!(aocc(&ts, 0.0, 0.0), 0.0);
        // The regret an AOCC stands for: 0 is the upper bound, 1 the lower, 0.5 their
        // geometric mean.
        assert!((aocc_regret(0.0) - 1e2).abs() < 1e-9 && (aocc_regret(1.0) - 1e-8).abs() < 1e-20);
        assert!((aocc_regret(0.5) - 1e-3).abs() < 1e-15);
        // Spending past the budget is clipped to it.
        assert!((aocc(&ts, 2.0, 0.0) - 0.25).abs() < 1e-12);
    }
}
