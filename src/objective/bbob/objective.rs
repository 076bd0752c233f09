//! [`BbobObjective`]: a BBOB function as an [`Objective`] over a search space, with the
//! multi-fidelity and noise model described in the module documentation of
//! [`bbob`](super), and the task names `bbob-f8-i1-d5[-mixed][-noise0.05]`.

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

use super::{BbobError, BbobFunction};
use crate::objective::{Objective, TrialResult, TrialStatus, fidelity_level};
use crate::rng;
use crate::space::{Config, Knob, SearchSpace};

/// The fidelity levels of a BBOB objective; the cost of a trial is its level.
pub const FIDELITY_LEVELS: [f64; 4] = [0.125, 0.25, 0.5, 1.0];

/// The one level of a `-full` BBOB objective (the COCO setting: every evaluation exact,
/// at cost 1).
pub const FULL_ONLY: [f64; 1] = [1.0];

/// The finite score reported for a trial that produced no finite value.
pub const FAILURE_SCORE: f64 = 1e30;

/// Scale of the additive noise term relative to the noise level.
const ADDITIVE_NOISE: f64 = 1e-6;

/// Which knobs the search space is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpaceKind {
    /// Every coordinate a linear knob over `[-5, 5]`.
    Continuous,
    /// Coordinates cycle through a linear knob over `[-5, 5]`, a log knob over
    /// `[1e-3, 1]`, an integer knob `0..=20`, an ordinal knob over the powers of two
    /// `1..=2048` and a categorical knob with 8 choices. Each knob's unit coordinate `u`
    /// (cell centres for discrete knobs) is the point `x = -5 + 10 u`, so discrete
    /// coordinates live on grids and the best score reachable is in general above `fopt`.
    Mixed,
}

/// A BBOB function scored as an inner-loop task.
#[derive(Debug, Clone, PartialEq)]
pub struct BbobObjective {
    name: String,
    function: BbobFunction,
    kind: SpaceKind,
    noise: f64,
    levels: &'static [f64],
    space: SearchSpace,
    bias_centre: Vec<f64>,
}

/// The knob for coordinate `i` of a space of the given kind.
fn knob(kind: SpaceKind, i: usize) -> Knob {
    let name = format!("x{i}");
    match (kind, i % 5) {
        (SpaceKind::Continuous, _) | (SpaceKind::Mixed, 0) => Knob::linear(&name, -5.0, 5.0),
        (SpaceKind::Mixed, 1) => Knob::log(&name, 1e-3, 1.0),
        (SpaceKind::Mixed, 2) => Knob::integer(&name, 0, 20),
        (SpaceKind::Mixed, 3) => {
            let values: Vec<f64> = (0..12).map(|k| f64::from(1_u32 << k)).collect();
            Knob::ordinal(&name, &values)
        }
        (SpaceKind::Mixed, _) => Knob::categorical(&name, &["a", "b", "c", "d", "e", "f", "g", "h"]),
    }
}

impl BbobObjective {
    /// Wrap `function` over a space of `kind` with observation noise level `noise`
    /// (0 for exact values).
    pub fn new(function: BbobFunction, kind: SpaceKind, noise: f64) -> Result<Self, BbobError> {
        if !(noise.is_finite() && noise >= 0.0) {
            return Err(BbobError::BadNoise(noise));
        }
        let dim = function.dim();
        let knobs = (0..dim).map(|i| knob(kind, i)).collect();
        let space = SearchSpace::new(knobs).expect("the BBOB knobs are valid by construction");
        let ids = [u64::from(function.function()), dim as u64];
        let mut stream = rng::stream(u64::from(function.instance()), "bbob-bias-centre", &ids);
        let bias_centre = (0..dim).map(|_| -4.0 + 8.0 * stream.random::<f64>()).collect();
        let mut name = format!("bbob-f{}-i{}-d{}", function.function(), function.instance(), dim);
        if kind == SpaceKind::Mixed {
            name.push_str("-mixed");
        }
        if noise > 0.0 {
            name.push_str(&format!("-noise{noise}"));
        }
        Ok(BbobObjective { name, function, kind, noise, levels: &FIDELITY_LEVELS, space, bias_centre })
    }

