//! The final summary: champion, its verified fitness with spread, and where files went.
//! Rendered from a [`RunReport`] the driver hands over (nothing here runs anything).
//! Deterministic text (no timings), so resumed and uninterrupted runs write the same.

use std::fmt::Write as _;

use crate::ancestry::Ancestry;
use crate::scenario::Scenario;
use crate::sim::ChampionReport;
use crate::sim::held_out::{HeldOutReport, Versus};
use crate::sim::resources::{DebateStats, MetricsRow};
use crate::sim::writer::WriterTally;
use crate::stats::{mean_half_width, mean_sd, wilson};

/// What a finished run's summary says, computed by the driver.
pub struct RunReport<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// Completed ticks.
    pub ticks_done: u32,
    /// The champion measured on the report seeds (`None`: no mechanism was evaluated).
    pub champion: Option<ChampionReport>,
    /// The debate's record.
    pub debate: DebateStats,
    /// The metrics rows, one per tick.
    pub metrics: &'a [MetricsRow],
    /// The ancestry graph (the champion's lineage).
    pub ancestry: &'a Ancestry,
    /// The language-model proposer's record (`None`: it wrote no draft).
    pub writer: Option<WriterTally>,
}

/// Render the summary.
pub fn render(report: &RunReport) -> String {
    let RunReport { scenario: sc, ticks_done, ancestry, metrics, .. } = *report;
    let mut s = String::new();
    let reference = sc.reference.origin.clone();
    let _ = writeln!(s, "run {} (seed {}), {} ticks, tasks: {}", sc.name, sc.seed, ticks_done, sc.tasks.join(", "));
    let _ = writeln!(
        s,
        "fitness = mean over episodes of log10(reference regret / mechanism regret); reference: {reference}; 0 = as good as the reference, 1 = ten times lower regret"
    );
    if sc.score == crate::scenario::choices::EpisodeScore::Aocc {
        let _ = writeln!(
            s,
            "an episode's regret is its AOCC's (inner.score = \"aocc\"): the geometric mean of the best-so-far regret over the budget, clipped to [1e-8, 1e2]"
        );
    }
    if sc.aggregate == crate::scenario::choices::Aggregate::WorstTask {
        let _ = writeln!(
            s,
            "selection (claims, verification) used the worst per-task mean (inner.aggregate = \"worst-task\")"
        );
    }
    match &report.champion {
        Some(report) => {
            let c = &report.champion;
            let (mean, sd) = mean_sd(&report.gains);
            let n = report.gains.len();
            let half = mean_half_width(&report.gains).1;
            let wins = report.gains.iter().filter(|g| **g > 0.0).count();
            let (chosen_on, pool) = if c.verified.is_some() {
                ("verified", "verified mechanisms")
            } else {
                ("claimed (NOT verified)", "evaluated mechanisms")
            };
            let _ = writeln!(
                s,
                "\nchampion #{}, chosen on its {chosen_on} fitness as the best of {} {pool}",
                c.id, report.chosen_from
            );
            let quote = if report.held_out.is_empty() { ": the number to quote" } else { "" };
            let _ = writeln!(
                s,
                "  report fitness {mean:+.3} ± {sd:.3} sd over {n} report episodes, 95% CI [{:+.3}, {:+.3}] (seeds that played no part in choosing it{quote})",
                mean - half,
                mean + half
            );
            let _ = writeln!(
                s,
                "  versus {reference}: regret {:.2}x lower on average (geometric), better on {wins} of {n} report episodes, {}",
                10f64.powf(mean),
                verdict(mean - half, mean + half)
            );
            let biased = |v: f64, k: usize, what: &str| format!("{v:+.3} on {k} {what} episodes");
            let mut selection = Vec::new();
            if let Some(v) = c.verified {
                selection.push(format!("verified {}", biased(v, c.verified_episodes.len(), "verification")));
            }
            if let Some(cl) = c.claimed {
                selection.push(format!("claimed {}", biased(cl, c.claimed_episodes.len(), "claim")));
            }
            let _ = writeln!(
                s,
                "  selection-biased (the episodes it was chosen on, inflated by the choice): {}",
                selection.join("; ")
            );
            for h in &report.held_out {
                s += &held_out_lines(h);
            }
            let _ = writeln!(s, "{}", c.genome.trim_end());
            let path = ancestry.first_parent_path(c.id);
            let _ = writeln!(s, "\nlineage ({} steps from a seed):", path.len().saturating_sub(1));
            for (id, edge) in path {
                let node = ancestry.mechanism(id);
                let fit = node
                    .and_then(|n| n.verified.or(n.claimed))
                    .map(|f| format!("{f:+.3}"))
                    .unwrap_or_else(|| "-".into());
                match edge {
                    Some(e) => {
                        let _ = writeln!(
                            s,
                            "  #{id:<5} t{:<3} {:<9} {:<22} {:<14} fitness {fit}",
                            e.tick,
                            e.kind.as_str(),
                            e.operator,
                            e.diagnosis.unwrap_or_default()
                        );
                    }
                    None => {
                        let _ = writeln!(s, "  #{id:<5} seed{:<40} fitness {fit}", "");
                    }
                }
            }
        }
        None => {
            let _ = writeln!(s, "\nno mechanism was evaluated");
        }
    }
    if let Some(w) = &report.writer {
        let _ = writeln!(s, "\n{}", w.describe());
    }
    if sc.debater_enabled {
        let _ = writeln!(s, "\n{}", debate_line(&report.debate, metrics.last().map(|r| r.debate_extra)));
    }
    let gaps: Vec<f64> = metrics.iter().filter(|r| r.verifier_gap.is_finite()).map(|r| r.verifier_gap).collect();
    if !gaps.is_empty() {
        let _ = writeln!(
            s,
            "verifier: mean claimed-minus-verified gap {:+.3} per tick over {} ticks with verifications",
            gaps.iter().sum::<f64>() / gaps.len() as f64,
            gaps.len()
        );
    }
    if let Some(last) = metrics.last() {
        let _ = writeln!(s, "inner compute spent: {:.0} units", last.compute);
    }
    s
}

