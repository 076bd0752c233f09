//! Diagnosis of an inner-loop trace: what holds a mechanism back.

use crate::history::TrialStatus;
use crate::inner::trace::{HealKind, Trace};

/// Averaged trace statistics over a mechanism's episodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TraceStats {
    /// Fraction of trials after the last improvement.
    pub stagnation: f64,
    /// Fraction of proposals within 1e-3 (RMS) of an earlier proposal.
    pub repeats: f64,
    /// Mean RMS distance of proposals to their centroid (0.29 for uniform points).
    pub diversity: f64,
    /// Fraction of trials that failed or needed healing.
    pub failures: f64,
    /// Fraction of the budget spent on trials in the worst quarter of scores.
    pub bad_regions: f64,
}

/// The bottleneck the proposer treats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Diagnosis {
    /// Long runs without improvement.
    Stagnation,
    /// Repeated or near-duplicate proposals.
    Repeats,
    /// Proposals crowd into a small region.
    LowDiversity,
    /// Failed trials or genome faults.
    Failures,
    /// Much budget spent in bad regions.
    BadRegions,
    /// Nothing stands out.
    Healthy,
}

impl Diagnosis {
    /// Every diagnosis.
    pub const ALL: [Diagnosis; 6] = [
        Diagnosis::Stagnation,
        Diagnosis::Repeats,
        Diagnosis::LowDiversity,
        Diagnosis::Failures,
        Diagnosis::BadRegions,
        Diagnosis::Healthy,
    ];

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Diagnosis::Stagnation => "stagnation",
            Diagnosis::Repeats => "repeats",
            Diagnosis::LowDiversity => "low-diversity",
            Diagnosis::Failures => "failures",
            Diagnosis::BadRegions => "bad-regions",
            Diagnosis::Healthy => "healthy",
        }
    }

    /// Index in [`Diagnosis::ALL`].
    pub fn index(self) -> usize {
        Diagnosis::ALL.iter().position(|d| *d == self).unwrap_or(5)
    }
}

/// Statistics of one trace.
pub fn trace_stats(trace: &Trace) -> TraceStats {
    let n = trace.trials.len();
    if n == 0 {
        return TraceStats::default();
    }
    let last_improvement = trace.trials.iter().rposition(|t| t.improved).unwrap_or(0);
    let stagnation = (n - 1 - last_improvement) as f64 / n as f64;
    let d = trace.trials[0].point.len().max(1) as f64;
    let rms = |a: &[f64], b: &[f64]| (a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / d).sqrt();
    // Compare each proposal with a bounded window of earlier ones to stay linear.
    let window = 64;
    let repeats = (1..n)
        .filter(|&i| {
            trace.trials[i.saturating_sub(window)..i].iter().any(|t| rms(&t.point, &trace.trials[i].point) < 1e-3)
        })
        .count() as f64
        / n as f64;
    let dims = trace.trials[0].point.len();
    let mut centroid = vec![0.0; dims];
    for t in &trace.trials {
        for (c, x) in centroid.iter_mut().zip(&t.point) {
            *c += x / n as f64;
        }
    }
    let diversity = trace.trials.iter().map(|t| rms(&t.point, &centroid)).sum::<f64>() / n as f64;
    // A crash on a hook's fault counts like the heal it replaced (a failed trial that
    // crashed the episode is already counted as a failed trial).
    let crashed = trace.crash.as_ref().is_some_and(|c| c.fault != HealKind::TrialFailed);
    let failed =
        trace.trials.iter().filter(|t| t.status != TrialStatus::Ok).count() + trace.heals.len() + usize::from(crashed);
    let failures = (failed as f64 / n as f64).min(1.0);
    let mut scores: Vec<f64> = trace.trials.iter().map(|t| t.score).collect();
    scores.sort_by(f64::total_cmp);
    let cut = scores[(3 * n) / 4];
    let spent: f64 = trace.trials.iter().map(|t| t.cost).sum();
    let bad: f64 = trace.trials.iter().filter(|t| t.score >= cut).map(|t| t.cost).sum();
    let bad_regions = if spent > 0.0 { bad / spent } else { 0.0 };
    TraceStats { stagnation, repeats, diversity, failures, bad_regions }
}

/// Average statistics over several traces.
pub fn mean_stats(stats: &[TraceStats]) -> TraceStats {
    let n = stats.len().max(1) as f64;
    let mut m = TraceStats::default();
    for s in stats {
        m.stagnation += s.stagnation / n;
        m.repeats += s.repeats / n;
        m.diversity += s.diversity / n;
        m.failures += s.failures / n;
        m.bad_regions += s.bad_regions / n;
    }
    m
}

/// The most severe bottleneck: each statistic is compared with its threshold and the
/// largest excess wins; `Healthy` when none exceeds its threshold.
pub fn diagnose(s: &TraceStats) -> Diagnosis {
    let severities = [
        (Diagnosis::Stagnation, s.stagnation / 0.6),
        (Diagnosis::Repeats, s.repeats / 0.05),
        (Diagnosis::LowDiversity, 0.04 / s.diversity.max(1e-9)),
        (Diagnosis::Failures, s.failures / 0.05),
        (Diagnosis::BadRegions, s.bad_regions / 0.5),
    ];
    let mut best = (Diagnosis::Healthy, 1.0);
    for (d, sev) in severities {
        if sev > best.1 {
            best = (d, sev);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnoses_pick_the_largest_excess() {
        let healthy = TraceStats { stagnation: 0.3, repeats: 0.0, diversity: 0.2, failures: 0.0, bad_regions: 0.3 };
        assert_eq!(diagnose(&healthy), Diagnosis::Healthy);
        assert_eq!(diagnose(&TraceStats { repeats: 0.5, ..healthy }), Diagnosis::Repeats);
        assert_eq!(diagnose(&TraceStats { stagnation: 0.9, ..healthy }), Diagnosis::Stagnation);
        assert_eq!(diagnose(&TraceStats { diversity: 0.001, ..healthy }), Diagnosis::LowDiversity);
    }
}
