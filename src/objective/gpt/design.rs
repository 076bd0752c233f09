//! Table specs: which configs a table of real trials holds, and over which space.
//!
//! A spec is a small TOML file. A **grid** lists values per knob and takes their
//! product (the original `gpt-synthetic` table); a **design** declares a search space
//! and draws a space-filling set of configs from it (Owen-scrambled Sobol points, the
//! standard low-discrepancy design; a full grid is impossible at 8+ knobs):
//!
//! ```toml
//! corpus = "shakespeare"   # optional: a named corpus or a file, from the spec's folder (default: synthetic)
//! budget = 20              # optional: GFLOP per full trial (else --budget)
//! seeds = 3                # optional (else --seeds)
//! context = 32             # optional, default 64
//! eval_tokens = 2048       # optional, default 8192
//! fidelities = [0.03125, 0.0625, 0.125, 0.25, 0.5, 1]  # optional, default [0.125, 0.25, 0.5, 1]
//! [design]
//! configs = 1024
//! seed = 1
//! [space]
//! lr = { log = [3e-4, 3e-2] }
//! warmup = { linear = [0, 0.3] }
//! depth = { integer = [1, 5] }
//! width = [16, 32, 64]                      # ordinal
//! schedule = ["cosine", "linear", "constant"] # categorical
//! ```
//!
//! or `[grid]` with a list per knob. Knobs of [`super::gpt_space`] left out take their
//! defaults. The space is written into the table header in a one-line form
//! ([`space_to_header`]) so a table file describes itself.

use super::limits::{MAX_BUDGET_GFLOP, MAX_CONFIGS, MAX_CONTEXT, MAX_EVAL_TOKENS, MAX_SEEDS};
use std::path::{Path, PathBuf};

use super::corpora::CorpusSource;
use super::{gpt_space, parse_value};
use crate::space::{Knob, KnobKind, SearchSpace};
use crate::space_spec::knob_from_toml;

/// A problem with a spec or header (the message names the key).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SpecError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong, with the key.
    pub message: String,
}

/// How the configs of a table were chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum DesignKind {
    /// The product of per-knob value lists (last knob fastest).
    Grid,
    /// `configs` Owen-scrambled Sobol points with scramble seed `seed`.
    Sobol {
        /// Number of configs.
        configs: usize,
        /// Scramble seed.
        seed: u32,
    },
}

impl DesignKind {
    /// The header form: `grid` or `sobol CONFIGS SEED`.
    pub fn header(&self) -> String {
        match self {
            DesignKind::Grid => "grid".into(),
            DesignKind::Sobol { configs, seed } => format!("sobol {configs} {seed}"),
        }
    }

    /// Parse the header form.
    pub fn parse_header(text: &str) -> Option<DesignKind> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        match parts.as_slice() {
            ["grid"] => Some(DesignKind::Grid),
            ["sobol", n, s] => Some(DesignKind::Sobol { configs: n.parse().ok()?, seed: s.parse().ok()? }),
            _ => None,
        }
    }
}

/// Everything a table build needs apart from budget, seeds and output.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    /// The table's search space (a subset of the GPT knobs, possibly narrowed).
    pub space: SearchSpace,
    /// How configs were chosen.
    pub design: DesignKind,
    /// The configs: for each, the value of every knob of `space` as text.
    pub configs: Vec<Vec<String>>,
    /// Context length of the trials.
    pub context: usize,
    /// Held-out bytes scored per checkpoint.
    pub eval_tokens: usize,
    /// The corpus, when the spec gives one (a file path relative to the spec's folder).
    pub corpus: Option<CorpusSource>,
    /// Budget per full trial in GFLOP, when the spec gives one.
    pub budget: Option<f64>,
    /// Seeds per config, when the spec gives them.
    pub seeds: Option<u64>,
    /// The fidelity levels scored along each trial (fractions of its budget, increasing,
    /// the last 1): each is a prefix of the one training run.
    pub fidelities: Vec<f64>,
}

/// The lowest fidelity level a table may score: below it a prefix is a handful of steps.
pub const MIN_TABLE_FIDELITY: f64 = 1.0 / 256.0;

