//! The multivariate normal search distribution of CMA-ES, taken apart into the pieces
//! the language exposes: sampling, recentring on a finished generation (which also
//! moves the two evolution paths), the rank-one and rank-mu covariance updates and
//! cumulative step-size adaptation (CSA).
//!
//! The strategy constants and every update follow Hansen's readable reference
//! implementation, `purecma` in pycma (default non-negative recombination weights, the
//! squared-norm CSA rule, the lazy eigendecomposition); `tests` replays recorded
//! iterations of it (`tests/fixtures/cma/purecma.json`). What differs is what a
//! sequential inner loop needs: a generation is whatever trials were told since the
//! last recentring (a trial the distribution did not sample is *injected*, its step
//! clipped in Mahalanobis norm as pycma clips injected solutions), the covariance
//! changes of the pieces are summed and applied together when the `update` hook ends
//! (so their order in a genome does not matter and rank-one plus rank-mu is exactly
//! CMA-ES), and nothing can fail: a covariance that loses positive definiteness is
//! repaired instead of raising.
//!
//! Coordinates are *genotypes*: the distribution lives in unbounded space and the
//! interpreter maps a sample into the unit cube (by reflection, or by pycma's
//! linear-quadratic boundary transformation, [`box_transform`]), so the updates never see
//! the boundary.
//!
//! Beyond purecma: the *active* covariance update of pycma's production CMA-ES
//! ([`Mvn::active`]: negative recombination weights on the worst half of a generation,
//! Hansen 2016, "The CMA Evolution Strategy: A Tutorial", eq. 46-53), a separate piece so
//! that a genome can weigh it.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// The step size a distribution starts with when no primitive names one.
pub const DEFAULT_STEP: f64 = 0.2;
/// Step sizes are kept in this range so that no genome can make a sample non-finite.
const STEP_RANGE: (f64, f64) = (1e-12, 1e6);
/// Smallest eigenvalue kept, relative to the largest: a bound on the condition number.
const MIN_RELATIVE_EIGENVALUE: f64 = 1e-14;

/// CMA-ES's default population size for `d` dimensions: `4 + floor(3 ln d)`.
pub fn default_popsize(d: usize) -> usize {
    4 + (3.0 * (d.max(1) as f64).ln()).floor() as usize
}

/// The strategy constants of CMA-ES for a dimension and a generation size (Hansen's
/// defaults, as `purecma.CMAESParameters`).
#[derive(Debug, Clone, PartialEq)]
pub struct Strategy {
    /// Generation size (lambda).
    pub lambda: usize,
    /// Parents recombined into the new mean (mu = floor(lambda / 2)).
    pub mu: usize,
    /// Recombination weights by rank: positive for the best `mu`, zero after; sum 1.
    pub weights: Vec<f64>,
    /// The active update's weights by rank: zero where `weights` is positive, negative
    /// for the worst ranks, scaled as pycma's `finalize_negative_weights` does with these
    /// learning rates (zero decay, bounded by the negative selection mass, and small
    /// enough to keep the covariance positive definite).
    pub negative_weights: Vec<f64>,
    /// Variance-effective selection mass.
    pub mueff: f64,
    /// Cumulation constant of the covariance path.
    pub cc: f64,
    /// Cumulation constant of the step-size path.
    pub cs: f64,
    /// Learning rate of the rank-one update.
    pub c1: f64,
    /// Learning rate of the rank-mu update.
    pub cmu: f64,
    /// Damping of the step-size update.
    pub damps: f64,
    /// Cumulation constant of pycma's step-size path (`(mueff + 2) / (n + mueff + 3)`,
    /// larger than purecma's `cs`), for [`Mvn::csa_norm`].
    pub cs_norm: f64,
    /// Damping of pycma's step-size update (`1 + cs_norm`, plus Hansen's term for large
    /// `mueff`).
    pub damps_norm: f64,
    /// Evaluations between two eigendecompositions (keeps sampling O(d^2) per trial).
    pub lazy_gap_evals: f64,
}

