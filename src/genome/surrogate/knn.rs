//! k-nearest-neighbour regression: the cheap surrogate. The prediction at a point is
//! the inverse-distance-weighted mean of its `k` nearest training points' scores; the
//! uncertainty combines their weighted spread with a distance term that grows from 0 at
//! a training point to the prior's deviation (1 in standardised units) at twice the
//! data's typical spacing (the mean distance from a training point to its nearest
//! other one), so acquisition functions explore the gaps, not the whole cube.

/// The most neighbours a prediction uses (kept on the stack).
pub const MAX_STACK: usize = 64;

/// A k-NN regressor on standardised scores.
#[derive(Debug, Clone)]
pub struct Knn {
    x: Vec<Vec<f64>>,
    y: Vec<f64>,
    k: usize,
    /// Mean distance from a training point to its nearest other one (RMS units).
    spacing: f64,
}

fn rms_distance(a: &[f64], b: &[f64]) -> f64 {
    let d = a.len().max(1) as f64;
    (a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / d).sqrt()
}

impl Knn {
    /// A regressor with `k` neighbours (at least 1, at most the data and [`MAX_STACK`]).
    pub fn new(x: Vec<Vec<f64>>, y: Vec<f64>, k: usize) -> Knn {
        let n = y.len().max(1);
        let nearest: Vec<f64> = (0..x.len())
            .map(|i| (0..x.len()).filter(|&j| j != i).map(|j| rms_distance(&x[i], &x[j])).fold(f64::INFINITY, f64::min))
            .filter(|v| v.is_finite())
            .collect();
        let spacing = if nearest.is_empty() { 0.25 } else { nearest.iter().sum::<f64>() / nearest.len() as f64 };
        Knn { k: k.clamp(1, n.min(MAX_STACK)), x, y, spacing: spacing.max(1e-9) }
    }

    /// Mean and standard deviation at `point`, standardised units.
    pub fn predict(&self, point: &[f64]) -> (f64, f64) {
        if self.y.is_empty() {
            return (0.0, 1.0);
        }
        // The k nearest so far, nearest first (ties by index): an insertion per point.
        let mut near: [(f64, usize); MAX_STACK] = [(f64::INFINITY, usize::MAX); MAX_STACK];
        let k = self.k.min(MAX_STACK);
        let mut held = 0;
        for (i, xi) in self.x.iter().enumerate() {
            let dist = rms_distance(xi, point);
            if held == k && dist >= near[k - 1].0 {
                continue;
            }
            let mut at = held.min(k - 1);
            while at > 0 && near[at - 1].0 > dist {
                near[at] = near[at - 1];
                at -= 1;
            }
            near[at] = (dist, i);
            held = (held + 1).min(k);
        }
        let near = &near[..held];
        let weights = near.iter().map(|(dist, _)| 1.0 / (dist + 1e-6));
        let total: f64 = weights.clone().sum();
        let mean = near.iter().zip(weights.clone()).map(|((_, i), w)| w * self.y[*i]).sum::<f64>() / total;
        let spread = near.iter().zip(weights).map(|((_, i), w)| w * (self.y[*i] - mean).powi(2)).sum::<f64>() / total;
        let far = (near[0].0 / (2.0 * self.spacing)).min(1.0);
        (mean, (spread + far * far).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_a_training_point_it_returns_that_point_with_little_doubt() {
        let knn = Knn::new(vec![vec![0.0], vec![0.5], vec![1.0]], vec![1.0, -1.0, 2.0], 1);
        let (m, s) = knn.predict(&[0.5]);
        assert_eq!((m, s), (-1.0, 0.0));
        // Spacing 0.5: a quarter away from the nearest point is a quarter of the prior's doubt.
        let (_, between) = knn.predict(&[0.25]);
        assert!((between - 0.25).abs() < 1e-12, "{between}");
        let (_, beyond) = Knn::new(vec![vec![0.0], vec![0.1]], vec![0.0, 0.0], 1).predict(&[0.9]);
        assert_eq!(beyond, 1.0);
    }

    #[test]
    fn weights_favour_the_nearer_neighbour() {
        let knn = Knn::new(vec![vec![0.0], vec![1.0]], vec![0.0, 1.0], 2);
        let (m, _) = knn.predict(&[0.2]);
        assert!((m - 0.2).abs() < 1e-3, "{m}");
    }
}
