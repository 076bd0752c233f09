//! Model-swarm scenarios: a TOML file with `kind = "model-swarm"`, read in two stages
//! like [`crate::scenario`]: [`SwarmFile`] mirrors the TOML (unknown keys rejected,
//! spans kept), [`SwarmScenario`] is the validated value the run uses. Every key, its
//! default and its meaning are defined once, in [`KEYS`]; `scenarios/README.md` carries
//! [`keys_markdown`]'s table (checked by `tests/e2e/swarm.rs`).

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::pso::PsoConfig;
use super::routing::{RoutingConfig, SizedExpert};
use super::tasks::max_item_len;
use super::utility::UtilityKind;
use crate::diagnostic::{Diagnostic, InputError, TomlHints, int_in_range, parse_toml};
use crate::objective::gpt::{ModelConfig, OptimConfig, Skill};

/// The value of the `kind` key that marks a model-swarm scenario.
pub const KIND: &str = "model-swarm";

/// One documented key: dotted name, default (as written in TOML, `-` when required)
/// and meaning.
pub type KeyDoc = (&'static str, &'static str, &'static str);

/// Every key of a model-swarm scenario.
pub const KEYS: &[KeyDoc] = &[
    ("kind", "-", "must be `\"model-swarm\"`; tells `outerloop run` this is a model-swarm scenario"),
    ("name", "-", "run name, also the default output folder `populations/<name>`"),
    ("seed", "-", "root seed of every random stream"),
    ("seeds", "3", "independent repetitions (base, experts, items, swarm), for the spread"),
    (
        "out",
        "populations/<name>",
        "output folder, relative to the scenario file's folder (the default: under the current directory)",
    ),
    ("model.context", "64", "context length in bytes (must hold a composed item)"),
    ("model.depth", "2", "transformer blocks"),
    ("model.width", "64", "residual width"),
    ("model.heads", "4", "attention heads (must divide the width)"),
    (
        "experts.skills",
        "[\"copy\", \"reverse\", \"add\", \"brackets\", \"recall\"]",
        "one expert is fine-tuned per skill; the base is pretrained on their mixture",
    ),
    ("experts.corpus_bytes", "100000", "bytes of each training corpus (the mixture and each skill)"),
    ("experts.pretrain_steps", "1500", "optimiser steps of the base model"),
    ("experts.finetune_steps", "300", "optimiser steps of each expert, starting from the base"),
    ("experts.batch_tokens", "1024", "tokens per optimiser step"),
    ("experts.lr", "0.003", "peak learning rate of pretraining (AdamW, 5 % warmup, cosine)"),
    ("experts.finetune_lr", "0.0005", "peak learning rate of fine-tuning"),
    (
        "target.compose",
        "[\"copy\", \"recall\"]",
        "skills chained in one target item, one example each, line after line; an item is solved when every answer is exact (at least two skills, each an expert skill)",
    ),
    ("target.valid_items", "200", "validation items: the utility the swarm and the baselines are tuned on"),
    ("target.test_items", "400", "test items the report is measured on"),
    (
        "target.utility",
        "\"bpb\"",
        "`\"bpb\"` (bits per answer byte) or `\"exact-match\"` (searches minimise 1 - accuracy)",
    ),
    (
        "swarm.grow",
        "5",
        "pool members added before the search by interpolating or extrapolating random pairs of experts",
    ),
    ("swarm.grow_min", "-0.5", "lowest pair coefficient t of a grown member a + t (b - a)"),
    ("swarm.grow_max", "1.5", "highest pair coefficient t"),
    ("swarm.inertia", "0.4", "weight of the previous velocity"),
    ("swarm.cognitive", "0.3", "weight of the pull toward the personal best"),
    ("swarm.social", "0.5", "weight of the pull toward the global best"),
    ("swarm.repel", "0.1", "weight of the push away from the global worst"),
    ("swarm.step", "1.0", "initial step length"),
    ("swarm.step_decay", "0.95", "step length factor per iteration"),
    ("swarm.step_floor", "0.1", "the step length never decays below this"),
    (
        "swarm.restart_patience",
        "5",
        "iterations without a personal-best improvement before a particle restarts at its personal best (0 = never)",
    ),
    ("swarm.patience", "6", "iterations without a global-best improvement before the search stops"),
    ("swarm.max_iters", "25", "maximum iterations"),
    ("baselines.scale_max", "1.5", "task arithmetic and TIES try scales evenly spaced over (0, scale_max]"),
    (
        "baselines.ties_densities",
        "[0.2, 0.5, 0.8]",
        "fractions of each task vector TIES keeps; the scale grid is split among them",
    ),
    (
        "routing.queries",
        "[\"copy\", \"reverse\", \"add\", \"brackets\", \"recall\", \"copy+recall\"]",
        "query types of the routing stage (a `[routing]` table turns the stage on): a skill, or skills joined by `+` composed into one item; each query draws its type uniformly",
    ),
    (
        "routing.valid_items",
        "300",
        "validation queries: the clusters and each cluster's model scores are fitted on them",
    ),
    ("routing.test_items", "600", "test queries every routing number is measured on"),
    ("routing.clusters", "8", "k of the k-means over the queries' byte n-gram embeddings"),
    ("routing.top_clusters", "1", "nearest clusters whose scores are summed to route a query"),
    (
        "routing.alphas",
        "[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]",
        "trade-offs swept: a model's score in a cluster is alpha x normalised utility + (1 - alpha) x (1 - normalised cost)",
    ),
    (
        "routing.utility",
        "\"exact-match\"",
        "per-query utility of the router: `\"exact-match\"` (1 or 0) or `\"bpb\"` (minus bits per answer byte)",
    ),
    ("routing.small_skill", "\"copy\"", "skill of the smaller specialist (one of `experts.skills`)"),
    ("routing.small_depth", "1", "blocks of the smaller specialist"),
    ("routing.small_width", "32", "residual width of the smaller specialist"),
    ("routing.small_heads", "2", "attention heads of the smaller specialist"),
    ("routing.large_skill", "\"add\"", "skill of the larger specialist (one of `experts.skills`)"),
    ("routing.large_depth", "2", "blocks of the larger specialist"),
    ("routing.large_width", "96", "residual width of the larger specialist"),
    ("routing.large_heads", "4", "attention heads of the larger specialist"),
];

/// The `KEYS` table as Markdown (key, default, meaning).
pub fn keys_markdown() -> String {
    let mut s = String::from("| Key | Default | Meaning |\n| --- | --- | --- |\n");
    for (k, d, m) in KEYS {
        s.push_str(&format!("| `{k}` | `{d}` | {m} |\n"));
    }
    s
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwarmFile {
    /// `"model-swarm"`.
    pub kind: Spanned<String>,
    /// Run name.
    pub name: Spanned<String>,
    /// Root seed.
    pub seed: u64,
    /// Repetitions.
    pub seeds: Option<Spanned<i64>>,
    /// Output folder.
    pub out: Option<String>,
    /// `[model]`.
    #[serde(default)]
    pub model: ModelFile,
    /// `[experts]`.
    #[serde(default)]
    pub experts: ExpertsFile,
    /// `[target]`.
    #[serde(default)]
    pub target: TargetFile,
    /// `[swarm]`.
    #[serde(default)]
    pub swarm: SwarmTable,
    /// `[baselines]`.
    #[serde(default)]
    pub baselines: BaselinesFile,
    /// `[routing]` (the routing stage runs only when the table is present).
    pub routing: Option<RoutingFile>,
}

/// `[model]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// Context length.
    pub context: Option<Spanned<i64>>,
    /// Blocks.
    pub depth: Option<Spanned<i64>>,
    /// Width.
    pub width: Option<Spanned<i64>>,
    /// Heads.
    pub heads: Option<Spanned<i64>>,
}

/// `[experts]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpertsFile {
    /// Skills.
    pub skills: Option<Spanned<Vec<Spanned<String>>>>,
    /// Corpus bytes.
    pub corpus_bytes: Option<Spanned<i64>>,
    /// Pretraining steps.
    pub pretrain_steps: Option<Spanned<i64>>,
    /// Fine-tuning steps.
    pub finetune_steps: Option<Spanned<i64>>,
    /// Tokens per step.
    pub batch_tokens: Option<Spanned<i64>>,
    /// Pretraining learning rate.
    pub lr: Option<Spanned<f64>>,
    /// Fine-tuning learning rate.
    pub finetune_lr: Option<Spanned<f64>>,
}