impl Strategy {
    /// The constants for dimension `d` and `lambda` trials per generation (at least 2).
    pub fn new(d: usize, lambda: usize) -> Strategy {
        let n = d.max(1) as f64;
        let lambda = lambda.max(2);
        let mu = lambda / 2;
        let raw: Vec<f64> = (0..lambda)
            .map(|i| if i < mu { (lambda as f64 / 2.0 + 0.5).ln() - ((i + 1) as f64).ln() } else { 0.0 })
            .collect();
        let sum: f64 = raw[..mu].iter().sum();
        let weights: Vec<f64> = raw.iter().map(|w| w / sum).collect();
        let mueff = weights[..mu].iter().sum::<f64>().powi(2) / weights[..mu].iter().map(|w| w * w).sum::<f64>();
        let cc = (4.0 + mueff / n) / (n + 4.0 + 2.0 * mueff / n);
        let cs = (mueff + 2.0) / (n + mueff + 5.0);
        let c1 = 2.0 / ((n + 1.3).powi(2) + mueff);
        let cmu = (1.0 - c1).min(2.0 * (mueff - 2.0 + 1.0 / mueff) / ((n + 2.0).powi(2) + mueff));
        let damps = 2.0 * mueff / lambda as f64 + 0.3 + cs;
        let lazy_gap_evals = 0.5 * n * lambda as f64 / (c1 + cmu) / (n * n);
        let negative_weights = negative_weights(lambda, n, mueff, c1, cmu);
        let cs_norm = (mueff + 2.0) / (n + mueff + 3.0);
        let damps_norm = 1.0 + cs_norm + 2.0 * (((mueff - 1.0) / (n + 1.0)).sqrt() - 1.0).max(0.0);
        Strategy {
            lambda,
            mu,
            weights,
            mueff,
            cc,
            cs,
            c1,
            cmu,
            damps,
            cs_norm,
            damps_norm,
            negative_weights,
            lazy_gap_evals,
        }
    }
}

/// The active update's weights (Hansen 2016, eq. 49-53): the log-rank weights
/// `ln((lambda + 1) / 2) - ln(i)` where they are negative, scaled so that their absolute
/// sum is the smallest of `1 + c1 / cmu` (no net decay of the covariance), `1 + 2
/// mueff^- / (mueff + 2)` and `(1 - c1 - cmu) / (n cmu)` (positive definiteness).
fn negative_weights(lambda: usize, n: f64, mueff: f64, c1: f64, cmu: f64) -> Vec<f64> {
    let raw: Vec<f64> =
        (1..=lambda).map(|i| ((lambda as f64 + 1.0) / 2.0).ln() - (i as f64).ln()).map(|w| w.min(0.0)).collect();
    let sum: f64 = raw.iter().map(|w| w.abs()).sum();
    if sum == 0.0 || cmu <= 0.0 {
        return vec![0.0; lambda];
    }
    let mueff_minus = sum * sum / raw.iter().map(|w| w * w).sum::<f64>();
    let target =
        (1.0 + c1 / cmu).min((1.0 - c1 - cmu) / (n * cmu)).min(1.0 + 2.0 * mueff_minus / (mueff + 2.0)).max(0.0);
    raw.iter().map(|w| w * target / sum).collect()
}

/// The expected length of a standard normal vector in `d` dimensions, exactly
/// (`sqrt(2) Gamma((d+1)/2) / Gamma(d/2)`, pycma's `chiN`), by the recurrence
/// `E_(d+2) = E_d (d + 1) / d` from `E_1 = sqrt(2 / pi)` and `E_2 = sqrt(pi / 2)`.
pub fn expected_norm(d: usize) -> f64 {
    let d = d.max(1);
    let (mut e, mut k) =
        if d % 2 == 1 { ((2.0 / std::f64::consts::PI).sqrt(), 1) } else { ((std::f64::consts::PI / 2.0).sqrt(), 2) };
    while k < d {
        e *= (k + 1) as f64 / k as f64;
        k += 2;
    }
    e
}

/// The half-width of the quadratic margins of [`box_transform`] at each face of the unit
/// interval (pycma's `max(1, |bound|) / 20`).
const BOX_MARGIN: f64 = 0.05;

/// pycma's linear-quadratic boundary transformation (`BoundTransform`) of a genotype
/// coordinate into [0, 1]: the identity on [m, 1 - m], a quadratic on the margins that
/// reaches each face with zero slope (so a face is an attractor a distribution can sit
/// on, unlike under reflection), mirrored and periodic beyond [-m, 1 + m]. Non-finite
/// coordinates map to the centre.
pub fn box_transform(x: f64) -> f64 {
    if !x.is_finite() {
        return 0.5;
    }
    let m = BOX_MARGIN;
    // Fold into the invertible domain [-m, 1 + m]: mirrored at its ends, so periodic.
    let span = 1.0 + 2.0 * m;
    let t = (x + m).rem_euclid(2.0 * span);
    let y = if t > span { 2.0 * span - t } else { t } - m;
    if y < m {
        (y + m).powi(2) / (4.0 * m)
    } else if y < 1.0 - m {
        y
    } else {
        1.0 - (y - 1.0 - m).powi(2) / (4.0 * m)
    }
}

