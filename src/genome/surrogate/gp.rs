//! Gaussian-process regression: a Matérn 5/2 kernel with one length scale per
//! dimension (ARD), a signal amplitude and a noise variance, the hyperparameters fitted
//! by maximising the log marginal likelihood plus weak priors (L-BFGS from `argmin`,
//! analytic gradients), the posterior from a Cholesky factorisation (`nalgebra`).
//!
//! Conventions follow scikit-learn's `ConstantKernel(a) * Matern(l, nu=2.5) +
//! WhiteKernel(s)` so that `tests` can check the posterior, the likelihood and its
//! gradient against it (`tests/fixtures/gp/sklearn_gp.json`); the priors are Optuna
//! `GPSampler`'s (on the inverse squared length scales, the amplitude and the noise).

use std::cell::RefCell;
use std::f64::consts::PI;

use argmin::core::{CostFunction, Error, Executor, Gradient};
use argmin::solver::linesearch::BacktrackingLineSearch;
use argmin::solver::linesearch::condition::ArmijoCondition;
use argmin::solver::quasinewton::LBFGS;
use nalgebra::{Cholesky, DMatrix, DVector, Dyn};

const SQRT5: f64 = 2.236_067_977_499_79;
/// Bounds of the log hyperparameters: length scales, amplitude, noise variance.
const LOG_LENGTH: (f64, f64) = (-6.9, 6.9);
const LOG_AMPLITUDE: (f64, f64) = (-9.2, 9.2);
const LOG_NOISE: (f64, f64) = (-13.8, 2.3);
/// L-BFGS iterations per start of a fit.
const FIT_ITERATIONS: u64 = 40;
/// Likelihood evaluations per start of a fit (line-search steps included): the hard
/// bound on a fit's work.
pub const FIT_EVALUATIONS: u64 = 30;

/// The hyperparameters, in log space (scikit-learn's `theta`, in the order amplitude,
/// length scales, noise).
#[derive(Debug, Clone, PartialEq)]
pub struct Hyper {
    /// Log signal amplitude (the kernel's value at distance 0, before noise).
    pub log_amplitude: f64,
    /// Log length scale per dimension.
    pub log_lengths: Vec<f64>,
    /// Log noise variance.
    pub log_noise: f64,
}

impl Hyper {
    /// The starting point of a fit without a previous one: unit amplitude, the given
    /// length scale in every dimension, noise variance 1e-2.
    pub fn initial(d: usize, length: f64) -> Hyper {
        Hyper { log_amplitude: 0.0, log_lengths: vec![length.ln(); d], log_noise: (1e-2f64).ln() }
    }

    fn to_vec(&self) -> Vec<f64> {
        let mut v = vec![self.log_amplitude];
        v.extend(&self.log_lengths);
        v.push(self.log_noise);
        v
    }

    /// From a parameter vector, clamped to the bounds (so every fit is well-posed).
    fn from_vec(v: &[f64]) -> Hyper {
        let clamp = |x: f64, (lo, hi): (f64, f64)| if x.is_finite() { x.clamp(lo, hi) } else { (lo + hi) / 2.0 };
        let d = v.len() - 2;
        Hyper {
            log_amplitude: clamp(v[0], LOG_AMPLITUDE),
            log_lengths: v[1..=d].iter().map(|&x| clamp(x, LOG_LENGTH)).collect(),
            log_noise: clamp(v[d + 1], LOG_NOISE),
        }
    }

    /// Log prior density (up to a constant) and its gradient, as Optuna's `GPSampler`:
    /// `-(0.1/λ + 0.1 λ)` per inverse squared length scale λ, Gamma(2, 1) on the
    /// amplitude and Gamma(1.1, 30) on the noise variance.
    fn log_prior(&self) -> (f64, Vec<f64>) {
        let a = self.log_amplitude.exp();
        let s = self.log_noise.exp();
        let mut value = self.log_amplitude - a + 0.1 * self.log_noise - 30.0 * s;
        let mut grad = vec![1.0 - a];
        for &t in &self.log_lengths {
            let (up, down) = ((2.0 * t).exp(), (-2.0 * t).exp());
            value -= 0.1 * up + 0.1 * down;
            grad.push(-0.2 * up + 0.2 * down);
        }
        grad.push(0.1 - 30.0 * s);
        (value, grad)
    }
}

