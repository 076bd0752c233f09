//! The small statistics every part of the crate shares: one definition of each.
//!
//! Empty input gives NaN (never a made-up 0); one value has a standard deviation of 0.
//! The resampling statistics (percentile bootstrap, sign-flip permutation tests) draw
//! from explicit seeded streams, so every report is reproducible byte for byte.

use rand::RngExt;

use crate::rng;

/// Arithmetic mean (NaN for no values).
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() { f64::NAN } else { xs.iter().sum::<f64>() / xs.len() as f64 }
}

/// Mean and sample standard deviation (NaN, NaN for no values; sd 0 for one value).
pub fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let m = mean(xs);
    if n == 1 {
        return (m, 0.0);
    }
    let var = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1) as f64;
    (m, var.sqrt())
}

/// Median (NaN for no values; the mean of the two middle values for an even count).
/// A selection, not a sort: the outer loop takes the population's median every tick.
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    let n = v.len();
    let (lower, &mut upper, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        upper
    } else {
        let below = lower.iter().copied().max_by(f64::total_cmp).unwrap_or(upper);
        0.5 * (below + upper)
    }
}

/// Upper median: the middle value, or the upper of the two middle values for an even
/// count (always one of the values; NaN for none). The GPT tables' resolution uses it.
pub fn upper_median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    let n = v.len();
    *v.select_nth_unstable_by(n / 2, f64::total_cmp).1
}

/// Two-sided 95% Student t quantile for `df` degrees of freedom (NaN for 0).
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

/// Mean with the half-width of its 95% t interval (NaN half-width below two values).
pub fn mean_half_width(xs: &[f64]) -> (f64, f64) {
    let (m, sd) = mean_sd(xs);
    let n = xs.len();
    (m, t95(n.saturating_sub(1)) * sd / (n as f64).sqrt())
}

/// Wilson score 95% interval of a proportion `k / n` (`(0, 1)` when `n` is 0).
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (z, n_f) = (1.96f64, n as f64);
    let p = k as f64 / n_f;
    let centre = (p + z * z / (2.0 * n_f)) / (1.0 + z * z / n_f);
    let half = z * (p * (1.0 - p) / n_f + z * z / (4.0 * n_f * n_f)).sqrt() / (1.0 + z * z / n_f);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Bootstrap resamples behind every interval.
pub const BOOTSTRAP: usize = 2000;
/// Random sign flips behind every permutation test.
pub const PERMUTATIONS: usize = 10000;

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

/// Holm's step-down adjustment of a family of p-values (controls the family-wise error
/// rate without assuming independence): sort ascending, multiply the i-th smallest by
/// (m - i), keep the running maximum, cap at 1. NaN p-values stay NaN and do not count.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let m = order.len();
    let mut adjusted = vec![f64::NAN; p.len()];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max((p[i] * (m - rank) as f64).min(1.0));
        adjusted[i] = running;
    }
    adjusted
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

    #[test]
    fn holm_adjusts_step_down_and_keeps_order() {
        let adjusted = holm(&[0.01, 0.04, 0.03, f64::NAN]);
        assert_eq!(adjusted[..3], [0.03, 0.06, 0.06]);
        assert!(adjusted[3].is_nan());
        assert_eq!(holm(&[0.5, 0.9]), vec![1.0, 1.0]);
    }

    use super::*;

    #[test]
    fn empty_input_is_nan_and_small_samples_behave() {
        assert!(mean(&[]).is_nan() && median(&[]).is_nan() && mean_sd(&[]).0.is_nan());
        assert_eq!(mean_sd(&[2.0]), (2.0, 0.0));
        assert!((mean_sd(&[1.0, 3.0]).1 - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(t95(0).is_nan() && t95(1) > 12.0 && t95(1000) == 1.96);
        assert!(mean_half_width(&[1.0]).1.is_nan());
    }

    #[test]
    fn wilson_interval_contains_the_proportion_and_narrows_with_n() {
        let (lo, hi) = wilson(20, 100);
        assert!(lo < 0.2 && 0.2 < hi);
        let (lo2, hi2) = wilson(200, 1000);
        assert!(hi2 - lo2 < hi - lo);
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn upper_median_is_a_value_of_the_sample() {
        assert_eq!(upper_median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(upper_median(&[4.0, 1.0, 3.0, 2.0]), 3.0);
        assert!(upper_median(&[]).is_nan());
    }

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