/// One told trial of the current generation.
#[derive(Debug, Clone, PartialEq)]
struct Member {
    genotype: DVector<f64>,
    score: f64,
}

/// The generation the last recentring closed: what the covariance and step-size pieces
/// of the same `update` call learn from.
#[derive(Debug, Clone, PartialEq)]
struct Closed {
    strategy: Strategy,
    /// `x_k - old mean` of every member, best first.
    steps: Vec<DVector<f64>>,
    /// The step size the generation was sampled with.
    sigma: f64,
    /// Whether the step-size path was short enough to feed the covariance path.
    hsig: bool,
}

/// Covariance changes summed over one `update` call: `C <- (1 - decay) C + add`.
#[derive(Debug, Clone, PartialEq)]
struct CovarianceChange {
    decay: f64,
    add: DMatrix<f64>,
}

/// A multivariate normal search distribution with CMA-ES's state: mean, step size,
/// covariance, the two evolution paths and the eigendecomposition sampling uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Mvn {
    mean: DVector<f64>,
    sigma: f64,
    cov: DMatrix<f64>,
    pc: DVector<f64>,
    ps: DVector<f64>,
    /// pycma's step-size path (its own cumulation constant), for [`Mvn::csa_norm`].
    ps_norm: DVector<f64>,
    basis: DMatrix<f64>,
    eigenvalues: DVector<f64>,
    invsqrt: DMatrix<f64>,
    /// Evaluations counted at the last eigendecomposition.
    updated_eval: f64,
    /// Trials recentred on so far (pycma's `counteval`).
    counteval: usize,
    /// The lazy eigendecomposition gap of the last recentring's strategy (of the default
    /// population size before one), kept so that sampling need not rebuild the strategy.
    lazy_gap_evals: f64,
    generation: Vec<Member>,
    closed: Option<Closed>,
    change: Option<CovarianceChange>,
}

impl Mvn {
    /// A distribution at `mean` with step size `sigma` and identity covariance.
    pub fn new(mean: &[f64], sigma: f64) -> Mvn {
        let d = mean.len();
        Mvn {
            mean: DVector::from_column_slice(mean),
            sigma: clamp_step(sigma),
            cov: DMatrix::identity(d, d),
            pc: DVector::zeros(d),
            ps: DVector::zeros(d),
            ps_norm: DVector::zeros(d),
            basis: DMatrix::identity(d, d),
            eigenvalues: DVector::from_element(d, 1.0),
            invsqrt: DMatrix::identity(d, d),
            updated_eval: 0.0,
            counteval: 0,
            lazy_gap_evals: Strategy::new(d, default_popsize(d)).lazy_gap_evals,
            generation: Vec::new(),
            closed: None,
            change: None,
        }
    }

    /// Dimensions.
    pub fn dims(&self) -> usize {
        self.mean.len()
    }

    /// The mean (a genotype: it may lie outside the unit cube).
    pub fn mean(&self) -> &[f64] {
        self.mean.as_slice()
    }

    /// The step size sigma.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// The covariance matrix (without sigma).
    pub fn covariance(&self) -> &DMatrix<f64> {
        &self.cov
    }

    /// The largest standard deviation of the distribution: sigma times the square root
    /// of the largest eigenvalue of the last decomposition (pycma's `tolx` test quantity).
    pub fn max_sd(&self) -> f64 {
        self.sigma * self.eigenvalues.max().max(0.0).sqrt()
    }

    /// Trials told since the last recentring.
    pub fn generation_size(&self) -> usize {
        self.generation.len()
    }

    /// The evolution paths (covariance, step size).
    pub fn paths(&self) -> (&[f64], &[f64]) {
        (self.pc.as_slice(), self.ps.as_slice())
    }

