//! Surrogate models of the history and the acquisition functions that rank candidates
//! by them: the pieces of Bayesian optimisation.
//!
//! A surrogate learns from the trials run at one fidelity level ([`Data::at_level`]),
//! with standardised scores, and predicts a mean and a standard deviation at any point
//! ([`Fitted::predict`], in the scores' own units). Acquisition functions turn a
//! prediction into a number to maximise (scores are minimised): expected improvement,
//! probability of improvement, an optimistic bound and a Thompson draw.

pub mod gp;
pub mod knn;

use crate::history::{History, TrialStatus};

use gp::{Gp, Hyper, Prior};
use knn::Knn;

/// The most trials a surrogate learns from. A Gaussian process's posterior is cubic in
/// them; above the cap the best half of the cap and the most recent of the rest are kept.
pub const MAX_POINTS: usize = 128;
/// The most trials a Gaussian process fits its hyperparameters on (chosen the same way
/// from its data): each likelihood evaluation of the fit is cubic in them.
pub const FIT_POINTS: usize = 48;

/// Which of `scores` (in time order) to keep under `cap`: all when they fit, else the
/// best `cap / 2` (ties by time) and the most recent of the rest. Indices ascending.
fn keep_best_and_recent(scores: &[f64], cap: usize) -> Vec<usize> {
    if scores.len() <= cap {
        return (0..scores.len()).collect();
    }
    let mut by_score: Vec<usize> = (0..scores.len()).collect();
    by_score.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let mut keep: Vec<usize> = by_score[..cap / 2].to_vec();
    keep.sort_unstable();
    let recent: Vec<usize> =
        (0..scores.len()).rev().filter(|i| keep.binary_search(i).is_err()).take(cap - keep.len()).collect();
    keep.extend(recent);
    keep.sort_unstable();
    keep
}

/// Training data: points of the unit cube and their scores at one fidelity level.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Data {
    /// The points.
    pub x: Vec<Vec<f64>>,
    /// Their scores (lower is better).
    pub y: Vec<f64>,
}

impl Data {
    /// The trials at fidelity `level`, at most [`MAX_POINTS`] of them. A failed trial
    /// counts with the worst successful score of the level (so a model learns that its
    /// region is bad without its failure score swamping the scale); failed trials are
    /// left out while the level has no successful one.
    pub fn at_level(h: &History, level: usize) -> Data {
        let rung = h.rung(level);
        let worst_ok = rung
            .iter()
            .map(|&i| &h.trials()[i as usize])
            .filter(|t| t.status == TrialStatus::Ok)
            .map(|t| t.score)
            .fold(f64::NEG_INFINITY, f64::max);
        let picked: Vec<(u32, f64)> = rung
            .iter()
            .filter_map(|&i| {
                let t = &h.trials()[i as usize];
                match t.status {
                    TrialStatus::Ok => Some((i, t.score)),
                    _ if worst_ok.is_finite() => Some((i, worst_ok)),
                    _ => None,
                }
            })
            .collect();
        let all = Data {
            x: picked.iter().map(|&(i, _)| h.trials()[i as usize].point.clone()).collect(),
            y: picked.iter().map(|p| p.1).collect(),
        };
        all.capped(MAX_POINTS)
    }

    /// At most `cap` of the points: the best `cap / 2` and the most recent of the rest.
    pub fn capped(&self, cap: usize) -> Data {
        let keep = keep_best_and_recent(&self.y, cap);
        Data { x: keep.iter().map(|&i| self.x[i].clone()).collect(), y: keep.iter().map(|&i| self.y[i]).collect() }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
}

/// Which model a surrogate is.
#[derive(Debug, Clone)]
pub enum Model {
    /// No data: the prior (mean 0, deviation 1 in standardised units).
    Prior,
    /// A Gaussian process.
    Gp(Gp),
    /// k-nearest-neighbour regression.
    Knn(Knn),
}

/// A model fitted to standardised scores, predicting in the scores' own units.
#[derive(Debug, Clone)]
pub struct Fitted {
    model: Model,
    y_mean: f64,
    y_sd: f64,
    best: f64,
    n: usize,
}

/// A prediction at a point: mean and standard deviation, in score units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Predicted score.
    pub mean: f64,
    /// Its uncertainty.
    pub sd: f64,
}

/// Mean and standard deviation used to standardise scores (deviation 1 when the scores
/// are all equal or there is one).
fn standardisation(y: &[f64]) -> (f64, f64) {
    if y.is_empty() {
        return (0.0, 1.0);
    }
    let (m, sd) = crate::stats::mean_sd(y);
    let sd = if sd.is_finite() && sd > 1e-12 * (1.0 + m.abs()) { sd } else { 1.0 };
    (m, sd)
}

