//! GPT pretraining trials on candle, scored in validation bits per byte.
//!
//! - [`model`]: the byte-level GPT (seeded init, ordered parameters, save/load).
//! - [`ops`]: fused custom ops with hand-written backward passes and `*_slow` twins.
//! - [`fused`]: the whole-model training step (loss and every gradient, no graph).
//! - [`adamw`]: AdamW, in place on the parameters.
//! - [`decode`]: incremental (key/value-cached) inference for sampling.
//! - `kernels` (private): the host arithmetic shared by [`ops`], [`fused`] and [`decode`].
//! - [`data`]: the synthetic multi-skill corpus and text-file corpora.
//! - [`corpora`]: the named corpora (synthetic, shakespeare, records), all offline.
//! - [`design`]: table specs: grids and space-filling designs over the knobs.
//! - [`suite`]: the shipped tables by name and their train/held-out split.
//! - [`live`]: live-trial task names (`gpt-live:...`) and the default trial cache.
//! - [`table_stats`]: what a table is worth as a benchmark (noise, spread, answer error).
//! - [`train`]: schedules, the FLOP budget, the trainer, checkpoints, divergence.
//! - [`cache`]: the persistent trial cache.
//! - [`table`]: tabulated real trials and the `gpt-table` objective.
//!
//! [`GptObjective`] ties them to the [`Objective`] trait: a config from [`gpt_space`] is
//! trained on one thread for `fidelity` of the budget; its cost is that fraction of the
//! budget in GFLOP.

pub mod adamw;
pub mod cache;
pub mod corpora;
pub mod data;
pub mod decode;
pub mod design;
pub mod device;
pub mod fused;
mod kernels;
pub mod limits;
pub mod live;
pub mod memory;
pub mod model;
pub mod ops;
pub mod suite;
pub mod table;
pub mod table_stats;
pub mod train;

use std::sync::Arc;

use crate::objective::{Objective, TrialResult, TrialStatus, fidelity_level};
use crate::space::{Config, Knob, KnobKind, KnobValue, SearchSpace};

pub use cache::TrialCache;
pub use data::{Corpus, CorpusData, Skill};
pub use device::DeviceChoice;
pub use model::{Gpt, ModelConfig, OpPath};
pub use train::{FAILURE_BPB, OptimConfig, Schedule, TrainSettings, TrialOutcome, TrialSpec, run_trial};

/// Default context length of trials (bytes).
pub const DEFAULT_CONTEXT: usize = 64;

/// The knobs of a GPT trial, with their default values (as typed on the command line).
pub const KNOB_DEFAULTS: &[(&str, &str)] = &[
    ("lr", "0.003"),
    ("batch_tokens", "1024"),
    ("depth", "2"),
    ("width", "64"),
    ("heads", "4"),
    ("warmup", "0.05"),
    ("schedule", "cosine"),
    ("weight_decay", "0.1"),
    ("beta2", "0.99"),
    ("init_scale", "1"),
    ("grad_clip", "1"),
];

/// The search space of GPT trials.
pub fn gpt_space() -> SearchSpace {
    let knobs = vec![
        Knob::log("lr", 1e-4, 3e-2),
        Knob::ordinal("batch_tokens", &[256.0, 512.0, 1024.0, 2048.0, 4096.0]),
        Knob::integer("depth", 1, 6),
        Knob::ordinal("width", &[16.0, 32.0, 48.0, 64.0, 96.0, 128.0, 192.0, 256.0]),
        Knob::ordinal("heads", &[1.0, 2.0, 4.0, 8.0]),
        Knob::linear("warmup", 0.0, 0.3),
        Knob::categorical("schedule", &["cosine", "linear", "constant"]),
        Knob::linear("weight_decay", 0.0, 0.3),
        Knob::linear("beta2", 0.9, 0.999),
        Knob::log("init_scale", 0.25, 4.0),
        Knob::log("grad_clip", 0.1, 10.0),
    ];
    match SearchSpace::new(knobs) {
        Ok(space) => space,
        Err(e) => unreachable!("the built-in GPT space is valid: {e}"),
    }
}