    /// Draw a genotype `mean + sigma B D z` from standard normal deviates `z` (one per
    /// dimension), refreshing the eigendecomposition first when it is due. Returns the
    /// genotype and the work done in flops.
    pub fn sample(&mut self, z: &[f64]) -> (Vec<f64>, u64) {
        let work = self.refresh_eigen();
        let d = self.dims();
        let scaled = DVector::from_iterator(d, (0..d).map(|i| self.eigenvalues[i].max(0.0).sqrt() * z[i]));
        let y = &self.basis * scaled;
        let x: Vec<f64> = (0..d).map(|i| self.mean[i] + self.sigma * y[i]).collect();
        (x, work + 2 * (d * d) as u64)
    }

    /// Tell a trial of the current generation: its genotype when this distribution
    /// sampled it, else (`None`) the evaluated point, injected with its step clipped to
    /// Mahalanobis length `sqrt(d) + 2d/(d+2)` as pycma clips injected solutions.
    pub fn tell(&mut self, genotype: Option<&[f64]>, point: &[f64], score: f64) {
        let d = self.dims();
        let genotype = match genotype {
            Some(g) if g.len() == d => DVector::from_column_slice(g),
            _ => {
                let x = DVector::from_iterator(d, (0..d).map(|i| point.get(i).copied().unwrap_or(0.5)));
                let y = (&x - &self.mean) / self.sigma;
                let norm = (&self.invsqrt * &y).norm();
                let limit = (d as f64).sqrt() + 2.0 * d as f64 / (d as f64 + 2.0);
                let y = if norm > limit { y * (limit / norm) } else { y };
                &self.mean + y * self.sigma
            }
        };
        let score = if score.is_nan() { f64::INFINITY } else { score };
        self.generation.push(Member { genotype, score });
    }

    /// Close the generation when it holds at least `min_size` trials (and at least 2):
    /// move the mean to the weighted mean of its best half and update both evolution
    /// paths (purecma's `tell` up to the covariance update). Returns whether it did;
    /// the covariance and step-size pieces of the same update call then apply.
    pub fn recenter(&mut self, min_size: usize) -> bool {
        let lambda = self.generation.len();
        if lambda < min_size.max(2) {
            return false;
        }
        let d = self.dims();
        let n = d as f64;
        let strategy = Strategy::new(d, lambda);
        self.counteval += lambda;
        self.lazy_gap_evals = strategy.lazy_gap_evals;
        let mut members = std::mem::take(&mut self.generation);
        // Stable: ties keep their told order, as Python's sorted argsort does.
        members.sort_by(|a, b| a.score.total_cmp(&b.score));
        let old = self.mean.clone();
        let mut mean = DVector::zeros(d);
        for (m, w) in members.iter().zip(&strategy.weights).take(strategy.mu) {
            mean += &m.genotype * *w;
        }
        self.mean = mean;
        let y = &self.mean - &old;
        let z = &self.invsqrt * &y;
        let csn = (strategy.cs * (2.0 - strategy.cs) * strategy.mueff).sqrt() / self.sigma;
        let csn_norm = (strategy.cs_norm * (2.0 - strategy.cs_norm) * strategy.mueff).sqrt() / self.sigma;
        self.ps_norm = &self.ps_norm * (1.0 - strategy.cs_norm) + &z * csn_norm;
        self.ps = &self.ps * (1.0 - strategy.cs) + z * csn;
        let generations = 2.0 * self.counteval as f64 / strategy.lambda as f64;
        let hsig = self.ps.norm_squared() / n / (1.0 - (1.0 - strategy.cs).powf(generations)) < 2.0 + 4.0 / (n + 1.0);
        let ccn = (strategy.cc * (2.0 - strategy.cc) * strategy.mueff).sqrt() / self.sigma;
        self.pc = &self.pc * (1.0 - strategy.cc) + &y * (ccn * if hsig { 1.0 } else { 0.0 });
        let steps = members.into_iter().map(|m| m.genotype - &old).collect();
        self.closed = Some(Closed { strategy, steps, sigma: self.sigma, hsig });
        true
    }

    /// Rank-one update from the covariance path, learning rate `rate` times CMA's `c1`
    /// (with purecma's correction when `hsig` stalled the path). Only after a recentring
    /// in the same update call.
    pub fn rank_one(&mut self, rate: f64) {
        let Some(closed) = &self.closed else { return };
        let s = &closed.strategy;
        let rate = clamp_rate(rate);
        let hsig = if closed.hsig { 1.0 } else { 0.0 };
        let c1a = s.c1 * (1.0 - (1.0 - hsig * hsig) * s.cc * (2.0 - s.cc));
        let outer = &self.pc * self.pc.transpose();
        self.change(rate * c1a, outer * (rate * s.c1));
    }