/// Squared coordinate differences between every pair of training points, reused by
/// every likelihood evaluation of a fit.
struct Pairs {
    n: usize,
    d: usize,
    sq: Vec<f64>,
}

impl Pairs {
    fn new(x: &[Vec<f64>]) -> Pairs {
        let n = x.len();
        let d = x.first().map_or(0, Vec::len);
        let mut sq = vec![0.0; n * n * d];
        for i in 0..n {
            for j in 0..n {
                for k in 0..d {
                    let diff = x[i][k] - x[j][k];
                    sq[(i * n + j) * d + k] = diff * diff;
                }
            }
        }
        Pairs { n, d, sq }
    }

    fn at(&self, i: usize, j: usize) -> &[f64] {
        let start = (i * self.n + j) * self.d;
        &self.sq[start..start + self.d]
    }
}

/// Matérn 5/2 correlation at scaled distance `r`.
fn matern52(r: f64) -> f64 {
    (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * (-SQRT5 * r).exp()
}

fn scaled_distance(sq: &[f64], inv_sq_lengths: &[f64]) -> f64 {
    sq.iter().zip(inv_sq_lengths).map(|(s, l)| s * l).sum::<f64>().sqrt()
}

/// The noise-free kernel matrix of the pairs' points: amplitude `a` times Matérn 5/2 of
/// the distance scaled by the inverse squared length scales `inv_sq`.
fn kernel_matrix(pairs: &Pairs, a: f64, inv_sq: &[f64]) -> DMatrix<f64> {
    let n = pairs.n;
    let mut k = DMatrix::zeros(n, n);
    for i in 0..n {
        for j in 0..=i {
            let v = a * matern52(scaled_distance(pairs.at(i, j), inv_sq));
            k[(i, j)] = v;
            k[(j, i)] = v;
        }
    }
    k
}

/// The log marginal likelihood of `y` at `hyper` and, when `gradient` is set, its
/// gradient with respect to the log hyperparameters (amplitude, lengths, noise).
/// `None` when the kernel matrix is not positive definite.
fn log_marginal_likelihood(pairs: &Pairs, y: &[f64], hyper: &Hyper, gradient: bool) -> Option<(f64, Vec<f64>)> {
    let (n, d) = (pairs.n, pairs.d);
    let a = hyper.log_amplitude.exp();
    let noise = hyper.log_noise.exp();
    let inv_sq: Vec<f64> = hyper.log_lengths.iter().map(|t| (-2.0 * t).exp()).collect();
    let mut k = kernel_matrix(pairs, a, &inv_sq);
    for i in 0..n {
        k[(i, i)] += noise;
    }
    let chol = Cholesky::new(k)?;
    let yv = DVector::from_column_slice(y);
    let alpha = chol.solve(&yv);
    let log_det: f64 = chol.l_dirty().diagonal().iter().take(n).map(|v| v.ln()).sum();
    let value = -0.5 * yv.dot(&alpha) - log_det - 0.5 * n as f64 * (2.0 * PI).ln();
    if !value.is_finite() {
        return None;
    }
    if !gradient {
        return Some((value, Vec::new()));
    }
    // d/dθ = 0.5 tr((α αᵀ - K⁻¹) dK/dθ).
    let inv = chol.inverse();
    let mut g = vec![0.0; d + 2];
    for i in 0..n {
        for j in 0..n {
            let m = alpha[i] * alpha[j] - inv[(i, j)];
            let sq = pairs.at(i, j);
            let r = scaled_distance(sq, &inv_sq);
            let e = (-SQRT5 * r).exp();
            g[0] += m * a * (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * e;
            let common = m * a * 5.0 / 3.0 * (1.0 + SQRT5 * r) * e;
            for kk in 0..d {
                g[1 + kk] += common * sq[kk] * inv_sq[kk];
            }
        }
        g[d + 1] += (alpha[i] * alpha[i] - inv[(i, i)]) * noise;
    }
    for v in &mut g {
        *v *= 0.5;
    }
    Some((value, g))
}

/// What a fit adds to the log marginal likelihood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prior {
    /// Optuna `GPSampler`'s weak priors ([`Hyper`]'s `log_prior`): maximum a posteriori.
    Weak,
    /// None: maximum likelihood, as scikit-learn fits.
    Flat,
}

/// A point of the fit with its cost and gradient.
type Evaluation = (Vec<f64>, f64, Vec<f64>);

/// The negative log posterior of the hyperparameters, for `argmin` (which minimises);
/// one evaluation computes cost and gradient together and caches them.
struct Objective<'a> {
    pairs: &'a Pairs,
    y: &'a [f64],
    prior: Prior,
    last: &'a RefCell<Option<Evaluation>>,
    /// The best point evaluated, kept in case the line search gives up.
    best: &'a RefCell<Option<(f64, Vec<f64>)>>,
    evaluations: &'a RefCell<u64>,
    /// The most likelihood evaluations this start may spend.
    max_evaluations: u64,
}