impl Fitted {
    /// A Gaussian process on `data`: hyperparameters refitted from `warm` (or from two
    /// default starts without one) when `refit`, on at most [`FIT_POINTS`] of the data,
    /// else reused. Returns the model, its hyperparameters and the work done in flops.
    pub fn gp(data: &Data, warm: Option<&Hyper>, refit: bool) -> (Fitted, Option<Hyper>, u64) {
        let (y_mean, y_sd) = standardisation(&data.y);
        let ys: Vec<f64> = data.y.iter().map(|v| (v - y_mean) / y_sd).collect();
        let n = data.len();
        let d = data.x.first().map_or(0, Vec::len);
        let base = Fitted { model: Model::Prior, y_mean, y_sd, best: min(&data.y), n };
        if n == 0 {
            return (base, warm.cloned(), 0);
        }
        let cube = (n * n * n) as u64;
        let (hyper, work) = match (warm, refit) {
            (Some(h), false) if h.log_lengths.len() == d => (h.clone(), cube / 3),
            (warm, _) => {
                let starts = fit_starts(warm, d);
                let fit = Data { x: data.x.clone(), y: ys.clone() }.capped(FIT_POINTS);
                let (h, evals) = Gp::fit_hyper(&fit.x, &fit.y, &starts, Prior::Weak, gp::FIT_EVALUATIONS);
                (h, evals * likelihood_work(fit.len(), d) + cube / 3)
            }
        };
        match Gp::condition(&data.x, &ys, &hyper) {
            Some(gp) => (Fitted { model: Model::Gp(gp), ..base }, Some(hyper), work),
            None => (base, Some(hyper), work),
        }
    }

    /// k-nearest-neighbour regression with `k` neighbours on `data` (building it measures
    /// the data's spacing: quadratic work, [`Fitted::knn_work`]).
    pub fn knn(data: &Data, k: usize) -> Fitted {
        let (y_mean, y_sd) = standardisation(&data.y);
        let ys: Vec<f64> = data.y.iter().map(|v| (v - y_mean) / y_sd).collect();
        let model = if data.is_empty() { Model::Prior } else { Model::Knn(Knn::new(data.x.clone(), ys, k)) };
        Fitted { model, y_mean, y_sd, best: min(&data.y), n: data.len() }
    }

