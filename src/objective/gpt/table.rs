//! Tabulated real trials and the `gpt-table` objective.
//!
//! A table holds, for every config of a grid and every seed, the learning curve (val bpb
//! at each fidelity), status, cost and time of a real trial. The file is plain text so it
//! diffs well and can be appended to: a header of `#! key value` lines, a column line,
//! then one tab-separated line per trial. Building is resumable: an interrupted build
//! leaves at most one partial last line, which is dropped, and a rerun does only the
//! missing `(config, seed)` pairs.
//!
//! The grid is described by a small TOML file:
//!
//! ```toml
//! context = 32          # optional, default 64
//! eval_tokens = 2048    # optional, default 8192
//! [grid]
//! lr = [0.001, 0.003, 0.01]
//! depth = [1, 2]
//! schedule = ["cosine", "constant"]
//! ```
//!
//! Knobs of [`super::gpt_space`] not in the grid take their defaults.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::data::Corpus;
use super::train::{FAILURE_BPB, TrainSettings, run_trial};
use super::{CODE_VERSION, gpt_space, parse_value, spec_from_config};
use crate::inner::space::{Config, Knob, KnobKind, KnobValue, SearchSpace};
use crate::objective::{Objective, TrialResult, TrialStatus, fidelity_level};

/// First line of every table file.
pub const MAGIC: &str = "# outerloop gpt-table v1";

/// The table shipped with the repository (synthetic corpus), embedded in the binary.
pub const EMBEDDED_SYNTHETIC: &str = include_str!("../../../scenarios/tables/gpt-synthetic.tsv");

/// Errors in reading grids and tables or building tables.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A grid or table file is malformed.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An existing table was built with different settings than the ones asked for.
    #[error("{path}: existing table has {key} `{found}`, this build asks for `{wanted}`")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// The header key.
        key: String,
        /// The value in the file.
        found: String,
        /// The value of this build.
        wanted: String,
    },
}

/// A grid of configs: for each grid knob, its values in increasing order (categorical
/// knobs in choice order).
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Knob names and their values as typed (`0.003`, `cosine`).
    pub axes: Vec<(String, Vec<String>)>,
    /// Context length of the trials.
    pub context: usize,
    /// Held-out tokens scored per checkpoint.
    pub eval_tokens: usize,
}

impl Grid {
    /// Parse a grid TOML file's text.
    pub fn parse(path: &Path, text: &str) -> Result<Grid, TableError> {
        let bad = |message: String| TableError::Format { path: path.to_path_buf(), message };
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| bad(e.to_string()))?;
        let space = gpt_space();
        let uint = |key: &str, default: usize| -> Result<usize, TableError> {
            match doc.get(key) {
                None => Ok(default),
                Some(v) => v
                    .as_integer()
                    .filter(|&i| i > 0)
                    .map(|i| i as usize)
                    .ok_or_else(|| bad(format!("`{key}` must be a positive integer"))),
            }
        };
        let context = uint("context", super::DEFAULT_CONTEXT)?;
        let eval_tokens = uint("eval_tokens", 8192)?;
        let grid = doc.get("grid").and_then(|g| g.as_table()).ok_or_else(|| bad("missing [grid] table".into()))?;
        let mut axes = Vec::new();
        for knob in space.knobs() {
            let Some(values) = grid.get(&knob.name) else { continue };
            let values = values.as_array().ok_or_else(|| bad(format!("grid `{}` must be a list", knob.name)))?;
            let mut typed: Vec<(KnobValue, String)> = Vec::new();
            for v in values {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    other => return Err(bad(format!("grid `{}`: unsupported value {other}", knob.name))),
                };
                let value = parse_value(knob, &text).map_err(|e| bad(e.to_string()))?;
                typed.push((value, text));
            }
            typed.sort_by(|a, b| a.0.as_f64().total_cmp(&b.0.as_f64()));
            typed.dedup_by(|a, b| a.0 == b.0);
            if typed.is_empty() {
                return Err(bad(format!("grid `{}` is empty", knob.name)));
            }
            axes.push((knob.name.clone(), typed.into_iter().map(|t| t.1).collect()));
        }
        for key in grid.keys() {
            if space.index_of(key).is_none() {
                let known: Vec<&str> = space.knobs().iter().map(|k| k.name.as_str()).collect();
                return Err(bad(format!("unknown knob `{key}` in [grid] (knobs: {})", known.join(", "))));
            }
        }
        if axes.is_empty() {
            return Err(bad("the grid has no knobs".into()));
        }
        Ok(Grid { axes, context, eval_tokens })
    }

    /// Number of configs.
    pub fn len(&self) -> usize {
        self.axes.iter().map(|a| a.1.len()).product()
    }

    /// Whether the grid is empty (never, for a parsed grid).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Grid indices of config number `i` (last axis fastest).
    pub fn indices(&self, mut i: usize) -> Vec<usize> {
        let mut out = vec![0; self.axes.len()];
        for (k, axis) in self.axes.iter().enumerate().rev() {
            out[k] = i % axis.1.len();
            i /= axis.1.len();
        }
        out
    }

    /// The search space over the grid: an ordinal or categorical knob per axis.
    pub fn space(&self) -> SearchSpace {
        let full = gpt_space();
        let knobs = self
            .axes
            .iter()
            .map(|(name, values)| match full.index_of(name).map(|i| &full.knobs()[i].kind) {
                Some(KnobKind::Categorical { .. }) => {
                    let names: Vec<&str> = values.iter().map(String::as_str).collect();
                    Knob::categorical(name, &names)
                }
                _ => {
                    let nums: Vec<f64> = values.iter().map(|v| v.parse().unwrap_or(0.0)).collect();
                    Knob::ordinal(name, &nums)
                }
            })
            .collect();
        SearchSpace::new(knobs).unwrap_or_else(|_| gpt_space())
    }

    /// Config of the full GPT space at grid indices `idx`.
    fn config(&self, idx: &[usize]) -> Config {
        let full = gpt_space();
        let mut config = super::default_config(&full);
        for ((name, values), &i) in self.axes.iter().zip(idx) {
            if let Some(k) = full.index_of(name)
                && let Ok(v) = parse_value(&full.knobs()[k], &values[i])
            {
                config.values[k] = v;
            }
        }
        config
    }

    fn describe(&self) -> String {
        self.axes.iter().map(|(n, v)| format!("{n}={}", v.join(","))).collect::<Vec<_>>().join(" ")
    }
}

