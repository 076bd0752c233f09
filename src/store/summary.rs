//! The final summary: champion, its verified fitness with spread, and where files went.
//! Deterministic text (no timings), so resumed and uninterrupted runs write the same.

use std::fmt::Write as _;

use crate::ancestry::Ancestry;
use crate::scenario::Scenario;
use crate::sim::Simulation;
use crate::sim::episodes::mean_sd;

/// Two-sided 95% Student t quantile for `df` degrees of freedom.
pub fn t95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => 1.96,
    }
}

/// Render the summary.
pub fn summary(sim: &mut Simulation, sc: &Scenario, ancestry: &Ancestry) -> String {
    let mut s = String::new();
    let reference = sc.reference.origin.clone();
    let _ =
        writeln!(s, "run {} (seed {}), {} ticks, tasks: {}", sc.name, sc.seed, sim.ticks_done(), sc.tasks.join(", "));
    let _ = writeln!(
        s,
        "fitness = mean over episodes of log10(reference regret / mechanism regret); reference: {reference}; 0 = as good as the reference, 1 = ten times lower regret"
    );
    match sim.champion() {
        Some(c) => {
            let (label, episodes) = if c.verified.is_some() {
                ("verified", &c.verified_episodes)
            } else {
                ("claimed (NOT verified)", &c.claimed_episodes)
            };
            let (mean, sd) = mean_sd(episodes);
            let n = episodes.len();
            let half = t95(n.saturating_sub(1)) * sd / (n as f64).sqrt();
            let wins = episodes.iter().filter(|g| **g > 0.0).count();
            let _ = writeln!(
                s,
                "\nchampion #{} ({label} fitness {mean:+.3} ± {sd:.3} sd over {n} fresh episodes, 95% CI [{:+.3}, {:+.3}])",
                c.id,
                mean - half,
                mean + half
            );
            let _ = writeln!(
                s,
                "  versus {reference}: regret {:.2}x lower on average (geometric), better on {wins} of {n} episodes{}",
                10f64.powf(mean),
                if mean - half > 0.0 {
                    ", a clear win"
                } else if mean + half < 0.0 {
                    ", a clear loss"
                } else {
                    ", not significant"
                }
            );
            if let Some(cl) = c.claimed {
                let _ = writeln!(s, "  claimed {cl:+.3} on the shared claim episodes");
            }
            let _ = writeln!(s, "{}", c.genome.trim_end());
            let path = ancestry.first_parent_path(c.id);
            let _ = writeln!(s, "\nlineage ({} steps from a seed):", path.len().saturating_sub(1));
            for (id, edge) in path {
                let node = ancestry.index.get(&id).map(|&n| &ancestry.graph[n]);
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
    let d = sim.debate_stats();
    let _ = writeln!(
        s,
        "\ndebate: precision {} over {} accepted; audits of rejected proposals: {} of {} would have improved",
        d.precision().map(|p| format!("{p:.2}")).unwrap_or_else(|| "-".into()),
        d.accepted,
        d.audited_improved,
        d.audited
    );
    let gaps: Vec<f64> = sim.metrics().iter().filter(|r| r.verifier_gap.is_finite()).map(|r| r.verifier_gap).collect();
    if !gaps.is_empty() {
        let _ = writeln!(
            s,
            "verifier: mean claimed-minus-verified gap {:+.3} per tick over {} ticks with verifications",
            gaps.iter().sum::<f64>() / gaps.len() as f64,
            gaps.len()
        );
    }
    if let Some(last) = sim.metrics().last() {
        let _ = writeln!(s, "inner compute spent: {:.0} units", last.compute);
    }
    s
}
