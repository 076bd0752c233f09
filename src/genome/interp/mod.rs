//! The interpreter: a checked genome compiled to a flat program, run by a machine
//! that holds one inner run's state, with fuel per hook call and live-gene counts.

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

mod pieces;

use super::ast::{Expr, Genome, Op};
use super::check::{Limits, check};
use super::mvn::Mvn;
use super::prim::{Prim, apply_real, sanitize};
use super::surrogate::Fitted;
use super::surrogate::gp::Hyper;
use crate::diagnostic::Diagnostic;
use crate::history::History;
use crate::rng::Rng;
use crate::space::fidelity_level;

/// A node of a compiled program.
#[derive(Debug, Clone)]
struct Node {
    op: COp,
    first_kid: u32,
    n_kids: u32,
}

#[derive(Debug, Clone, Copy)]
enum COp {
    Num(f64),
    Flag(bool),
    Prim(Prim),
    Get(usize),
    Set(usize),
}

/// A checked genome compiled for fast evaluation. Node ids are the genome's canonical
/// preorder ([`Genome::paths`]), so live-gene counts map back to the tree.
#[derive(Debug, Clone)]
pub struct Program {
    genome: Genome,
    nodes: Vec<Node>,
    kids: Vec<u32>,
    init: u32,
    propose: u32,
    filter: u32,
    fidelity: u32,
    update: Vec<u32>,
    limits: Limits,
}

impl Program {
    /// Check and compile a genome.
    pub fn compile(genome: &Genome, limits: Limits) -> Result<Program, Vec<Diagnostic>> {
        let diags = check(genome, &limits);
        if !diags.is_empty() {
            return Err(diags);
        }
        let mut prog = Program {
            genome: genome.clone(),
            nodes: Vec::with_capacity(genome.size()),
            kids: Vec::new(),
            init: 0,
            propose: 0,
            filter: 0,
            fidelity: 0,
            update: Vec::new(),
            limits,
        };
        let mut roots = Vec::new();
        for (_, e) in genome.roots() {
            roots.push(prog.add(e, genome));
        }
        prog.init = roots[0];
        prog.propose = roots[1];
        prog.filter = roots[2];
        prog.fidelity = roots[3];
        prog.update = roots[4..].to_vec();
        Ok(prog)
    }

    fn add(&mut self, e: &Expr, genome: &Genome) -> u32 {
        let id = self.nodes.len() as u32;
        let op = match &e.op {
            Op::Num(v) => COp::Num(*v),
            Op::Flag(b) => COp::Flag(*b),
            Op::Prim(p) => COp::Prim(*p),
            Op::Get(n) => COp::Get(genome.var_index(n).unwrap_or(0)),
            Op::Set(n) => COp::Set(genome.var_index(n).unwrap_or(0)),
        };
        self.nodes.push(Node { op, first_kid: 0, n_kids: e.args.len() as u32 });
        let kid_ids: Vec<u32> = e.args.iter().map(|a| self.add(a, genome)).collect();
        let first = self.kids.len() as u32;
        self.kids.extend(kid_ids);
        self.nodes[id as usize].first_kid = first;
        id
    }

    /// The genome this program was compiled from.
    pub fn genome(&self) -> &Genome {
        &self.genome
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the program has no nodes (never true for a compiled genome).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The limits the program runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn kid(&self, id: u32, i: usize) -> u32 {
        let n = &self.nodes[id as usize];
        self.kids[n.first_kid as usize + i]
    }
}

/// Why a hook call stopped early. The inner loop heals these; they never abort a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// The call used up its fuel.
    OutOfFuel,
}

/// Per-node counts: how often each node was evaluated and how often its value reached
/// a decision (a proposal, a filter verdict, a fidelity, an executed action).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LiveCounts {
    /// Evaluations per node id.
    pub evaluated: Vec<u64>,
    /// Times the node's value reached a decision, per node id.
    pub reached: Vec<u64>,
}