/// One tabulated trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Grid indices of the config.
    pub idx: Vec<usize>,
    /// Seed.
    pub seed: u64,
    /// Status.
    pub status: TrialStatus,
    /// Cost in GFLOP.
    pub cost: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Val bpb at each fidelity level.
    pub curve: Vec<f64>,
}

/// A loaded table.
#[derive(Debug, Clone)]
pub struct Table {
    /// Header values (`budget`, `corpus`, `context`, ...).
    pub header: Vec<(String, String)>,
    /// The grid.
    pub grid: Grid,
    /// Fidelity levels.
    pub fidelities: Vec<f64>,
    /// Budget of a full trial in GFLOP.
    pub budget: f64,
    /// Rows in file order.
    pub rows: Vec<Row>,
}

fn status_from(s: &str) -> TrialStatus {
    match s {
        "ok" => TrialStatus::Ok,
        "diverged" => TrialStatus::Diverged,
        _ => TrialStatus::Invalid,
    }
}

impl Table {
    /// Parse a table file's text (a partial last line is ignored).
    pub fn parse(path: &Path, text: &str) -> Result<Table, TableError> {
        let bad = |message: String| TableError::Format { path: path.to_path_buf(), message };
        let mut lines = text.split_inclusive('\n');
        if lines.next().map(str::trim_end) != Some(MAGIC) {
            return Err(bad(format!("not a gpt table (first line must be `{MAGIC}`)")));
        }
        let mut header = Vec::new();
        let mut columns: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        for line in lines {
            if !line.ends_with('\n') {
                break;
            }
            let line = line.trim_end();
            if let Some(rest) = line.strip_prefix("#! ") {
                let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                header.push((k.to_string(), v.to_string()));
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if columns.is_none() {
                columns = Some(line.split('\t').map(str::to_string).collect());
                continue;
            }
            rows.push(line.to_string());
        }
        let get = |k: &str| header.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
        let need = |k: &str| get(k).ok_or_else(|| bad(format!("header lacks `{k}`")));
        let budget: f64 = need("budget")?.parse().map_err(|_| bad("bad budget".into()))?;
        let fidelities: Vec<f64> = need("fidelities")?
            .split(',')
            .map(|f| f.parse().map_err(|_| bad("bad fidelities".into())))
            .collect::<Result<_, _>>()?;
        let context: usize = need("context")?.parse().map_err(|_| bad("bad context".into()))?;
        let eval_tokens: usize = need("eval_tokens")?.parse().map_err(|_| bad("bad eval_tokens".into()))?;
        let mut axes = Vec::new();
        for part in need("grid")?.split(' ').filter(|p| !p.is_empty()) {
            let (name, values) = part.split_once('=').ok_or_else(|| bad(format!("bad grid entry `{part}`")))?;
            axes.push((name.to_string(), values.split(',').map(str::to_string).collect()));
        }
        let grid = Grid { axes, context, eval_tokens };
        let n_axes = grid.axes.len();
        let mut parsed = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let f: Vec<&str> = row.split('\t').collect();
            if f.len() != n_axes + 4 + fidelities.len() {
                return Err(bad(format!("row {} has {} fields", i + 1, f.len())));
            }
            let mut idx = Vec::with_capacity(n_axes);
            for (k, (name, values)) in grid.axes.iter().enumerate() {
                let pos = values
                    .iter()
                    .position(|v| v == f[k])
                    .ok_or_else(|| bad(format!("row {}: `{}` is not a grid value of {name}", i + 1, f[k])))?;
                idx.push(pos);
            }
            let num = |s: &str| s.parse::<f64>().map_err(|_| bad(format!("row {}: bad number `{s}`", i + 1)));
            let seed = f[n_axes].parse::<u64>().map_err(|_| bad(format!("row {}: bad seed", i + 1)))?;
            let curve = f[n_axes + 4..].iter().map(|s| num(s)).collect::<Result<Vec<_>, _>>()?;
            parsed.push(Row {
                idx,
                seed,
                status: status_from(f[n_axes + 1]),
                cost: num(f[n_axes + 2])?,
                seconds: num(f[n_axes + 3])?,
                curve,
            });
        }
        Ok(Table { header, grid, fidelities, budget, rows: parsed })
    }

