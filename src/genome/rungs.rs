//! Fidelity pieces: which rung a model learns from, picks within a rung, a Parzen
//! density ratio over a rung, learning-curve prediction across rungs, the rank
//! agreement between neighbouring rungs, and Hyperband's bracket schedule.
//!
//! A rung is the set of trials run at one fidelity level. A config evaluated at several
//! levels (promoted) has one score per level: its latest trial there.

use crate::history::{History, TrialStatus};

/// The highest level with at least `min_trials` successful trials (level 0 when none
/// has): where BOHB fits its model.
pub fn top_rung(h: &History, min_trials: usize) -> usize {
    (0..h.levels())
        .rev()
        .find(|&l| {
            h.rung(l).iter().filter(|&&i| h.trials()[i as usize].status == TrialStatus::Ok).count() >= min_trials
        })
        .unwrap_or(0)
}

/// Log ratio of Parzen densities of `x` under the best fraction `gamma` of `points`
/// (given best first) versus the rest: TPE's acquisition score. 0 with fewer than four
/// points. The bandwidth shrinks with the number of points as Scott's rule does.
pub fn parzen_ratio<'a>(points: impl ExactSizeIterator<Item = &'a [f64]>, x: &[f64], gamma: f64, d: usize) -> f64 {
    let n = points.len();
    if n < 4 || x.len() != d {
        return 0.0;
    }
    let g = gamma.clamp(0.01, 0.99);
    let n_good = ((g * n as f64).ceil() as usize).clamp(1, n - 1);
    let bw = (0.3 * (n as f64).powf(-1.0 / (d as f64 + 4.0))).max(0.02);
    let inv = 1.0 / (2.0 * bw * bw);
    let mut good = 0.0;
    let mut bad = 0.0;
    for (rank, p) in points.enumerate() {
        let sq: f64 = x.iter().zip(p).map(|(a, b)| (a - b) * (a - b)).sum();
        let k = (-sq * inv).exp();
        if rank < n_good {
            good += k;
        } else {
            bad += k;
        }
    }
    let good = good / n_good as f64 + 1e-300;
    let bad = bad / (n - n_good) as f64 + 1e-300;
    crate::genome::prim::sanitize(good.ln() - bad.ln())
}

/// Each distinct point's latest score at `level` (indexed by point id; `None` where the
/// point was not run there).
fn scores_at(h: &History, level: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; h.distinct_points()];
    for &i in h.rung(level) {
        out[h.point_id_of_trial(i as usize) as usize] = Some(h.trials()[i as usize].score);
    }
    out
}

/// Pairs `(score at a, score at b)` of the points run at both levels, by point id.
fn paired(a: &[Option<f64>], b: &[Option<f64>]) -> Vec<(f64, f64)> {
    a.iter().zip(b).filter_map(|(x, y)| Some(((*x)?, (*y)?))).collect()
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(crate::stats::median(&v))
}

/// The predicted full-fidelity score of `cand` from the rungs it reached, and the work
/// done (trials scanned):
/// - at the top level: its own score there;
/// - else, with three or more configs run both at its highest level and at the top, the
///   least-squares line through those pairs, at its score;
/// - else, when it reached two levels, its own curve extrapolated linearly in log
///   fidelity to full fidelity;
/// - else its score shifted by the gap between the two levels' mean scores (when both
///   have trials), or its score as it is.
///
/// A config never run gets the median score at the top level (or of all trials), 0 in
/// an empty history.
pub fn curve_prediction(h: &History, levels: &[f64], cand: &[f64]) -> (f64, u64) {
    let work = h.len() as u64;
    let top = levels.len().saturating_sub(1).min(h.levels() - 1);
    let Some(id) = h.point_id(cand) else {
        let fallback = median(h.rung(top).iter().map(|&i| h.trials()[i as usize].score).collect())
            .or_else(|| median(h.trials().iter().map(|t| t.score).collect()))
            .unwrap_or(0.0);
        return (fallback, work);
    };
    let id = id as usize;
    let per_level: Vec<Vec<Option<f64>>> = (0..=top).map(|l| scores_at(h, l)).collect();
    let reached: Vec<usize> = (0..=top).filter(|&l| per_level[l][id].is_some()).collect();
    let Some(&level) = reached.last() else { return (0.0, work) };
    let own = per_level[level][id].unwrap_or(0.0);
    if level == top {
        return (own, work);
    }
    let pairs = paired(&per_level[level], &per_level[top]);
    if pairs.len() >= 3 {
        let n = pairs.len() as f64;
        let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
        let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx: f64 = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        if sxx > 1e-300 {
            return (crate::genome::prim::sanitize(my + sxy / sxx * (own - mx)), work);
        }
    }
    if reached.len() >= 2 {
        let below = reached[reached.len() - 2];
        let (f0, f1) = (levels[below].ln(), levels[level].ln());
        let s0 = per_level[below][id].unwrap_or(own);
        if (f1 - f0).abs() > 1e-12 {
            let slope = (own - s0) / (f1 - f0);
            return (crate::genome::prim::sanitize(own + slope * (levels[top].ln() - f1)), work);
        }
    }
    let mean = |l: usize| {
        let s: Vec<f64> = h.rung(l).iter().map(|&i| h.trials()[i as usize].score).collect();
        (!s.is_empty()).then(|| s.iter().sum::<f64>() / s.len() as f64)
    };
    match (mean(level), mean(top)) {
        (Some(low), Some(high)) => (crate::genome::prim::sanitize(own + high - low), work),
        _ => (own, work),
    }
}