impl TableSpec {
    /// Parse a spec file's text.
    pub fn parse(path: &Path, text: &str) -> Result<TableSpec, SpecError> {
        let bad = |message: String| SpecError { path: path.to_path_buf(), message };
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| bad(e.to_string()))?;
        for key in doc.keys() {
            if !["corpus", "budget", "seeds", "context", "eval_tokens", "fidelities", "grid", "design", "space"]
                .contains(&key.as_str())
            {
                return Err(bad(format!(
                    "unknown key `{key}` (keys: corpus, budget, seeds, context, eval_tokens, fidelities, [grid] or [design] with [space])"
                )));
            }
        }
        let uint = |key: &str, default: Option<usize>| -> Result<Option<usize>, SpecError> {
            match doc.get(key) {
                None => Ok(default),
                Some(v) => v
                    .as_integer()
                    .filter(|&i| i > 0)
                    .map(|i| Some(i as usize))
                    .ok_or_else(|| bad(format!("`{key}` must be a positive integer"))),
            }
        };
        let at_most = |key: &str, value: Option<usize>, max: usize| match value {
            Some(v) if v > max => Err(bad(format!("`{key}` is {v}; at most {max}"))),
            _ => Ok(value),
        };
        let context = at_most("context", uint("context", Some(super::DEFAULT_CONTEXT))?, MAX_CONTEXT)?
            .unwrap_or(super::DEFAULT_CONTEXT);
        let eval_tokens = at_most("eval_tokens", uint("eval_tokens", Some(8192))?, MAX_EVAL_TOKENS)?.unwrap_or(8192);
        let seeds = at_most("seeds", uint("seeds", None)?, MAX_SEEDS as usize)?.map(|s| s as u64);
        let budget = match doc.get("budget") {
            None => None,
            Some(v) => Some(
                v.as_float()
                    .or_else(|| v.as_integer().map(|i| i as f64))
                    .filter(|b| b.is_finite() && *b > 0.0 && *b <= MAX_BUDGET_GFLOP)
                    .ok_or_else(|| {
                        bad(format!("`budget` must be a positive number of GFLOP, at most {MAX_BUDGET_GFLOP}"))
                    })?,
            ),
        };
        let fidelities = match doc.get("fidelities") {
            None => super::train::FIDELITIES.to_vec(),
            Some(v) => v
                .as_array()
                .and_then(|a| {
                    a.iter().map(|x| x.as_float().or_else(|| x.as_integer().map(|i| i as f64))).collect::<Option<Vec<f64>>>()
                })
                .filter(|levels| {
                    crate::objective::command::spec::valid_levels(levels)
                        && levels.len() <= 16
                        && levels[0] >= MIN_TABLE_FIDELITY
                })
                .ok_or_else(|| {
                    bad("`fidelities` must be at most 16 increasing budget fractions from 1/256 up, ending at 1 (e.g. [0.03125, 0.0625, 0.125, 0.25, 0.5, 1])".into())
                })?,
        };
        let corpus = match doc.get("corpus") {
            None => None,
            Some(v) => {
                let name = v.as_str().ok_or_else(|| bad("`corpus` must be a string".into()))?;
                match CorpusSource::parse(name).map_err(&bad)? {
                    CorpusSource::File(file) => {
                        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                        let file = if file.is_absolute() { file } else { dir.join(file) };
                        if !file.is_file() {
                            return Err(bad(format!(
                                "`corpus`: no file {} (paths are from the spec's folder)",
                                file.display()
                            )));
                        }
                        Some(CorpusSource::File(file))
                    }
                    named => Some(named),
                }
            }
        };
        let (space, design, configs) = match (doc.get("grid"), doc.get("design")) {
            (Some(grid), None) => {
                let grid = grid.as_table().ok_or_else(|| bad("`grid` must be a table".into()))?;
                let axes = grid_axes(grid).map_err(&bad)?;
                let size = axes.iter().try_fold(1usize, |n, a| n.checked_mul(a.1.len())).filter(|&n| n <= MAX_CONFIGS);
                if size.is_none() {
                    let lengths: Vec<String> = axes.iter().map(|a| a.1.len().to_string()).collect();
                    return Err(bad(format!("the grid has {} configs; at most {MAX_CONFIGS}", lengths.join(" x "))));
                }
                let space = grid_space(&axes);
                (space, DesignKind::Grid, grid_configs(&axes))
            }
            (None, Some(design)) => {
                let design = design.as_table().ok_or_else(|| bad("`design` must be a table".into()))?;
                let configs = design
                    .get("configs")
                    .and_then(|v| v.as_integer())
                    .filter(|&n| (1..=MAX_CONFIGS as i64).contains(&n))
                    .ok_or_else(|| bad(format!("[design] needs `configs`, a count from 1 to {MAX_CONFIGS}")))?
                    as usize;
                let seed = match design.get("seed") {
                    None => 0,
                    Some(v) => v
                        .as_integer()
                        .and_then(|s| u32::try_from(s).ok())
                        .ok_or_else(|| bad("[design] `seed` must be an integer from 0 to 4294967295".into()))?,
                };
                if let Some(key) = design.keys().find(|k| *k != "configs" && *k != "seed") {
                    return Err(bad(format!("unknown key `{key}` in [design] (keys: configs, seed)")));
                }
                let space_table = doc
                    .get("space")
                    .and_then(|s| s.as_table())
                    .ok_or_else(|| bad("a [design] needs a [space] table of knob ranges".into()))?;
                let space = space_from_toml(space_table).map_err(&bad)?;
                let kind = DesignKind::Sobol { configs, seed };
                let configs = sobol_configs(&space, configs, seed);
                (space, kind, configs)
            }
            (Some(_), Some(_)) => return Err(bad("give either [grid] or [design], not both".into())),
            (None, None) => return Err(bad("missing [grid] or [design] table".into())),
        };
        Ok(TableSpec { space, design, configs, context, eval_tokens, corpus, budget, seeds, fidelities })
    }
}