    /// Read a table file.
    pub fn load(path: &Path) -> Result<Table, TableError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| TableError::Io { path: path.to_path_buf(), source })?;
        Table::parse(path, &text)
    }

    /// The table shipped in the repository.
    pub fn embedded() -> Result<Table, TableError> {
        Table::parse(Path::new("<embedded gpt-synthetic.tsv>"), EMBEDDED_SYNTHETIC)
    }

    /// A header value.
    pub fn header_value(&self, key: &str) -> Option<&str> {
        self.header.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Seeds tabulated for the config at grid indices `idx`, in seed order.
    pub fn rows_for(&self, idx: &[usize]) -> Vec<&Row> {
        let mut rows: Vec<&Row> = self.rows.iter().filter(|r| r.idx == idx).collect();
        rows.sort_by_key(|r| r.seed);
        rows
    }
}

fn format_row(grid: &Grid, row: &Row) -> String {
    let mut fields: Vec<String> = grid.axes.iter().zip(&row.idx).map(|((_, v), &i)| v[i].clone()).collect();
    fields.push(row.seed.to_string());
    fields.push(row.status.as_str().to_string());
    fields.push(format!("{:.4}", row.cost));
    fields.push(format!("{:.3}", row.seconds));
    fields.extend(row.curve.iter().map(|s| format!("{s:.5}")));
    fields.join("\t") + "\n"
}

/// What [`build`] should do.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    /// The grid.
    pub grid: Grid,
    /// Budget of a full trial in GFLOP.
    pub budget: f64,
    /// Seeds `0..seeds` per config.
    pub seeds: u64,
    /// Trials run in parallel (one thread each).
    pub jobs: usize,
    /// The output (appended to when it exists).
    pub out: PathBuf,
}

/// Progress of a build.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildReport {
    /// Trials already in the file.
    pub existing: usize,
    /// Trials run now.
    pub ran: usize,
    /// Trials of the full table.
    pub total: usize,
}