/// A value of the language.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    R(f64),
    B(bool),
    P(Vec<f64>),
    /// A surrogate: the model node whose memory holds the fitted model, and the
    /// fidelity level it was fitted at.
    M(u32, usize),
    Unit,
}

impl Value {
    fn r(self) -> f64 {
        match self {
            Value::R(v) => v,
            _ => 0.0,
        }
    }
    fn b(self) -> bool {
        matches!(self, Value::B(true))
    }
    fn p(self) -> Vec<f64> {
        match self {
            Value::P(p) => p,
            _ => Vec::new(),
        }
    }
}

/// A best-of candidate: score, point, contributing nodes, bandit choices, draws from
/// the search distribution.
type Scored = (f64, Vec<f64>, Vec<u32>, Vec<(u32, usize)>, Vec<Draw>);

/// A sample of the search distribution: its genotype and the point it became.
#[derive(Debug, Clone, PartialEq, Default)]
struct Draw {
    genotype: Vec<f64>,
    point: Vec<f64>,
}

/// A model node's fitted surrogate at one fidelity level, kept while the data it learnt
/// from is unchanged.
#[derive(Debug, Clone)]
struct ModelMemory {
    /// (trials in the rung, neighbours): the data and settings it fits.
    key: (usize, usize),
    fitted: Fitted,
    /// The Gaussian process's hyperparameters and the rung size they were fitted at.
    hyper: Option<(Hyper, usize)>,
}

/// Per-node memory that persists across calls within one inner run.
#[derive(Debug, Clone)]
enum Memory {
    None,
    Design {
        points: Vec<Vec<f64>>,
        cursor: usize,
    },
    Bandit {
        pulls: Vec<f64>,
        rewards: Vec<f64>,
    },
    /// One fitted model per fidelity level the node was asked for.
    Models(Vec<Option<ModelMemory>>),
    Counter(u64),
}

/// What the machine may read about the run besides the history.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// The trial history.
    pub history: &'a History,
    /// Dimensions of the unit cube.
    pub dims: usize,
    /// Fraction of the budget spent.
    pub budget_used: f64,
    /// The objective's fidelity levels.
    pub levels: &'a [f64],
}

/// One inner run's interpreter state.
#[derive(Debug, Clone)]
pub struct Machine {
    state: Vec<f64>,
    anchor: Option<(Vec<f64>, f64)>,
    memory: Vec<Memory>,
    live: LiveCounts,
    stamp: Vec<u64>,
    round: u64,
    contrib: Vec<u32>,
    pending_arms: Vec<(u32, usize)>,
    awaiting_arms: Vec<(u32, usize)>,
    /// The search distribution (made on first use by an `mvn-` primitive).
    mvn: Option<Mvn>,
    /// Samples of the distribution drawn for the proposal under way.
    pending_draws: Vec<Draw>,
    /// The genotype of the committed proposal, when the distribution sampled it.
    awaiting_draw: Option<Vec<f64>>,
    /// The point the last `propose` call returned.
    last_proposal: Vec<f64>,
    cand: Vec<f64>,
    fuel: u64,
    /// Fuel at the start of the current call.
    call_fuel: u64,
    /// Interpreter work left for the whole episode ([`Limits::fuel_per_episode`]).
    episode_fuel: u64,
    init_done: u32,
    rng: Rng,
}

impl Machine {
    /// A fresh machine for one inner run of `prog`, drawing randomness from `rng`.
    pub fn new(prog: &Program, rng: Rng) -> Self {
        let n = prog.nodes.len();
        Machine {
            state: prog.genome.state.iter().map(|v| v.init).collect(),
            anchor: None,
            memory: vec![Memory::None; n],
            live: LiveCounts { evaluated: vec![0; n], reached: vec![0; n] },
            stamp: vec![0; n],
            round: 0,
            contrib: Vec::new(),
            pending_arms: Vec::new(),
            awaiting_arms: Vec::new(),
            mvn: None,
            pending_draws: Vec::new(),
            awaiting_draw: None,
            last_proposal: Vec::new(),
            cand: Vec::new(),
            fuel: 0,
            call_fuel: 0,
            episode_fuel: prog.limits.fuel_per_episode,
            init_done: 0,
            rng,
        }
    }