    /// Rank-mu update from the closed generation's weighted steps, learning rate `rate`
    /// times CMA's `cmu`. Only after a recentring in the same update call.
    pub fn rank_mu(&mut self, rate: f64) {
        let Some(closed) = &self.closed else { return };
        let s = &closed.strategy;
        let rate = clamp_rate(rate);
        let d = self.dims();
        let mut add = DMatrix::zeros(d, d);
        for (step, w) in closed.steps.iter().zip(&s.weights) {
            if *w != 0.0 {
                add += step * step.transpose() * (w * s.cmu / (closed.sigma * closed.sigma));
            }
        }
        let weight_sum: f64 = s.weights.iter().sum();
        self.change(rate * s.cmu * weight_sum, add * rate);
    }

    /// Cumulative step-size adaptation as pycma runs it by default: the length of its own
    /// path (cumulation `cs_norm`) against a standard normal vector's expected length,
    /// `sigma *= exp(clip(cs_norm / damps_norm (|p| / E|N(0, I)| - 1), -1, 1))`, the exponent
    /// scaled by `rate`. Only after a recentring in the same call.
    pub fn csa_norm(&mut self, rate: f64) {
        let Some(closed) = &self.closed else { return };
        let s = &closed.strategy;
        let ratio = self.ps_norm.norm() / expected_norm(self.dims());
        let exponent = (s.cs_norm / s.damps_norm * (ratio - 1.0)).clamp(-1.0, 1.0);
        self.sigma = clamp_step(self.sigma * (clamp_rate(rate) * exponent).exp());
    }

    /// Active covariance update (pycma's default, off in purecma): the worst-ranked steps
    /// of the closed generation, each normalised to squared Mahalanobis length `d`, are
    /// subtracted with [`Strategy::negative_weights`], learning rate `rate` times CMA's
    /// `cmu`; the decay they cancel is given back, so with the rank-mu update at the same
    /// rate the covariance shrinks only along bad directions. Only after a recentring in
    /// the same update call.
    pub fn active(&mut self, rate: f64) {
        let Some(closed) = &self.closed else { return };
        let s = &closed.strategy;
        let rate = clamp_rate(rate);
        let d = self.dims();
        let mut add = DMatrix::zeros(d, d);
        let mut weight_sum = 0.0;
        for (step, &w) in closed.steps.iter().zip(&s.negative_weights) {
            if w == 0.0 {
                continue;
            }
            let y = step / closed.sigma;
            let norm2 = (&self.invsqrt * &y).norm_squared();
            if norm2 > 0.0 && norm2.is_finite() {
                add += &y * y.transpose() * (w * d as f64 / norm2 * s.cmu);
            }
            weight_sum += w;
        }
        self.change(rate * s.cmu * weight_sum, add * rate);
    }

    /// Cumulative step-size adaptation (purecma's squared-norm rule, the exponent capped
    /// at 1), its exponent scaled by `rate`. Only after a recentring in the same call.
    pub fn csa(&mut self, rate: f64) {
        let Some(closed) = &self.closed else { return };
        let s = &closed.strategy;
        let n = self.dims() as f64;
        let cn = s.cs / s.damps;
        let exponent = (cn * (self.ps.norm_squared() / n - 1.0) / 2.0).min(1.0);
        self.sigma = clamp_step(self.sigma * (clamp_rate(rate) * exponent).exp());
    }

    /// End of an `update` call: apply the summed covariance changes and forget the
    /// closed generation.
    pub fn finish_update(&mut self) {
        self.closed = None;
        let Some(CovarianceChange { mut decay, mut add }) = self.change.take() else { return };
        // Learning rates far above CMA's could make the decay exceed one; scale the whole
        // change down so that the covariance stays a convex-like combination.
        if decay > 0.999 {
            let scale = 0.999 / decay;
            decay *= scale;
            add *= scale;
        }
        self.cov = &self.cov * (1.0 - decay) + add;
        if self.cov.iter().any(|v| !v.is_finite()) {
            self.reset_shape();
        }
    }

    /// Start again at `mean` with step size `sigma`: identity covariance, zero paths, an
    /// empty generation (IPOP-style restarts and re-initialisation).
    pub fn restart(&mut self, mean: &[f64], sigma: f64) {
        *self = Mvn::new(mean, sigma);
    }

