//! A league: several mechanisms on several tasks over several seeds, with the
//! statistics needed to say which mechanisms clearly beat a baseline.

use rayon::prelude::*;

use super::run::run_inner;
use crate::genome::interp::Program;
use crate::objective::Objective;
use crate::rng;

/// Final regrets `[mechanism][task][seed]` of a league run.
#[derive(Debug, Clone, PartialEq)]
pub struct League {
    /// Mechanism names, in row order.
    pub mechanisms: Vec<String>,
    /// Task names, in column order.
    pub tasks: Vec<String>,
    /// Final regret per mechanism, task and seed (final score when no optimum is known).
    pub regrets: Vec<Vec<Vec<f64>>>,
    /// Area over the convergence curve, indexed like `regrets` (NaN where the task does
    /// not know its optimum).
    pub aoccs: Vec<Vec<Vec<f64>>>,
}

/// Run every mechanism on every task with `seeds` seeds. Seeds are shared across
/// mechanisms (common random numbers); runs go in parallel and are gathered in order,
/// so the result does not depend on the thread count. `done` is called after each
/// episode (from worker threads), for progress.
pub fn run_league(
    mechanisms: &[(String, Program)],
    tasks: &[Box<dyn Objective>],
    budget: f64,
    seeds: u32,
    root_seed: u64,
    done: &(dyn Fn() + Sync),
) -> League {
    let (m, t, s) = (mechanisms.len(), tasks.len(), seeds as usize);
    let flat: Vec<(f64, f64)> = (0..m * t * s)
        .into_par_iter()
        .map(|i| {
            let (mi, rest) = (i / (t * s), i % (t * s));
            let (ti, si) = (rest / s, rest % s);
            let seed = league_seed(root_seed, ti, si);
            let trace = run_inner(&mechanisms[mi].1, tasks[ti].as_ref(), seed, budget);
            done();
            (trace.outcome.regret.unwrap_or(trace.outcome.final_score), trace.outcome.aocc.unwrap_or(f64::NAN))
        })
        .collect();
    let cells = |pick: fn(&(f64, f64)) -> f64| -> Vec<Vec<Vec<f64>>> {
        (0..m)
            .map(|mi| {
                (0..t).map(|ti| flat[(mi * t + ti) * s..(mi * t + ti + 1) * s].iter().map(pick).collect()).collect()
            })
            .collect()
    };
    let (regrets, aoccs) = (cells(|c| c.0), cells(|c| c.1));
    League {
        mechanisms: mechanisms.iter().map(|(n, _)| n.clone()).collect(),
        tasks: tasks.iter().map(|o| o.name().to_string()).collect(),
        regrets,
        aoccs,
    }
}

/// Episode seed of task `task` and seed index `seed` in a league (what `task serve`
/// takes to replay the same episode for an external optimizer).
pub fn league_seed(root_seed: u64, task: usize, seed: usize) -> u64 {
    rng::derive(root_seed, "league", &[task as u64, seed as u64])
}

/// One-sided Mann-Whitney U test (normal approximation with tie correction): the
/// p-value for "samples of `a` tend to be smaller than samples of `b`".
pub fn mann_whitney_less(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let mut all: Vec<(f64, bool)> = a.iter().map(|&x| (x, true)).chain(b.iter().map(|&x| (x, false))).collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        let ties = (j - i + 1) as f64;
        tie_term += ties * ties * ties - ties;
        rank_sum_a += all[i..=j].iter().filter(|e| e.1).count() as f64 * avg_rank;
        i = j + 1;
    }
    let u = rank_sum_a - na * (na + 1.0) / 2.0;
    let n = na + nb;
    let mean = na * nb / 2.0;
    let var = na * nb / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if var <= 0.0 {
        return if u < mean { 0.0 } else { 1.0 };
    }
    let z = (u - mean + 0.5) / var.sqrt();
    normal_cdf(z)
}

fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit, |error| < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

impl League {
    /// Median final regret of mechanism `m` on task `t`.
    pub fn median(&self, m: usize, t: usize) -> f64 {
        crate::stats::median(&self.regrets[m][t])
    }

    /// Geometric mean over `tasks` of the median regrets of `m` (regrets floored at 1e-8).
    pub fn group_score(&self, m: usize, tasks: &[usize]) -> f64 {
        let logs: Vec<f64> = tasks.iter().map(|&t| self.median(m, t).max(1e-8).log10()).collect();
        10f64.powf(logs.iter().sum::<f64>() / logs.len().max(1) as f64)
    }

    /// Tasks on which `m` clearly beats `baseline`: lower median regret and a one-sided
    /// Mann-Whitney p-value below `alpha`.
    pub fn clear_wins(&self, m: usize, baseline: usize, alpha: f64) -> Vec<usize> {
        (0..self.tasks.len())
            .filter(|&t| {
                self.median(m, t) < self.median(baseline, t)
                    && mann_whitney_less(&self.regrets[m][t], &self.regrets[baseline][t]) < alpha
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_test_behave() {
        let a: Vec<f64> = (0..15).map(|i| i as f64).collect();
        let b: Vec<f64> = (0..15).map(|i| 100.0 + i as f64).collect();
        assert!(mann_whitney_less(&a, &b) < 0.001);
        assert!(mann_whitney_less(&b, &a) > 0.99);
        assert!((mann_whitney_less(&a, &a) - 0.5).abs() < 0.1);
        assert!((erfc(0.0) - 1.0).abs() < 1e-6);
    }
}