/// A problem with a `name=value` assignment.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SetError {
    /// The text is not `name=value`.
    #[error("`{0}` is not of the form name=value")]
    Syntax(String),
    /// No knob has this name.
    #[error("unknown knob `{name}`")]
    UnknownKnob {
        /// The name given.
        name: String,
        /// The knobs there are.
        known: Vec<String>,
    },
    /// The value does not fit the knob.
    #[error("bad value `{value}` for `{name}`: {problem}")]
    BadValue {
        /// The knob.
        name: String,
        /// The value given.
        value: String,
        /// Why it does not fit.
        problem: String,
    },
}

/// Parse one value for a knob (categories by name, numbers otherwise). Values outside
/// a knob's range are kept as given (a trial may run outside the search space).
pub fn parse_value(knob: &Knob, value: &str) -> Result<KnobValue, SetError> {
    let bad = |problem: String| SetError::BadValue { name: knob.name.clone(), value: value.to_string(), problem };
    match &knob.kind {
        KnobKind::Categorical { choices } => choices
            .iter()
            .position(|c| c == value)
            .map(KnobValue::Choice)
            .ok_or_else(|| bad(format!("expected one of {}", choices.join(", ")))),
        KnobKind::Integer { .. } => {
            value.parse::<i64>().map(KnobValue::Int).map_err(|_| bad("expected an integer".into()))
        }
        _ => match value.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(KnobValue::Real(v)),
            _ => Err(bad("expected a finite number".into())),
        },
    }
}

/// The default config of `space` (knobs missing from [`KNOB_DEFAULTS`] take the centre
/// of their range).
pub fn default_config(space: &SearchSpace) -> Config {
    let values = space
        .knobs()
        .iter()
        .map(|k| {
            KNOB_DEFAULTS
                .iter()
                .find(|(n, _)| *n == k.name)
                .and_then(|(_, v)| parse_value(k, v).ok())
                .unwrap_or_else(|| k.decode(0.5))
        })
        .collect();
    Config { values }
}

/// Apply `name=value` assignments to `config` (values outside a knob's range are kept:
/// tests train tiny models outside the search space; see [`check_in_range`]).
pub fn apply_sets(space: &SearchSpace, config: &mut Config, sets: &[String]) -> Result<(), SetError> {
    for set in sets {
        let (name, value) = set.split_once('=').ok_or_else(|| SetError::Syntax(set.clone()))?;
        let (name, value) = (name.trim(), value.trim());
        let i = space.index_of(name).ok_or_else(|| SetError::UnknownKnob {
            name: name.to_string(),
            known: space.knobs().iter().map(|k| k.name.clone()).collect(),
        })?;
        config.values[i] = parse_value(&space.knobs()[i], value)?;
    }
    Ok(())
}

/// Refuse a config with a value outside its knob's domain (as `trial --list` prints
/// it): what a user's `--set` may ask for, so no request asks for unbounded work.
pub fn check_in_range(space: &SearchSpace, config: &Config) -> Result<(), SetError> {
    for (knob, value) in space.knobs().iter().zip(&config.values) {
        if !knob.kind.admits(*value) {
            return Err(SetError::BadValue {
                name: knob.name.clone(),
                value: knob.display(*value),
                problem: format!("outside the knob's range ({})", knob.kind),
            });
        }
    }
    Ok(())
}