/// Grid axes from a `[grid]` table, in GPT-space knob order.
fn grid_axes(grid: &toml::Table) -> Result<Vec<(Knob, Vec<String>)>, String> {
    let full = gpt_space();
    for key in grid.keys() {
        if full.index_of(key).is_none() {
            return Err(format!("unknown knob `{key}` in [grid] (knobs: {})", knob_names()));
        }
    }
    let mut axes = Vec::new();
    for knob in full.knobs() {
        let Some(values) = grid.get(&knob.name) else { continue };
        let values = values.as_array().ok_or_else(|| format!("grid `{}` must be a list", knob.name))?;
        let mut typed = Vec::new();
        for v in values {
            let text = toml_scalar_text(v).ok_or_else(|| format!("grid `{}`: unsupported value {v}", knob.name))?;
            let value = parse_value(knob, &text).map_err(|e| e.to_string())?;
            typed.push((value, text));
        }
        typed.sort_by(|a, b| a.0.as_f64().total_cmp(&b.0.as_f64()));
        typed.dedup_by(|a, b| a.0 == b.0);
        if typed.is_empty() {
            return Err(format!("grid `{}` is empty", knob.name));
        }
        axes.push((knob.clone(), typed.into_iter().map(|t| t.1).collect()));
    }
    if axes.is_empty() {
        return Err("the grid has no knobs".into());
    }
    Ok(axes)
}

/// The space over grid axes: an ordinal or categorical knob per axis.
pub fn grid_space_from_text(axes: &[(String, Vec<String>)]) -> SearchSpace {
    let full = gpt_space();
    let knobs: Vec<(Knob, Vec<String>)> = axes
        .iter()
        .filter_map(|(name, values)| full.index_of(name).map(|i| (full.knobs()[i].clone(), values.clone())))
        .collect();
    grid_space(&knobs)
}

fn grid_space(axes: &[(Knob, Vec<String>)]) -> SearchSpace {
    let knobs = axes
        .iter()
        .map(|(knob, values)| match &knob.kind {
            KnobKind::Categorical { .. } => {
                let names: Vec<&str> = values.iter().map(String::as_str).collect();
                Knob::categorical(&knob.name, &names)
            }
            _ => {
                let nums: Vec<f64> = values.iter().map(|v| v.parse().unwrap_or(0.0)).collect();
                Knob::ordinal(&knob.name, &nums)
            }
        })
        .collect();
    SearchSpace::new(knobs).unwrap_or_else(|_| gpt_space())
}