    /// The same objective with one fidelity level, the full one (task-name suffix
    /// `-full`): the single-fidelity setting of COCO, IOHprofiler and LLaMEA, where every
    /// evaluation is exact and costs 1, so a mechanism's fidelity rule has no choice.
    pub fn full_fidelity_only(mut self) -> Self {
        if self.levels.len() > 1 {
            self.levels = &FULL_ONLY;
            self.name.push_str("-full");
        }
        self
    }

    /// Parse a task name: `bbob-f<id>-i<instance>-d<dim>`, optionally followed by
    /// `-mixed`, `-noise<sigma>` and `-full` (in any order), e.g.
    /// `bbob-f21-i3-d10-noise0.05` or `bbob-f8-i6-d5-full`.
    pub fn from_name(name: &str) -> Result<Self, BbobError> {
        let bad = |problem: String| BbobError::BadName { name: name.to_string(), problem };
        let mut parts = name.split('-');
        if parts.next() != Some("bbob") {
            return Err(bad("it must start with `bbob-`".to_string()));
        }
        let mut field = |prefix: char, what: &str| -> Result<u64, BbobError> {
            let part = parts.next().ok_or_else(|| bad(format!("the {what} part `{prefix}<n>` is missing")))?;
            let digits = part
                .strip_prefix(prefix)
                .ok_or_else(|| bad(format!("expected the {what} as `{prefix}<n>`, found `{part}`")))?;
            digits.parse::<u64>().map_err(|_| bad(format!("the {what} in `{part}` is not a whole number")))
        };
        let function = field('f', "function")?;
        let instance = field('i', "instance")?;
        let dim = field('d', "dimension")?;
        let mut kind = None;
        let mut noise = None;
        let mut full = false;
        for part in parts {
            if part == "full" {
                if std::mem::replace(&mut full, true) {
                    return Err(bad("`full` is given twice".to_string()));
                }
            } else if part == "mixed" {
                if kind.replace(SpaceKind::Mixed).is_some() {
                    return Err(bad("`mixed` is given twice".to_string()));
                }
            } else if let Some(level) = part.strip_prefix("noise") {
                let sigma = level
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| bad(format!("the noise level `{level}` is not a decimal number >= 0")))?;
                if noise.replace(sigma).is_some() {
                    return Err(bad("the noise level is given twice".to_string()));
                }
            } else {
                return Err(bad(format!("unknown suffix `{part}` (expected `mixed`, `noise<sigma>` or `full`)")));
            }
        }
        let function = u8::try_from(function)
            .ok()
            .filter(|f| (1..=24).contains(f))
            .ok_or_else(|| bad(format!("function {function} is out of range 1..=24")))?;
        let instance = u32::try_from(instance)
            .ok()
            .filter(|i| *i >= 1)
            .ok_or_else(|| bad(format!("instance {instance} is out of range 1..={}", u32::MAX)))?;
        let dim = usize::try_from(dim)
            .ok()
            .filter(|d| (super::MIN_DIM..=super::MAX_DIM).contains(d))
            .ok_or_else(|| bad(format!("dimension {dim} is out of range {}..={}", super::MIN_DIM, super::MAX_DIM)))?;
        let function = BbobFunction::new(function, instance, dim)?;
        let objective = Self::new(function, kind.unwrap_or(SpaceKind::Continuous), noise.unwrap_or(0.0))?;
        Ok(if full { objective.full_fidelity_only() } else { objective })
    }

    /// The underlying function.
    pub fn function(&self) -> &BbobFunction {
        &self.function
    }

    /// The kind of search space.
    pub fn kind(&self) -> SpaceKind {
        self.kind
    }

    /// The observation noise level.
    pub fn noise(&self) -> f64 {
        self.noise
    }

    /// The point of `[-5, 5]^d` a config stands for: `x = -5 + 10 encode(config)`.
    pub fn point(&self, config: &Config) -> Vec<f64> {
        self.space.encode(config).into_iter().map(|u| -5.0 + 10.0 * u).collect()
    }

    /// The deterministic low-fidelity bias `b(x) >= 0` at a point with true value `fx`.
    pub fn bias(&self, x: &[f64], fx: f64) -> f64 {
        let spread: f64 = x.iter().zip(&self.bias_centre).map(|(a, c)| (a - c) * (a - c)).sum();
        0.5 * (fx - self.function.fopt()).abs() + spread / x.len() as f64
    }

    /// The value `fx` as observed by the trial with `seed` (exact when `noise` is 0).
    fn observe(&self, fx: f64, seed: u64) -> f64 {
        if self.noise == 0.0 {
            return fx;
        }
        let mut stream = rng::stream(seed, "bbob-noise", &[]);
        let g1: f64 = StandardNormal.sample(&mut stream);
        let g2: f64 = StandardNormal.sample(&mut stream);
        let fopt = self.function.fopt();
        let factor = (1.0 + self.noise * g1).max(0.0);
        fopt + (fx - fopt) * factor + ADDITIVE_NOISE * self.noise * g2.abs()
    }

    fn failure(&self, level: usize) -> TrialResult {
        TrialResult {
            score: FAILURE_SCORE,
            curve: self.levels[..=level].iter().map(|&l| (l, FAILURE_SCORE)).collect(),
            cost: self.levels[level],
            status: TrialStatus::Invalid,
        }
    }
}

