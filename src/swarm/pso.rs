//! The Model Swarms search over flat `f32` vectors, with its own random stream. The
//! update rule itself is [`crate::pso_update`] (shared with the recombiner's constant swarm);
//! this module keeps the particles, bests, restarts and step schedule.
//!
//! Scores are losses: lower is better. The caller evaluates positions (in parallel if it
//! likes) and hands the scores back in particle order, so the search is a pure function
//! of the initial particles, their scores, the configuration and the generator.
//!
//! One iteration, for every particle `i` in index order: draw four fresh uniform factors,
//! weight the four coefficients by them and normalise the weighted coefficients to sum
//! to one, then
//!
//! ```text
//! v = a v + b (personal best - x) + c (global best - x) + d (x - global worst)
//! x = x + step * v
//! ```
//!
//! After all new positions are scored, personal bests, the global best and the global
//! worst (the worst of the particles' current positions) are updated; a particle whose personal
//! best did not improve for `restart_patience` iterations restarts at its personal best
//! with zero velocity; the step decays by `step_decay` down to `step_floor`. The search
//! ends when the global best has not improved for `patience` iterations or after
//! `max_iters` iterations. The initial velocity of a particle points to a random other
//! particle.
//!
//! Every update is linear with coefficients that sum to one (velocities are differences
//! of positions), so every position stays an affine combination of the initial
//! particles; [`Move`] records the coefficients for the lineage graph.

use rand::RngExt;

use crate::pso_update::{self, Weights};
use crate::rng::Rng;

/// Coefficients of the search. Defaults follow the Model Swarms paper's ranges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PsoConfig {
    /// Weight of the previous velocity.
    pub inertia: f64,
    /// Weight of the pull toward the particle's personal best.
    pub cognitive: f64,
    /// Weight of the pull toward the global best.
    pub social: f64,
    /// Weight of the push away from the global worst.
    pub repel: f64,
    /// Initial step length.
    pub step: f64,
    /// Factor applied to the step length after each iteration.
    pub step_decay: f64,
    /// The step length never decays below this.
    pub step_floor: f64,
    /// Iterations without a personal-best improvement before a particle restarts.
    pub restart_patience: usize,
    /// Iterations without a global-best improvement before the search stops.
    pub patience: usize,
    /// Maximum iterations.
    pub max_iters: usize,
}

impl PsoConfig {
    /// The four weights of the shared update rule.
    pub fn weights(&self) -> Weights {
        Weights { inertia: self.inertia, cognitive: self.cognitive, social: self.social, repel: self.repel }
    }
}

impl Default for PsoConfig {
    fn default() -> Self {
        PsoConfig {
            inertia: 0.4,
            cognitive: 0.3,
            social: 0.5,
            repel: 0.1,
            step: 1.0,
            step_decay: 0.95,
            step_floor: 0.1,
            restart_patience: 5,
            patience: 6,
            max_iters: 25,
        }
    }
}

/// Errors in setting up a swarm.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PsoError {
    /// Fewer than two particles.
    #[error("a swarm needs at least two particles, got {0}")]
    TooFewParticles(usize),
    /// Positions of different lengths, or scores not one per particle.
    #[error("particles must have equal lengths and one score each")]
    Shape,
}

/// Where a new position came from: its sources with the coefficient each enters with,
/// `x' = position_coef * x + pbest_coef * p + gbest_coef * g + gworst_coef * w
///       + momentum_coefs . (m1, m2)`.
/// The carried velocity is always a scaled difference of two evaluated positions (the
/// particle's last move divided by its step, or initially the other particle minus this
/// one), so the sum is exact and every source is an evaluated position.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    /// Particle index.
    pub particle: usize,
    /// Id of the new position (ids count evaluated positions from 0).
    pub id: u64,
    /// Id of the particle's previous position and its coefficient.
    pub position: (u64, f64),
    /// Id of the personal best and its coefficient.
    pub personal_best: (u64, f64),
    /// Id of the global best and its coefficient.
    pub global_best: (u64, f64),
    /// Id of the global worst (the worst current position) and its coefficient
    /// (negative: repulsion).
    pub global_worst: (u64, f64),
    /// The velocity's two positions and their coefficients (`+step a k`, `-step a k`),
    /// or `None` when the velocity was zero (after a restart).
    pub momentum: Option<[(u64, f64); 2]>,
}

