//! Model-swarm scenarios: a TOML file with `kind = "model-swarm"`, read in two stages
//! like [`crate::scenario`]: [`SwarmFile`] mirrors the TOML (unknown keys rejected,
//! spans kept), [`SwarmScenario`] is the validated value the run uses. Every key, its
//! default and its meaning are defined once, in [`KEYS`]; `scenarios/README.md` carries
//! [`keys_markdown`]'s table (checked by `tests/e2e/swarm.rs`).

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::pso::PsoConfig;
use super::tasks::max_item_len;
use super::utility::UtilityKind;
use crate::diagnostic::{Diagnostic, InputError, TomlHints, parse_toml};
use crate::objective::gpt::{ModelConfig, OptimConfig, Skill};
use crate::scenario::keys::{Check, KeyDoc, table_markdown};
use crate::scenario::validate::Validator;

/// The value of the `kind` key that marks a model-swarm scenario.
pub const KIND: &str = "model-swarm";

/// Every key of a model-swarm scenario, in README order: the kind's row of the one
/// config layer ([`crate::scenario::keys`]).
#[rustfmt::skip]
pub const KEYS: &[KeyDoc] = &[
    KeyDoc { key: "kind", ty: "string", default: "*required*", range: "`\"model-swarm\"`", meaning: "must be `\"model-swarm\"`; tells `outerloop run` this is a model-swarm scenario", check: Check::Any },
    KeyDoc { key: "name", ty: "string", default: "*required*", range: "letters, digits, `-`, `_`", meaning: "run name, also the default output folder `populations/<name>`", check: Check::Any },
    KeyDoc { key: "seed", ty: "integer", default: "*required*", range: "0 to 2^64-1", meaning: "root seed of every random stream", check: Check::Any },
    KeyDoc { key: "seeds", ty: "integer", default: "`3`", range: "1 to 100", meaning: "independent repetitions (base, experts, items, swarm), for the spread", check: Check::Int(1, 100) },
    KeyDoc { key: "out", ty: "path", default: "`populations/<name>`", range: "any folder", meaning: "output folder, relative to the scenario file's folder (the default: under the current directory)", check: Check::Any },
    KeyDoc { key: "model.context", ty: "integer", default: "`64`", range: "8 to 1024", meaning: "context length in bytes (must hold a composed item)", check: Check::Int(8, 1024) },
    KeyDoc { key: "model.depth", ty: "integer", default: "`2`", range: "1 to 12", meaning: "transformer blocks", check: Check::Int(1, 12) },
    KeyDoc { key: "model.width", ty: "integer", default: "`64`", range: "4 to 1024", meaning: "residual width", check: Check::Int(4, 1024) },
    KeyDoc { key: "model.heads", ty: "integer", default: "`4`", range: "1 to 64, dividing the width", meaning: "attention heads (must divide the width)", check: Check::Int(1, 64) },
    KeyDoc { key: "experts.skills", ty: "list of skill names", default: "`[\"copy\", \"reverse\", \"add\", \"brackets\", \"recall\"]`", range: "two or more of copy, reverse, add, brackets, recall", meaning: "one expert is fine-tuned per skill; the base is pretrained on their mixture", check: Check::Any },
    KeyDoc { key: "experts.corpus_bytes", ty: "integer", default: "`100000`", range: "2000 to 100000000", meaning: "bytes of each training corpus (the mixture and each skill)", check: Check::Int(2000, 100_000_000) },
    KeyDoc { key: "experts.pretrain_steps", ty: "integer", default: "`1500`", range: "1 to 10000000", meaning: "optimiser steps of the base model", check: Check::Int(1, 10_000_000) },
    KeyDoc { key: "experts.finetune_steps", ty: "integer", default: "`300`", range: "1 to 10000000", meaning: "optimiser steps of each expert, starting from the base", check: Check::Int(1, 10_000_000) },
    KeyDoc { key: "experts.batch_tokens", ty: "integer", default: "`1024`", range: "1 to 1000000", meaning: "tokens per optimiser step", check: Check::Int(1, 1_000_000) },
    KeyDoc { key: "experts.lr", ty: "number", default: "`0.003`", range: "0.000001 to 1", meaning: "peak learning rate of pretraining (AdamW, 5 % warmup, cosine)", check: Check::Real(1e-6, 1.0) },
    KeyDoc { key: "experts.finetune_lr", ty: "number", default: "`0.0005`", range: "0.000001 to 1", meaning: "peak learning rate of fine-tuning", check: Check::Real(1e-6, 1.0) },
    KeyDoc { key: "target.compose", ty: "list of skill names", default: "`[\"copy\", \"recall\"]`", range: "two or more of `experts.skills`", meaning: "skills chained in one target item, one example each, line after line; an item is solved when every answer is exact (at least two skills, each an expert skill)", check: Check::Any },
    KeyDoc { key: "target.valid_items", ty: "integer", default: "`200`", range: "1 to 1000000", meaning: "validation items: the utility the swarm and the baselines are tuned on", check: Check::Int(1, 1_000_000) },
    KeyDoc { key: "target.test_items", ty: "integer", default: "`400`", range: "1 to 1000000", meaning: "test items the report is measured on", check: Check::Int(1, 1_000_000) },
    KeyDoc { key: "target.utility", ty: "string", default: "`\"bpb\"`", range: "`\"bpb\"`, `\"exact-match\"`", meaning: "`\"bpb\"` (bits per answer byte) or `\"exact-match\"` (searches minimise 1 - accuracy)", check: Check::Any },
    KeyDoc { key: "swarm.grow", ty: "integer", default: "`5`", range: "0 to 10000", meaning: "pool members added before the search by interpolating or extrapolating random pairs of experts", check: Check::Int(0, 10_000) },
    KeyDoc { key: "swarm.grow_min", ty: "number", default: "`-0.5`", range: "-10 to 10", meaning: "lowest pair coefficient t of a grown member a + t (b - a)", check: Check::Real(-10.0, 10.0) },
    KeyDoc { key: "swarm.grow_max", ty: "number", default: "`1.5`", range: "-10 to 10, at least `grow_min`", meaning: "highest pair coefficient t", check: Check::Real(-10.0, 10.0) },
    KeyDoc { key: "swarm.inertia", ty: "number", default: "`0.4`", range: "0 to 100", meaning: "weight of the previous velocity", check: Check::Real(0.0, 100.0) },
    KeyDoc { key: "swarm.cognitive", ty: "number", default: "`0.3`", range: "0 to 100", meaning: "weight of the pull toward the personal best", check: Check::Real(0.0, 100.0) },
    KeyDoc { key: "swarm.social", ty: "number", default: "`0.5`", range: "0 to 100", meaning: "weight of the pull toward the global best", check: Check::Real(0.0, 100.0) },
    KeyDoc { key: "swarm.repel", ty: "number", default: "`0.1`", range: "0 to 100", meaning: "weight of the push away from the global worst", check: Check::Real(0.0, 100.0) },
    KeyDoc { key: "swarm.step", ty: "number", default: "`1.0`", range: "0.000001 to 100", meaning: "initial step length", check: Check::Real(1e-6, 100.0) },
    KeyDoc { key: "swarm.step_decay", ty: "number", default: "`0.95`", range: "0.000001 to 1", meaning: "step length factor per iteration", check: Check::Real(1e-6, 1.0) },
    KeyDoc { key: "swarm.step_floor", ty: "number", default: "`0.1`", range: "0 to 100", meaning: "the step length never decays below this", check: Check::Real(0.0, 100.0) },
    KeyDoc { key: "swarm.restart_patience", ty: "integer", default: "`5`", range: "0 to 100000", meaning: "iterations without a personal-best improvement before a particle restarts at its personal best (0 = never)", check: Check::Int(0, 100_000) },
    KeyDoc { key: "swarm.patience", ty: "integer", default: "`6`", range: "1 to 100000", meaning: "iterations without a global-best improvement before the search stops", check: Check::Int(1, 100_000) },
    KeyDoc { key: "swarm.max_iters", ty: "integer", default: "`25`", range: "0 to 100000", meaning: "maximum iterations", check: Check::Int(0, 100_000) },
    KeyDoc { key: "baselines.scale_max", ty: "number", default: "`1.5`", range: "0.000001 to 100", meaning: "task arithmetic and TIES try scales evenly spaced over (0, scale_max]", check: Check::Real(1e-6, 100.0) },
    KeyDoc { key: "baselines.ties_densities", ty: "list of numbers", default: "`[0.2, 0.5, 0.8]`", range: "each 0.000001 to 1, at least one", meaning: "fractions of each task vector TIES keeps; the scale grid is split among them", check: Check::Any },
    KeyDoc { key: "routing.queries", ty: "list of strings", default: "`[\"copy\", \"reverse\", \"add\", \"brackets\", \"recall\", \"copy+recall\"]`", range: "skills, or skills joined by `+`", meaning: "query types of the routing stage (a `[routing]` table turns the stage on): a skill, or skills joined by `+` composed into one item; each query draws its type uniformly", check: Check::Any },
    KeyDoc { key: "routing.valid_items", ty: "integer", default: "`300`", range: "2 to 1000000", meaning: "validation queries: the clusters and each cluster's model scores are fitted on them", check: Check::Int(2, 1_000_000) },
    KeyDoc { key: "routing.test_items", ty: "integer", default: "`600`", range: "1 to 1000000", meaning: "test queries every routing number is measured on", check: Check::Int(1, 1_000_000) },
    KeyDoc { key: "routing.clusters", ty: "integer", default: "`8`", range: "1 to 1000", meaning: "k of the k-means over the queries' byte n-gram embeddings", check: Check::Int(1, 1000) },
    KeyDoc { key: "routing.top_clusters", ty: "integer", default: "`1`", range: "1 to 1000", meaning: "nearest clusters whose scores are summed to route a query", check: Check::Int(1, 1000) },
    KeyDoc { key: "routing.alphas", ty: "list of numbers", default: "`[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]`", range: "each 0 to 1, ascending", meaning: "trade-offs swept: a model's score in a cluster is alpha x normalised utility + (1 - alpha) x (1 - normalised cost)", check: Check::Any },
    KeyDoc { key: "routing.utility", ty: "string", default: "`\"exact-match\"`", range: "`\"exact-match\"`, `\"bpb\"`", meaning: "per-query utility of the router: `\"exact-match\"` (1 or 0) or `\"bpb\"` (minus bits per answer byte)", check: Check::Any },
    KeyDoc { key: "routing.small_skill", ty: "string", default: "`\"copy\"`", range: "one of `experts.skills`", meaning: "skill of the smaller specialist (one of `experts.skills`)", check: Check::Any },
    KeyDoc { key: "routing.small_depth", ty: "integer", default: "`1`", range: "1 to 12", meaning: "blocks of the smaller specialist", check: Check::Int(1, 12) },
    KeyDoc { key: "routing.small_width", ty: "integer", default: "`32`", range: "4 to 1024", meaning: "residual width of the smaller specialist", check: Check::Int(4, 1024) },
    KeyDoc { key: "routing.small_heads", ty: "integer", default: "`2`", range: "1 to 64, dividing the width", meaning: "attention heads of the smaller specialist", check: Check::Int(1, 64) },
    KeyDoc { key: "routing.large_skill", ty: "string", default: "`\"add\"`", range: "one of `experts.skills`", meaning: "skill of the larger specialist (one of `experts.skills`)", check: Check::Any },
    KeyDoc { key: "routing.large_depth", ty: "integer", default: "`2`", range: "1 to 12", meaning: "blocks of the larger specialist", check: Check::Int(1, 12) },
    KeyDoc { key: "routing.large_width", ty: "integer", default: "`96`", range: "4 to 1024", meaning: "residual width of the larger specialist", check: Check::Int(4, 1024) },
    KeyDoc { key: "routing.large_heads", ty: "integer", default: "`4`", range: "1 to 64, dividing the width", meaning: "attention heads of the larger specialist", check: Check::Int(1, 64) },
];