/// `[target]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// Composed skills.
    pub compose: Option<Spanned<Vec<Spanned<String>>>>,
    /// Validation items.
    pub valid_items: Option<Spanned<i64>>,
    /// Test items.
    pub test_items: Option<Spanned<i64>>,
    /// Utility name.
    pub utility: Option<Spanned<String>>,
}

/// `[swarm]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwarmTable {
    /// Grown pool members.
    pub grow: Option<Spanned<i64>>,
    /// Lowest pair coefficient.
    pub grow_min: Option<Spanned<f64>>,
    /// Highest pair coefficient.
    pub grow_max: Option<Spanned<f64>>,
    /// Inertia.
    pub inertia: Option<Spanned<f64>>,
    /// Cognitive weight.
    pub cognitive: Option<Spanned<f64>>,
    /// Social weight.
    pub social: Option<Spanned<f64>>,
    /// Repel weight.
    pub repel: Option<Spanned<f64>>,
    /// Initial step.
    pub step: Option<Spanned<f64>>,
    /// Step decay.
    pub step_decay: Option<Spanned<f64>>,
    /// Step floor.
    pub step_floor: Option<Spanned<f64>>,
    /// Restart patience.
    pub restart_patience: Option<Spanned<i64>>,
    /// Patience.
    pub patience: Option<Spanned<i64>>,
    /// Iteration limit.
    pub max_iters: Option<Spanned<i64>>,
}