/// What one iteration did.
#[derive(Debug, Clone, PartialEq)]
pub struct Iteration {
    /// 1-based iteration number.
    pub number: usize,
    /// Step length used.
    pub step: f64,
    /// One move per particle, in particle order.
    pub moves: Vec<Move>,
    /// Scores of the new positions, in particle order.
    pub scores: Vec<f64>,
    /// Particles restarted at their personal best after this iteration.
    pub restarted: Vec<usize>,
    /// Whether the global best improved.
    pub improved: bool,
}

/// A best or worst position with its score and id.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Position id.
    pub id: u64,
    /// The weights.
    pub x: Vec<f32>,
    /// Its score (lower is better).
    pub score: f64,
}

/// The state of a search.
#[derive(Debug, Clone)]
pub struct Swarm {
    cfg: PsoConfig,
    rng: Rng,
    x: Vec<Vec<f32>>,
    x_id: Vec<u64>,
    v: Vec<Vec<f32>>,
    v_src: Vec<Option<(u64, u64, f64)>>,
    best: Vec<Point>,
    stale: Vec<usize>,
    global_best: Point,
    global_worst: Point,
    global_stale: usize,
    step: f64,
    iteration: usize,
    next_id: u64,
}

impl Swarm {
    /// A swarm over `positions` whose `scores` are already known; position `i` has id
    /// `i`. Initial velocities point to a random other particle.
    pub fn new(cfg: PsoConfig, positions: Vec<Vec<f32>>, scores: &[f64], mut rng: Rng) -> Result<Self, PsoError> {
        let n = positions.len();
        if n < 2 {
            return Err(PsoError::TooFewParticles(n));
        }
        let dim = positions[0].len();
        if scores.len() != n || positions.iter().any(|p| p.len() != dim) {
            return Err(PsoError::Shape);
        }
        let mut v_src = Vec::with_capacity(n);
        let v = (0..n)
            .map(|i| {
                let j = (i + rng.random_range(1..n)) % n;
                v_src.push(Some((j as u64, i as u64, 1.0)));
                positions[j].iter().zip(&positions[i]).map(|(a, b)| a - b).collect()
            })
            .collect();
        let best: Vec<Point> =
            positions.iter().enumerate().map(|(i, x)| Point { id: i as u64, x: x.clone(), score: scores[i] }).collect();
        let pick = |worse: bool| {
            let mut k = 0;
            for i in 1..n {
                let better = if worse { key(scores[i]) > key(scores[k]) } else { key(scores[i]) < key(scores[k]) };
                if better {
                    k = i;
                }
            }
            best[k].clone()
        };
        let (global_best, global_worst) = (pick(false), pick(true));
        Ok(Swarm {
            cfg,
            rng,
            x_id: (0..n as u64).collect(),
            x: positions,
            v,
            v_src,
            stale: vec![0; n],
            best,
            global_best,
            global_worst,
            global_stale: 0,
            step: cfg.step,
            iteration: 0,
            next_id: n as u64,
        })
    }

    /// Whether the search has ended (patience or iteration limit).
    pub fn done(&self) -> bool {
        self.iteration >= self.cfg.max_iters || self.global_stale >= self.cfg.patience
    }

    /// The global best.
    pub fn global_best(&self) -> &Point {
        &self.global_best
    }

    /// The global worst.
    pub fn global_worst(&self) -> &Point {
        &self.global_worst
    }

    /// Personal bests, in particle order.
    pub fn personal_bests(&self) -> &[Point] {
        &self.best
    }

    /// Current positions.
    pub fn positions(&self) -> &[Vec<f32>] {
        &self.x
    }

    /// Current velocities.
    pub fn velocities(&self) -> &[Vec<f32>] {
        &self.v
    }

    /// The step length the next iteration uses.
    pub fn step_len(&self) -> f64 {
        self.step
    }

    /// Iterations done.
    pub fn iterations(&self) -> usize {
        self.iteration
    }