    fn change(&mut self, decay: f64, add: DMatrix<f64>) {
        match &mut self.change {
            Some(c) => {
                c.decay += decay;
                c.add += add;
            }
            None => self.change = Some(CovarianceChange { decay, add }),
        }
    }

    fn reset_shape(&mut self) {
        let d = self.dims();
        self.cov = DMatrix::identity(d, d);
        self.basis = DMatrix::identity(d, d);
        self.eigenvalues = DVector::from_element(d, 1.0);
        self.invsqrt = DMatrix::identity(d, d);
    }

    /// The inverse square root of the covariance from the last decomposition.
    pub fn invsqrt(&self) -> &DMatrix<f64> {
        &self.invsqrt
    }

    /// Evaluations counted at the last eigendecomposition.
    pub fn updated_eval(&self) -> f64 {
        self.updated_eval
    }

    /// Trials recentred on so far.
    pub fn counteval(&self) -> usize {
        self.counteval
    }

    /// purecma's `update_eigensystem`, which [`Mvn::sample`] runs first (as purecma's
    /// `ask` does): decompose the covariance when more than the lazy gap of evaluations
    /// passed since the last decomposition. Returns the flops spent.
    pub fn refresh_eigen(&mut self) -> u64 {
        if self.counteval as f64 <= self.updated_eval + self.lazy_gap_evals {
            return 0;
        }
        let d = self.dims();
        self.cov = (&self.cov + self.cov.transpose()) * 0.5;
        let eig = SymmetricEigen::new(self.cov.clone());
        let largest = eig.eigenvalues.max();
        if !largest.is_finite() || largest <= 0.0 {
            self.reset_shape();
        } else {
            let floor = largest * MIN_RELATIVE_EIGENVALUE;
            let repaired = eig.eigenvalues.iter().any(|&v| v < floor);
            self.eigenvalues = eig.eigenvalues.map(|v| v.max(floor));
            self.basis = eig.eigenvectors;
            if repaired {
                self.cov = &self.basis * DMatrix::from_diagonal(&self.eigenvalues) * self.basis.transpose();
            }
            let inv_sqrt = self.eigenvalues.map(|v| 1.0 / v.sqrt());
            self.invsqrt = &self.basis * DMatrix::from_diagonal(&inv_sqrt) * self.basis.transpose();
        }
        self.updated_eval = self.counteval as f64;
        10 * (d * d * d) as u64
    }
}

fn clamp_step(sigma: f64) -> f64 {
    if sigma.is_finite() { sigma.abs().clamp(STEP_RANGE.0, STEP_RANGE.1) } else { DEFAULT_STEP }
}