/// `[baselines]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselinesFile {
    /// Largest scale.
    pub scale_max: Option<Spanned<f64>>,
    /// TIES densities.
    pub ties_densities: Option<Spanned<Vec<Spanned<f64>>>>,
}

/// `[routing]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingFile {
    /// Query types.
    pub queries: Option<Spanned<Vec<Spanned<String>>>>,
    /// Validation queries.
    pub valid_items: Option<Spanned<i64>>,
    /// Test queries.
    pub test_items: Option<Spanned<i64>>,
    /// k of k-means.
    pub clusters: Option<Spanned<i64>>,
    /// Nearest clusters summed.
    pub top_clusters: Option<Spanned<i64>>,
    /// Alphas.
    pub alphas: Option<Spanned<Vec<Spanned<f64>>>>,
    /// Utility name.
    pub utility: Option<Spanned<String>>,
    /// Smaller specialist's skill.
    pub small_skill: Option<Spanned<String>>,
    /// Smaller specialist's blocks.
    pub small_depth: Option<Spanned<i64>>,
    /// Smaller specialist's width.
    pub small_width: Option<Spanned<i64>>,
    /// Smaller specialist's heads.
    pub small_heads: Option<Spanned<i64>>,
    /// Larger specialist's skill.
    pub large_skill: Option<Spanned<String>>,
    /// Larger specialist's blocks.
    pub large_depth: Option<Spanned<i64>>,
    /// Larger specialist's width.
    pub large_width: Option<Spanned<i64>>,
    /// Larger specialist's heads.
    pub large_heads: Option<Spanned<i64>>,
}

/// A validated model-swarm scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct SwarmScenario {
    /// Run name.
    pub name: String,
    /// Root seed.
    pub seed: u64,
    /// Repetitions.
    pub seeds: usize,
    /// Output folder from the file.
    pub out: Option<String>,
    /// Model shape.
    pub model: ModelConfig,
    /// Expert skills, in file order.
    pub skills: Vec<Skill>,
    /// Corpus bytes.
    pub corpus_bytes: usize,
    /// Pretraining steps.
    pub pretrain_steps: usize,
    /// Fine-tuning steps.
    pub finetune_steps: usize,
    /// Pretraining optimiser.
    pub pretrain_optim: OptimConfig,
    /// Fine-tuning optimiser.
    pub finetune_optim: OptimConfig,
    /// Skills composed into a target item.
    pub compose: Vec<Skill>,
    /// Validation items.
    pub valid_items: usize,
    /// Test items.
    pub test_items: usize,
    /// The utility searched on.
    pub utility: UtilityKind,
    /// Grown pool members.
    pub grow: usize,
    /// Range of the pair coefficient of grown members.
    pub grow_range: (f64, f64),
    /// The search.
    pub pso: PsoConfig,
    /// Largest baseline scale.
    pub scale_max: f64,
    /// TIES densities.
    pub ties_densities: Vec<f64>,
    /// The routing stage, when the file has a `[routing]` table.
    pub routing: Option<RoutingConfig>,
    /// The file's text (copied into the run folder).
    pub text: String,
}