    /// Run one iteration: move every particle, score the new positions with `score`
    /// (given all of them at once, returning one score per position in order), update
    /// the bests, restart stale particles and decay the step. Returns `None` when the
    /// search is already done or `score` returned the wrong number of scores.
    pub fn iterate(&mut self, score: impl FnOnce(&[Vec<f32>]) -> Vec<f64>) -> Option<Iteration> {
        if self.done() {
            return None;
        }
        let n = self.x.len();
        let weights = self.cfg.weights();
        let s = self.step;
        let mut moves = Vec::with_capacity(n);
        for i in 0..n {
            let coef = pso_update::coefficients(&weights, pso_update::draw(&mut self.rng));
            let (x, v) = (&mut self.x[i], &mut self.v[i]);
            pso_update::step(coef, s, x, v, &self.best[i].x, &self.global_best.x, &self.global_worst.x);
            let id = self.next_id;
            self.next_id += 1;
            let t = pso_update::terms(coef, s);
            let momentum = self.v_src[i].map(|(plus, minus, k)| [(plus, t.momentum * k), (minus, -t.momentum * k)]);
            self.v_src[i] = (s > 0.0).then_some((id, self.x_id[i], 1.0 / s));
            moves.push(Move {
                particle: i,
                id,
                position: (self.x_id[i], t.position),
                personal_best: (self.best[i].id, t.personal_best),
                global_best: (self.global_best.id, t.global_best),
                global_worst: (self.global_worst.id, t.global_worst),
                momentum,
            });
            self.x_id[i] = id;
        }
        let scores = score(&self.x);
        if scores.len() != n {
            return None;
        }
        let mut improved = false;
        for (i, &score) in scores.iter().enumerate() {
            let id = self.x_id[i];
            if key(score) < key(self.best[i].score) {
                self.best[i] = Point { id, x: self.x[i].clone(), score };
                self.stale[i] = 0;
            } else {
                self.stale[i] += 1;
            }
            if key(score) < key(self.global_best.score) {
                self.global_best = Point { id, x: self.x[i].clone(), score };
                improved = true;
            }
        }
        let worst = (1..n).fold(0, |w, i| if key(scores[i]) > key(scores[w]) { i } else { w });
        self.global_worst = Point { id: self.x_id[worst], x: self.x[worst].clone(), score: scores[worst] };
        let mut restarted = Vec::new();
        for i in 0..n {
            if self.cfg.restart_patience > 0 && self.stale[i] >= self.cfg.restart_patience {
                self.x[i].clone_from(&self.best[i].x);
                self.x_id[i] = self.best[i].id;
                self.v[i].iter_mut().for_each(|v| *v = 0.0);
                self.v_src[i] = None;
                self.stale[i] = 0;
                restarted.push(i);
            }
        }
        self.global_stale = if improved { 0 } else { self.global_stale + 1 };
        self.iteration += 1;
        self.step = (self.step * self.cfg.step_decay).max(self.cfg.step_floor);
        Some(Iteration { number: self.iteration, step: s, moves, scores, restarted, improved })
    }
}