/// Learning-rate multipliers are kept in [0, 10]: zero switches a piece off, ten is far
/// beyond any useful setting.
fn clamp_rate(rate: f64) -> f64 {
    if rate.is_finite() { rate.clamp(0.0, 10.0) } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_constants_match_the_formulas() {
        let s = Strategy::new(4, 8);
        assert_eq!((s.lambda, s.mu), (8, 4));
        assert!((s.weights.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert!(s.weights[..4].windows(2).all(|w| w[0] > w[1]) && s.weights[4..].iter().all(|&w| w == 0.0));
        assert_eq!(default_popsize(4), 8);
        assert_eq!(default_popsize(10), 10);
        assert_eq!(default_popsize(1), 4);
    }

    #[test]
    fn pieces_without_a_recentring_change_nothing() {
        let mut m = Mvn::new(&[0.5, 0.5], 0.3);
        let before = m.clone();
        m.rank_one(1.0);
        m.rank_mu(1.0);
        m.csa(1.0);
        m.finish_update();
        assert_eq!(m, before);
        m.tell(None, &[0.1, 0.2], 1.0);
        assert!(!m.recenter(2));
    }

    #[test]
    fn a_generation_moves_the_mean_towards_its_best() {
        let mut m = Mvn::new(&[0.5, 0.5], 0.3);
        for (x, f) in [([0.9, 0.9], 0.0), ([0.1, 0.1], 5.0), ([0.8, 0.7], 1.0), ([0.2, 0.4], 4.0)] {
            m.tell(None, &x, f);
        }
        assert!(m.recenter(4));
        m.rank_one(1.0);
        m.rank_mu(1.0);
        m.csa(1.0);
        m.finish_update();
        assert!(m.mean()[0] > 0.7 && m.mean()[1] > 0.7, "{:?}", m.mean());
        assert_eq!(m.generation_size(), 0);
        // Covariance stays symmetric positive definite.
        let eig = SymmetricEigen::new(m.covariance().clone());
        assert!(eig.eigenvalues.iter().all(|&v| v > 0.0));
    }

    /// Replays 25 generations of pycma's `purecma.CMAES` on a rotated ellipsoid in 4-D
    /// (the asked solutions and their values, recorded by
    /// `tests/fixtures/cma/make_purecma.py`): after each, mean, step size, covariance and
    /// both paths agree with the reference to 1e-9 relative, and the eigendecomposition is
    /// refreshed at the same evaluations.
    #[test]
    fn generations_replay_purecma() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/cma/purecma.json")).expect("fixture parses");
        let vec = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
        };
        let close = |a: f64, b: f64, what: &str| {
            assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{what}: {a} vs {b}");
        };
        let params = &fixture["params"];
        let d = fixture["dimension"].as_u64().expect("dimension") as usize;
        let lambda = params["lam"].as_u64().expect("lam") as usize;
        let s = Strategy::new(d, lambda);
        for (name, ours) in
            [("mueff", s.mueff), ("cc", s.cc), ("cs", s.cs), ("c1", s.c1), ("cmu", s.cmu), ("damps", s.damps)]
        {
            close(ours, params[name].as_f64().expect("param"), name);
        }
        close(s.lazy_gap_evals, params["lazy_gap_evals"].as_f64().expect("gap"), "lazy gap");
        for (a, b) in s.weights.iter().zip(vec(&params["weights"])) {
            close(*a, b, "weight");
        }
        let mut m = Mvn::new(&vec(&fixture["x0"]), fixture["sigma0"].as_f64().expect("sigma0"));
        for it in fixture["iterations"].as_array().expect("iterations") {
            m.refresh_eigen();
            let inv = &it["invsqrt_before_tell"];
            for i in 0..d {
                for (j, v) in vec(&inv[i]).into_iter().enumerate() {
                    close(m.invsqrt()[(i, j)], v, "invsqrt");
                }
            }
            for (x, f) in it["arx"].as_array().expect("arx").iter().zip(vec(&it["fitvals"])) {
                m.tell(Some(&vec(x)), &[], f);
            }
            assert!(m.recenter(lambda));
            m.rank_one(1.0);
            m.rank_mu(1.0);
            m.csa(1.0);
            m.finish_update();
            let round = it["iteration"].as_u64().expect("iteration");
            for (a, b) in m.mean().iter().zip(vec(&it["xmean"])) {
                close(*a, b, &format!("mean, generation {round}"));
            }
            close(m.sigma(), it["sigma"].as_f64().expect("sigma"), &format!("sigma, generation {round}"));
            let (pc, ps) = m.paths();
            for (a, b) in pc.iter().zip(vec(&it["pc"])).chain(ps.iter().zip(vec(&it["ps"]))) {
                close(*a, b, &format!("paths, generation {round}"));
            }
            for i in 0..d {
                for (j, v) in vec(&it["C"][i]).into_iter().enumerate() {
                    close(m.covariance()[(i, j)], v, &format!("C, generation {round}"));
                }
            }
            assert_eq!(m.counteval() as u64, it["counteval"].as_u64().expect("counteval"));
            assert_eq!(m.updated_eval(), it["updated_eval"].as_f64().expect("updated_eval"));
        }
    }

    /// The active weights agree with pycma's `RecombinationWeights(lambda)
    /// .finalize_negative_weights(d, c1, cmu)` given purecma's learning rates (values
    /// printed by pycma 4.5.0): the odd generation keeps a zero weight in the middle, the
    /// 20-D one is limited by positive definiteness.
    #[test]
    fn negative_weights_match_pycma() {
        let cases: [(usize, usize, &[f64]); 3] = [
            (5, 8, &[-0.16727950680988085, -0.4567490477558585, -0.701492057363521, -0.913498095511717]),
            (3, 9, &[0.0, -0.2421998541198896, -0.4469769129777027, -0.6243628698705269, -0.780828372663556]),
            (
                20,
                12,
                &[
                    -0.052208086804735876,
                    -0.1462791878576368,
                    -0.22925577959217336,
                    -0.3034808701916774,
                    -0.3706256320302223,
                    -0.43192399698144895,
                ],
            ),
        ];
        for (d, lambda, expected) in cases {
            let s = Strategy::new(d, lambda);
            let tail = &s.negative_weights[lambda - expected.len()..];
            for (a, b) in tail.iter().zip(expected) {
                assert!((a - b).abs() < 1e-12, "d={d} lambda={lambda}: {a} vs {b}");
            }
            assert!(s.negative_weights[..lambda - expected.len()].iter().all(|&w| w == 0.0));
            assert!(s.weights.iter().zip(&s.negative_weights).all(|(p, n)| *p == 0.0 || *n == 0.0));
        }
    }

    /// pycma 4.5.0's `chiN` and its default `cs` and `damps` at d = 5, 10, 20.
    #[test]
    fn pycma_step_size_constants() {
        for (d, chi, cs, damps) in [
            (5, 2.1276921621409746, 0.43397181326609285, 1.4339718132660928),
            (10, 3.084327759799864, 0.3196142529106334, 1.3196142529106334),
            (20, 4.416605124547244, 0.21434997799189287, 1.214349977991893),
        ] {
            assert!((expected_norm(d) - chi).abs() < 1e-12, "{d}: {}", expected_norm(d));
            let s = Strategy::new(d, default_popsize(d));
            assert!((s.cs_norm - cs).abs() < 1e-12 && (s.damps_norm - damps).abs() < 1e-12, "{d}: {s:?}");
        }
    }

    /// Points printed by pycma 4.5.0's `BoxConstraintsLinQuadTransformation([[0, 1]])`.
    #[test]
    fn box_transform_matches_pycma() {
        let pycma = [
            (-3.3, 0.9874999999999997),
            (-0.2, 0.10000000000000003),
            (-0.05, 0.0),
            (0.0, 0.012500000000000002),
            (0.02, 0.0245),
            (0.05, 0.05),
            (0.5, 0.5),
            (0.96, 0.9594999999999999),
            (1.0, 0.9874999999999999),
            (1.05, 1.0),
            (1.2, 0.9),
            (2.7, 0.5),
            (7.1, 0.4999999999999991),
        ];
        for (x, y) in pycma {
            assert!((box_transform(x) - y).abs() < 1e-12, "{x}: {} vs {y}", box_transform(x));
        }
        assert_eq!(box_transform(f64::NAN), 0.5);
        for i in -4000..4000 {
            let y = box_transform(i as f64 * 0.0037);
            assert!((0.0..=1.0).contains(&y));
        }
    }

    /// With the rank-mu update at the same rate, the active update shrinks the variance
    /// along the direction the worst trials lie in and keeps the covariance positive
    /// definite.
    #[test]
    fn the_active_update_shrinks_bad_directions() {
        let run = |active: bool| {
            let mut m = Mvn::new(&[0.5, 0.5], 0.2);
            // The worst trials lie along the first axis, the best along the second.
            let told = [
                ([0.5, 0.7], 0.0),
                ([0.5, 0.3], 0.1),
                ([0.52, 0.6], 0.2),
                ([0.48, 0.45], 0.3),
                ([0.55, 0.5], 0.4),
                ([0.6, 0.52], 5.0),
                ([0.3, 0.5], 6.0),
                ([0.75, 0.5], 7.0),
            ];
            for (x, f) in told {
                m.tell(None, &x, f);
            }
            assert!(m.recenter(8));
            m.rank_mu(1.0);
            if active {
                m.active(1.0);
            }
            m.finish_update();
            m.covariance().clone()
        };
        let (plain, active) = (run(false), run(true));
        assert!(active[(0, 0)] < plain[(0, 0)], "{active} vs {plain}");
        assert!((active[(1, 1)] - plain[(1, 1)]).abs() < 0.3 * plain[(1, 1)]);
        let eig = SymmetricEigen::new(active);
        assert!(eig.eigenvalues.iter().all(|&v| v > 0.0));
    }

    #[test]
    fn absurd_rates_never_break_the_covariance() {
        let mut m = Mvn::new(&[0.5; 3], 0.3);
        for round in 0..20 {
            for k in 0..6 {
                let x = [(k as f64 * 0.37 + round as f64 * 0.11) % 1.0, 0.5, (k as f64 * 0.73) % 1.0];
                m.tell(None, &x, k as f64);
            }
            m.recenter(6);
            m.rank_one(f64::INFINITY);
            m.rank_mu(1e9);
            m.active(1e9);
            m.csa(-3.0);
            m.csa_norm(f64::NAN);
            m.finish_update();
            let (x, _) = m.sample(&[1.0, -1.0, 0.5]);
            assert!(x.iter().all(|v| v.is_finite()));
        }
    }
}