/// Whether `text` is meant as a model-swarm scenario, so `outerloop run` can dispatch on
/// the file: it has a top-level `kind` key (outer-loop scenarios have none; a wrong
/// value is then reported by [`parse`] at the key). Text that is not TOML is not.
pub fn is_swarm_scenario(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|table| table.contains_key("kind"))
}

/// Read and validate a model-swarm scenario file.
pub fn load(path: &Path) -> Result<SwarmScenario, InputError> {
    let text = crate::input::read_text(path)?;
    parse(path, &text)
}

struct Validator {
    diags: Vec<Diagnostic>,
}

impl Validator {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>, hint: impl Into<String>) {
        self.diags.push(Diagnostic::new(message, span).with_hint(hint));
    }

    fn int(&mut self, v: &Option<Spanned<i64>>, key: &str, default: i64, lo: i64, hi: i64) -> usize {
        let Some(v) = v else { return default as usize };
        int_in_range(&mut self.diags, v, key, lo, hi) as usize
    }

    fn real(&mut self, v: &Option<Spanned<f64>>, key: &str, default: f64, lo: f64, hi: f64) -> f64 {
        let Some(v) = v else { return default };
        let x = *v.get_ref();
        if !(x.is_finite() && x >= lo && x <= hi) {
            self.error(v.span(), format!("`{key}` = {x} is out of range"), format!("use a number from {lo} to {hi}"));
            return default;
        }
        x
    }

    fn skills(&mut self, v: &Option<Spanned<Vec<Spanned<String>>>>, key: &str, default: &[Skill]) -> Vec<Skill> {
        let Some(list) = v else { return default.to_vec() };
        let mut out = Vec::new();
        for s in list.get_ref() {
            match Skill::from_name(s.get_ref()) {
                Some(skill) if out.contains(&skill) => self.error(
                    s.span(),
                    format!("skill `{}` is listed twice in `{key}`", s.get_ref()),
                    "list each skill once",
                ),
                Some(skill) => out.push(skill),
                None => self.error(
                    s.span(),
                    format!("unknown skill `{}` in `{key}`", s.get_ref()),
                    "skills: copy, reverse, add, brackets, recall",
                ),
            }
        }
        if out.len() < 2 && self.diags.is_empty() {
            self.error(list.span(), format!("`{key}` needs at least two skills"), "name two or more distinct skills");
        }
        out
    }
}

/// A sized specialist's four keys: skill, depth, width, heads.
type SizedKeys<'a> =
    (&'a Option<Spanned<String>>, &'a Option<Spanned<i64>>, &'a Option<Spanned<i64>>, &'a Option<Spanned<i64>>);

impl Validator {
    fn utility(&mut self, u: &Option<Spanned<String>>, default: UtilityKind) -> UtilityKind {
        let Some(u) = u else { return default };
        UtilityKind::from_name(u.get_ref()).unwrap_or_else(|| {
            self.error(u.span(), format!("unknown utility `{}`", u.get_ref()), "use \"bpb\" or \"exact-match\"");
            default
        })
    }

    /// A specialist's skill: one of the experts' skills (its corpus is theirs).
    fn expert_skill(&mut self, v: &Option<Spanned<String>>, key: &str, default: Skill, skills: &[Skill]) -> Skill {
        let Some(name) = v else { return default };
        match Skill::from_name(name.get_ref()) {
            Some(skill) if skills.contains(&skill) => skill,
            _ => {
                self.error(
                    name.span(),
                    format!("`{key}` = `{}` is not one of the experts' skills", name.get_ref()),
                    "name a skill listed in experts.skills",
                );
                default
            }
        }
    }