/// Order key of a score: NaN counts as the worst possible.
fn key(score: f64) -> f64 {
    if score.is_nan() { f64::INFINITY } else { score }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn quadratic(center: &[f32]) -> impl Fn(&[f32]) -> f64 + '_ {
        move |x| x.iter().zip(center).map(|(a, b)| ((a - b) as f64).powi(2)).sum()
    }

    fn start(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = stream(seed, "pso-test-init", &[]);
        (0..n).map(|_| (0..dim).map(|_| rng.random_range(-3.0..3.0f32)).collect()).collect()
    }

    fn swarm(cfg: PsoConfig, xs: Vec<Vec<f32>>, f: &dyn Fn(&[f32]) -> f64, seed: u64) -> Swarm {
        let scores: Vec<f64> = xs.iter().map(|x| f(x)).collect();
        Swarm::new(cfg, xs, &scores, stream(seed, "pso-test", &[])).unwrap()
    }

    #[test]
    fn converges_on_a_quadratic() {
        let center = [0.7f32, -1.2, 0.3];
        let f = quadratic(&center);
        let cfg = PsoConfig { max_iters: 300, patience: 50, ..PsoConfig::default() };
        let mut s = swarm(cfg, start(16, 3, 1), &f, 2);
        let initial = s.global_best().score;
        while s.iterate(|xs| xs.iter().map(|x| f(x)).collect()).is_some() {}
        let end = s.global_best().score;
        assert!(end < initial * 1e-3, "best {initial} -> {end}");
        assert!(f(&s.global_best().x) == end, "the recorded best score is the score of the recorded best point");
        // The particles contract onto the optimum.
        for x in s.positions() {
            assert!(f(x) < initial * 1e-2, "a particle stayed away: {}", f(x));
        }
    }

    #[test]
    fn global_best_never_gets_worse_and_positions_stay_affine_combinations() {
        let center = [2.0f32, 2.0, 2.0, 2.0];
        let f = quadratic(&center);
        // Augment each position with its coefficients over the initial particles: the
        // update is linear, so the coefficients always sum to one and reproduce x.
        let xs = start(6, 4, 5);
        let aug: Vec<Vec<f32>> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let mut a = x.clone();
                a.extend((0..6).map(|k| if k == i { 1.0 } else { 0.0 }));
                a
            })
            .collect();
        let g = |x: &[f32]| f(&x[..4]);
        let mut s = swarm(PsoConfig::default(), aug, &g, 6);
        let mut last = s.global_best().score;
        while s.iterate(|ys| ys.iter().map(|y| g(y)).collect()).is_some() {
            assert!(s.global_best().score <= last);
            last = s.global_best().score;
        }
        for y in s.positions() {
            let alpha = &y[4..];
            assert!((alpha.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{alpha:?}");
            for d in 0..4 {
                let rebuilt: f32 = alpha.iter().zip(&xs).map(|(a, x)| a * x[d]).sum();
                assert!((rebuilt - y[d]).abs() < 1e-3, "dim {d}: {rebuilt} vs {}", y[d]);
            }
        }
    }

    #[test]
    fn repel_term_moves_every_particle_away_from_the_worst() {
        let f = quadratic(&[0.0, 0.0]);
        let cfg = PsoConfig { inertia: 0.0, cognitive: 0.0, social: 0.0, repel: 1.0, ..PsoConfig::default() };
        let mut s = swarm(cfg, start(5, 2, 9), &f, 3);
        let worst = s.global_worst().x.clone();
        let dist = |x: &[f32]| x.iter().zip(&worst).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>().sqrt();
        let before: Vec<f64> = s.positions().iter().map(|x| dist(x)).collect();
        let it = s.iterate(|xs| xs.iter().map(|x| f(x)).collect()).unwrap();
        for (i, x) in s.positions().iter().enumerate() {
            if before[i] > 0.0 {
                assert!(dist(x) > before[i], "particle {i}: {} -> {}", before[i], dist(x));
            }
        }
        for m in &it.moves {
            assert_eq!(m.global_worst.1, -it.step, "all weight on the repel term");
            assert!(m.momentum.is_some_and(|[p, q]| p.1 == 0.0 && q.1 == 0.0));
        }
    }

    #[test]
    fn stale_particles_restart_at_their_personal_best_with_zero_velocity() {
        let f = quadratic(&[0.0, 0.0, 0.0]);
        let cfg = PsoConfig { restart_patience: 2, patience: 100, max_iters: 100, ..PsoConfig::default() };
        let mut s = swarm(cfg, start(4, 3, 4), &f, 8);
        let bests: Vec<Vec<f32>> = s.personal_bests().iter().map(|p| p.x.clone()).collect();
        // Nothing ever improves: every new position scores worse than anything known.
        let first = s.iterate(|xs| vec![1e9; xs.len()]).unwrap();
        assert!(first.restarted.is_empty());
        let second = s.iterate(|xs| vec![1e9; xs.len()]).unwrap();
        assert_eq!(second.restarted, vec![0, 1, 2, 3]);
        for (i, best) in bests.iter().enumerate() {
            assert_eq!(&s.positions()[i], best);
            assert!(s.velocities()[i].iter().all(|&v| v == 0.0));
        }
        // The next move starts from the personal best's id.
        let third = s.iterate(|xs| vec![1e9; xs.len()]).unwrap();
        assert_eq!(third.moves[0].position.0, s.personal_bests()[0].id);
    }

    #[test]
    fn patience_and_iteration_limit_stop_the_search() {
        let f = quadratic(&[0.0, 0.0]);
        let cfg = PsoConfig { patience: 3, max_iters: 50, ..PsoConfig::default() };
        let mut s = swarm(cfg, start(4, 2, 1), &f, 1);
        let mut n = 0;
        while s.iterate(|xs| vec![1e9; xs.len()]).is_some() {
            n += 1;
        }
        assert_eq!(n, 3, "stops after `patience` iterations without a global improvement");
        let cfg = PsoConfig { patience: 100, max_iters: 7, ..PsoConfig::default() };
        let mut s = swarm(cfg, start(4, 2, 1), &f, 1);
        let mut n = 0;
        while s.iterate(|xs| xs.iter().map(|x| f(x)).collect()).is_some() {
            n += 1;
        }
        assert_eq!(n, 7);
        assert!(s.done());
    }

    #[test]
    fn step_decays_to_its_floor_and_initial_velocity_points_to_another_particle() {
        let f = quadratic(&[0.0]);
        let cfg = PsoConfig { step: 1.0, step_decay: 0.5, step_floor: 0.2, ..PsoConfig::default() };
        let xs = vec![vec![0.0f32], vec![10.0], vec![100.0]];
        let mut s = swarm(cfg, xs.clone(), &f, 2);
        for (i, v) in s.velocities().iter().enumerate() {
            let target = xs[i][0] + v[0];
            assert!(xs.iter().enumerate().any(|(j, x)| j != i && x[0] == target), "particle {i}: {v:?}");
        }
        let steps: Vec<f64> =
            (0..4).filter_map(|_| s.iterate(|xs| xs.iter().map(|x| f(x)).collect()).map(|it| it.step)).collect();
        assert_eq!(steps, vec![1.0, 0.5, 0.25, 0.2]);
    }

    #[test]
    fn same_seed_same_search_and_bad_input_is_an_error() {
        let f = quadratic(&[1.0, 1.0]);
        let run = || {
            let mut s = swarm(PsoConfig::default(), start(5, 2, 3), &f, 11);
            while s.iterate(|xs| xs.iter().map(|x| f(x)).collect()).is_some() {}
            s.global_best().x.clone()
        };
        assert_eq!(run(), run());
        let rng = || stream(0, "t", &[]);
        assert_eq!(
            Swarm::new(PsoConfig::default(), vec![vec![0.0]], &[0.0], rng()).err(),
            Some(PsoError::TooFewParticles(1))
        );
        assert_eq!(
            Swarm::new(PsoConfig::default(), vec![vec![0.0], vec![0.0, 1.0]], &[0.0, 0.0], rng()).err(),
            Some(PsoError::Shape)
        );
    }

    #[test]
    fn moves_rebuild_each_new_position_from_evaluated_ones() {
        let f = quadratic(&[1.0, -1.0, 0.5]);
        let cfg = PsoConfig { restart_patience: 2, ..PsoConfig::default() };
        let xs = start(5, 3, 7);
        let mut s = swarm(cfg, xs.clone(), &f, 4);
        let mut seen: Vec<Vec<f32>> = xs;
        while let Some(it) = s.iterate(|ys| ys.iter().map(|y| f(y)).collect()) {
            let before = seen.clone();
            for m in &it.moves {
                let x = &s.positions()[m.particle];
                let mut terms = vec![m.position, m.personal_best, m.global_best, m.global_worst];
                terms.extend(m.momentum.iter().flatten().copied());
                let total: f64 = terms.iter().map(|t| t.1).sum();
                assert!((total - 1.0).abs() < 1e-9, "coefficients sum to {total}");
                let rebuilt: Vec<f64> =
                    (0..3).map(|d| terms.iter().map(|(id, c)| c * before[*id as usize][d] as f64).sum()).collect();
                assert_eq!(m.id as usize, seen.len());
                if it.restarted.contains(&m.particle) {
                    seen.push(rebuilt.iter().map(|&v| v as f32).collect());
                } else {
                    for d in 0..3 {
                        assert!((rebuilt[d] - x[d] as f64).abs() < 1e-4, "{rebuilt:?} vs {x:?}");
                    }
                    seen.push(x.clone());
                }
            }
        }
    }
}
