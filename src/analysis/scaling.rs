//! Search-step scaling on held-out tasks: best score against inner budget for the
//! champion and every library mechanism, and the budget multiplier the best library
//! mechanism needs to match the champion at the run's budget.

use serde::Serialize;

use super::novelty::LibraryEntry;
use crate::genome::interp::Program;
use crate::sim::episodes::Episodes;
use crate::stats::{Interval, bootstrap, mean, mean_half_width};

/// Budget multipliers of the curves (times the run's inner budget).
pub const MULTIPLIERS: [f64; 6] = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0];

/// One mechanism's curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curve {
    /// Mechanism name (`champion #ID` or the library name).
    pub name: String,
    /// Mean log10 regret per multiplier (lower is better).
    pub mean_log_regret: Vec<f64>,
    /// Per multiplier, the half-width of the mean's 95% t interval over episodes (the
    /// spread band of the figure).
    pub half_width: Vec<f64>,
    /// Per multiplier, per episode log10 regret (the bootstrap's units).
    #[serde(skip)]
    pub per_episode: Vec<Vec<f64>>,
}

/// The scaling section's data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scaling {
    /// Held-out task names.
    pub tasks: Vec<String>,
    /// How the tasks were held out.
    pub held_out: Vec<String>,
    /// The run's inner budget.
    pub budget: f64,
    /// Budget multipliers.
    pub multipliers: Vec<f64>,
    /// Episodes per point.
    pub episodes: usize,
    /// Champion first, then the library in its order.
    pub curves: Vec<Curve>,
    /// The library mechanism with the lowest mean log regret at the run's budget.
    pub best_library: String,
    /// Budget multiplier the best library mechanism needs to reach the champion's mean
    /// log regret at 1x (interpolated in log budget; infinite: not reached by the largest
    /// multiplier), with a bootstrap interval over episodes.
    pub budget_multiplier: Interval,
}

/// Smallest multiplier at which `curve` reaches `target` (piecewise linear in log2 of
/// the multiplier), or infinity when it never does.
pub fn crossing(multipliers: &[f64], curve: &[f64], target: f64) -> f64 {
    for i in 0..curve.len() {
        if curve[i] <= target {
            if i == 0 {
                return multipliers[0];
            }
            let (x0, x1) = (multipliers[i - 1].log2(), multipliers[i].log2());
            let (y0, y1) = (curve[i - 1], curve[i]);
            let t = if y0 == y1 { 1.0 } else { ((y0 - target) / (y0 - y1)).clamp(0.0, 1.0) };
            return (x0 + t * (x1 - x0)).exp2();
        }
    }
    f64::INFINITY
}

/// Run the curves and the multiplier.
pub fn scaling(
    champion: (&str, &Program),
    lib: &[LibraryEntry],
    episodes: &Episodes,
    held_out: Vec<String>,
    budget: f64,
    seed: u64,
) -> Scaling {
    let curve = |name: String, prog: &Program| {
        let per_episode: Vec<Vec<f64>> =
            MULTIPLIERS.iter().map(|m| episodes.log_regrets(&episodes.run(prog, budget * m))).collect();
        Curve {
            name,
            mean_log_regret: per_episode.iter().map(|v| mean(v)).collect(),
            half_width: per_episode.iter().map(|v| mean_half_width(v).1).collect(),
            per_episode,
        }
    };
    let mut curves = vec![curve(champion.0.to_string(), champion.1)];
    curves.extend(lib.iter().map(|l| curve(l.name.to_string(), &l.program)));
    let at_one = MULTIPLIERS.iter().position(|&m| m == 1.0).unwrap_or(0);
    let best = (1..curves.len())
        .min_by(|&a, &b| curves[a].mean_log_regret[at_one].total_cmp(&curves[b].mean_log_regret[at_one]))
        .unwrap_or(0);
    let (champ, lib_best) = (&curves[0], &curves[best]);
    let n = episodes.jobs.len();
    let budget_multiplier = bootstrap(n, seed, |idx| {
        let m = |v: &Vec<f64>| idx.iter().map(|&i| v[i]).sum::<f64>() / idx.len() as f64;
        let target = m(&champ.per_episode[at_one]);
        let curve: Vec<f64> = lib_best.per_episode.iter().map(m).collect();
        crossing(&MULTIPLIERS, &curve, target)
    });
    Scaling {
        tasks: episodes.names.clone(),
        held_out,
        budget,
        multipliers: MULTIPLIERS.to_vec(),
        episodes: n,
        best_library: lib_best.name.clone(),
        curves,
        budget_multiplier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_interpolates_in_log_budget() {
        let m = [1.0, 2.0, 4.0];
        assert_eq!(crossing(&m, &[-1.0, -2.0, -3.0], -0.5), 1.0);
        assert!((crossing(&m, &[-1.0, -2.0, -3.0], -1.5) - 2f64.powf(0.5)).abs() < 1e-12);
        assert_eq!(crossing(&m, &[-1.0, -2.0, -3.0], -2.0), 2.0);
        assert_eq!(crossing(&m, &[-1.0, -2.0, -3.0], -4.0), f64::INFINITY);
    }
}