    /// Live-gene counts so far.
    pub fn live(&self) -> &LiveCounts {
        &self.live
    }

    /// Current state variable values.
    pub fn state(&self) -> &[f64] {
        &self.state
    }

    /// Whether the next proposal comes from the initial design.
    pub fn in_init(&self, prog: &Program) -> bool {
        self.init_done < prog.genome.init_count
    }

    /// Draw a uniformly random point (used by fallbacks, so it shares the run's stream).
    pub fn uniform_point(&mut self, dims: usize) -> Vec<f64> {
        (0..dims).map(|_| self.rng.random::<f64>()).collect()
    }

    /// Evaluate `init` (during the initial design) or `propose`. The candidate is not
    /// yet committed: call [`Machine::commit`] once it is accepted.
    pub fn propose(&mut self, prog: &Program, env: &Env) -> Result<Vec<f64>, Fault> {
        self.contrib.clear();
        self.pending_arms.clear();
        self.pending_draws.clear();
        self.refuel(prog, env);
        let root = if self.in_init(prog) { prog.init } else { prog.propose };
        let p = self.eval(prog, root, env);
        self.settle();
        let p = fix_point(p?.p(), env.dims);
        self.last_proposal.clone_from(&p);
        Ok(p)
    }

    /// Evaluate `filter` on a candidate; true means accept.
    pub fn filter(&mut self, prog: &Program, env: &Env, cand: &[f64]) -> Result<bool, Fault> {
        self.call_scalar(prog, prog.filter, env, cand).map(Value::b)
    }

    /// Evaluate `fidelity` on the accepted candidate.
    pub fn fidelity(&mut self, prog: &Program, env: &Env, cand: &[f64]) -> Result<f64, Fault> {
        self.call_scalar(prog, prog.fidelity, env, cand).map(Value::r)
    }

    /// Accept the last proposed candidate: its genes reached a proposal, and the arms
    /// bandits chose for it await the trial's reward.
    pub fn commit(&mut self, prog: &Program) {
        self.mark_reached();
        self.awaiting_arms = std::mem::take(&mut self.pending_arms);
        // The distribution learns from its own genotype only when the proposal is its
        // sample as drawn; anything else (a transformed sample, another source) is injected.
        let draws = std::mem::take(&mut self.pending_draws);
        self.awaiting_draw = draws.into_iter().rev().find(|d| d.point == self.last_proposal).map(|d| d.genotype);
        if self.in_init(prog) {
            self.init_done += 1;
        }
    }

    /// Run the `update` actions after a trial was added to the history.
    pub fn update(&mut self, prog: &Program, env: &Env) -> Result<(), Fault> {
        let improved = env.history.last().is_some_and(|t| t.improved);
        for (node, arm) in std::mem::take(&mut self.awaiting_arms) {
            if let Memory::Bandit { pulls, rewards } = &mut self.memory[node as usize] {
                pulls[arm] += 1.0;
                rewards[arm] += if improved { 1.0 } else { 0.0 };
            }
        }
        let genotype = self.awaiting_draw.take();
        if let (Some(mvn), Some(t)) = (&mut self.mvn, env.history.last()) {
            mvn.tell(genotype.as_deref(), &t.point, t.score);
        }
        let done = self.run_updates(prog, env);
        // The covariance changes of this update's pieces apply together, whatever ran.
        if let Some(mvn) = &mut self.mvn {
            mvn.finish_update();
        }
        done
    }

    fn run_updates(&mut self, prog: &Program, env: &Env) -> Result<(), Fault> {
        for i in 0..prog.update.len() {
            self.contrib.clear();
            self.refuel(prog, env);
            self.cand = env.history.last().map(|t| t.point.clone()).unwrap_or_default();
            let done = self.eval(prog, prog.update[i], env);
            self.settle();
            done?;
            self.mark_reached();
        }
        Ok(())
    }