/// The README's model-swarm key table.
pub fn keys_markdown() -> String {
    table_markdown(KEYS)
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

/// A specialist of its own size: pretrained on the mixture, fine-tuned on `skill`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizedExpert {
    /// The skill it is fine-tuned on (one of the experts' skills).
    pub skill: Skill,
    /// Its shape (context as the run's model).
    pub model: ModelConfig,
}

/// `[routing]`: the routing stage's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingConfig {
    /// Query types: each a list of skills composed into one item (one skill: a single
    /// example). Every query draws its type uniformly.
    pub queries: Vec<Vec<Skill>>,
    /// Validation queries (fit the clusters and the per-cluster scores).
    pub valid_items: usize,
    /// Test queries (every number reported).
    pub test_items: usize,
    /// k of k-means.
    pub clusters: usize,
    /// Nearest clusters whose scores a query sums.
    pub top_clusters: usize,
    /// The trade-off values swept, ascending.
    pub alphas: Vec<f64>,
    /// Per-query utility: exact match (1 or 0) or minus bits per answer byte.
    pub utility: UtilityKind,
    /// The smaller specialist.
    pub small: SizedExpert,
    /// The larger specialist.
    pub large: SizedExpert,
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
    crate::scenario::declares_kind(text)
}

/// Read and validate a model-swarm scenario file.
pub fn load(path: &Path) -> Result<SwarmScenario, InputError> {
    let text = crate::input::read_text(path)?;
    parse(path, &text)
}