impl Objective<'_> {
    fn evaluate(&self, p: &[f64]) -> Result<(f64, Vec<f64>), Error> {
        if let Some((q, c, g)) = &*self.last.borrow()
            && q.as_slice() == p
        {
            return Ok((*c, g.clone()));
        }
        if *self.evaluations.borrow() >= self.max_evaluations {
            return Err(Error::msg("evaluation budget of the fit spent"));
        }
        *self.evaluations.borrow_mut() += 1;
        let hyper = Hyper::from_vec(p);
        let (lml, grad) = log_marginal_likelihood(self.pairs, self.y, &hyper, true)
            .ok_or_else(|| Error::msg("kernel matrix not positive definite"))?;
        let (prior, prior_grad) = match self.prior {
            Prior::Weak => hyper.log_prior(),
            Prior::Flat => (0.0, vec![0.0; p.len()]),
        };
        let cost = -(lml + prior);
        // Outside the bounds the clamped value is flat: zero gradient there.
        let bounds = std::iter::once(LOG_AMPLITUDE)
            .chain(std::iter::repeat_n(LOG_LENGTH, p.len() - 2))
            .chain(std::iter::once(LOG_NOISE));
        let grad: Vec<f64> = grad
            .iter()
            .zip(&prior_grad)
            .zip(p.iter().zip(bounds))
            .map(|((g, pg), (x, (lo, hi)))| if *x < lo || *x > hi { 0.0 } else { -(g + pg) })
            .collect();
        if !cost.is_finite() || grad.iter().any(|v| !v.is_finite()) {
            return Err(Error::msg("non-finite likelihood"));
        }
        if self.best.borrow().as_ref().is_none_or(|(c, _)| cost < *c) {
            *self.best.borrow_mut() = Some((cost, p.to_vec()));
        }
        *self.last.borrow_mut() = Some((p.to_vec(), cost, grad.clone()));
        Ok((cost, grad))
    }
}

impl CostFunction for Objective<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Self::Param) -> Result<f64, Error> {
        self.evaluate(p).map(|(c, _)| c)
    }
}

impl Gradient for Objective<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, p: &Self::Param) -> Result<Vec<f64>, Error> {
        self.evaluate(p).map(|(_, g)| g)
    }
}