/// Where `score` would rank among the scores observed at the top level: the fraction
/// strictly better (0 = better than all), 0.5 when the top level has no trial.
pub fn rank_at_top(h: &History, levels: &[f64], score: f64) -> f64 {
    let top = levels.len().saturating_sub(1).min(h.levels() - 1);
    let rung = h.rung(top);
    if rung.is_empty() {
        return 0.5;
    }
    rung.iter().filter(|&&i| h.trials()[i as usize].score < score).count() as f64 / rung.len() as f64
}

/// Spearman's rank correlation between the scores at `level` and at the next level up,
/// over the configs run at both; 1 at the top level, 0 with fewer than three such
/// configs. High values say the cheaper rung ranks configs as the dearer one does.
pub fn rung_correlation(h: &History, level: usize) -> f64 {
    if level + 1 >= h.levels() {
        return 1.0;
    }
    let pairs = paired(&scores_at(h, level), &scores_at(h, level + 1));
    if pairs.len() < 3 {
        return 0.0;
    }
    let a = ranks(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
    let b = ranks(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    pearson(&a, &b)
}

/// Ranks from 1, ties sharing their mean rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]).then(i.cmp(&j)));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        for &k in &order[i..=j] {
            out[k] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    out
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    if va <= 0.0 || vb <= 0.0 { 0.0 } else { cov / (va * vb).sqrt() }
}

/// Hyperband's brackets over `levels` with reduction factor `eta`: for each bracket
/// `s = s_max, ..., 0`, its starting fidelity `eta^-s` and how many new configs it
/// starts, `ceil((s_max + 1) / (s + 1) * eta^s)`. `s_max` is `log_eta` of the ratio of
/// the highest to the lowest level, rounded (a start below the lowest level is snapped
/// up to it by the inner loop); `eta` is kept in [1.5, 16].
pub fn brackets(eta: f64, levels: &[f64]) -> Vec<(f64, u64)> {
    let eta = if eta.is_finite() { eta.clamp(1.5, 16.0) } else { 3.0 };
    let lowest = levels.first().copied().unwrap_or(1.0).max(1e-9);
    let top = levels.last().copied().unwrap_or(1.0);
    let s_max = ((top / lowest).ln() / eta.ln()).round().clamp(0.0, 12.0) as i32;
    (0..=s_max)
        .rev()
        .map(|s| (top * eta.powi(-s), ((s_max + 1) as f64 / (s + 1) as f64 * eta.powi(s)).ceil() as u64))
        .collect()
}

/// The starting fidelity of new config number `count` (from 0) under Hyperband's bracket
/// cycle: the brackets' new configs in turn, most aggressive bracket first, repeated.
pub fn bracket_start(eta: f64, levels: &[f64], count: u64) -> f64 {
    let plan = brackets(eta, levels);
    let cycle: u64 = plan.iter().map(|b| b.1).sum();
    let mut pos = count % cycle.max(1);
    for (fidelity, n) in &plan {
        if pos < *n {
            return *fidelity;
        }
        pos -= n;
    }
    levels.last().copied().unwrap_or(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Source, Trial};

    const LEVELS: [f64; 4] = [0.125, 0.25, 0.5, 1.0];

    fn push(h: &mut History, x: f64, level: usize, score: f64) {
        h.push(Trial {
            point: vec![x],
            level,
            score,
            cost: 1.0,
            status: TrialStatus::Ok,
            improved: false,
            source: Source::Propose,
        });
    }

    #[test]
    fn hyperband_brackets_for_eta_2_and_3() {
        // Eight times between the lowest and highest level: eta 2 gives four brackets.
        assert_eq!(brackets(2.0, &LEVELS), vec![(0.125, 8), (0.25, 6), (0.5, 4), (1.0, 4)]);
        // eta 3: log_3 8 = 1.89 rounds to 2 brackets below the top: 1/9 (snapped up to 1/8), 1/3, 1.
        let b = brackets(3.0, &LEVELS);
        assert_eq!(b.iter().map(|x| x.1).collect::<Vec<_>>(), vec![9, 5, 3]);
        assert!((b[1].0 - 1.0 / 3.0).abs() < 1e-12);
        let starts: Vec<f64> = (0..22).map(|c| bracket_start(2.0, &LEVELS, c)).collect();
        assert_eq!(starts.iter().filter(|&&f| f == 0.125).count(), 8);
        assert_eq!(bracket_start(2.0, &LEVELS, 22), 0.125, "the cycle repeats");
    }

    #[test]
    fn a_curve_is_predicted_from_the_pairs_across_rungs() {
        let mut h = History::new(4);
        // Three configs at 1/8 and at full fidelity: full = 1 + 0.5 * low.
        for (x, low) in [(0.1, 2.0), (0.2, 4.0), (0.3, 6.0)] {
            push(&mut h, x, 0, low);
            push(&mut h, x, 3, 1.0 + 0.5 * low);
        }
        push(&mut h, 0.4, 0, 8.0);
        assert_eq!(curve_prediction(&h, &LEVELS, &[0.4]).0, 5.0);
        assert_eq!(curve_prediction(&h, &LEVELS, &[0.3]).0, 4.0, "its own top score");
        // Full-fidelity scores 2, 3, 4: a predicted 5 is worse than all of them.
        assert_eq!(rank_at_top(&h, &LEVELS, 5.0), 1.0);
        assert_eq!(rank_at_top(&h, &LEVELS, 2.5), 1.0 / 3.0);
        assert!((rung_correlation(&h, 0) - 0.0).abs() < 1e-12, "levels 0 and 1 share no config");
    }

    #[test]
    fn own_curve_and_shift_fallbacks() {
        let mut h = History::new(4);
        push(&mut h, 0.5, 0, 4.0);
        push(&mut h, 0.5, 1, 3.0);
        // log-linear in fidelity: 3 + (3 - 4) / ln 2 * (ln 1 - ln 1/4) = 1.
        assert!((curve_prediction(&h, &LEVELS, &[0.5]).0 - 1.0).abs() < 1e-12);
        push(&mut h, 0.9, 3, 2.5);
        push(&mut h, 0.7, 0, 5.0);
        // Shift by the mean gap between level 0 (4.5) and level 3 (2.5).
        assert!((curve_prediction(&h, &LEVELS, &[0.7]).0 - 3.0).abs() < 1e-12);
        assert_eq!(curve_prediction(&h, &LEVELS, &[0.123]).0, 2.5, "never run: the top median");
    }

    #[test]
    fn rank_correlation_between_rungs() {
        let mut h = History::new(2);
        for (i, (a, b)) in [(1.0, 10.0), (2.0, 20.0), (3.0, 30.0), (4.0, 25.0)].into_iter().enumerate() {
            push(&mut h, i as f64, 0, a);
            push(&mut h, i as f64, 1, b);
        }
        // Ranks 1 2 3 4 against 1 2 4 3: Spearman 0.8.
        assert!((rung_correlation(&h, 0) - 0.8).abs() < 1e-12);
        assert_eq!(rung_correlation(&h, 1), 1.0);
        assert_eq!(top_rung(&h, 4), 1);
        assert_eq!(top_rung(&h, 5), 0);
        assert_eq!(h.ranked_rung(1), [1, 3, 7, 5]);
    }
}