/// The model-swarm checks beyond a key's table range.
trait SwarmChecks {
    fn skills(&mut self, v: &Option<Spanned<Vec<Spanned<String>>>>, key: &str, default: &[Skill]) -> Vec<Skill>;
    fn utility(&mut self, u: &Option<Spanned<String>>, default: UtilityKind) -> UtilityKind;
    fn expert_skill(&mut self, v: &Option<Spanned<String>>, key: &str, default: Skill, skills: &[Skill]) -> Skill;
    fn sized(&mut self, which: &str, keys: SizedKeys, skills: &[Skill], context: usize) -> SizedExpert;
    fn routing(&mut self, r: &RoutingFile, skills: &[Skill], model: ModelConfig) -> RoutingConfig;
}

impl SwarmChecks for Validator<'_> {
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
        skills: &[Skill],
        context: usize,
    ) -> SizedExpert {
        let key = |name: &str| format!("routing.{which}_{name}");
        let default_skill = self.default_of::<String>(&key("skill")).map(|s| s.trim_matches('"').to_string());
        let default_skill = default_skill.as_deref().and_then(Skill::from_name).unwrap_or(Skill::Copy);
        let skill = self.expert_skill(skill, &key("skill"), default_skill, skills);
        let model = ModelConfig {
            context,
            depth: self.int_or_default(depth.as_ref(), &key("depth")) as usize,
            width: self.int_or_default(width.as_ref(), &key("width")) as usize,
            heads: self.int_or_default(heads.as_ref(), &key("heads")) as usize,
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
                let xs: Vec<f64> =
                    list.get_ref().iter().map(|x| self.real_within(x, "routing.alphas", 0.0, 1.0)).collect();
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
            valid_items: self.int_or_default(r.valid_items.as_ref(), "routing.valid_items") as usize,
            test_items: self.int_or_default(r.test_items.as_ref(), "routing.test_items") as usize,
            clusters: self.int_or_default(r.clusters.as_ref(), "routing.clusters") as usize,
            top_clusters: self.int_or_default(r.top_clusters.as_ref(), "routing.top_clusters") as usize,
            alphas,
            utility: self.utility(&r.utility, UtilityKind::ExactMatch),
            small: self.sized(
                "small",
                (&r.small_skill, &r.small_depth, &r.small_width, &r.small_heads),
                skills,
                model.context,
            ),
            large: self.sized(
                "large",
                (&r.large_skill, &r.large_depth, &r.large_width, &r.large_heads),
                skills,
                model.context,
            ),
        }
    }
}