    fn sized(
        &mut self,
        which: &str,
        (skill, depth, width, heads): SizedKeys,
        defaults: (Skill, i64, i64, i64),
        skills: &[Skill],
        context: usize,
    ) -> SizedExpert {
        let skill = self.expert_skill(skill, &format!("routing.{which}_skill"), defaults.0, skills);
        let model = ModelConfig {
            context,
            depth: self.int(depth, &format!("routing.{which}_depth"), defaults.1, 1, 12),
            width: self.int(width, &format!("routing.{which}_width"), defaults.2, 4, 1024),
            heads: self.int(heads, &format!("routing.{which}_heads"), defaults.3, 1, 64),
            init_scale: 1.0,
        };
        if !model.width.is_multiple_of(model.heads) {
            let span = heads.as_ref().or(width.as_ref()).map(|h| h.span()).unwrap_or(0..0);
            self.error(
                span,
                format!("{} heads do not divide width {} of the {which} specialist", model.heads, model.width),
                format!("choose routing.{which}_heads that divide routing.{which}_width"),
            );
        }
        SizedExpert { skill, model }
    }

    fn routing(&mut self, r: &RoutingFile, skills: &[Skill], model: ModelConfig) -> RoutingConfig {
        let queries = match &r.queries {
            None => {
                let mut q: Vec<Vec<Skill>> = Skill::ALL.iter().map(|&s| vec![s]).collect();
                q.push(vec![Skill::Copy, Skill::Recall]);
                q
            }
            Some(list) => {
                if list.get_ref().is_empty() {
                    self.error(list.span(), "`routing.queries` is empty", "list at least two query types");
                }
                let mut out = Vec::new();
                for q in list.get_ref() {
                    let parts: Option<Vec<Skill>> =
                        q.get_ref().split('+').map(|p| Skill::from_name(p.trim())).collect();
                    match parts {
                        Some(p) if max_item_len(p.len()) > model.context + 1 => self.error(
                            q.span(),
                            format!("a `{}` query can be {} bytes, more than context {} + 1", q.get_ref(), max_item_len(p.len()), model.context),
                            "compose fewer skills or raise model.context",
                        ),
                        Some(p) if out.contains(&p) => {
                            self.error(q.span(), format!("query type `{}` is listed twice", q.get_ref()), "list each type once")
                        }
                        Some(p) => out.push(p),
                        None => self.error(
                            q.span(),
                            format!("query type `{}` names an unknown skill", q.get_ref()),
                            "a skill (copy, reverse, add, brackets, recall) or skills joined by `+`, like \"copy+recall\"",
                        ),
                    }
                }
                out
            }
        };
        let alphas = match &r.alphas {
            None => (0..=10).map(|i| i as f64 / 10.0).collect(),
            Some(list) => {
                let xs: Vec<f64> = list
                    .get_ref()
                    .iter()
                    .map(|x| self.real(&Some(x.clone()), "routing.alphas", 0.5, 0.0, 1.0))
                    .collect();
                if xs.is_empty() || xs.windows(2).any(|w| w[0] >= w[1]) {
                    self.error(
                        list.span(),
                        "`routing.alphas` must be non-empty and ascending",
                        "list alphas from 0 to 1, ascending",
                    );
                }
                xs
            }
        };
        RoutingConfig {
            queries,
            valid_items: self.int(&r.valid_items, "routing.valid_items", 300, 2, 1_000_000),
            test_items: self.int(&r.test_items, "routing.test_items", 600, 1, 1_000_000),
            clusters: self.int(&r.clusters, "routing.clusters", 8, 1, 1000),
            top_clusters: self.int(&r.top_clusters, "routing.top_clusters", 1, 1, 1000),
            alphas,
            utility: self.utility(&r.utility, UtilityKind::ExactMatch),
            small: self.sized(
                "small",
                (&r.small_skill, &r.small_depth, &r.small_width, &r.small_heads),
                (Skill::Copy, 1, 32, 2),
                skills,
                model.context,
            ),
            large: self.sized(
                "large",
                (&r.large_skill, &r.large_depth, &r.large_width, &r.large_heads),
                (Skill::Add, 2, 96, 4),
                skills,
                model.context,
            ),
        }
    }
}

/// The model-swarm format's hints for files that do not deserialize.
const HINTS: TomlHints = TomlHints {
    unknown: "remove the key or fix its spelling; model-swarm keys are listed in scenarios/README.md",
    missing: "add the key; see scenarios/model-swarm.toml",
    invalid: "see scenarios/README.md (model-swarm scenarios) for each key's type",
    syntax: "this is not valid TOML; compare with scenarios/model-swarm.toml",
};