impl Objective for BbobObjective {
    fn name(&self) -> &str {
        &self.name
    }

    fn space(&self) -> &SearchSpace {
        &self.space
    }

    fn fidelities(&self) -> &[f64] {
        self.levels
    }

    fn score(&self, config: &Config, fidelity: f64, seed: u64) -> TrialResult {
        let level = fidelity_level(self.levels, fidelity);
        if config.values.len() != self.space.dim() {
            return self.failure(level);
        }
        let x = self.point(config);
        let fx = self.function.eval(&x);
        let observed = self.observe(fx, seed);
        let bias = self.bias(&x, fx);
        if !(observed.is_finite() && bias.is_finite()) {
            return self.failure(level);
        }
        let curve: Vec<(f64, f64)> =
            self.levels[..=level].iter().map(|&phi| (phi, observed + (1.0 - phi) * bias)).collect();
        TrialResult { score: curve[level].1, curve, cost: self.levels[level], status: TrialStatus::Ok }
    }

    fn full_cost(&self) -> f64 {
        1.0
    }

    fn budget_unit(&self) -> f64 {
        self.function.dim() as f64
    }

    fn optimum(&self) -> Option<f64> {
        Some(self.function.fopt())
    }

    /// The noiseless function value: with observation noise on, what the config is
    /// worth rather than what one noisy draw showed.
    fn true_score(&self, config: &Config) -> Option<f64> {
        if config.values.len() != self.space.dim() {
            return None;
        }
        let fx = self.function.eval(&self.point(config));
        fx.is_finite().then_some(fx)
    }