    fn call_scalar(&mut self, prog: &Program, root: u32, env: &Env, cand: &[f64]) -> Result<Value, Fault> {
        let saved = std::mem::take(&mut self.contrib);
        self.refuel(prog, env);
        self.cand.clear();
        self.cand.extend_from_slice(cand);
        let out = self.eval(prog, root, env);
        self.settle();
        self.mark_reached();
        self.contrib = saved;
        out
    }

    fn mark_reached(&mut self) {
        self.round += 1;
        for &id in &self.contrib {
            let i = id as usize;
            if self.stamp[i] != self.round {
                self.stamp[i] = self.round;
                self.live.reached[i] += 1;
            }
        }
        self.contrib.clear();
    }

    /// Whether the episode's interpreter work bound is spent: every later hook call
    /// fails at once with [`Fault::OutOfFuel`], and the inner loop heals it.
    pub fn work_exhausted(&self) -> bool {
        self.episode_fuel == 0
    }

    /// Charge `work` to the episode's fuel but not to the call's: for a model fit, which
    /// is bounded by its own design and happens only as the history grows, so that a call
    /// can afford it without a per-call limit that would let cheap nodes run wild. The
    /// call's remaining fuel never exceeds what the episode has left.
    fn burn_episode(&mut self, work: u64) -> Result<(), Fault> {
        let used = self.call_fuel - self.fuel;
        let left = self.episode_fuel - used;
        if work > left {
            self.episode_fuel = used;
            self.call_fuel -= self.fuel;
            self.fuel = 0;
            return Err(Fault::OutOfFuel);
        }
        self.episode_fuel -= work;
        let cut = self.fuel.saturating_sub(self.episode_fuel - used);
        self.fuel -= cut;
        self.call_fuel -= cut;
        Ok(())
    }

    /// Fuel for one hook call: the per-call limit ([`Limits::call_fuel`], growing with the
    /// history), or what is left of the episode's.
    fn refuel(&mut self, prog: &Program, env: &Env) {
        self.fuel = prog.limits.call_fuel(env.history.len()).min(self.episode_fuel);
        self.call_fuel = self.fuel;
    }

    /// Charge the finished call's work to the episode.
    fn settle(&mut self) {
        self.episode_fuel -= self.call_fuel - self.fuel;
        self.call_fuel = self.fuel;
    }

    fn burn(&mut self, amount: u64) -> Result<(), Fault> {
        if self.fuel < amount {
            self.fuel = 0;
            return Err(Fault::OutOfFuel);
        }
        self.fuel -= amount;
        Ok(())
    }

    fn eval(&mut self, prog: &Program, id: u32, env: &Env) -> Result<Value, Fault> {
        self.burn(1)?;
        self.live.evaluated[id as usize] += 1;
        self.contrib.push(id);
        let node = &prog.nodes[id as usize];
        let op = node.op;
        let n_kids = node.n_kids as usize;
        match op {
            COp::Num(v) => Ok(Value::R(v)),
            COp::Flag(b) => Ok(Value::B(b)),
            COp::Get(i) => Ok(Value::R(self.state[i])),
            COp::Set(i) => {
                let v = self.real(prog, id, 0, env)?;
                self.state[i] = v;
                Ok(Value::Unit)
            }
            COp::Prim(p) => self.prim(prog, id, p, n_kids, env),
        }
    }

    fn real(&mut self, prog: &Program, id: u32, i: usize, env: &Env) -> Result<f64, Fault> {
        Ok(sanitize(self.eval(prog, prog.kid(id, i), env)?.r()))
    }

    fn point(&mut self, prog: &Program, id: u32, i: usize, env: &Env) -> Result<Vec<f64>, Fault> {
        Ok(fix_point(self.eval(prog, prog.kid(id, i), env)?.p(), env.dims))
    }