/// Parse and validate scenario text (`path` names the file in messages).
pub fn parse(path: &Path, text: &str) -> Result<SwarmScenario, InputError> {
    let source_error = |diagnostics: Vec<Diagnostic>| InputError::Source {
        path: path.to_path_buf(),
        text: text.to_string(),
        diagnostics,
    };
    let raw: SwarmFile = parse_toml(path, text, HINTS)?;
    let mut v = Validator { diags: Vec::new() };
    if raw.kind.get_ref() != KIND {
        v.error(
            raw.kind.span(),
            format!("`kind` = `{}` is not a model-swarm scenario", raw.kind.get_ref()),
            "write kind = \"model-swarm\"",
        );
    }
    let name = raw.name.get_ref().clone();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        v.error(raw.name.span(), format!("run name `{name}` cannot name a folder"), "use letters, digits, `-` and `_`");
    }
    let seeds = v.int(&raw.seeds, "seeds", 3, 1, 100);
    let m = &raw.model;
    let model = ModelConfig {
        context: v.int(&m.context, "model.context", 64, 8, 1024),
        depth: v.int(&m.depth, "model.depth", 2, 1, 12),
        width: v.int(&m.width, "model.width", 64, 4, 1024),
        heads: v.int(&m.heads, "model.heads", 4, 1, 64),
        init_scale: 1.0,
    };
    if !model.width.is_multiple_of(model.heads)
        && let Some(h) = &m.heads
    {
        v.error(
            h.span(),
            format!("{} heads do not divide width {}", model.heads, model.width),
            "choose heads that divide model.width",
        );
    }
    let e = &raw.experts;
    let skills = v.skills(&e.skills, "experts.skills", Skill::ALL);
    let corpus_bytes = v.int(&e.corpus_bytes, "experts.corpus_bytes", 100_000, 2_000, 100_000_000);
    let pretrain_steps = v.int(&e.pretrain_steps, "experts.pretrain_steps", 1500, 1, 10_000_000);
    let finetune_steps = v.int(&e.finetune_steps, "experts.finetune_steps", 300, 1, 10_000_000);
    let batch_tokens = v.int(&e.batch_tokens, "experts.batch_tokens", 1024, 1, 1_000_000);
    let lr = v.real(&e.lr, "experts.lr", 0.003, 1e-6, 1.0);
    let finetune_lr = v.real(&e.finetune_lr, "experts.finetune_lr", 0.0005, 1e-6, 1.0);
    let pretrain_optim = OptimConfig { lr, batch_tokens, ..OptimConfig::default() };
    let finetune_optim = OptimConfig { lr: finetune_lr, ..pretrain_optim };
    let t = &raw.target;
    let compose = v.skills(&t.compose, "target.compose", &[Skill::Copy, Skill::Recall]);
    if let Some(list) = &t.compose {
        for s in list.get_ref() {
            if let Some(skill) = Skill::from_name(s.get_ref())
                && !skills.contains(&skill)
            {
                v.error(
                    s.span(),
                    format!("`{}` has no expert", s.get_ref()),
                    "compose only skills listed in experts.skills",
                );
            }
        }
    }
    if max_item_len(compose.len()) > model.context + 1 {
        let span = m.context.as_ref().map(|c| c.span()).or(t.compose.as_ref().map(|c| c.span())).unwrap_or(0..0);
        v.error(
            span,
            format!(
                "a target item can be {} bytes, more than context {} + 1",
                max_item_len(compose.len()),
                model.context
            ),
            format!("raise model.context to at least {}", max_item_len(compose.len()) - 1),
        );
    }
    let valid_items = v.int(&t.valid_items, "target.valid_items", 200, 1, 1_000_000);
    let test_items = v.int(&t.test_items, "target.test_items", 400, 1, 1_000_000);
    let utility = v.utility(&t.utility, UtilityKind::Bpb);
    let s = &raw.swarm;
    let d = PsoConfig::default();
    let grow = v.int(&s.grow, "swarm.grow", 5, 0, 10_000);
    let grow_min = v.real(&s.grow_min, "swarm.grow_min", -0.5, -10.0, 10.0);
    let grow_max = v.real(&s.grow_max, "swarm.grow_max", 1.5, -10.0, 10.0);
    if grow_min > grow_max
        && let Some(g) = &s.grow_max
    {
        v.error(
            g.span(),
            format!("`swarm.grow_max` = {grow_max} is below `swarm.grow_min` = {grow_min}"),
            "make grow_max >= grow_min",
        );
    }
    let pso = PsoConfig {
        inertia: v.real(&s.inertia, "swarm.inertia", d.inertia, 0.0, 100.0),
        cognitive: v.real(&s.cognitive, "swarm.cognitive", d.cognitive, 0.0, 100.0),
        social: v.real(&s.social, "swarm.social", d.social, 0.0, 100.0),
        repel: v.real(&s.repel, "swarm.repel", d.repel, 0.0, 100.0),
        step: v.real(&s.step, "swarm.step", d.step, 1e-6, 100.0),
        step_decay: v.real(&s.step_decay, "swarm.step_decay", d.step_decay, 1e-6, 1.0),
        step_floor: v.real(&s.step_floor, "swarm.step_floor", d.step_floor, 0.0, 100.0),
        restart_patience: v.int(&s.restart_patience, "swarm.restart_patience", d.restart_patience as i64, 0, 100_000),
        patience: v.int(&s.patience, "swarm.patience", d.patience as i64, 1, 100_000),
        max_iters: v.int(&s.max_iters, "swarm.max_iters", d.max_iters as i64, 0, 100_000),
    };
    if pso.inertia + pso.cognitive + pso.social + pso.repel <= 0.0 {
        let span = s.inertia.as_ref().map(|x| x.span()).unwrap_or(0..0);
        v.error(
            span,
            "the four swarm coefficients are all zero",
            "give at least one of inertia, cognitive, social, repel a positive weight",
        );
    }
    let b = &raw.baselines;
    let scale_max = v.real(&b.scale_max, "baselines.scale_max", 1.5, 1e-6, 100.0);
    let ties_densities = match &b.ties_densities {
        None => vec![0.2, 0.5, 0.8],
        Some(list) => {
            if list.get_ref().is_empty() {
                v.error(list.span(), "`baselines.ties_densities` is empty", "list at least one density in (0, 1]");
            }
            list.get_ref()
                .iter()
                .map(|x| v.real(&Some(x.clone()), "baselines.ties_densities", 0.5, 1e-6, 1.0))
                .collect()
        }
    };
    let routing = raw.routing.as_ref().map(|r| v.routing(r, &skills, model));
    if !v.diags.is_empty() {
        return Err(source_error(v.diags));
    }
    Ok(SwarmScenario {
        name,
        seed: raw.seed,
        seeds,
        out: raw.out,
        model,
        skills,
        corpus_bytes,
        pretrain_steps,
        finetune_steps,
        pretrain_optim,
        finetune_optim,
        compose,
        valid_items,
        test_items,
        utility,
        grow,
        grow_range: (grow_min, grow_max),
        pso,
        scale_max,
        ties_densities,
        routing,
        text: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_a_minimal_file_and_kind_dispatches() {
        let text = "kind = \"model-swarm\"\nname = \"x\"\nseed = 1\n";
        assert!(is_swarm_scenario(text));
        assert!(!is_swarm_scenario("name = \"x\"\n"));
        assert!(!is_swarm_scenario("not toml ["));
        assert!(is_swarm_scenario("kind = \"model-swam\"\n"), "a misspelt kind still reaches the swarm parser");
        let s = parse(Path::new("x.toml"), text).unwrap();
        assert_eq!(s.seeds, 3);
        assert_eq!(s.skills, Skill::ALL.to_vec());
        assert_eq!(s.compose, vec![Skill::Copy, Skill::Recall]);
        assert_eq!(s.pso, PsoConfig::default());
        assert_eq!(s.model, ModelConfig { context: 64, depth: 2, width: 64, heads: 4, init_scale: 1.0 });
    }

    #[test]
    fn problems_are_reported_together_with_spans() {
        let text = "kind = \"model-swarm\"\nname = \"x\"\nseed = 1\n[target]\ncompose = [\"add\", \"juggle\"]\n[swarm]\ninertia = -1.0\n";
        let Err(InputError::Source { diagnostics, .. }) = parse(Path::new("x.toml"), text) else {
            panic!("expected an error")
        };
        assert_eq!(diagnostics.len(), 2, "{diagnostics:?}");
        assert_eq!(&text[diagnostics[0].span.clone()], "\"juggle\"");
        assert_eq!(&text[diagnostics[1].span.clone()], "-1.0");
    }
}
