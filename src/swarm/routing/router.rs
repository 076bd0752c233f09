//! The Avengers-Pro router (arXiv 2508.12631): cluster the validation queries, score
//! each candidate model per cluster by `alpha x normalised utility + (1 - alpha) x
//! (1 - normalised cost)`, and send a query to the best model of its nearest cluster(s).
//! Pure: everything it learns comes from the numbers it is given.

use super::embed::{Clusters, kmeans};
use crate::rng::Rng;

/// One cluster's raw numbers per candidate model: mean utility (higher is better) and
/// mean cost (FLOPs per answer) over the cluster's validation queries.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClusterScore {
    /// Validation queries in the cluster.
    pub size: usize,
    /// Mean utility of each model.
    pub utility: Vec<f64>,
    /// Mean cost of each model.
    pub cost: Vec<f64>,
}

/// Min-max normalisation to [0, 1]; all zeros when every value is the same (the
/// quantity then tells the models apart in no way).
fn normalise(xs: &[f64]) -> Vec<f64> {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if hi > lo { xs.iter().map(|x| (x - lo) / (hi - lo)).collect() } else { vec![0.0; xs.len()] }
}

impl ClusterScore {
    /// Each model's score at `alpha`: `alpha x u~ + (1 - alpha) x (1 - c~)`, with utility
    /// and cost min-max normalised across the models within this cluster.
    pub fn combined(&self, alpha: f64) -> Vec<f64> {
        let u = normalise(&self.utility);
        let c = normalise(&self.cost);
        u.iter().zip(&c).map(|(u, c)| alpha * u + (1.0 - alpha) * (1.0 - c)).collect()
    }
}

/// A fitted router.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Router {
    /// The query clusters (non-empty ones only).
    pub clusters: Clusters,
    /// Each cluster's numbers, in cluster order.
    pub scores: Vec<ClusterScore>,
    /// How many nearest clusters' scores are summed for a query.
    pub top: usize,
}

/// A routing decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The chosen model.
    pub model: usize,
    /// The query's nearest cluster.
    pub cluster: usize,
}

impl Router {
    /// Fit on validation queries: `points[q]` the embedding of query `q`, `utility[m][q]`
    /// and `cost[m][q]` model `m`'s utility and cost on it; `k` clusters from `rng`.
    pub fn fit(
        points: &[Vec<f64>],
        utility: &[Vec<f64>],
        cost: &[Vec<f64>],
        k: usize,
        top: usize,
        rng: &mut Rng,
    ) -> Router {
        let found = kmeans(points, k, rng);
        let assignment: Vec<usize> = points.iter().map(|p| found.assign(p)).collect();
        let mut clusters = Clusters { centroids: Vec::new() };
        let mut scores = Vec::new();
        for (c, centre) in found.centroids.iter().enumerate() {
            let members: Vec<usize> = (0..points.len()).filter(|&q| assignment[q] == c).collect();
            if members.is_empty() {
                continue;
            }
            let mean = |row: &Vec<f64>| members.iter().map(|&q| row[q]).sum::<f64>() / members.len() as f64;
            clusters.centroids.push(centre.clone());
            scores.push(ClusterScore {
                size: members.len(),
                utility: utility.iter().map(mean).collect(),
                cost: cost.iter().map(mean).collect(),
            });
        }
        Router { clusters, scores, top: top.max(1) }
    }

    /// Route the query embedded as `x` at `alpha`: sum the combined scores of its `top`
    /// nearest clusters and take the best model (ties: the cheaper on those clusters,
    /// then the lower index).
    pub fn route(&self, x: &[f64], alpha: f64) -> Decision {
        let nearest = self.clusters.nearest(x);
        let models = self.scores.first().map_or(0, |s| s.utility.len());
        let mut total = vec![0.0; models];
        let mut cost = vec![0.0; models];
        for &c in nearest.iter().take(self.top) {
            for (m, s) in self.scores[c].combined(alpha).into_iter().enumerate() {
                total[m] += s;
                cost[m] += self.scores[c].cost[m];
            }
        }
        let model = (0..models)
            .min_by(|&a, &b| total[b].total_cmp(&total[a]).then(cost[a].total_cmp(&cost[b])).then(a.cmp(&b)))
            .unwrap_or(0);
        Decision { model, cluster: nearest.first().copied().unwrap_or(0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    /// Two query groups far apart; model 0 is cheap and good on group A only, model 1
    /// expensive and good on both, model 2 cheap and useless.
    fn fitted() -> (Router, Vec<Vec<f64>>) {
        let points: Vec<Vec<f64>> =
            (0..40).map(|q| if q < 20 { vec![0.0, q as f64 * 1e-3] } else { vec![10.0, q as f64 * 1e-3] }).collect();
        let utility = vec![(0..40).map(|q| if q < 20 { 0.9 } else { 0.1 }).collect(), vec![0.95; 40], vec![0.0; 40]];
        let cost = vec![vec![1.0; 40], vec![10.0; 40], vec![1.0; 40]];
        (Router::fit(&points, &utility, &cost, 2, 1, &mut stream(1, "t", &[])), points)
    }

    #[test]
    fn alpha_trades_utility_for_cost_per_cluster() {
        let (router, points) = fitted();
        assert_eq!(router.scores.len(), 2);
        assert_eq!(router.scores.iter().map(|s| s.size).sum::<usize>(), 40);
        // All utility: the best model everywhere.
        assert_eq!(router.route(&points[0], 1.0).model, 1);
        assert_eq!(router.route(&points[30], 1.0).model, 1);
        // Balanced: group A goes to the cheap model that is nearly as good; group B
        // still needs the expensive one.
        assert_eq!(router.route(&points[0], 0.5).model, 0);
        assert_eq!(router.route(&points[30], 0.7).model, 1);
        // All cost: the cheapest, ties broken by index.
        assert_eq!(router.route(&points[30], 0.0).model, 0);
        assert_ne!(router.route(&points[0], 0.5).cluster, router.route(&points[30], 0.5).cluster);
    }

    #[test]
    fn scores_normalise_within_a_cluster() {
        let s = ClusterScore { size: 3, utility: vec![0.25, 0.75, 0.5], cost: vec![5.0, 5.0, 5.0] };
        let c = s.combined(1.0);
        assert_eq!(c, vec![0.0, 1.0, 0.5]);
        // Equal costs tell nothing apart: at alpha 0 every model scores the same.
        assert_eq!(s.combined(0.0), vec![1.0, 1.0, 1.0]);
    }
}
