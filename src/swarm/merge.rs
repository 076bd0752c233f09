//! Merge baselines over flat weight vectors: interpolation of a pair, the uniform soup,
//! task arithmetic and TIES merging.
//!
//! Task vectors are `expert - base`. Task arithmetic adds `scale * sum(task vectors)` to
//! the base. TIES (Yadav et al., 2023) trims each task vector to its `density` fraction
//! of largest magnitudes, elects a sign per coordinate from the sum of the trimmed
//! vectors, averages the trimmed entries that agree with the elected sign, and adds
//! `scale` times that to the base.

/// `a + t (b - a)`: interpolation for `t` in [0, 1], extrapolation outside.
pub fn interpolate(a: &[f32], b: &[f32], t: f64) -> Vec<f32> {
    let t = t as f32;
    a.iter().zip(b).map(|(x, y)| x + t * (y - x)).collect()
}

/// The mean of `models`, summed in index order.
pub fn soup(models: &[&[f32]]) -> Vec<f32> {
    let n = models.len().max(1) as f32;
    let mut out = vec![0f32; models.first().map_or(0, |m| m.len())];
    for m in models {
        for (o, x) in out.iter_mut().zip(m.iter()) {
            *o += x;
        }
    }
    out.iter_mut().for_each(|o| *o /= n);
    out
}

/// The summed task vectors `sum_k (expert_k - base)`, in expert order.
pub fn task_sum(base: &[f32], experts: &[&[f32]]) -> Vec<f32> {
    let mut out = vec![0f32; base.len()];
    for e in experts {
        for ((o, x), b) in out.iter_mut().zip(e.iter()).zip(base) {
            *o += x - b;
        }
    }
    out
}

/// `base + scale * direction`.
pub fn add_scaled(base: &[f32], direction: &[f32], scale: f64) -> Vec<f32> {
    let s = scale as f32;
    base.iter().zip(direction).map(|(b, d)| b + s * d).collect()
}

/// The TIES merge direction (trim to `density`, elect signs, disjoint mean), to be
/// added to the base with a scale by [`add_scaled`].
pub fn ties_direction(base: &[f32], experts: &[&[f32]], density: f64) -> Vec<f32> {
    let n = base.len();
    let trimmed: Vec<Vec<f32>> = experts
        .iter()
        .map(|e| {
            let tau: Vec<f32> = e.iter().zip(base).map(|(x, b)| x - b).collect();
            let keep = ((density.clamp(0.0, 1.0) * n as f64).round() as usize).min(n);
            if keep == 0 {
                return vec![0.0; n];
            }
            let mut mags: Vec<f32> = tau.iter().map(|v| v.abs()).collect();
            // The keep-th largest magnitude; ties at the threshold are all kept.
            let (_, threshold, _) = mags.select_nth_unstable_by(n - keep, |a, b| a.total_cmp(b));
            let threshold = *threshold;
            tau.iter().map(|&v| if v.abs() >= threshold { v } else { 0.0 }).collect()
        })
        .collect();
    (0..n)
        .map(|j| {
            let total: f32 = trimmed.iter().map(|t| t[j]).sum();
            let sign = total.signum();
            if total == 0.0 {
                return 0.0;
            }
            let (mut sum, mut count) = (0f32, 0u32);
            for t in &trimmed {
                if t[j] != 0.0 && t[j].signum() == sign {
                    sum += t[j];
                    count += 1;
                }
            }
            if count == 0 { 0.0 } else { sum / count as f32 }
        })
        .collect()
}

/// `count` scales evenly spaced over `(0, max]`.
pub fn scale_grid(count: usize, max: f64) -> Vec<f64> {
    (1..=count).map(|i| max * i as f64 / count as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soup_and_task_arithmetic_agree_at_one_over_k() {
        let base = [0.0f32, 1.0, 2.0];
        let a = [1.0f32, 1.0, 2.0];
        let b = [0.0f32, 3.0, 0.0];
        let s = soup(&[&a, &b]);
        assert_eq!(s, vec![0.5, 2.0, 1.0]);
        let ta = add_scaled(&base, &task_sum(&base, &[&a, &b]), 0.5);
        assert_eq!(ta, s);
        assert_eq!(interpolate(&a, &b, 0.5), s);
        assert_eq!(interpolate(&a, &b, 2.0), vec![-1.0, 5.0, -2.0]);
        assert_eq!(scale_grid(4, 2.0), vec![0.5, 1.0, 1.5, 2.0]);
    }

    #[test]
    fn ties_trims_elects_and_averages_agreeing_entries() {
        let base = [0.0f32; 4];
        let a = [3.0f32, -1.0, 0.1, 2.0];
        let b = [1.0f32, 2.0, -0.2, -5.0];
        // Density 1: no trimming. Coordinate 0: both positive -> mean 2. Coordinate 1:
        // sum +1 elects +, only b agrees -> 2. Coordinate 3: sum -3 elects -, b -> -5.
        let d = ties_direction(&base, &[&a, &b], 1.0);
        assert_eq!(d, vec![2.0, 2.0, -0.2, -5.0]);
        // Density 0.5 keeps the two largest magnitudes of each task vector.
        let d = ties_direction(&base, &[&a, &b], 0.5);
        assert_eq!(d, vec![3.0, 2.0, 0.0, -5.0]);
        assert_eq!(ties_direction(&base, &[&a, &b], 0.0), vec![0.0; 4]);
    }
}