    fn prim(&mut self, prog: &Program, id: u32, p: Prim, n_kids: usize, env: &Env) -> Result<Value, Fault> {
        let h = env.history;
        let d = env.dims;
        // Work in node-evaluation units: a point of d coordinates costs d / 8 to build,
        // and a scan over k trials' points costs k * per_point / 4 (one distance each).
        let per_point = (d as u64).div_ceil(8).max(1);
        let point_work = d as u64 / 8;
        if matches!(
            p,
            Prim::Uniform
                | Prim::Perturb
                | Prim::Toward
                | Prim::DiffAdd
                | Prim::Crossover
                | Prim::EliteSample
                | Prim::Best
                | Prim::PickTop
                | Prim::Last
                | Prim::Anchor
                | Prim::Cand
                | Prim::RungBest
        ) {
            self.burn(point_work)?;
        }
        let v = match p {
            Prim::Uniform => Value::P(self.uniform_point(d)),
            Prim::Latin => {
                let n = count(self.real(prog, id, 0, env)?, 1, 1000);
                Value::P(self.latin(id, n, d)?)
            }
            Prim::Best => {
                let k = count(self.real(prog, id, 0, env)?, 1, usize::MAX) - 1;
                Value::P(self.ranked(h, k, d))
            }
            Prim::PickTop => {
                let k = count(self.real(prog, id, 0, env)?, 1, h.len().max(1));
                let i = self.rng.random_range(0..k);
                Value::P(self.ranked(h, i, d))
            }
            Prim::Last => match h.last() {
                Some(t) => Value::P(t.point.clone()),
                None => Value::P(self.uniform_point(d)),
            },
            Prim::Anchor => match &self.anchor {
                Some((pt, _)) => Value::P(pt.clone()),
                None => Value::P(self.ranked(h, 0, d)),
            },
            Prim::Cand => Value::P(self.candidate(h, d)),
            Prim::MeanTop => {
                let k = count(self.real(prog, id, 0, env)?, 1, h.len().max(1));
                // One pass over each elite's point: charge what it costs.
                self.burn(k as u64 / 4 * per_point)?;
                match elite_stats(h, k, d) {
                    Some((mean, _)) => Value::P(mean),
                    None => Value::P(self.uniform_point(d)),
                }
            }
            Prim::Perturb => {
                let mut x = self.point(prog, id, 0, env)?;
                let n = count(self.real(prog, id, 1, env)?, 1, d);
                let s = self.real(prog, id, 2, env)?.abs().min(2.0);
                let mut dims: Vec<usize> = (0..d).collect();
                for j in 0..n {
                    let k = self.rng.random_range(j..d);
                    dims.swap(j, k);
                    let z: f64 = StandardNormal.sample(&mut self.rng);
                    x[dims[j]] = reflect(x[dims[j]] + s * z);
                }
                Value::P(x)
            }
            Prim::Toward => {
                let a = self.point(prog, id, 0, env)?;
                let b = self.point(prog, id, 1, env)?;
                let t = self.real(prog, id, 2, env)?;
                Value::P(a.iter().zip(&b).map(|(x, y)| reflect(x + t * (y - x))).collect())
            }
            Prim::DiffAdd => {
                let a = self.point(prog, id, 0, env)?;
                let b = self.point(prog, id, 1, env)?;
                let c = self.point(prog, id, 2, env)?;
                let f = self.real(prog, id, 3, env)?;
                Value::P((0..d).map(|i| reflect(a[i] + f * (b[i] - c[i]))).collect())
            }
            Prim::Crossover => {
                let a = self.point(prog, id, 0, env)?;
                let b = self.point(prog, id, 1, env)?;
                let rate = self.real(prog, id, 2, env)?;
                let forced = self.rng.random_range(0..d.max(1));
                let x =
                    (0..d).map(|i| if i == forced || self.rng.random::<f64>() < rate { b[i] } else { a[i] }).collect();
                Value::P(x)
            }
            Prim::EliteSample => {
                let k = count(self.real(prog, id, 0, env)?, 1, h.len().max(1));
                let w = self.real(prog, id, 1, env)?.abs().min(10.0);
                // Two passes over each elite's point: charge what it costs.
                self.burn(k as u64 / 4 * per_point)?;
                match elite_stats(h, k, d) {
                    Some((mean, sd)) => {
                        let x = (0..d)
                            .map(|i| {
                                let z: f64 = StandardNormal.sample(&mut self.rng);
                                reflect(mean[i] + (w * sd[i] + 1e-4) * z)
                            })
                            .collect();
                        Value::P(x)
                    }
                    None => Value::P(self.uniform_point(d)),
                }
            }
            Prim::RungBest => {
                let f = self.real(prog, id, 0, env)?;
                let level = fidelity_level(env.levels, f);
                let rung = h.rung(level);
                self.burn(rung.len() as u64 / 8)?;
                let best = rung
                    .iter()
                    .filter(|&&i| h.trial_max_level(i as usize) == level)
                    .map(|&i| &h.trials()[i as usize])
                    .min_by(|a, b| a.score.total_cmp(&b.score));
                match best {
                    Some(t) => Value::P(t.point.clone()),
                    None => Value::P(self.ranked(h, 0, d)),
                }
            }
            Prim::BestOf => self.best_of(prog, id, env)?,
            Prim::ChooseUcb => {
                let c = self.real(prog, id, 0, env)?;
                let arms = n_kids - 1;
                let arm = self.pick_arm(id, arms, c);
                self.pending_arms.push((id, arm));
                Value::P(self.point(prog, id, 1 + arm, env)?)
            }
            Prim::Iter => Value::R(h.len() as f64),
            Prim::BudgetUsed => Value::R(env.budget_used),
            Prim::Stagnation => Value::R(h.stagnation() as f64),
            Prim::SuccessRate => {
                let k = count(self.real(prog, id, 0, env)?, 1, usize::MAX);
                // One look per recent trial.
                self.burn(k.min(h.len()) as u64 / 8)?;
                Value::R(h.success_rate(k))
            }
            Prim::Dims => Value::R(d as f64),
            Prim::Add | Prim::Sub | Prim::Mul | Prim::Div => {
                let a = self.real(prog, id, 0, env)?;
                let b = self.real(prog, id, 1, env)?;
                Value::R(apply_real(p, a, b))
            }
            Prim::Exp => {
                let a = self.real(prog, id, 0, env)?;
                Value::R(apply_real(p, a, 0.0))
            }
            Prim::Rand => {
                let a = self.real(prog, id, 0, env)?;
                let b = self.real(prog, id, 1, env)?;
                Value::R(a + (b - a) * self.rng.random::<f64>())
            }
            Prim::NearestDist => {
                let x = self.point(prog, id, 0, env)?;
                let k = count(self.real(prog, id, 1, env)?, 1, h.len().max(1));
                // One distance per trial compared: charge what it costs.
                self.burn(k as u64 / 4 * per_point)?;
                let recent = &h.trials()[h.len().saturating_sub(k)..];
                let dist = recent.iter().map(|t| rms_distance(&x, &t.point)).fold(f64::INFINITY, f64::min);
                Value::R(if dist.is_finite() { dist } else { 1.0 })
            }
            Prim::LastRank => Value::R(h.last().map(|t| h.rank_quantile(t.score)).unwrap_or(0.0)),
            Prim::AnchorRank => Value::R(self.anchor.as_ref().map(|(_, s)| h.rank_quantile(*s)).unwrap_or(0.0)),
            Prim::DensityRatio => {
                let g = self.real(prog, id, 0, env)?;
                // One Gaussian kernel per trial in the history: a distance and an exp
                // cost about four node evaluations (per 8 dimensions).
                self.burn(4 * h.len() as u64 * per_point)?;
                Value::R(density_ratio(h, &self.cand, g, d))
            }
            Prim::RungSize => {
                let f = self.real(prog, id, 0, env)?;
                Value::R(h.rung(fidelity_level(env.levels, f)).len() as f64)
            }
            Prim::CandFid => {
                let level = h.max_level_of(&self.cand);
                Value::R(level.map(|l| env.levels.get(l).copied().unwrap_or(1.0)).unwrap_or(0.0))
            }
            Prim::Lt | Prim::Gt => {
                let a = self.real(prog, id, 0, env)?;
                let b = self.real(prog, id, 1, env)?;
                Value::B(if p == Prim::Lt { a < b } else { a > b })
            }
            Prim::And => {
                // Both sides are always evaluated so liveness does not depend on order.
                let a = self.eval(prog, prog.kid(id, 0), env)?.b();
                let b = self.eval(prog, prog.kid(id, 1), env)?.b();
                Value::B(a && b)
            }
            Prim::Not => Value::B(!self.eval(prog, prog.kid(id, 0), env)?.b()),
            Prim::Improved => Value::B(h.last().is_some_and(|t| t.improved)),
            Prim::Chance => {
                let q = self.real(prog, id, 0, env)?;
                Value::B(self.rng.random::<f64>() < q)
            }
            Prim::If => {
                let c = self.eval(prog, prog.kid(id, 0), env)?.b();
                self.eval(prog, prog.kid(id, if c { 1 } else { 2 }), env)?
            }
            Prim::MoveAnchor => {
                if let Some(t) = h.last() {
                    self.anchor = Some((t.point.clone(), t.score));
                }
                Value::Unit
            }
            Prim::Skip => Value::Unit,
            _ => self.piece(prog, id, p, env)?,
        };
        Ok(v)
    }