/// Configs of a grid, last axis fastest.
fn grid_configs(axes: &[(Knob, Vec<String>)]) -> Vec<Vec<String>> {
    grid_product(&axes.iter().map(|a| a.1.as_slice()).collect::<Vec<_>>())
}

/// Every combination of one value per axis, last axis fastest (a grid's design order).
pub fn grid_product(axes: &[&[String]]) -> Vec<Vec<String>> {
    let total: usize = axes.iter().map(|a| a.len()).product();
    (0..total)
        .map(|mut i| {
            let mut out = vec![String::new(); axes.len()];
            for (k, axis) in axes.iter().enumerate().rev() {
                out[k] = axis[i % axis.len()].clone();
                i /= axis.len();
            }
            out
        })
        .collect()
}

fn toml_scalar_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        _ => None,
    }
}

fn knob_names() -> String {
    gpt_space().knobs().iter().map(|k| k.name.clone()).collect::<Vec<_>>().join(", ")
}

/// A search space from a `[space]` table (see the module doc), in GPT-space knob order:
/// the user's knob syntax ([`crate::space_spec`]), then checked against each GPT knob.
fn space_from_toml(table: &toml::Table) -> Result<SearchSpace, String> {
    let full = gpt_space();
    for key in table.keys() {
        if full.index_of(key).is_none() {
            return Err(format!("unknown knob `{key}` in [space] (knobs: {})", knob_names()));
        }
    }
    let mut knobs = Vec::new();
    for base in full.knobs() {
        let Some(value) = table.get(&base.name) else { continue };
        let name = &base.name;
        let knob = knob_from_toml(name, value).map_err(|e| e.to_string())?;
        match (&base.kind, &knob.kind) {
            (KnobKind::Categorical { choices }, KnobKind::Categorical { choices: picked }) => {
                if let Some(bad) = picked.iter().find(|p| !choices.contains(p)) {
                    return Err(format!("`{name}`: unknown choice `{bad}` (choices: {})", choices.join(", ")));
                }
            }
            (KnobKind::Categorical { .. }, _) => return Err(format!("`{name}` is categorical: give a list of names")),
            (_, KnobKind::Categorical { .. }) => {
                return Err(format!("`{name}` is numeric: give a list of numbers or a range"));
            }
            _ => {}
        }
        knobs.push(knob);
    }
    if knobs.is_empty() {
        return Err("[space] has no knobs".into());
    }
    SearchSpace::new(knobs).map_err(|e| e.to_string())
}

