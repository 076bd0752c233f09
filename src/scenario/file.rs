//! Stage one: the scenario file as written, close to the TOML, with spans kept for the
//! values that stage two validates.

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Run name (also the default output folder name).
    pub name: Spanned<String>,
    /// Root seed of every random stream.
    pub seed: u64,
    /// Number of outer-loop ticks.
    pub ticks: Spanned<i64>,
    /// Output folder (default `populations/<name>`).
    pub out: Option<String>,
    /// An earlier run folder whose hall of fame and operator statistics seed this run.
    pub inherit: Option<Spanned<String>>,
    /// Population bounds.
    #[serde(default)]
    pub population: PopulationFile,
    /// The inner loop: tasks, budget, seeds.
    pub inner: InnerFile,
    /// Mechanisms the run starts from.
    #[serde(default)]
    pub seeds: SeedsFile,
    /// The reference mechanism fitness is measured against.
    pub reference: Spanned<String>,
    /// Proposer settings.
    #[serde(default)]
    pub proposer: ProposerFile,
    /// Debater settings.
    #[serde(default)]
    pub debater: DebaterFile,
    /// Verifier settings.
    #[serde(default)]
    pub verifier: VerifierFile,
    /// Recombiner settings.
    #[serde(default)]
    pub recombiner: RecombinerFile,
    /// Command objectives written here, `[objectives.<name>]`, named by tasks as
    /// `cmd:<this file>#<name>` (each checked by the command spec's own parser).
    pub objectives: Option<Spanned<toml::Table>>,
}

/// `[population]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopulationFile {
    /// Maximum live mechanisms.
    #[serde(default = "default_size")]
    pub size: Spanned<i64>,
    /// Verified elites protected from removal.
    #[serde(default = "default_elites")]
    pub elites: Spanned<i64>,
    /// Distinct best verified genomes kept for `inherit`.
    #[serde(default = "default_hall_of_fame")]
    pub hall_of_fame: Spanned<i64>,
}

fn default_size() -> Spanned<i64> {
    Spanned::new(0..0, 16)
}
fn default_elites() -> Spanned<i64> {
    Spanned::new(0..0, 4)
}
fn default_hall_of_fame() -> Spanned<i64> {
    Spanned::new(0..0, 10)
}

impl Default for PopulationFile {
    fn default() -> Self {
        PopulationFile { size: default_size(), elites: default_elites(), hall_of_fame: default_hall_of_fame() }
    }
}

/// `[inner]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InnerFile {
    /// Task names.
    pub tasks: Spanned<Vec<Spanned<String>>>,
    /// Compute budget per episode.
    pub budget: Spanned<f64>,
    /// Episode seeds per task for claimed fitness (the most a race spends on a child).
    #[serde(default = "default_inner_seeds")]
    pub seeds: Spanned<i64>,
    /// Episode seeds per task every child gets before the race may drop it as a clear
    /// loser against its parent (default: `seeds`, a fixed claim set).
    pub min_seeds: Option<Spanned<i64>>,
    /// How gains over several tasks become one fitness: `mean` or `worst-task`.
    pub aggregate: Option<Spanned<String>>,
    /// What an episode's regret is for fitness: `final-regret` or `aocc`.
    pub score: Option<Spanned<String>>,
    /// Whether the inner loop heals genome faults and failed trials (default `true`);
    /// `false`: the first one crashes the episode.
    #[serde(default = "default_true")]
    pub self_heal: bool,
}

fn default_true() -> bool {
    true
}

fn default_inner_seeds() -> Spanned<i64> {
    Spanned::new(0..0, 3)
}

/// `[seeds]`: where the initial population comes from.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedsFile {
    /// Library mechanism names, or `["all"]`.
    #[serde(default)]
    pub library: Vec<Spanned<String>>,
    /// Genome files, relative to the scenario file.
    #[serde(default)]
    pub files: Vec<Spanned<String>>,
    /// Genomes written inline.
    #[serde(default)]
    pub inline: Vec<Spanned<String>>,
}

/// `[proposer]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProposerFile {
    /// Whether the proposer runs.
    pub enabled: bool,
    /// Proposals per tick.
    pub children_per_tick: Spanned<i64>,
    /// Tournament size for parent choice.
    pub tournament: Spanned<i64>,
    /// The operators the proposer may use: `all`, `constants` (the constant mutation
    /// only) or `structure` (every operator but the constant mutation).
    pub operators: Option<Spanned<String>>,
    /// Constant vectors a structurally new child tries before its claim (0 or 1: none).
    pub tune_constants: Spanned<i64>,
    /// A language model writes a share of the children (`[proposer.llm]`).
    pub llm: Option<Spanned<LlmFile>>,
}

