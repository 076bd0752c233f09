//! The trace of one inner run: every trial, every healed fault, live-gene counts and
//! the outcome metrics.

use std::fmt::Write as _;

use super::history::Trial;
use crate::genome::ast::Genome;
use crate::genome::interp::LiveCounts;
use crate::genome::syntax::print_expr;

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
}

/// One recovery, at trial index `trial`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Heal {
    /// Index of the trial the recovery belongs to.
    pub trial: usize,
    /// What happened.
    pub kind: HealKind,
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
    /// Compute spent.
    pub spent: f64,
    /// Number of trials.
    pub trials: usize,
}

/// Index of the recommended trial: the best score at the highest fidelity level reached
/// (so cheap low-fidelity scores never stand in for full ones; first on ties).
pub fn recommended(trials: &[Trial]) -> Option<usize> {
    let top = trials.iter().map(|t| t.level).max()?;
    let mut best: Option<usize> = None;
    for (i, t) in trials.iter().enumerate() {
        if t.level == top && best.is_none_or(|b| t.score < trials[b].score) {
            best = Some(i);
        }
    }
    best
}

/// Compute the outcome of a list of trials; `true_score` gives the true score of the
/// recommended trial (`None`: use its observed score).
pub fn outcome(
    trials: &[Trial],
    budget: f64,
    optimum: Option<f64>,
    true_score: impl FnOnce(&Trial) -> Option<f64>,
) -> Outcome {
    let spent: f64 = trials.iter().map(|t| t.cost).sum();
    let observed = |ts: &[Trial]| recommended(ts).map_or(f64::INFINITY, |i| ts[i].score);
    let pick = recommended(trials);
    let observed_score = observed(trials);
    let final_score = pick.and_then(|i| true_score(&trials[i])).unwrap_or(observed_score);
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
        let mut by_source = std::collections::BTreeMap::new();
        for t in &self.trials {
            *by_source.entry(t.source.as_str()).or_insert(0usize) += 1;
        }
        let failed = self.trials.iter().filter(|t| t.status != crate::objective::TrialStatus::Ok).count();
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