/// Build (or resume) a table: run every missing `(config, seed)` of the grid and append
/// each finished trial as one line. `progress` is called after each trial.
pub fn build(
    plan: &BuildPlan,
    corpus: &Corpus,
    progress: &(dyn Fn(usize, usize, &str) + Sync),
) -> Result<BuildReport, TableError> {
    let settings =
        TrainSettings { budget_gflop: plan.budget, eval_tokens: plan.grid.eval_tokens, ..TrainSettings::default() };
    let fid: Vec<String> = settings.fidelities.iter().map(|f| f.to_string()).collect();
    let header = vec![
        ("code".to_string(), CODE_VERSION.to_string()),
        ("corpus".to_string(), format!("{} {:016x}", corpus.name(), corpus.hash())),
        ("budget".to_string(), plan.budget.to_string()),
        ("context".to_string(), plan.grid.context.to_string()),
        ("eval_tokens".to_string(), plan.grid.eval_tokens.to_string()),
        ("fidelities".to_string(), fid.join(",")),
        ("grid".to_string(), plan.grid.describe()),
    ];
    let path = &plan.out;
    let io = |source| TableError::Io { path: path.clone(), source };
    let mut done: HashMap<(Vec<usize>, u64), ()> = HashMap::new();
    let existing_text = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let mut file = match &existing_text {
        Some(text) => {
            let table = Table::parse(path, text)?;
            for (k, wanted) in &header {
                let found = table.header_value(k).unwrap_or("").to_string();
                if k != "code" && &found != wanted {
                    return Err(TableError::Mismatch {
                        path: path.clone(),
                        key: k.clone(),
                        found,
                        wanted: wanted.clone(),
                    });
                }
            }
            for r in &table.rows {
                done.insert((r.idx.clone(), r.seed), ());
            }
            // Drop a partial last line left by an interrupted build.
            let keep = text.rfind('\n').map(|i| i + 1).unwrap_or(0);
            let f = std::fs::OpenOptions::new().write(true).open(path).map_err(io)?;
            f.set_len(keep as u64).map_err(io)?;
            let mut f = std::fs::OpenOptions::new().append(true).open(path).map_err(io)?;
            f.flush().map_err(io)?;
            f
        }
        None => {
            let mut f = std::fs::File::create(path).map_err(io)?;
            let mut head = format!("{MAGIC}\n");
            for (k, v) in &header {
                head.push_str(&format!("#! {k} {v}\n"));
            }
            let mut cols: Vec<String> = plan.grid.axes.iter().map(|a| a.0.clone()).collect();
            cols.extend(["seed", "status", "cost_gflop", "seconds"].map(String::from));
            cols.extend(settings.fidelities.iter().map(|f| format!("bpb@{f}")));
            head.push_str(&(cols.join("\t") + "\n"));
            f.write_all(head.as_bytes()).map_err(io)?;
            f
        }
    };
    let _ = file.flush();
    let total = plan.grid.len() * plan.seeds as usize;
    let jobs: Vec<(Vec<usize>, u64)> = (0..plan.grid.len())
        .flat_map(|i| (0..plan.seeds).map(move |s| (i, s)))
        .map(|(i, s)| (plan.grid.indices(i), s))
        .filter(|k| !done.contains_key(k))
        .collect();
    let existing = total - jobs.len();
    let file = Mutex::new(file);
    let count = std::sync::atomic::AtomicUsize::new(0);
    let space = gpt_space();
    let results = super::par_trials(&jobs, plan.jobs, |(idx, seed)| -> Result<(), TableError> {
        let config = plan.grid.config(idx);
        let spec = spec_from_config(&space, &config, plan.grid.context);
        let top = settings.fidelities.len() - 1;
        let row = match run_trial(&spec, corpus, &settings, 1.0, *seed) {
            Ok(o) => Row {
                idx: idx.clone(),
                seed: *seed,
                status: o.status,
                cost: o.steps as f64 / o.total_steps.max(1) as f64 * plan.budget,
                seconds: o.seconds,
                curve: o.curve.iter().map(|c| c.1).collect(),
            },
            Err(_) => Row {
                idx: idx.clone(),
                seed: *seed,
                status: TrialStatus::Invalid,
                cost: 0.0,
                seconds: 0.0,
                curve: vec![FAILURE_BPB; top + 1],
            },
        };
        let line = format_row(&plan.grid, &row);
        {
            let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
            f.write_all(line.as_bytes()).map_err(io)?;
            f.flush().map_err(io)?;
        }
        let n = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress(existing + n, total, &space.describe(&config));
        Ok(())
    });
    results.into_iter().collect::<Result<Vec<()>, TableError>>()?;
    Ok(BuildReport { existing, ran: jobs.len(), total })
}

/// The `gpt-table` objective: answers from a table of real trials.
///
/// Configs of its grid space hit exact grid points; values between grid points snap to
/// the nearest one (in log scale for positive numbers). Seed `s` reads the table's
/// `s mod K`-th seed of the config, so repeated evaluations show the per-seed noise of
/// real trials.
#[derive(Debug, Clone)]
pub struct GptTable {
    name: String,
    table: Table,
    space: SearchSpace,
    index: HashMap<Vec<usize>, Vec<usize>>,
    optimum: Option<f64>,
}