/// The one-line header form of a space:
/// `lr=log:0.0003:0.03 depth=integer:1:5 width=ordinal:16,32 schedule=categorical:cosine,linear`.
pub fn space_to_header(space: &SearchSpace) -> String {
    space
        .knobs()
        .iter()
        .map(|k| {
            let body = match &k.kind {
                KnobKind::Continuous { lo, hi, log } => format!("{}:{lo}:{hi}", if *log { "log" } else { "linear" }),
                KnobKind::Integer { lo, hi } => format!("integer:{lo}:{hi}"),
                KnobKind::Ordinal { values } => {
                    format!("ordinal:{}", values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","))
                }
                KnobKind::Categorical { choices } => format!("categorical:{}", choices.join(",")),
            };
            format!("{}={body}", k.name)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parse [`space_to_header`]'s form.
pub fn space_from_header(text: &str) -> Result<SearchSpace, String> {
    let full = gpt_space();
    let mut knobs = Vec::new();
    for part in text.split_whitespace() {
        let bad = || format!("bad space entry `{part}`");
        let (name, body) = part.split_once('=').ok_or_else(bad)?;
        if full.index_of(name).is_none() {
            return Err(format!("unknown knob `{name}` in the space header"));
        }
        let (form, rest) = body.split_once(':').ok_or_else(bad)?;
        let nums =
            |s: &str| s.split([',', ':']).map(|v| v.parse::<f64>().map_err(|_| bad())).collect::<Result<Vec<_>, _>>();
        let knob = match form {
            "log" | "linear" | "integer" => {
                let v = nums(rest)?;
                if v.len() != 2 {
                    return Err(bad());
                }
                match form {
                    "log" => Knob::log(name, v[0], v[1]),
                    "linear" => Knob::linear(name, v[0], v[1]),
                    _ => Knob::integer(name, v[0] as i64, v[1] as i64),
                }
            }
            "ordinal" => Knob::ordinal(name, &nums(rest)?),
            "categorical" => Knob::categorical(name, &rest.split(',').collect::<Vec<_>>()),
            _ => return Err(bad()),
        };
        knobs.push(knob);
    }
    SearchSpace::new(knobs).map_err(|e| e.to_string())
}

/// Render a real value with 4 significant digits (so a table's text is its truth).
fn four_digits(x: f64) -> String {
    let rounded: f64 = format!("{x:.3e}").parse().unwrap_or(x);
    rounded.to_string()
}

/// `n` configs at Owen-scrambled Sobol points of `space`, as value texts.
pub fn sobol_configs(space: &SearchSpace, n: usize, seed: u32) -> Vec<Vec<String>> {
    (0..n)
        .map(|i| {
            space
                .knobs()
                .iter()
                .enumerate()
                .map(|(d, knob)| {
                    let u = f64::from(sobol_burley::sample(i as u32, d as u32, seed));
                    let value = knob.decode(u);
                    match &knob.kind {
                        KnobKind::Continuous { .. } => four_digits(value.as_f64()),
                        _ => knob.display(value),
                    }
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
corpus = "records"
budget = 20
context = 32
eval_tokens = 2048
[design]
configs = 64
seed = 3
[space]
lr = { log = [3e-4, 3e-2] }
depth = { integer = [1, 4] }
width = [16, 32, 64]
schedule = ["cosine", "constant"]
warmup = { linear = [0, 0.3] }
"#;

    #[test]
    fn design_specs_parse_and_fill_the_space() {
        let spec = TableSpec::parse(Path::new("s.toml"), SPEC).unwrap();
        assert_eq!(spec.corpus, Some(CorpusSource::Named(super::super::corpora::CorpusName::Records)));
        assert_eq!(spec.configs.len(), 64);
        assert_eq!(spec.space.dim(), 5);
        // Every width and every schedule appears: the design covers each axis.
        let w = spec.space.index_of("width").unwrap();
        for v in ["16", "32", "64"] {
            assert!(spec.configs.iter().any(|c| c[w] == v), "width {v} missing");
        }
        let lr = spec.space.index_of("lr").unwrap();
        let lrs: Vec<f64> = spec.configs.iter().map(|c| c[lr].parse().unwrap()).collect();
        assert!(lrs.iter().all(|&x| (3e-4..=3e-2).contains(&x)));
        // Space-filling: each quarter of the log-lr range holds a quarter of the points.
        for q in 0..4 {
            let n = spec.space.knobs()[lr].clone();
            let inside = lrs
                .iter()
                .filter(|&&x| {
                    let u = n.encode(crate::space::KnobValue::Real(x));
                    u >= q as f64 / 4.0 && u < (q + 1) as f64 / 4.0
                })
                .count();
            assert!((14..=18).contains(&inside), "quarter {q}: {inside}");
        }
        assert_eq!(TableSpec::parse(Path::new("s.toml"), SPEC).unwrap(), spec, "deterministic");
        assert_eq!(spec.fidelities, super::super::train::FIDELITIES.to_vec(), "the default levels");
        let deep = format!("fidelities = [0.03125, 0.0625, 0.125, 0.25, 0.5, 1]\n{SPEC}");
        let deep = TableSpec::parse(Path::new("s.toml"), &deep).unwrap();
        assert_eq!(deep.fidelities, vec![0.03125, 0.0625, 0.125, 0.25, 0.5, 1.0]);
    }

    #[test]
    fn the_space_header_round_trips() {
        let spec = TableSpec::parse(Path::new("s.toml"), SPEC).unwrap();
        let text = space_to_header(&spec.space);
        assert_eq!(space_from_header(&text).unwrap(), spec.space);
        assert_eq!(DesignKind::parse_header(&spec.design.header()), Some(spec.design.clone()));
    }

    #[test]
    fn bad_specs_name_the_key() {
        let cases = [
            ("[design]\nconfigs = 4\n", "[space]"),
            ("[design]\nconfigs = 0\n[space]\nlr = { log = [1e-3, 1e-2] }\n", "configs"),
            ("[design]\nconfigs = 4\n[space]\nnope = [1]\n", "unknown knob `nope`"),
            ("[design]\nconfigs = 4\n[space]\nschedule = [1, 2]\n", "categorical"),
            ("[design]\nconfigs = 4\n[space]\nschedule = [\"weird\"]\n", "unknown choice"),
            ("[design]\nconfigs = 4\n[space]\nlr = { cubic = [1, 2] }\n", "unknown range kind"),
            ("[design]\nconfigs = 4\n[space]\nlr = { log = [0, 2] }\n", "lr"),
            ("corpus = \"moon\"\n[grid]\nlr = [0.1]\n", "unknown corpus"),
            ("colour = 1\n[grid]\nlr = [0.1]\n", "unknown key `colour`"),
            ("", "missing [grid] or [design]"),
            ("fidelities = [0.5, 0.25, 1]\n[grid]\nlr = [0.1]\n", "fidelities"),
            ("fidelities = [0.25, 0.5]\n[grid]\nlr = [0.1]\n", "fidelities"),
            ("fidelities = [0.001, 1]\n[grid]\nlr = [0.1]\n", "1/256"),
            ("fidelities = \"low\"\n[grid]\nlr = [0.1]\n", "fidelities"),
        ];
        for (text, needle) in cases {
            let e = TableSpec::parse(Path::new("s.toml"), text).unwrap_err();
            assert!(e.message.contains(needle), "{text:?}: {}", e.message);
        }
    }

    /// Counts and sizes that used to abort on allocation or start a trial that never
    /// ends are refused at load, with the cap (`gpt::limits`).
    #[test]
    fn specs_cannot_ask_for_more_than_the_caps() {
        let hundred =
            |from: usize| format!("[{}]", (from..from + 100).map(|i| i.to_string()).collect::<Vec<_>>().join(", "));
        let grid = format!(
            "[grid]\nbatch_tokens = {}\nwarmup = {}\ndepth = {}\nwidth = {}\n",
            hundred(1),
            hundred(1),
            hundred(1),
            hundred(1)
        );
        let cases = [
            (grid.as_str(), "the grid has 100 x 100 x 100 x 100 configs; at most 65536"),
            ("seeds = 1000000000\n[grid]\nlr = [0.1]\n", "`seeds` is 1000000000; at most 1000"),
            ("budget = 1e308\n[grid]\nlr = [0.1]\n", "at most 100000"),
            (
                "eval_tokens = 4611686018427387904\n[grid]\nlr = [0.1]\n",
                "`eval_tokens` is 4611686018427387904; at most 16777216",
            ),
            ("context = 100000\n[grid]\nlr = [0.1]\n", "`context` is 100000; at most 4096"),
            ("[design]\nconfigs = 2000000\n[space]\nlr = { log = [1e-3, 1e-2] }\n", "from 1 to 65536"),
        ];
        for (text, needle) in cases {
            let e = TableSpec::parse(Path::new("s.toml"), text).unwrap_err();
            assert!(e.message.contains(needle), "{text:.60}: {}", e.message);
        }
        let at_the_caps = "seeds = 1000\nbudget = 100000\ncontext = 4096\neval_tokens = 16777216\n[grid]\nlr = [0.1]\n";
        TableSpec::parse(Path::new("s.toml"), at_the_caps).unwrap();
    }

    #[test]
    fn grids_enumerate_last_axis_fastest() {
        let spec = TableSpec::parse(
            Path::new("g.toml"),
            "[grid]\nlr = [0.01, 0.001]\nschedule = [\"cosine\", \"constant\"]\n",
        )
        .unwrap();
        assert_eq!(spec.design, DesignKind::Grid);
        assert_eq!(
            spec.configs,
            vec![vec!["0.001", "cosine"], vec!["0.001", "constant"], vec!["0.01", "cosine"], vec!["0.01", "constant"]]
        );
    }
}
