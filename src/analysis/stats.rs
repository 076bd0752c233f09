//! Small statistics for reports: means, percentile bootstrap intervals and sign-flip
//! permutation tests, all driven by explicit seeded streams so reports are
//! reproducible byte for byte.

use rand::RngExt;

use crate::rng;

/// Bootstrap resamples behind every interval.
pub const BOOTSTRAP: usize = 2000;
/// Random sign flips behind every permutation test.
pub const PERMUTATIONS: usize = 10000;

pub use crate::stats::{mean, median};

/// The `q` quantile of sorted values by linear interpolation.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    if sorted[lo] == sorted[hi] {
        // Also keeps censored (infinite) values from turning into NaN.
        return sorted[lo];
    }
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// A point estimate with a 95% percentile-bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    /// The estimate on the original sample.
    pub estimate: f64,
    /// 2.5% bootstrap percentile.
    pub lo: f64,
    /// 97.5% bootstrap percentile.
    pub hi: f64,
}

impl Interval {
    /// `+0.123 [+0.050, +0.190]`.
    pub fn signed(&self) -> String {
        format!("{:+.3} [{:+.3}, {:+.3}]", self.estimate, self.lo, self.hi)
    }
}

/// Percentile bootstrap of any statistic of `n` paired units: `stat` receives the
/// resampled unit indices. Infinite statistics (censored values) sort last.
pub fn bootstrap(n: usize, seed: u64, stat: impl Fn(&[usize]) -> f64) -> Interval {
    let all: Vec<usize> = (0..n).collect();
    let estimate = stat(&all);
    if n == 0 {
        return Interval { estimate, lo: f64::NAN, hi: f64::NAN };
    }
    let mut r = rng::stream(seed, "bootstrap", &[n as u64]);
    let mut idx = vec![0usize; n];
    let mut values: Vec<f64> = (0..BOOTSTRAP)
        .map(|_| {
            for i in idx.iter_mut() {
                *i = r.random_range(0..n);
            }
            stat(&idx)
        })
        .filter(|v| !v.is_nan())
        .collect();
    values.sort_by(f64::total_cmp);
    Interval { estimate, lo: quantile_sorted(&values, 0.025), hi: quantile_sorted(&values, 0.975) }
}

/// Bootstrap interval of the mean of `xs`.
pub fn bootstrap_mean(xs: &[f64], seed: u64) -> Interval {
    bootstrap(xs.len(), seed, |idx| idx.iter().map(|&i| xs[i]).sum::<f64>() / idx.len() as f64)
}

/// Two-sided sign-flip permutation test of "the mean of paired differences is zero":
/// the fraction of random sign assignments whose |mean| reaches the observed one
/// (with the observed assignment counted, so p is never 0).
pub fn sign_flip_p(diffs: &[f64], seed: u64) -> f64 {
    if diffs.is_empty() {
        return f64::NAN;
    }
    let observed = mean(diffs).abs();
    let mut r = rng::stream(seed, "permutation", &[diffs.len() as u64]);
    let mut hits = 1usize;
    for _ in 0..PERMUTATIONS {
        let s: f64 = diffs.iter().map(|d| if r.random_bool(0.5) { *d } else { -*d }).sum();
        if (s / diffs.len() as f64).abs() >= observed - 1e-12 {
            hits += 1;
        }
    }
    hits as f64 / (PERMUTATIONS + 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&s, 0.0), 1.0);
        assert_eq!(quantile_sorted(&s, 1.0), 4.0);
        assert!((quantile_sorted(&s, 0.5) - 2.5).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_interval_contains_the_mean_and_shrinks_with_n() {
        let small: Vec<f64> = (0..10).map(|i| (i % 5) as f64).collect();
        let large: Vec<f64> = (0..1000).map(|i| (i % 5) as f64).collect();
        let a = bootstrap_mean(&small, 1);
        let b = bootstrap_mean(&large, 1);
        assert!(a.lo <= a.estimate && a.estimate <= a.hi);
        assert!(b.hi - b.lo < (a.hi - a.lo) / 3.0);
        assert_eq!(bootstrap_mean(&small, 1), a, "seeded, so reproducible");
    }

    #[test]
    fn permutation_test_separates_shift_from_noise() {
        let shifted: Vec<f64> = (0..30).map(|i| 1.0 + 0.1 * ((i % 7) as f64 - 3.0)).collect();
        let noise: Vec<f64> = (0..30).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        assert!(sign_flip_p(&shifted, 3) < 0.001);
        assert!(sign_flip_p(&noise, 3) > 0.5);
    }
}