/// A sized specialist's four keys: skill, depth, width, heads.
type SizedKeys<'a> =
    (&'a Option<Spanned<String>>, &'a Option<Spanned<i64>>, &'a Option<Spanned<i64>>, &'a Option<Spanned<i64>>);

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
    let mut v = Validator::new(KEYS);
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
    let seeds = v.int_or_default(raw.seeds.as_ref(), "seeds") as usize;
    let m = &raw.model;
    let model = ModelConfig {
        context: v.int_or_default(m.context.as_ref(), "model.context") as usize,
        depth: v.int_or_default(m.depth.as_ref(), "model.depth") as usize,
        width: v.int_or_default(m.width.as_ref(), "model.width") as usize,
        heads: v.int_or_default(m.heads.as_ref(), "model.heads") as usize,
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
    let corpus_bytes = v.int_or_default(e.corpus_bytes.as_ref(), "experts.corpus_bytes") as usize;
    let pretrain_steps = v.int_or_default(e.pretrain_steps.as_ref(), "experts.pretrain_steps") as usize;
    let finetune_steps = v.int_or_default(e.finetune_steps.as_ref(), "experts.finetune_steps") as usize;
    let batch_tokens = v.int_or_default(e.batch_tokens.as_ref(), "experts.batch_tokens") as usize;
    let lr = v.real_or_default(e.lr.as_ref(), "experts.lr");
    let finetune_lr = v.real_or_default(e.finetune_lr.as_ref(), "experts.finetune_lr");
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
    let valid_items = v.int_or_default(t.valid_items.as_ref(), "target.valid_items") as usize;
    let test_items = v.int_or_default(t.test_items.as_ref(), "target.test_items") as usize;
    let utility = v.utility(&t.utility, UtilityKind::Bpb);
    let s = &raw.swarm;
    let grow = v.int_or_default(s.grow.as_ref(), "swarm.grow") as usize;
    let grow_min = v.real_or_default(s.grow_min.as_ref(), "swarm.grow_min");
    let grow_max = v.real_or_default(s.grow_max.as_ref(), "swarm.grow_max");
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
        inertia: v.real_or_default(s.inertia.as_ref(), "swarm.inertia"),
        cognitive: v.real_or_default(s.cognitive.as_ref(), "swarm.cognitive"),
        social: v.real_or_default(s.social.as_ref(), "swarm.social"),
        repel: v.real_or_default(s.repel.as_ref(), "swarm.repel"),
        step: v.real_or_default(s.step.as_ref(), "swarm.step"),
        step_decay: v.real_or_default(s.step_decay.as_ref(), "swarm.step_decay"),
        step_floor: v.real_or_default(s.step_floor.as_ref(), "swarm.step_floor"),
        restart_patience: v.int_or_default(s.restart_patience.as_ref(), "swarm.restart_patience") as usize,
        patience: v.int_or_default(s.patience.as_ref(), "swarm.patience") as usize,
        max_iters: v.int_or_default(s.max_iters.as_ref(), "swarm.max_iters") as usize,
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
    let scale_max = v.real_or_default(b.scale_max.as_ref(), "baselines.scale_max");
    let ties_densities = match &b.ties_densities {
        None => vec![0.2, 0.5, 0.8],
        Some(list) => {
            if list.get_ref().is_empty() {
                v.error(list.span(), "`baselines.ties_densities` is empty", "list at least one density in (0, 1]");
            }
            list.get_ref().iter().map(|x| v.real_within(x, "baselines.ties_densities", 1e-6, 1.0)).collect()
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
    fn the_key_table_states_every_check_and_parsable_defaults() {
        let v = Validator::new(KEYS);
        for k in KEYS {
            assert!(crate::scenario::keys::check_matches_range(k), "{}: range and check differ", k.key);
            match k.check {
                Check::Int(..) => assert!(v.default_of::<i64>(k.key).is_some(), "{}", k.key),
                Check::Real(..) => assert!(v.default_of::<f64>(k.key).is_some(), "{}", k.key),
                Check::Any => {}
            }
        }
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