    fn failure_score(&self) -> f64 {
        FAILURE_SCORE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{KnobKind, KnobValue};

    fn objective(name: &str) -> BbobObjective {
        BbobObjective::from_name(name).unwrap()
    }

    fn unit_config(o: &BbobObjective, u: f64) -> Config {
        o.space().decode(&vec![u; o.space().dim()])
    }

    #[test]
    fn names_parse_and_round_trip() {
        let o = objective("bbob-f8-i1-d5");
        assert_eq!(o.name(), "bbob-f8-i1-d5");
        assert_eq!((o.function().function(), o.function().instance(), o.function().dim()), (8, 1, 5));
        assert_eq!(o.kind(), SpaceKind::Continuous);
        assert_eq!(o.noise(), 0.0);
        let o = objective("bbob-f8-i1-d5-mixed");
        assert_eq!((o.name(), o.kind()), ("bbob-f8-i1-d5-mixed", SpaceKind::Mixed));
        let o = objective("bbob-f21-i3-d10-noise0.05");
        assert_eq!((o.name(), o.noise()), ("bbob-f21-i3-d10-noise0.05", 0.05));
        let o = objective("bbob-f2-i7-d3-noise0.1-mixed");
        assert_eq!(o.name(), "bbob-f2-i7-d3-mixed-noise0.1");
        assert_eq!(objective(o.name()), o);
    }

    #[test]
    fn bad_names_say_what_is_wrong() {
        let cases = [
            ("bbob", "function part"),
            ("coco-f1-i1-d2", "start with `bbob-`"),
            ("bbob-f25-i1-d5", "function 25 is out of range"),
            ("bbob-f0-i1-d5", "function 0 is out of range"),
            ("bbob-fx-i1-d5", "not a whole number"),
            ("bbob-f1-1-d5", "instance as `i<n>`"),
            ("bbob-f1-i0-d5", "instance 0 is out of range"),
            ("bbob-f1-i1", "dimension part"),
            ("bbob-f1-i1-d1", "dimension 1 is out of range"),
            ("bbob-f1-i1-d99", "dimension 99 is out of range"),
            ("bbob-f1-i1-d5-fast", "unknown suffix `fast`"),
            ("bbob-f1-i1-d5-noise-1", "noise level `` is not"),
            ("bbob-f1-i1-d5-noiseabc", "noise level `abc`"),
            ("bbob-f1-i1-d5-mixed-mixed", "`mixed` is given twice"),
        ];
        for (name, needle) in cases {
            let err = BbobObjective::from_name(name).unwrap_err().to_string();
            assert!(err.contains(needle), "{name}: {err}");
            assert!(err.contains("expected bbob-f<1..24>"), "{name}: {err}");
        }
    }

    #[test]
    fn every_knob_type_decodes_and_feeds_the_point() {
        let o = objective("bbob-f1-i1-d5-mixed");
        let kinds: Vec<_> = o.space().knobs().iter().map(|k| std::mem::discriminant(&k.kind)).collect();
        let expected = [
            KnobKind::Continuous { lo: 0.0, hi: 1.0, log: false },
            KnobKind::Continuous { lo: 1.0, hi: 2.0, log: true },
            KnobKind::Integer { lo: 0, hi: 1 },
            KnobKind::Ordinal { values: vec![1.0] },
            KnobKind::Categorical { choices: vec![] },
        ];
        for (k, e) in kinds.iter().zip(&expected) {
            assert_eq!(*k, std::mem::discriminant(e));
        }
        assert!(matches!(o.space().knobs()[1].kind, KnobKind::Continuous { log: true, .. }));

        let u = [0.3, 0.7, 0.52, 0.9, 0.1];
        let config = o.space().decode(&u);
        assert_eq!(config.values[0], KnobValue::Real(-2.0));
        assert!(matches!(config.values[1], KnobValue::Real(v) if (v - 1e-3_f64.powf(0.3)).abs() < 1e-12));
        assert_eq!(config.values[2], KnobValue::Int(10));
        assert_eq!(config.values[3], KnobValue::Real(1024.0));
        assert_eq!(config.values[4], KnobValue::Choice(0));
        let x = o.point(&config);
        let want = [-2.0, 2.0, 0.0, -5.0 + 10.0 * 10.5 / 12.0, -5.0 + 10.0 / 16.0];
        for (a, b) in x.iter().zip(want) {
            assert!((a - b).abs() < 1e-9, "{x:?}");
        }
        // The score is the function at exactly that point.
        let r = o.score(&config, 1.0, 0);
        assert_eq!(r.score, o.function().eval(&x));
    }

    #[test]
    fn continuous_points_cover_the_box() {
        let o = objective("bbob-f3-i2-d2");
        assert_eq!(o.point(&unit_config(&o, 0.0)), vec![-5.0, -5.0]);
        assert_eq!(o.point(&unit_config(&o, 1.0)), vec![5.0, 5.0]);
        assert_eq!(o.point(&unit_config(&o, 0.5)), vec![0.0, 0.0]);
    }

    #[test]
    fn the_full_suffix_leaves_one_exact_level() {
        let multi = objective("bbob-f10-i1-d5");
        let full = objective("bbob-f10-i1-d5-full");
        assert_eq!(full.name(), "bbob-f10-i1-d5-full");
        assert_eq!(objective("bbob-f10-i1-d5-full-noise0.1").name(), "bbob-f10-i1-d5-noise0.1-full");
        assert_eq!(full.fidelities(), &FULL_ONLY);
        assert_eq!((full.budget_unit(), objective("bbob-f1-i1-d20-full").budget_unit()), (5.0, 20.0));
        let c = unit_config(&full, 0.3);
        // Any requested fidelity is the full one: exact value, cost 1, one curve point.
        for request in [0.0, 0.125, 1.0] {
            let r = full.score(&c, request, 7);
            assert_eq!((r.cost, r.curve.len(), r.score), (1.0, 1, multi.score(&c, 1.0, 7).score));
        }
        assert!(BbobObjective::from_name("bbob-f1-i1-d5-full-full").unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn fidelity_levels_and_costs() {
        let o = objective("bbob-f10-i1-d5");
        assert_eq!(o.fidelities(), &FIDELITY_LEVELS);
        assert_eq!(o.full_cost(), 1.0);
        assert_eq!(o.optimum(), Some(o.function().fopt()));
        let c = unit_config(&o, 0.8);
        for (request, level, points) in [(0.0, 0.125, 1), (0.2, 0.25, 2), (0.5, 0.5, 3), (0.7, 1.0, 4), (3.0, 1.0, 4)] {
            let r = o.score(&c, request, 1);
            assert_eq!(r.cost, level);
            assert_eq!(r.curve.len(), points);
            assert_eq!(r.curve.last().unwrap(), &(level, r.score));
            assert_eq!(r.status, TrialStatus::Ok);
        }
        let full = o.score(&c, 1.0, 1);
        assert_eq!(full.score, o.function().eval(&o.point(&c)));
    }

    #[test]
    fn low_fidelity_is_never_better_than_full() {
        for name in ["bbob-f1-i1-d5", "bbob-f15-i2-d10-mixed", "bbob-f21-i7-d5-noise0.2"] {
            let o = objective(name);
            let mut stream = rng::stream(7, "test", &[]);
            for seed in 0..50 {
                let u: Vec<f64> = (0..o.space().dim()).map(|_| stream.random::<f64>()).collect();
                let r = o.score(&o.space().decode(&u), 1.0, seed);
                let full = r.score;
                for w in r.curve.windows(2) {
                    assert!(w[0].1 >= w[1].1, "{name}: {:?}", r.curve);
                }
                assert!(r.curve[0].1 >= full);
            }
        }
        // The bias is informative but not a copy of f: at the optimum it is still positive.
        let o = objective("bbob-f1-i1-d5");
        let xopt = o.function().xopt().to_vec();
        assert!(o.bias(&xopt, o.function().fopt()) > 0.0);
    }

    #[test]
    fn noise_is_deterministic_per_seed_and_zero_noise_is_exact() {
        let noisy = objective("bbob-f8-i1-d5-noise0.1");
        let exact = objective("bbob-f8-i1-d5");
        let c = unit_config(&noisy, 0.3);
        let truth = exact.function().eval(&exact.point(&c));
        assert_eq!(exact.score(&c, 1.0, 1).score, truth);
        assert_eq!(exact.score(&c, 1.0, 2).score, truth);
        let a = noisy.score(&c, 1.0, 1);
        assert_eq!(a, noisy.score(&c, 1.0, 1));
        assert_ne!(a.score, noisy.score(&c, 1.0, 2).score);
        assert_ne!(a.score, truth);
        assert!(((a.score - truth) / (truth - exact.function().fopt())).abs() < 1.0);
        let fopt = noisy.function().fopt();
        for seed in 0..100 {
            assert!(noisy.score(&c, 1.0, seed).score >= fopt);
        }
    }

    #[test]
    fn wrong_length_configs_are_invalid_not_panics() {
        let o = objective("bbob-f5-i1-d3");
        let r = o.score(&Config { values: vec![KnobValue::Real(0.0)] }, 0.25, 0);
        assert_eq!(r.status, TrialStatus::Invalid);
        assert_eq!(r.score, FAILURE_SCORE);
        assert_eq!(r.cost, 0.25);
        assert_eq!(r.curve.len(), 2);
    }

    #[test]
    fn bad_noise_is_rejected() {
        let f = BbobFunction::new(1, 1, 2).unwrap();
        assert_eq!(BbobObjective::new(f.clone(), SpaceKind::Continuous, -1.0), Err(BbobError::BadNoise(-1.0)));
        assert!(BbobObjective::new(f, SpaceKind::Continuous, f64::NAN).is_err());
    }
}