impl GptTable {
    /// Wrap a loaded table.
    pub fn new(name: &str, table: Table) -> Self {
        let space = table.grid.space();
        let mut index: HashMap<Vec<usize>, Vec<usize>> = HashMap::new();
        for (i, r) in table.rows.iter().enumerate() {
            index.entry(r.idx.clone()).or_default().push(i);
        }
        for rows in index.values_mut() {
            rows.sort_by_key(|&i| table.rows[i].seed);
        }
        let top = table.fidelities.len().saturating_sub(1);
        let mut optimum: Option<f64> = None;
        // Iterate configs in grid order so the optimum does not depend on hash order.
        let mut configs: Vec<&Vec<usize>> = index.keys().collect();
        configs.sort();
        for idx in configs {
            let ok: Vec<f64> = index[idx]
                .iter()
                .map(|&i| &table.rows[i])
                .filter(|r| r.status == TrialStatus::Ok)
                .filter_map(|r| r.curve.get(top).copied())
                .collect();
            if !ok.is_empty() {
                let mean = ok.iter().sum::<f64>() / ok.len() as f64;
                optimum = Some(optimum.map_or(mean, |o: f64| o.min(mean)));
            }
        }
        GptTable { name: name.to_string(), table, space, index, optimum }
    }

    /// The embedded synthetic table.
    pub fn embedded() -> Result<Self, TableError> {
        Ok(GptTable::new("gpt-table-synthetic", Table::embedded()?))
    }

    /// The underlying table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Grid indices nearest to `config` (a config of this table's space).
    pub fn snap(&self, config: &Config) -> Vec<usize> {
        self.space
            .knobs()
            .iter()
            .zip(&config.values)
            .map(|(knob, value)| match (&knob.kind, value) {
                (KnobKind::Categorical { choices }, v) => (v.as_f64().max(0.0) as usize).min(choices.len() - 1),
                (KnobKind::Ordinal { values }, v) => nearest(values, v.as_f64()),
                (_, _) => 0,
            })
            .collect()
    }
}

/// Index of the value nearest to `x`, in log scale when everything is positive.
fn nearest(values: &[f64], x: f64) -> usize {
    let log = x > 0.0 && values.iter().all(|&v| v > 0.0);
    let dist = |v: f64| if log { (v.ln() - x.ln()).abs() } else { (v - x).abs() };
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if dist(v) < dist(values[best]) {
            best = i;
        }
    }
    best
}

impl Objective for GptTable {
    fn name(&self) -> &str {
        &self.name
    }

    fn space(&self) -> &SearchSpace {
        &self.space
    }

    fn fidelities(&self) -> &[f64] {
        &self.table.fidelities
    }

    fn score(&self, config: &Config, fidelity: f64, seed: u64) -> TrialResult {
        let level = fidelity_level(&self.table.fidelities, fidelity);
        let levels = &self.table.fidelities[..=level];
        let idx = self.snap(config);
        let Some(rows) = self.index.get(&idx).filter(|r| !r.is_empty()) else {
            let curve = levels.iter().map(|&l| (l, FAILURE_BPB)).collect();
            return TrialResult { score: FAILURE_BPB, curve, cost: 0.0, status: TrialStatus::Invalid };
        };
        let row = &self.table.rows[rows[(seed % rows.len() as u64) as usize]];
        let curve: Vec<(f64, f64)> =
            levels.iter().enumerate().map(|(i, &l)| (l, row.curve.get(i).copied().unwrap_or(FAILURE_BPB))).collect();
        let top = levels.last().copied().unwrap_or(1.0);
        let cost = match row.status {
            TrialStatus::Ok => top * self.table.budget,
            _ => row.cost.min(top * self.table.budget),
        };
        TrialResult { score: curve.last().map(|c| c.1).unwrap_or(FAILURE_BPB), curve, cost, status: row.status }
    }

    fn full_cost(&self) -> f64 {
        self.table.budget
    }

    /// The best config's mean full-fidelity score over its seeds: regret measures the
    /// distance to the best the table holds, not to an unreachable single lucky seed.
    fn optimum(&self) -> Option<f64> {
        self.optimum
    }

    /// Differences below 0.01 bits per byte are within the seed noise of real trials.
    fn resolution(&self) -> f64 {
        0.01
    }
}