/// Turn a config of `space` into a trial spec; knobs the space lacks take their defaults.
pub fn spec_from_config(space: &SearchSpace, config: &Config, context: usize) -> TrialSpec {
    let get = |name: &str| -> f64 {
        if let Some(i) = space.index_of(name)
            && let Some(v) = config.values.get(i)
        {
            return v.as_f64();
        }
        let default = KNOB_DEFAULTS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).unwrap_or("0");
        match name {
            "schedule" => Schedule::ALL.iter().position(|s| s.name() == default).unwrap_or(0) as f64,
            _ => default.parse().unwrap_or(0.0),
        }
    };
    let count = |name: &str| get(name).round().max(0.0) as usize;
    let schedule = Schedule::ALL[(count("schedule")).min(Schedule::ALL.len() - 1)];
    TrialSpec {
        model: ModelConfig {
            context,
            depth: count("depth"),
            width: count("width"),
            heads: count("heads"),
            init_scale: get("init_scale"),
        },
        optim: OptimConfig {
            lr: get("lr"),
            batch_tokens: count("batch_tokens"),
            warmup: get("warmup"),
            schedule,
            weight_decay: get("weight_decay"),
            beta1: 0.9,
            beta2: get("beta2"),
            grad_clip: get("grad_clip"),
        },
    }
}

/// Run `f` on a fresh single-thread rayon pool, so a trial uses one core and parallel
/// trials fill the others.
pub fn single_threaded<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

/// Run `f` on every item with `threads` worker threads, each item on one thread (with
/// its own single-thread rayon pool, see [`single_threaded`]). Results come back in item
/// order. Plain threads rather than a rayon pool: a rayon worker blocked in another
/// pool's `install` steals more jobs while it waits, nesting trials until the stack
/// overflows.
pub fn par_trials<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<R>>> = items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = single_threaded(|| f(item));
                    *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| match m.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(r) => r,
            None => unreachable!("every item is processed before the scope ends"),
        })
        .collect()
}

/// Keep candle's elementwise worker pool inline: set `CANDLE_NUM_THREADS=1` unless the
/// user chose a value. That pool busy-waits and is shared by the whole process, so with
/// one trial per core it would steal a core and serialise the trials. Only the CLI calls
/// this, first thing in a command, while the process has a single thread.
#[expect(unsafe_code, reason = "setting an environment variable before any thread exists")]
pub(crate) fn init_process_threads() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: called by CLI commands before they start any thread, so no other
        // thread can read the environment concurrently.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
}

/// The version of the trial code; part of every cache key and table header. Bump it
/// whenever a change alters trial numbers.
pub const CODE_VERSION: &str = "gpt-trial-v3";

/// Real GPT trials as an [`Objective`].
pub struct GptObjective {
    name: String,
    space: SearchSpace,
    corpus: Arc<Corpus>,
    settings: TrainSettings,
    context: usize,
    cache: Option<TrialCache>,
    optimum: Option<f64>,
    resolution: f64,
    truth_seeds: Vec<u64>,
    gflop_per_unit: f64,
    input_identity: Option<u64>,
}

impl GptObjective {
    /// Trials over [`gpt_space`] on `corpus` with the given settings and context length.
    pub fn new(corpus: Arc<Corpus>, settings: TrainSettings, context: usize) -> Self {
        let name = format!("gpt-{}-b{}", corpus.name(), settings.budget_gflop);
        GptObjective {
            name,
            space: gpt_space(),
            corpus,
            settings,
            context,
            cache: None,
            optimum: None,
            resolution: 1e-8,
            truth_seeds: Vec::new(),
            gflop_per_unit: 1.0,
            input_identity: None,
        }
    }

    /// Count cost in full-trial equivalents instead of GFLOP (as the suite's tasks do).
    pub fn in_trial_units(mut self) -> Self {
        self.gflop_per_unit = self.settings.budget_gflop;
        self
    }

    /// The identity of the user's file this objective trains on (its content hash), which
    /// a run records ([`Objective::input_identity`]).
    pub fn with_input_identity(mut self, identity: Option<u64>) -> Self {
        self.input_identity = identity;
        self
    }

    /// Rename (task names are the objective's name).
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// A best-known score for regret, and the resolution below which regrets carry no
    /// meaning.
    pub fn with_reference(mut self, optimum: Option<f64>, resolution: f64) -> Self {
        self.optimum = optimum;
        self.resolution = resolution;
        self
    }