    /// The candidate under review; outside a review, the last evaluated point (a
    /// uniform point before any trial).
    fn candidate(&mut self, h: &History, d: usize) -> Vec<f64> {
        if self.cand.len() == d {
            self.cand.clone()
        } else {
            match h.last() {
                Some(t) => t.point.clone(),
                None => self.uniform_point(d),
            }
        }
    }

    /// `(best-of N score gen)`: only the winning candidate's genes reach the proposal.
    fn best_of(&mut self, prog: &Program, id: u32, env: &Env) -> Result<Value, Fault> {
        let n = count(self.real(prog, id, 0, env)?, 1, MAX_BEST_OF);
        let saved_cand = std::mem::take(&mut self.cand);
        let mut best: Option<Scored> = None;
        let mut score_contrib = Vec::new();
        for _ in 0..n {
            let mark = self.contrib.len();
            let arms_mark = self.pending_arms.len();
            let draws_mark = self.pending_draws.len();
            let x = self.point(prog, id, 2, env)?;
            let gen_contrib: Vec<u32> = self.contrib.drain(mark..).collect();
            let arms: Vec<(u32, usize)> = self.pending_arms.drain(arms_mark..).collect();
            let draws: Vec<Draw> = self.pending_draws.drain(draws_mark..).collect();
            self.cand = x.clone();
            let s = self.real(prog, id, 1, env)?;
            score_contrib.extend(self.contrib.drain(mark..));
            if best.as_ref().is_none_or(|(b, ..)| s > *b) {
                best = Some((s, x, gen_contrib, arms, draws));
            }
        }
        self.cand = saved_cand;
        let (_, x, gen_contrib, arms, draws) = best.unwrap_or_default();
        self.contrib.extend(gen_contrib);
        self.contrib.extend(score_contrib);
        self.pending_arms.extend(arms);
        self.pending_draws.extend(draws);
        Ok(Value::P(x))
    }