    /// Flops of building a k-NN regressor on `n` points in `d` dimensions.
    pub fn knn_work(n: usize, d: usize) -> u64 {
        (n * n * (3 * d + 2)) as u64
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The best (lowest) score the model learnt from; +inf without data.
    pub fn best(&self) -> f64 {
        self.best
    }

    /// Training points.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the model learnt from nothing.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Work of one prediction in flops.
    pub fn prediction_work(&self, d: usize) -> u64 {
        let n = self.n as u64;
        match self.model {
            Model::Prior => 1,
            // The kernel row (a distance and an exponential per point) and one triangular solve.
            Model::Gp(_) => n * (2 * d as u64 + 20) + n * n / 2,
            Model::Knn(_) => n * (3 * d as u64 + 4),
        }
    }

    /// Mean and standard deviation at `point`, in score units.
    pub fn predict(&self, point: &[f64]) -> Prediction {
        let (m, s) = match &self.model {
            Model::Prior => (0.0, 1.0),
            Model::Gp(gp) => gp.predict(point),
            Model::Knn(knn) => knn.predict(point),
        };
        Prediction { mean: self.y_mean + m * self.y_sd, sd: s * self.y_sd }
    }
}

/// Where a fit starts: the previous hyperparameters, else two length scales.
fn fit_starts(warm: Option<&Hyper>, d: usize) -> Vec<Hyper> {
    match warm {
        Some(h) if h.log_lengths.len() == d => vec![h.clone()],
        _ => vec![Hyper::initial(d, 0.3), Hyper::initial(d, 1.0)],
    }
}

/// Flops of one likelihood evaluation on `n` points in `d` dimensions: a factorisation,
/// an inverse and the gradient sums.
fn likelihood_work(n: usize, d: usize) -> u64 {
    let n = n as u64;
    n * n * n + 4 * n * n * (d as u64 + 2)
}

/// The most flops a Gaussian-process fit on `data` can cost (every start spending its
/// evaluation budget), so a caller can refuse a fit it cannot afford before it starts.
pub fn gp_fit_bound(n: usize, d: usize, warm: bool) -> u64 {
    let starts = if warm { 1 } else { 2 };
    starts * gp::FIT_EVALUATIONS * likelihood_work(n.min(FIT_POINTS), d) + (n * n * n) as u64 / 3
}

fn min(y: &[f64]) -> f64 {
    y.iter().copied().fold(f64::INFINITY, f64::min)
}

/// Standard normal density.
pub fn normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Standard normal distribution function.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// Expected improvement below `best` (minimisation): `E[max(best - f, 0)]`.
pub fn expected_improvement(p: Prediction, best: f64) -> f64 {
    if !best.is_finite() {
        return p.sd;
    }
    let gain = best - p.mean;
    if p.sd <= 1e-300 {
        return gain.max(0.0);
    }
    let z = gain / p.sd;
    (gain * normal_cdf(z) + p.sd * normal_pdf(z)).max(0.0)
}

/// Probability that the score falls below `best`.
pub fn probability_of_improvement(p: Prediction, best: f64) -> f64 {
    if !best.is_finite() {
        return 1.0;
    }
    if p.sd <= 1e-300 {
        return if p.mean < best { 1.0 } else { 0.0 };
    }
    normal_cdf((best - p.mean) / p.sd)
}

/// The optimistic bound `-(mean - beta sd)`: higher is better.
pub fn optimistic_bound(p: Prediction, beta: f64) -> f64 {
    -(p.mean - beta * p.sd)
}

/// A Thompson draw from the marginal posterior at the point, negated so that higher is
/// better: `-(mean + sd z)` for a standard normal deviate `z`.
pub fn thompson(p: Prediction, z: f64) -> f64 {
    -(p.mean + p.sd * z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Source, Trial};

    fn trial(x: f64, score: f64, level: usize, status: TrialStatus) -> Trial {
        Trial { point: vec![x], level, score, cost: 1.0, status, improved: false, source: Source::Propose }
    }

    #[test]
    fn expected_improvement_by_hand() {
        // best - mean = 1, sd = 1: EI = Φ(1) + φ(1).
        let ei = expected_improvement(Prediction { mean: 0.0, sd: 1.0 }, 1.0);
        assert!((ei - (0.841_344_746_068_542_9 + 0.241_970_724_519_143_37)).abs() < 1e-12, "{ei}");
        assert_eq!(expected_improvement(Prediction { mean: 2.0, sd: 0.0 }, 1.0), 0.0);
        assert!((probability_of_improvement(Prediction { mean: 0.0, sd: 1.0 }, 0.0) - 0.5).abs() < 1e-15);
        assert_eq!(optimistic_bound(Prediction { mean: 1.0, sd: 2.0 }, 0.5), 0.0);
        assert_eq!(thompson(Prediction { mean: 1.0, sd: 2.0 }, -0.5), 0.0);
    }

    #[test]
    fn data_keeps_one_level_and_tames_failures() {
        let mut h = History::new(2);
        h.push(trial(0.1, 3.0, 0, TrialStatus::Ok));
        h.push(trial(0.2, 1.0, 1, TrialStatus::Ok));
        h.push(trial(0.3, 99.0, 0, TrialStatus::Diverged));
        h.push(trial(0.4, 2.0, 0, TrialStatus::Ok));
        let d = Data::at_level(&h, 0);
        assert_eq!(d.x, vec![vec![0.1], vec![0.3], vec![0.4]]);
        assert_eq!(d.y, vec![3.0, 3.0, 2.0]);
        let mut only_failed = History::new(1);
        only_failed.push(trial(0.5, 99.0, 0, TrialStatus::Invalid));
        assert!(Data::at_level(&only_failed, 0).is_empty());
    }

    #[test]
    fn data_above_the_cap_keeps_the_best_and_the_recent() {
        let mut h = History::new(1);
        let n = MAX_POINTS + 40;
        for i in 0..n {
            // Scores fall then rise: the best are in the middle, the recent at the end.
            let score = ((i as f64) - 60.0).abs();
            h.push(trial(i as f64 / n as f64, score, 0, TrialStatus::Ok));
        }
        let d = Data::at_level(&h, 0);
        assert_eq!(d.len(), MAX_POINTS);
        assert!(d.y.contains(&0.0), "the best is kept");
        assert!(d.x.contains(&vec![(n - 1) as f64 / n as f64]), "the most recent is kept");
    }

    #[test]
    fn a_gp_on_a_line_interpolates_and_is_unsure_far_away() {
        let data =
            Data { x: (0..8).map(|i| vec![i as f64 / 10.0]).collect(), y: (0..8).map(|i| (i * i) as f64).collect() };
        let (fitted, hyper, work) = Fitted::gp(&data, None, true);
        assert!(hyper.is_some() && work > 0);
        let near = fitted.predict(&[0.3]);
        assert!((near.mean - 9.0).abs() < 1.0, "{near:?}");
        let far = fitted.predict(&[1.0]);
        assert!(far.sd > near.sd);
        assert_eq!(fitted.best(), 0.0);
    }
}