    /// Score a recommended config by fresh full-fidelity trials with these seeds (their
    /// mean, failed trials at the failure score): [`Objective::true_score`].
    pub fn with_truth_seeds(mut self, seeds: Vec<u64>) -> Self {
        self.truth_seeds = seeds;
        self
    }

    /// Use a persistent trial cache.
    pub fn with_cache(mut self, cache: TrialCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Replace the search space (knobs it lacks take their defaults).
    pub fn with_space(mut self, space: SearchSpace) -> Self {
        self.space = space;
        self
    }

    /// The trial settings.
    pub fn settings(&self) -> &TrainSettings {
        &self.settings
    }

    /// The corpus.
    pub fn corpus(&self) -> &Corpus {
        &self.corpus
    }

    /// The trial spec of a config.
    pub fn spec(&self, config: &Config) -> TrialSpec {
        spec_from_config(&self.space, config, self.context)
    }

    /// Run (or read from the cache) a trial of `spec`, single-threaded.
    pub fn run_spec(&self, spec: &TrialSpec, fidelity: f64, seed: u64) -> TrialResult {
        let level = fidelity_level(&self.settings.fidelities, fidelity);
        let key = cache::TrialKey::new(spec, seed, &self.settings, self.corpus.hash());
        if let Some(cache) = &self.cache
            && let Some(hit) = cache.get(&key, level)
        {
            return hit.result(&self.settings, level);
        }
        // On a pool worker already (an episode of a parallel batch) the trial runs right
        // here: a nested one-thread pool would let this worker steal and nest further
        // episodes while it waits.
        let train = || run_trial(spec, &self.corpus, &self.settings, fidelity, seed);
        let outcome = if rayon::current_thread_index().is_some() { train() } else { single_threaded(train) };
        match outcome {
            Ok(outcome) => {
                if let Some(cache) = &self.cache {
                    // A cache that cannot be written only costs a rerun later.
                    let _ = cache.put(&key, &cache::CachedTrial::from_outcome(&outcome));
                }
                cache::CachedTrial::from_outcome(&outcome).result(&self.settings, level)
            }
            Err(_) => failed(TrialStatus::Invalid, &self.settings.fidelities[..=level]),
        }
    }
}

/// A failed trial's result: the failure score at each level, no cost.
fn failed(status: TrialStatus, levels: &[f64]) -> TrialResult {
    TrialResult { score: FAILURE_BPB, curve: levels.iter().map(|&l| (l, FAILURE_BPB)).collect(), cost: 0.0, status }
}

impl Objective for GptObjective {
    fn name(&self) -> &str {
        &self.name
    }

    fn input_identity(&self) -> Option<u64> {
        self.input_identity
    }

    fn space(&self) -> &SearchSpace {
        &self.space
    }

    fn fidelities(&self) -> &[f64] {
        &self.settings.fidelities
    }

    fn score(&self, config: &Config, fidelity: f64, seed: u64) -> TrialResult {
        let spec = self.spec(config);
        let mut result = self.run_spec(&spec, fidelity, seed);
        result.cost /= self.gflop_per_unit;
        result
    }

    fn full_cost(&self) -> f64 {
        self.settings.budget_gflop / self.gflop_per_unit
    }

    fn optimum(&self) -> Option<f64> {
        self.optimum
    }

    /// The mean of fresh full-fidelity trials on the truth seeds (cached like any trial);
    /// `None` when no truth seeds are set.
    fn true_score(&self, config: &Config) -> Option<f64> {
        if self.truth_seeds.is_empty() {
            return None;
        }
        let spec = self.spec(config);
        let scores: Vec<f64> = self
            .truth_seeds
            .iter()
            .map(|&s| {
                let r = self.run_spec(&spec, 1.0, s);
                if r.status == TrialStatus::Ok { r.score } else { FAILURE_BPB }
            })
            .collect();
        Some(scores.iter().sum::<f64>() / scores.len() as f64)
    }

    fn resolution(&self) -> f64 {
        self.resolution
    }

    fn failure_score(&self) -> f64 {
        FAILURE_BPB
    }
}