    fn pick_arm(&mut self, id: u32, arms: usize, c: f64) -> usize {
        let mem = &mut self.memory[id as usize];
        if !matches!(mem, Memory::Bandit { pulls, .. } if pulls.len() == arms) {
            *mem = Memory::Bandit { pulls: vec![0.0; arms], rewards: vec![0.0; arms] };
        }
        let Memory::Bandit { pulls, rewards } = mem else { return 0 };
        if let Some(untried) = pulls.iter().position(|&n| n == 0.0) {
            return untried;
        }
        let total: f64 = pulls.iter().sum();
        let mut best = (f64::NEG_INFINITY, 0);
        for i in 0..arms {
            let ucb = rewards[i] / pulls[i] + c * (total.ln() / pulls[i]).sqrt();
            if ucb > best.0 {
                best = (ucb, i);
            }
        }
        best.1
    }

    fn latin(&mut self, id: u32, n: usize, d: usize) -> Result<Vec<f64>, Fault> {
        let fresh = match &self.memory[id as usize] {
            Memory::Design { points, cursor } => *cursor >= points.len() || points.len() != n,
            _ => true,
        };
        if fresh {
            self.burn((n * d) as u64 / 8)?;
            let mut points = vec![vec![0.0; d]; n];
            let mut perm: Vec<usize> = (0..n).collect();
            for j in 0..d {
                for i in (1..n).rev() {
                    let k = self.rng.random_range(0..=i);
                    perm.swap(i, k);
                }
                for (i, pt) in points.iter_mut().enumerate() {
                    pt[j] = (perm[i] as f64 + self.rng.random::<f64>()) / n as f64;
                }
            }
            self.memory[id as usize] = Memory::Design { points, cursor: 0 };
        }
        let Memory::Design { points, cursor } = &mut self.memory[id as usize] else { return Ok(vec![0.5; d]) };
        let p = points[*cursor].clone();
        *cursor += 1;
        Ok(p)
    }