/// `[proposer.llm]`: an OpenAI-compatible chat-completions endpoint that writes a share
/// of the proposer's children.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmFile {
    /// Base URL of the API (`http://127.0.0.1:8080/v1`); absent: replies come only from
    /// the run's record of earlier exchanges.
    pub endpoint: Option<Spanned<String>>,
    /// Model name sent with each request.
    pub model: Option<Spanned<String>>,
    /// Sampling temperature.
    pub temperature: Option<Spanned<f64>>,
    /// Most tokens per reply.
    pub max_tokens: Option<Spanned<i64>>,
    /// Seconds to wait for one reply.
    pub timeout: Option<Spanned<f64>>,
    /// Name of the environment variable holding the API key (never the key itself).
    pub api_key_env: Option<Spanned<String>>,
    /// Share of the proposer's children the model writes.
    pub share: Option<Spanned<f64>>,
}

impl Default for ProposerFile {
    fn default() -> Self {
        ProposerFile {
            enabled: true,
            children_per_tick: Spanned::new(0..0, 4),
            tournament: Spanned::new(0..0, 3),
            operators: None,
            tune_constants: Spanned::new(0..0, 0),
            llm: None,
        }
    }
}

/// `[debater]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DebaterFile {
    /// Whether the debate runs (off: every proposal is accepted).
    pub enabled: bool,
    /// Fraction of rejected proposals evaluated anyway, to measure the debate's precision.
    pub audit_rate: Spanned<f64>,
    /// Novelty (structural distance) below which the innovator votes reject.
    pub novelty_threshold: Spanned<f64>,
    /// Proposals per tick beyond the evaluation slots at the start (the panel rejects
    /// that many); the budget then follows the debate's measured value.
    pub extra: Spanned<i64>,
    /// The most extra proposals per tick the budget may grow to.
    pub max_extra: Spanned<i64>,
}

impl Default for DebaterFile {
    fn default() -> Self {
        DebaterFile {
            enabled: true,
            audit_rate: Spanned::new(0..0, 0.25),
            novelty_threshold: Spanned::new(0..0, 0.15),
            extra: Spanned::new(0..0, 2),
            max_extra: Spanned::new(0..0, 6),
        }
    }
}

/// `[verifier]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifierFile {
    /// Whether the verifier runs (off: claimed fitness is never confirmed).
    pub enabled: bool,
    /// Fresh episode seeds per task used to verify a would-be elite.
    pub seeds: Spanned<i64>,
    /// Mechanisms verified per tick at most.
    pub max_per_tick: Spanned<i64>,
    /// Report episodes per task on which the final champion's printed fitness is
    /// measured: seeds that played no part in choosing it.
    pub report_seeds: Spanned<i64>,
    /// How far the best elites' verification may extend, in multiples of `seeds`.
    pub max_rounds: Spanned<i64>,
    /// Tasks the run never sees on which the summary measures the champion against the
    /// library and its lowest-fidelity variants (empty: no such section).
    pub held_out: Spanned<Vec<Spanned<String>>>,
    /// Episodes per held-out task.
    pub held_out_seeds: Spanned<i64>,
}

impl Default for VerifierFile {
    fn default() -> Self {
        VerifierFile {
            enabled: true,
            seeds: Spanned::new(0..0, 6),
            max_per_tick: Spanned::new(0..0, 2),
            report_seeds: Spanned::new(0..0, 10),
            max_rounds: Spanned::new(0..0, 4),
            held_out: Spanned::new(0..0, Vec::new()),
            held_out_seeds: Spanned::new(0..0, 20),
        }
    }
}

/// `[recombiner]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecombinerFile {
    /// Whether the recombiner runs.
    pub enabled: bool,
    /// Crossover children per tick (the starting share of the evaluation slots).
    pub children_per_tick: Spanned<i64>,
    /// Whether the recombiner's share of the slots follows its measured yield.
    pub adaptive: bool,
    /// Of the recombiner's children per tick, how many are constant-swarm merges.
    pub constant_swarm: Spanned<i64>,
}

impl Default for RecombinerFile {
    fn default() -> Self {
        RecombinerFile {
            enabled: true,
            children_per_tick: Spanned::new(0..0, 1),
            adaptive: true,
            constant_swarm: Spanned::new(0..0, 0),
        }
    }
}