fn verdict(lo: f64, hi: f64) -> &'static str {
    if lo > 0.0 {
        "a clear win"
    } else if hi < 0.0 {
        "a clear loss"
    } else {
        "not significant"
    }
}

/// The champion on one held-out set, against the best library mechanism (the number to
/// quote) and the best trivial baseline, per group of tasks, with the area over the
/// convergence curve on BBOB tasks.
fn held_out_lines(h: &HeldOutReport) -> String {
    let mut s = String::new();
    let tasks = if h.tasks.len() > 6 {
        format!("{} ({} tasks)", h.entry, h.tasks.len())
    } else if h.entry.starts_with("suite:") {
        format!("{}: {}", h.entry, h.tasks.join(", "))
    } else {
        h.entry.clone()
    };
    let _ = writeln!(
        s,
        "on tasks it never saw (verifier.held_out: {tasks}; {} episodes each, budget {} per episode, the run's budget carried over):",
        h.per_task, h.budget
    );
    let mut versus = |what: &str, v: &Versus, quote: &str| {
        let g = &v.gain;
        let _ = writeln!(
            s,
            "  versus {what}, {}: {} mean log10 regret ratio, regret {} (geometric), median regret {:.4} vs {:.4}; better on {}, tied on {}, worse on {} of {} episodes: {}{quote}",
            v.rival,
            g.signed(),
            ratio(g.estimate),
            v.champion_regret,
            v.rival_regret,
            v.wins,
            v.ties,
            v.episodes - v.wins - v.ties,
            v.episodes,
            verdict(g.lo, g.hi)
        );
        if let Some(a) = &v.aocc {
            let _ = writeln!(
                s,
                "    AOCC (area over the convergence curve, higher is better) {:.3} vs {:.3}, difference {}: {}",
                a.champion,
                a.rival,
                a.difference.signed(),
                verdict(a.difference.lo, a.difference.hi)
            );
        }
        let per: Vec<String> = v
            .per_group
            .iter()
            .map(|g| match &g.aocc {
                Some(a) => format!("{} {} (AOCC {})", g.group, g.gain.signed(), a.signed()),
                None => format!("{} {}", g.group, g.gain.signed()),
            })
            .collect();
        let label = if v.per_group.len() < h.tasks.len() { "per group" } else { "per task" };
        let _ = writeln!(s, "    {label}: {}", per.join(", "));
    };
    versus("the best library mechanism there", &h.library, " (the number to quote)");
    match &h.trivial {
        Some(t) => {
            versus("the best trivial baseline (a library mechanism with every trial at the lowest fidelity)", t, "");
            let _ = writeln!(
                s,
                "  each rival is the best of its kind ({} library mechanisms, as many trivial baselines) on these same episodes, which favours it",
                h.rivals
            );
        }
        None => {
            let _ = writeln!(
                s,
                "  the rival is the best of {} library mechanisms on these same episodes, which favours it; no trivial baselines: these tasks have one fidelity level",
                h.rivals
            );
        }
    }
    let library = h.library.gain.lo > 0.0;
    let verdict = match (library, h.trivial.as_ref().map(|t| t.gain.lo > 0.0)) {
        (true, Some(true)) => "the champion beats the library and every trivial baseline on tasks it never saw",
        (true, Some(false)) => "the champion beats the library, but a trivial baseline matches it: not a discovery",
        (false, Some(true)) => "the champion beats the trivial baselines but not the library on tasks it never saw",
        (false, Some(false)) => {
            "the champion beats neither the library nor the trivial baselines on tasks it never saw"
        }
        (true, None) => "the champion beats the library on tasks it never saw",
        (false, None) => "the champion does not beat the library on tasks it never saw",
    };
    let _ = writeln!(s, "  verdict: {verdict}");
    s
}

