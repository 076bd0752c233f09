//! What a table is worth as a benchmark: its best configs, the noise of one trial, how
//! far apart the top configs are, how wrong the answer rule is for configs that are
//! not tabulated, and whether pushing every knob to a bound solves it.

use super::table::GptTable;
use crate::objective::Objective;
use crate::space::Config;

/// Summary statistics of a table (all in val bits per byte at full fidelity).
#[derive(Debug, Clone, PartialEq)]
pub struct TableStats {
    /// Configs with rows.
    pub configs: usize,
    /// Rows.
    pub trials: usize,
    /// Trial-seconds spent building it.
    pub seconds: f64,
    /// Rows that diverged or were invalid.
    pub failed: usize,
    /// Median over configs of the seed standard deviation.
    pub seed_sd: f64,
    /// The table's resolution: median standard error of a config's seed mean.
    pub resolution: f64,
    /// `(design index, seed mean)` of the best configs, best first.
    pub top: Vec<(usize, f64)>,
    /// Seed mean of the 2nd, 10th and 100th best configs minus the best (NaN when the
    /// table has fewer).
    pub gaps: [f64; 3],
    /// Leave-one-out error of the answer rule: each config's seed mean predicted by its
    /// nearest other config's. Mean absolute error.
    pub loo_mae: f64,
    /// Spearman rank correlation between predicted and actual seed means.
    pub loo_spearman: f64,
    /// Rank (1 = best) among the configs of the best of the `2^d` corners (every knob at
    /// a bound), each answered by the answer rule. With more corners than configs this
    /// is close to 1 by coverage alone; the budget-matched figures below are the test.
    pub corner_rank: usize,
    /// Regret of that best corner.
    pub corner_regret: f64,
    /// Expected regret of the best of [`BUDGET_MATCHED`] corners drawn at random (a
    /// "push every knob to a bound" heuristic at an episode's budget).
    pub corners_k_regret: f64,
    /// Expected regret of the best of [`BUDGET_MATCHED`] tabulated configs drawn at
    /// random (random search at the same budget), for comparison.
    pub random_k_regret: f64,
    /// How well each lower fidelity level ranks configs for the full one, lowest first.
    pub fidelity_ranks: Vec<FidelityRank>,
}

/// One lower fidelity level as a guide to the full one: where "always use the cheapest
/// fidelity" wins (a high correlation, a best config that is also best at full fidelity)
/// and where it misleads.
#[derive(Debug, Clone, PartialEq)]
pub struct FidelityRank {
    /// The level (a fraction of the full budget).
    pub fidelity: f64,
    /// Spearman rank correlation between configs' seed means at this level (as a
    /// mechanism sees them, a diverged trial's value included) and at full fidelity.
    pub spearman: f64,
    /// Full-fidelity regret of the config whose seed mean is best at this level.
    pub best_there_regret: f64,
    /// Its rank (1 = best) at full fidelity.
    pub best_there_rank: usize,
}

/// Trials of the budget-matched corner and random comparisons (an episode's budget).
pub const BUDGET_MATCHED: usize = 15;

/// Expected minimum of `k` values drawn without replacement from `values`.
pub fn expected_min_of(values: &[f64], k: usize) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let k = k.clamp(1, n);
    // P(the minimum is the i-th smallest) = C(n-1-i, k-1) / C(n, k), by ratios to stay finite.
    let mut p = k as f64 / n as f64;
    let mut total = 0.0;
    for (i, x) in v.iter().enumerate() {
        if i + k > n {
            break;
        }
        total += p * x;
        // C(n-2-i, k-1) / C(n-1-i, k-1) = (n-1-i-(k-1)) / (n-1-i)
        let rest = (n - 1 - i) as f64;
        p *= if rest > 0.0 { (rest - (k - 1) as f64) / rest } else { 0.0 };
    }
    total
}

