//! Gallagher's Gaussian peaks (f21 with 101 peaks, f22 with 21 peaks): the peak
//! locations, heights and per-peak conditioning generated as the reference does.

use super::instance::{Matrix, rotation, unif};
use super::transforms::{penalty, tosz};

/// The generated landscape of one Gallagher instance.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Gallagher {
    rotation: Matrix,
    /// Peak centres in rotated coordinates, `centres[peak][coordinate]`.
    centres: Vec<Vec<f64>>,
    /// Diagonal scaling of each peak, `scales[peak][coordinate]`.
    scales: Vec<Vec<f64>>,
    /// Height `w_i` of each peak; the global peak is 10.
    heights: Vec<f64>,
    /// The global optimum in the original coordinates.
    xopt: Vec<f64>,
}

/// Indices of `values` sorted by value (the reference sorts `(value, index)` pairs).
fn argsort(values: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    idx
}

impl Gallagher {
    /// Build the landscape with `peaks` (101 or 21) peaks from the instance seed.
    pub(crate) fn new(seed: i64, dim: usize, peaks: usize) -> Self {
        let max_condition: f64 = 1000.0;
        let (first_condition, b, c) =
            if peaks == 101 { (max_condition.sqrt(), 10.0, 5.0) } else { (max_condition, 9.8, 4.9) };
        let rotation = rotation(seed, dim);

        let order = argsort(&unif(peaks - 1, seed));
        let mut conditions = vec![first_condition];
        let mut heights = vec![10.0];
        for i in 1..peaks {
            let level = (peaks - 2) as f64;
            conditions.push(max_condition.powf(order[i - 1] as f64 / level));
            heights.push((i - 1) as f64 / level * (9.1 - 1.1) + 1.1);
        }

        let scales = (0..peaks)
            .map(|i| {
                let perm = argsort(&unif(dim, seed + 1000 * i as i64));
                perm.iter().map(|&p| conditions[i].powf(p as f64 / (dim - 1) as f64 - 0.5)).collect()
            })
            .collect();

        let r = unif(dim * peaks, seed);
        let xopt = (0..dim).map(|i| 0.8 * (b * r[i] - c)).collect();
        let centres = (0..peaks)
            .map(|j| {
                let raw: Vec<f64> = (0..dim).map(|k| b * r[j * dim + k] - c).collect();
                let mut centre = rotation.apply(&raw);
                if j == 0 {
                    centre.iter_mut().for_each(|v| *v *= 0.8);
                }
                centre
            })
            .collect();

        Gallagher { rotation, centres, scales, heights, xopt }
    }

    /// The global optimum.
    pub(crate) fn xopt(&self) -> &[f64] {
        &self.xopt
    }

    /// `T_osz(10 - max_i w_i exp(-1/(2D) (z - y_i)' C_i (z - y_i)))^2 + f_pen(x)`, without
    /// the offset `fopt`.
    pub(crate) fn eval(&self, x: &[f64]) -> f64 {
        let n = x.len();
        let fac = -0.5 / n as f64;
        let z = self.rotation.apply(x);
        let mut best = 0.0_f64;
        for ((centre, scale), height) in self.centres.iter().zip(&self.scales).zip(&self.heights) {
            let mut q = 0.0;
            for j in 0..n {
                let d = z[j] - centre[j];
                q += scale[j] * d * d;
            }
            best = best.max(height * (fac * q).exp());
        }
        let t = tosz(10.0 - best);
        t * t + penalty(x)
    }
}
