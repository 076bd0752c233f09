//! The interpreter's model-based and fidelity pieces: the search distribution,
//! surrogates and acquisition functions, rung queries, learning curves and brackets.
//! Heavy work is charged as fuel in proportion to its flops ([`FLOPS_PER_FUEL`]).

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

use super::{Env, Fault, Machine, Memory, ModelMemory, Program, Value, count, reflect};
use crate::genome::mvn::{self, Mvn, Strategy};
use crate::genome::prim::{Prim, sanitize};
use crate::genome::rungs;
use crate::genome::surrogate::{self, Data, Fitted, Prediction};
use crate::history::History;
use crate::space::fidelity_level;

/// Floating-point operations per unit of fuel: a node evaluation costs one unit and
/// takes about as long as this many flops of the dense linear algebra below.
pub const FLOPS_PER_FUEL: u64 = 16;

/// A Gaussian process refits its hyperparameters once its rung has grown by this
/// fraction since the last fit (and at least by one trial); in between it conditions on
/// the new data with the hyperparameters it has. Keeps the cubic fits rare as the
/// history grows.
const REFIT_GROWTH: f64 = 0.3;

impl Machine {
    /// Evaluate one of the pieces (primitives not handled by the core interpreter).
    pub(super) fn piece(&mut self, prog: &Program, id: u32, p: Prim, env: &Env) -> Result<Value, Fault> {
        let h = env.history;
        let d = env.dims;
        let v = match p {
            Prim::MvnSample | Prim::MvnSampleBox => {
                let step = self.real(prog, id, 0, env)?;
                self.burn((d * d) as u64 / FLOPS_PER_FUEL + d as u64 / 8)?;
                self.ensure_mvn(h, d, step);
                let z: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut self.rng)).collect();
                let Some(dist) = &mut self.mvn else { return Ok(Value::P(vec![0.5; d])) };
                let (genotype, work) = dist.sample(&z);
                self.burn(work / FLOPS_PER_FUEL)?;
                let into_cube = if p == Prim::MvnSample { reflect } else { mvn::box_transform };
                let point: Vec<f64> = genotype.iter().map(|&g| into_cube(g)).collect();
                self.pending_draws.push(super::Draw { genotype, point: point.clone() });
                Value::P(point)
            }
            Prim::MvnMean => {
                self.ensure_mvn(h, d, mvn::DEFAULT_STEP);
                Value::P(self.mvn.as_ref().map_or(vec![0.5; d], |m| m.mean().iter().map(|&g| reflect(g)).collect()))
            }
            Prim::MvnSd => {
                self.ensure_mvn(h, d, mvn::DEFAULT_STEP);
                Value::R(self.mvn.as_ref().map_or(0.0, Mvn::max_sd))
            }
            Prim::Popsize => Value::R(mvn::default_popsize(d) as f64),
            Prim::MvnRecenter => {
                let min_size = count(self.real(prog, id, 0, env)?, 2, 100_000);
                self.ensure_mvn(h, d, mvn::DEFAULT_STEP);
                let n = self.mvn.as_ref().map_or(0, Mvn::generation_size) as u64;
                self.burn((n * d as u64 + (d * d) as u64) / FLOPS_PER_FUEL)?;
                if let Some(m) = &mut self.mvn {
                    m.recenter(min_size);
                }
                Value::Unit
            }
            Prim::MvnRankOne | Prim::MvnRankMu | Prim::MvnActive | Prim::MvnCsa | Prim::MvnCsaNorm => {
                let rate = self.real(prog, id, 0, env)?;
                self.ensure_mvn(h, d, mvn::DEFAULT_STEP);
                let n = self.mvn.as_ref().map_or(0, |m| m.generation_size().max(mvn::default_popsize(d))) as u64;
                let work = match p {
                    Prim::MvnRankMu | Prim::MvnActive => n * (d * d) as u64,
                    _ => (d * d) as u64,
                };
                self.burn(work / FLOPS_PER_FUEL)?;
                if let Some(m) = &mut self.mvn {
                    match p {
                        Prim::MvnRankOne => m.rank_one(rate),
                        Prim::MvnRankMu => m.rank_mu(rate),
                        Prim::MvnActive => m.active(rate),
                        Prim::MvnCsaNorm => m.csa_norm(rate),
                        _ => m.csa(rate),
                    }
                }
                Value::Unit
            }
            Prim::MvnRestart => {
                let at = self.point(prog, id, 0, env)?;
                let step = self.real(prog, id, 1, env)?;
                self.burn((d * d) as u64 / FLOPS_PER_FUEL)?;
                match &mut self.mvn {
                    Some(m) if m.dims() == d => m.restart(&at, step),
                    _ => self.mvn = Some(Mvn::new(&at, step)),
                }
                Value::Unit
            }
            Prim::WeightedMean => {
                let k = count(self.real(prog, id, 0, env)?, 1, h.len().max(1));
                self.burn(k as u64 * (d as u64).div_ceil(8))?;
                if h.is_empty() {
                    return Ok(Value::P(self.uniform_point(d)));
                }
                let weights = Strategy::new(d, 2 * k).weights;
                let mut mean = vec![0.0; d];
                for (&i, w) in h.sorted().iter().take(k).zip(&weights) {
                    for (m, x) in mean.iter_mut().zip(&h.trials()[i as usize].point) {
                        *m += w * x;
                    }
                }
                Value::P(mean)
            }
            Prim::RungPick => {
                let level = fidelity_level(env.levels, self.real(prog, id, 0, env)?);
                let k = self.real(prog, id, 1, env)?;
                self.burn(h.rung(level).len() as u64 / 4 + d as u64 / 8)?;
                let ranked = h.ranked_rung(level);
                if ranked.is_empty() {
                    return Ok(Value::P(self.ranked(h, 0, d)));
                }
                let k = count(k, 1, ranked.len());
                let pick = ranked[self.rng.random_range(0..k)];
                Value::P(h.trials()[pick as usize].point.clone())
            }
            Prim::Gp | Prim::Knn => {
                let (level, k) = if p == Prim::Gp {
                    (fidelity_level(env.levels, self.real(prog, id, 0, env)?), 0)
                } else {
                    let k = count(self.real(prog, id, 0, env)?, 1, surrogate::knn::MAX_STACK);
                    (fidelity_level(env.levels, self.real(prog, id, 1, env)?), k)
                };
                self.fit_model(id, p, level, k, h, d)?;
                Value::M(id, level)
            }
            Prim::Predict | Prim::Uncertainty | Prim::Ei | Prim::Pi | Prim::Ucb | Prim::Thompson => {
                let Value::M(model, level) = self.eval(prog, prog.kid(id, 0), env)? else {
                    return Ok(Value::R(0.0));
                };
                let beta = if p == Prim::Ucb { self.real(prog, id, 1, env)? } else { 0.0 };
                let fallback = if self.cand.len() == d { None } else { Some(self.candidate(h, d)) };
                let x = fallback.as_deref().unwrap_or(&self.cand);
                let Memory::Models(models) = &self.memory[model as usize] else { return Ok(Value::R(0.0)) };
                let Some(Some(mem)) = models.get(level) else { return Ok(Value::R(0.0)) };
                let work = mem.fitted.prediction_work(d);
                let (pred, best) = (mem.fitted.predict(x), mem.fitted.best());
                self.burn(work / FLOPS_PER_FUEL)?;
                Value::R(sanitize(self.acquire(p, pred, best, beta)))
            }
            Prim::KdeRatio => {
                let g = self.real(prog, id, 0, env)?;
                let level = fidelity_level(env.levels, self.real(prog, id, 1, env)?);
                let ranked = h.ranked_rung(level);
                self.burn(4 * ranked.len() as u64 * (d as u64).div_ceil(8))?;
                let x = self.candidate(h, d);
                let points = ranked.iter().map(|&i| h.trials()[i as usize].point.as_slice());
                Value::R(rungs::parzen_ratio(points, &x, g, d))
            }
            Prim::TopRung => {
                let n = count(self.real(prog, id, 0, env)?, 1, usize::MAX);
                self.burn(h.len() as u64 / 8)?;
                let level = rungs::top_rung(h, n).min(env.levels.len().saturating_sub(1));
                Value::R(env.levels.get(level).copied().unwrap_or(1.0))
            }
            Prim::CurvePred | Prim::CurveRank => {
                let x = self.candidate(h, d);
                let (pred, work) = rungs::curve_prediction(h, env.levels, &x);
                self.burn(work / 2)?;
                match p {
                    Prim::CurvePred => Value::R(pred),
                    _ => Value::R(rungs::rank_at_top(h, env.levels, pred)),
                }
            }
            Prim::RungCorr => {
                let level = fidelity_level(env.levels, self.real(prog, id, 0, env)?);
                self.burn(h.len() as u64 / 2)?;
                Value::R(rungs::rung_correlation(h, level))
            }
            Prim::HbStart => {
                let eta = self.real(prog, id, 0, env)?;
                let n = match self.memory[id as usize] {
                    Memory::Counter(n) => n,
                    _ => 0,
                };
                self.memory[id as usize] = Memory::Counter(n + 1);
                Value::R(rungs::bracket_start(eta, env.levels, n))
            }
            // Every other primitive is evaluated by the core interpreter.
            _ => Value::Unit,
        };
        Ok(v)
    }

    /// Make the search distribution on first use: at the incumbent (the cube's centre
    /// before any trial) with step size `step`.
    fn ensure_mvn(&mut self, h: &History, d: usize, step: f64) {
        if self.mvn.as_ref().is_none_or(|m| m.dims() != d) {
            let mean = h.best().map_or_else(|| vec![0.5; d], |t| t.point.clone());
            self.mvn = Some(Mvn::new(&mean, step));
        }
    }

    /// Fit (or reuse) model node `id` on the trials at `level`. A node keeps one model per
    /// level, reused while that rung is unchanged; a Gaussian process reuses its
    /// hyperparameters until its rung grew by [`REFIT_GROWTH`]. Conditioning and
    /// predictions are charged to the call; a hyperparameter fit (bounded by design:
    /// [`surrogate::gp_fit_bound`]) to the episode only, and refused before it starts when
    /// the episode could not afford it.
    fn fit_model(&mut self, id: u32, p: Prim, level: usize, k: usize, h: &History, d: usize) -> Result<(), Fault> {
        let rung_len = h.rung(level).len();
        let key = (rung_len, k);
        // Borrowed, never cloned: this runs for every candidate a `best-of` scores.
        let previous = match &self.memory[id as usize] {
            Memory::Models(models) => match models.get(level) {
                Some(Some(m)) if m.key == key => return Ok(()),
                Some(Some(m)) => m.hyper.clone(),
                _ => None,
            },
            _ => None,
        };
        let data = Data::at_level(h, level);
        let n = data.len() as u64;
        self.burn(n * d as u64 / FLOPS_PER_FUEL + 1)?;
        let memory = if p == Prim::Gp {
            let refit = match &previous {
                Some((_, at)) => rung_len as f64 >= (*at as f64 * (1.0 + REFIT_GROWTH)).max(*at as f64 + 1.0),
                None => true,
            };
            if refit {
                let bound = surrogate::gp_fit_bound(data.len(), d, previous.is_some()) / FLOPS_PER_FUEL;
                if self.episode_fuel - (self.call_fuel - self.fuel) < bound {
                    return self.burn_episode(u64::MAX);
                }
            }
            let (fitted, hyper, work) = Fitted::gp(&data, previous.as_ref().map(|(hy, _)| hy), refit);
            let conditioning = n * n * n / 3;
            self.burn(conditioning / FLOPS_PER_FUEL)?;
            self.burn_episode(work.saturating_sub(conditioning) / FLOPS_PER_FUEL)?;
            let fitted_at = match (&previous, refit) {
                (Some((_, at)), false) => *at,
                _ => rung_len,
            };
            ModelMemory { key, fitted, hyper: hyper.map(|hy| (hy, fitted_at)) }
        } else {
            self.burn(Fitted::knn_work(data.len(), d) / FLOPS_PER_FUEL)?;
            ModelMemory { key, fitted: Fitted::knn(&data, k), hyper: None }
        };
        if !matches!(self.memory[id as usize], Memory::Models(_)) {
            self.memory[id as usize] = Memory::Models(Vec::new());
        }
        if let Memory::Models(models) = &mut self.memory[id as usize] {
            if models.len() <= level {
                models.resize(level + 1, None);
            }
            models[level] = Some(memory);
        }
        Ok(())
    }

    /// An acquisition function's value for a prediction (higher is better).
    fn acquire(&mut self, p: Prim, pred: Prediction, best: f64, beta: f64) -> f64 {
        match p {
            Prim::Predict => pred.mean,
            Prim::Uncertainty => pred.sd,
            Prim::Ei => surrogate::expected_improvement(pred, best),
            Prim::Pi => surrogate::probability_of_improvement(pred, best),
            Prim::Ucb => surrogate::optimistic_bound(pred, beta),
            _ => {
                let z: f64 = StandardNormal.sample(&mut self.rng);
                surrogate::thompson(pred, z)
            }
        }
    }
}