thread_local! {
    /// Scratch space of [`Gp::predict`]: the kernel row, solved in place.
    static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// A fitted Gaussian process.
#[derive(Debug, Clone)]
pub struct Gp {
    x: Vec<Vec<f64>>,
    hyper: Hyper,
    amplitude: f64,
    inv_sq_lengths: Vec<f64>,
    /// The Cholesky factor's lower triangle, packed by rows (row `i` starts at
    /// `i (i + 1) / 2`), so that forward substitution reads it in order.
    lower: Vec<f64>,
    alpha: Vec<f64>,
}

impl Gp {
    /// Condition a process with fixed hyperparameters on `(x, y)`; a kernel matrix that is
    /// not numerically positive definite gets jitter on its diagonal until it is. `None`
    /// only for empty data.
    pub fn condition(x: &[Vec<f64>], y: &[f64], hyper: &Hyper) -> Option<Gp> {
        if x.is_empty() {
            return None;
        }
        let n = x.len();
        let pairs = Pairs::new(x);
        let a = hyper.log_amplitude.exp();
        let inv_sq: Vec<f64> = hyper.log_lengths.iter().map(|t| (-2.0 * t).exp()).collect();
        let k = kernel_matrix(&pairs, a, &inv_sq);
        let mut jitter = hyper.log_noise.exp();
        for _ in 0..12 {
            let mut kk = k.clone();
            for i in 0..n {
                kk[(i, i)] += jitter;
            }
            if let Some(chol) = Cholesky::<f64, Dyn>::new(kk) {
                let alpha = chol.solve(&DVector::from_column_slice(y)).as_slice().to_vec();
                let l = chol.l_dirty();
                let lower = (0..n).flat_map(|i| (0..=i).map(move |j| l[(i, j)])).collect();
                return Some(Gp {
                    x: x.to_vec(),
                    hyper: hyper.clone(),
                    amplitude: a,
                    inv_sq_lengths: inv_sq,
                    lower,
                    alpha,
                });
            }
            jitter = (jitter * 10.0).max(1e-10 * a);
        }
        None
    }

    /// Fit the hyperparameters to `(x, y)` by maximising the log marginal likelihood plus
    /// `prior`, starting from each of `starts` (the best result wins), spending at most
    /// `max_evaluations` likelihood evaluations per start ([`FIT_EVALUATIONS`] in the
    /// interpreter). Returns the hyperparameters and the likelihood evaluations spent.
    pub fn fit_hyper(x: &[Vec<f64>], y: &[f64], starts: &[Hyper], prior: Prior, max_evaluations: u64) -> (Hyper, u64) {
        let pairs = Pairs::new(x);
        let mut best: Option<(f64, Vec<f64>)> = None;
        let mut evaluations = 0;
        for start in starts {
            let (last, found, count) = (RefCell::new(None), RefCell::new(None), RefCell::new(0));
            let objective =
                Objective { pairs: &pairs, y, prior, last: &last, best: &found, evaluations: &count, max_evaluations };
            // Backtracking: L-BFGS's unit step is usually accepted, so an iteration costs
            // about one likelihood evaluation (More-Thuente spent three to five).
            let Ok(armijo) = ArmijoCondition::new(1e-4) else { break };
            let Ok(solver) = LBFGS::new(BacktrackingLineSearch::new(armijo), 7).with_tolerance_cost(1e-6) else {
                break;
            };
            // A failed line search or a non-definite kernel ends the run; the best
            // point evaluated so far is kept either way.
            let _ =
                Executor::new(objective, solver).configure(|s| s.param(start.to_vec()).max_iters(FIT_ITERATIONS)).run();
            evaluations += count.into_inner();
            if let Some((cost, p)) = found.into_inner()
                && best.as_ref().is_none_or(|(c, _)| cost < *c)
            {
                best = Some((cost, p));
            }
        }
        let hyper = best.map(|(_, p)| Hyper::from_vec(&p)).unwrap_or_else(|| starts[0].clone());
        (hyper, evaluations)
    }

    /// The hyperparameters.
    pub fn hyper(&self) -> &Hyper {
        &self.hyper
    }

    /// Training points.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Whether there are no training points (never for a conditioned process).
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Posterior mean and standard deviation of the latent function at `point` (no
    /// observation noise in the deviation, as acquisition functions want).
    pub fn predict(&self, point: &[f64]) -> (f64, f64) {
        let a = self.amplitude;
        SCRATCH.with_borrow_mut(|v| {
            v.clear();
            v.extend(self.x.iter().map(|xi| {
                let r = xi
                    .iter()
                    .zip(point)
                    .zip(&self.inv_sq_lengths)
                    .map(|((u, w), l)| (u - w) * (u - w) * l)
                    .sum::<f64>()
                    .sqrt();
                a * matern52(r)
            }));
            let mean: f64 = v.iter().zip(&self.alpha).map(|(k, al)| k * al).sum();
            // Forward substitution in place: v <- L⁻¹ k*.
            let mut explained = 0.0;
            for i in 0..v.len() {
                let row = &self.lower[i * (i + 1) / 2..(i + 1) * (i + 2) / 2];
                let s = v[i] - row[..i].iter().zip(&v[..i]).map(|(l, x)| l * x).sum::<f64>();
                v[i] = s / row[i];
                explained += v[i] * v[i];
            }
            let var = (a - explained).max(1e-12 * a);
            (mean, var.sqrt())
        })
    }

    /// The log marginal likelihood of the training data at the process's hyperparameters.
    pub fn log_marginal_likelihood(x: &[Vec<f64>], y: &[f64], hyper: &Hyper) -> Option<(f64, Vec<f64>)> {
        log_marginal_likelihood(&Pairs::new(x), y, hyper, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_point_posterior_by_hand() {
        // k(x, x) = a + s; posterior mean at x' = a m(r) y / (a + s).
        let hyper = Hyper { log_amplitude: 2f64.ln(), log_lengths: vec![0.5f64.ln()], log_noise: 0.1f64.ln() };
        let gp = Gp::condition(&[vec![0.2]], &[3.0], &hyper).unwrap();
        let r: f64 = 0.3 / 0.5;
        let m = (1.0 + SQRT5 * r + 5.0 / 3.0 * r * r) * (-SQRT5 * r).exp();
        let (mean, sd) = gp.predict(&[0.5]);
        assert!((mean - 2.0 * m * 3.0 / 2.1).abs() < 1e-12, "{mean}");
        let var = 2.0 - (2.0 * m).powi(2) / 2.1;
        assert!((sd - var.sqrt()).abs() < 1e-12, "{sd}");
        // At the training point the latent deviation shrinks to sqrt(a s / (a + s)).
        let (_, sd0) = gp.predict(&[0.2]);
        assert!((sd0 - (2.0f64 * 0.1 / 2.1).sqrt()).abs() < 1e-12);
    }

    fn floats(v: &serde_json::Value) -> Vec<f64> {
        v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
    }

    fn points(v: &serde_json::Value) -> Vec<Vec<f64>> {
        v.as_array().expect("array").iter().map(floats).collect()
    }

    fn fixture() -> serde_json::Value {
        serde_json::from_str(include_str!("../../../tests/fixtures/gp/sklearn_gp.json")).expect("fixture parses")
    }

    /// The posterior, the log marginal likelihood and its gradient against scikit-learn's
    /// `GaussianProcessRegressor` with the same kernel and fixed hyperparameters
    /// (`tests/fixtures/gp/make_sklearn_gp.py`).
    #[test]
    fn posterior_and_likelihood_match_scikit_learn() {
        let case = &fixture()["fixed"];
        let (x, y) = (points(&case["X"]), floats(&case["y"]));
        let theta = floats(&case["kernel"]["theta"]);
        let hyper = Hyper::from_vec(&theta);
        let gp = Gp::condition(&x, &y, &hyper).expect("conditions");
        for ((t, mean), sd) in
            points(&case["X_test"]).iter().zip(floats(&case["mean"])).zip(floats(&case["std_latent"]))
        {
            let (m, s) = gp.predict(t);
            assert!((m - mean).abs() < 1e-8, "mean at {t:?}: {m} vs {mean}");
            assert!((s - sd).abs() < 1e-8, "sd at {t:?}: {s} vs {sd}");
        }
        let (lml, grad) = Gp::log_marginal_likelihood(&x, &y, &hyper).expect("definite");
        let want = case["log_marginal_likelihood"].as_f64().expect("lml");
        assert!((lml - want).abs() < 1e-8, "{lml} vs {want}");
        for (g, w) in grad.iter().zip(floats(&case["log_marginal_likelihood_gradient"])) {
            assert!((g - w).abs() < 1e-7, "{g} vs {w}");
        }
    }

    /// Maximum likelihood (no prior) from scikit-learn's starting point reaches the
    /// likelihood scikit-learn's best of six L-BFGS-B runs reached, and the gradient at
    /// scikit-learn's optimum is flat.
    #[test]
    fn a_flat_prior_fit_reaches_scikit_learns_optimum() {
        let case = &fixture()["fitted"];
        let (x, y) = (points(&case["X"]), floats(&case["y"]));
        let theirs = Hyper::from_vec(&floats(&case["fitted_kernel"]["theta"]));
        let (at_theirs, grad) = Gp::log_marginal_likelihood(&x, &y, &theirs).expect("definite");
        assert!(grad.iter().all(|g| g.abs() < 1e-3), "{grad:?}");
        let start = Hyper::from_vec(&floats(&case["initial_kernel"]["theta"]));
        let (ours, _) = Gp::fit_hyper(&x, &y, &[start], Prior::Flat, 200);
        let (at_ours, _) = Gp::log_marginal_likelihood(&x, &y, &ours).expect("definite");
        assert!(at_ours > at_theirs - 1e-4, "{at_ours} vs {at_theirs}: {ours:?} vs {theirs:?}");
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let x: Vec<Vec<f64>> = (0..6).map(|i| vec![i as f64 / 6.0, (i * 7 % 6) as f64 / 6.0]).collect();
        let y: Vec<f64> = x.iter().map(|p| (3.0 * p[0]).sin() + p[1] * p[1]).collect();
        let hyper = Hyper { log_amplitude: 0.3, log_lengths: vec![-0.7, 0.2], log_noise: -4.0 };
        let (_, g) = Gp::log_marginal_likelihood(&x, &y, &hyper).unwrap();
        let base = hyper.to_vec();
        for i in 0..base.len() {
            let h = 1e-6;
            let mut up = base.clone();
            up[i] += h;
            let mut down = base.clone();
            down[i] -= h;
            let f = |v: &[f64]| Gp::log_marginal_likelihood(&x, &y, &Hyper::from_vec(v)).unwrap().0;
            let numeric = (f(&up) - f(&down)) / (2.0 * h);
            assert!((numeric - g[i]).abs() < 1e-5 * (1.0 + numeric.abs()), "{i}: {numeric} vs {}", g[i]);
        }
    }

    #[test]
    fn fitting_raises_the_likelihood_and_finds_the_irrelevant_dimension() {
        // Roberts' R2 sequence: a low-discrepancy design of the square.
        let x: Vec<Vec<f64>> =
            (0..24).map(|i| vec![(0.5 + i as f64 * 0.754_877_7) % 1.0, (0.5 + i as f64 * 0.569_840_3) % 1.0]).collect();
        let y: Vec<f64> = x.iter().map(|p| (6.0 * p[0]).sin()).collect();
        let start = Hyper::initial(2, 0.5);
        let (fitted, evals) = Gp::fit_hyper(&x, &y, std::slice::from_ref(&start), Prior::Weak, FIT_EVALUATIONS);
        assert!(evals > 1);
        let lml = |h: &Hyper| Gp::log_marginal_likelihood(&x, &y, h).unwrap().0;
        assert!(lml(&fitted) > lml(&start));
        // The function ignores the second coordinate: its length scale grows past the first's.
        assert!(fitted.log_lengths[1] > fitted.log_lengths[0] + 1.0, "{fitted:?}");
    }
}