    fn ranked(&mut self, h: &History, k: usize, d: usize) -> Vec<f64> {
        match h.kth_best(k) {
            Some(t) => t.point.clone(),
            None => self.uniform_point(d),
        }
    }
}

/// The most candidates one `best-of` scores.
pub const MAX_BEST_OF: usize = 64;

fn count(v: f64, lo: usize, hi: usize) -> usize {
    let r = v.round();
    if r <= lo as f64 {
        lo
    } else if r >= hi as f64 {
        hi
    } else {
        r as usize
    }
}

/// Keep a point inside the unit cube by reflection at the faces.
fn reflect(x: f64) -> f64 {
    if !x.is_finite() {
        return 0.5;
    }
    let y = x.rem_euclid(2.0);
    if y > 1.0 { 2.0 - y } else { y }
}

fn fix_point(mut p: Vec<f64>, d: usize) -> Vec<f64> {
    p.resize(d, 0.5);
    for x in &mut p {
        *x = if x.is_finite() { x.clamp(0.0, 1.0) } else { 0.5 };
    }
    p
}

fn rms_distance(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().max(1) as f64;
    (a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / n).sqrt()
}

fn elite_stats(h: &History, k: usize, d: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    if h.is_empty() {
        return None;
    }
    let idx = &h.sorted()[..k.min(h.len())];
    let n = idx.len() as f64;
    let mut mean = vec![0.0; d];
    for &i in idx {
        for (m, x) in mean.iter_mut().zip(&h.trials()[i as usize].point) {
            *m += x / n;
        }
    }
    let mut sd = vec![0.0; d];
    for &i in idx {
        for ((s, x), m) in sd.iter_mut().zip(&h.trials()[i as usize].point).zip(&mean) {
            *s += (x - m) * (x - m) / n;
        }
    }
    Some((mean, sd.into_iter().map(f64::sqrt).collect()))
}

/// Log ratio of Parzen densities of `x` under the best fraction `gamma` of trials
/// versus the rest (a TPE-style acquisition score).
fn density_ratio(h: &History, x: &[f64], gamma: f64, d: usize) -> f64 {
    let points = h.sorted().iter().map(|&i| h.trials()[i as usize].point.as_slice());
    super::rungs::parzen_ratio(points, x, gamma, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_stays_in_unit_interval() {
        for x in [-3.7, -0.2, 0.0, 0.4, 1.0, 1.3, 5.9, f64::NAN] {
            let y = reflect(x);
            assert!((0.0..=1.0).contains(&y), "{x} -> {y}");
        }
        assert!((reflect(1.25) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn count_rounds_and_clamps() {
        assert_eq!(count(2.6, 1, 5), 3);
        assert_eq!(count(-4.0, 1, 5), 1);
        assert_eq!(count(1e12, 1, 5), 5);
    }
}