/// Compute [`TableStats`] (the corner search is limited to the first 16 knobs).
pub fn table_stats(obj: &GptTable, top: usize) -> TableStats {
    let table = obj.table();
    let means = obj.config_means();
    let top_level = table.fidelities.len().saturating_sub(1);
    let mut sds = Vec::new();
    for &(id, _) in &means {
        let finals: Vec<f64> = table.rows_of(id).iter().filter_map(|r| r.curve.get(top_level).copied()).collect();
        if finals.len() >= 2 {
            let n = finals.len() as f64;
            let m = finals.iter().sum::<f64>() / n;
            sds.push((finals.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
        }
    }
    let seed_sd = crate::stats::median(&sds);
    let mut sorted = means.clone();
    sorted.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let best = sorted.first().map(|b| b.1).unwrap_or(f64::NAN);
    let gap = |k: usize| sorted.get(k).map(|x| x.1 - best).unwrap_or(f64::NAN);
    // Leave-one-out answers.
    let space = table.space.clone();
    let mut actual = Vec::new();
    let mut predicted = Vec::new();
    for &(id, mean) in &means {
        let Some(config) = table.config(id) else { continue };
        let point = space.encode(&config);
        if let Some(other) = obj.nearest_other(&point, id).and_then(|o| obj.mean_of(o)) {
            actual.push(mean);
            predicted.push(other);
        }
    }
    let loo_mae = if actual.is_empty() {
        f64::NAN
    } else {
        actual.iter().zip(&predicted).map(|(a, p)| (a - p).abs()).sum::<f64>() / actual.len() as f64
    };
    let loo_spearman = spearman(&actual, &predicted);
    // Corners.
    let dims = space.dim().min(16);
    let mut corners = Vec::new();
    for mask in 0u32..(1 << dims) {
        let unit: Vec<f64> = (0..space.dim()).map(|d| if d < dims && mask >> d & 1 == 1 { 1.0 } else { 0.0 }).collect();
        let config: Config = space.decode(&space.snap(&unit));
        if let Some(v) = obj.true_score(&config) {
            corners.push(v);
        }
    }
    let best_corner = corners.iter().copied().fold(f64::INFINITY, f64::min);
    let all_means: Vec<f64> = means.iter().map(|m| m.1).collect();
    let corner_rank = sorted.iter().filter(|x| x.1 < best_corner).count() + 1;
    TableStats {
        configs: means.len(),
        trials: table.rows.len(),
        seconds: table.rows.iter().map(|r| r.seconds).sum(),
        failed: table.rows.iter().filter(|r| r.status != crate::history::TrialStatus::Ok).count(),
        seed_sd,
        resolution: obj.resolution(),
        top: sorted.iter().take(top).copied().collect(),
        gaps: [gap(1), gap(9), gap(99)],
        loo_mae,
        loo_spearman,
        corner_rank,
        corner_regret: best_corner - best,
        corners_k_regret: expected_min_of(&corners, BUDGET_MATCHED) - best,
        random_k_regret: expected_min_of(&all_means, BUDGET_MATCHED) - best,
        fidelity_ranks: fidelity_ranks(obj, &means),
    }
}

/// [`FidelityRank`] of every level below the full one; `means` = the configs' seed means
/// at full fidelity.
fn fidelity_ranks(obj: &GptTable, means: &[(usize, f64)]) -> Vec<FidelityRank> {
    let table = obj.table();
    let levels = &table.fidelities;
    let best = means.iter().map(|m| m.1).fold(f64::INFINITY, f64::min);
    let finals: Vec<f64> = means.iter().map(|m| m.1).collect();
    (0..levels.len().saturating_sub(1))
        .map(|level| {
            let at: Vec<f64> = means
                .iter()
                .map(|&(id, _)| {
                    let rows = table.rows_of(id);
                    let seen =
                        |r: &&super::table::Row| r.curve.get(level).copied().unwrap_or(super::train::FAILURE_BPB);
                    rows.iter().map(seen).sum::<f64>() / rows.len().max(1) as f64
                })
                .collect();
            let pick = (0..at.len()).min_by(|&a, &b| at[a].total_cmp(&at[b]).then(a.cmp(&b)));
            let (regret, rank) = match pick {
                Some(i) => (finals[i] - best, finals.iter().filter(|&&f| f < finals[i]).count() + 1),
                None => (f64::NAN, 0),
            };
            FidelityRank {
                fidelity: levels[level],
                spearman: spearman(&at, &finals),
                best_there_regret: regret,
                best_there_rank: rank,
            }
        })
        .collect()
}

/// Ranks (1-based, ties averaged).
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            out[k] = r;
        }
        i = j + 1;
    }
    out
}

/// Spearman's rank correlation (NaN for fewer than 3 pairs).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    if a.len() < 3 || a.len() != b.len() {
        return f64::NAN;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let ma = ra.iter().sum::<f64>() / n;
    let mb = rb.iter().sum::<f64>() / n;
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_of_monotone_is_one() {
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 25.0, 100.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert!(spearman(&[1.0], &[1.0]).is_nan());
    }

    #[test]
    fn expected_minimum_matches_enumeration() {
        let v = [5.0, 1.0, 3.0, 2.0];
        // All 6 pairs: mins 1,1,1,2,2,3 -> 10/6.
        assert!((expected_min_of(&v, 2) - 10.0 / 6.0).abs() < 1e-12);
        assert!((expected_min_of(&v, 1) - 2.75).abs() < 1e-12);
        assert_eq!(expected_min_of(&v, 4), 1.0);
        assert_eq!(expected_min_of(&v, 9), 1.0);
    }

    #[test]
    fn every_lower_fidelity_is_judged_against_the_full_one() {
        let obj = crate::objective::gpt::suite::shipped_table("records-s").unwrap();
        let s = table_stats(&obj, 3);
        let levels = &obj.table().fidelities;
        assert_eq!(s.fidelity_ranks.len(), levels.len() - 1);
        for (r, level) in s.fidelity_ranks.iter().zip(levels) {
            assert_eq!(r.fidelity, *level);
            assert!(r.spearman > -1.0 && r.spearman < 1.0, "{r:?}");
            assert!(r.best_there_regret >= 0.0 && r.best_there_rank >= 1 && r.best_there_rank <= s.configs, "{r:?}");
        }
        // Closer to the full budget, the ranking agrees more.
        let first = s.fidelity_ranks.first().unwrap().spearman;
        let last = s.fidelity_ranks.last().unwrap().spearman;
        assert!(last > first, "{:?}", s.fidelity_ranks);
    }

    #[test]
    fn the_embedded_table_has_sane_stats() {
        let obj = crate::objective::gpt::suite::shipped_table("synthetic").unwrap();
        let s = table_stats(&obj, 5);
        assert_eq!(s.configs, 648);
        assert!(s.seed_sd > 0.0 && s.seed_sd < 0.1, "{}", s.seed_sd);
        assert!(s.resolution < s.seed_sd);
        assert!(s.gaps[0] >= 0.0 && s.gaps[1] >= s.gaps[0]);
        // On a grid every corner is a tabulated config.
        assert!(s.corner_rank >= 1 && s.corner_regret >= 0.0);
        assert!(s.corners_k_regret >= s.corner_regret && s.random_k_regret > 0.0);
        assert!(s.loo_spearman > 0.3, "{}", s.loo_spearman);
    }
}