/// `1.49x lower` for a positive log10 gain, `1.20x higher` for a negative one.
fn ratio(log10_gain: f64) -> String {
    if log10_gain >= 0.0 {
        format!("{:.2}x lower", 10f64.powf(log10_gain))
    } else {
        format!("{:.2}x higher", 10f64.powf(-log10_gain))
    }
}

/// The debate's record: precision and the audited rejections' improvement rate with
/// Wilson intervals, their difference with Newcombe's interval, and the pragmatist's
/// Brier score against the base rate's.
pub fn debate_line(d: &DebateStats, extra: Option<usize>) -> String {
    let prop = |k: u64, n: u64| {
        if n == 0 {
            return "-".to_string();
        }
        let (lo, hi) = wilson(k, n);
        format!("{:.2} [{lo:.2}, {hi:.2}] ({k} of {n})", k as f64 / n as f64)
    };
    let mut line = format!(
        "debate: precision {} of accepted children beat their parent; audited rejections: {}",
        prop(d.accepted_improved, d.accepted),
        prop(d.audited_improved, d.audited)
    );
    match d.value() {
        Some((v, lo, hi)) => {
            let verdict = if lo > 0.0 {
                "better than accepting at random"
            } else if hi < 0.0 {
                "worse than accepting at random"
            } else {
                "not distinguishable from accepting at random"
            };
            line += &format!("\n  value (precision minus audited rate) {v:+.2} [{lo:+.2}, {hi:+.2}]: {verdict}");
        }
        None => line += "\n  value: not measured (no audits)",
    }
    if let Some((brier, base)) = d.brier() {
        line += &format!("; pragmatist Brier {brier:.3} vs {base:.3} for the base rate over {} predictions", d.scored);
    }
    if let Some(extra) = extra {
        line += &format!("; budget now {extra} extra proposals per tick");
    }
    line
}
