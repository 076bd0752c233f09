//! Tabulated real trials: the file format, resumable builds, and the `gpt-table`
//! objective that answers from a table.
//!
//! A table holds, for every config of its design and every seed, the learning curve
//! (val bpb at each fidelity), status, cost and time of a real trial. The file is plain
//! text so it diffs well and can be appended to: a magic line, `#! key value` header
//! lines, a column line, then one tab-separated line per trial. Building is resumable:
//! an interrupted build leaves at most one partial last line, which is dropped, and a
//! rerun does only the missing `(config, seed)` pairs.
//!
//! Two versions are read. v1 (`gpt-synthetic.tsv`) is a grid: its header lists the
//! axes, rows hold the grid values. v2 declares its space and design in the header
//! (see [`super::design`]) and each row starts with the config's design index.
//!
//! **Answer rule.** A proposal that is a tabulated config reads that config's rows. Any
//! other proposal is answered by the tabulated config *nearest in the encoded unit cube*
//! of the table's space (log scale for log knobs, cell centres for discrete ones). The
//! error this costs is measured by leave-one-out prediction ([`super::table_stats`]).
//! Seed `s` reads the config's `s mod K`-th seed, so repeats show real per-seed noise.
//!
//! **Budget units.** v1 tables count cost in GFLOP (`budget = 300` on `gpt-table` is
//! 15 full trials of 20 GFLOP); v2 tables count it in full-trial equivalents, so the
//! same budget buys the same number of trials on the 20 and the 80 GFLOP tables.
//!
//! **True score.** The honest value of a recommended config is its *seed mean* at full
//! fidelity (failed seeds count at the failure score): [`GptTable::true_score`].

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::data::Corpus;
use super::data::CorpusData;
use super::design::{DesignKind, TableSpec, grid_product, grid_space_from_text, space_from_header, space_to_header};
use super::train::{FAILURE_BPB, TrainSettings, TrialOutcome, TrialSpec, run_trial};
use super::{CODE_VERSION, default_config, gpt_space, parse_value, spec_from_config};
use crate::exec::Work;
use crate::objective::{Objective, TrialResult, TrialStatus, fidelity_level};
use crate::space::{Config, KnobValue, SearchSpace};

/// First line of a v1 (grid) table.
pub const MAGIC_V1: &str = "# outerloop gpt-table v1";
/// First line of a v2 (design) table.
pub const MAGIC_V2: &str = "# outerloop gpt-table v2";

/// Errors in reading specs and tables or building tables.
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
    /// A spec or table file is malformed.
    #[error("{path}:{line}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem (0 when it concerns the whole file).
        line: usize,
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
    /// The executor could not run the build's trials (Slurm retries exhausted, say);
    /// the rows that came back before are in the table.
    #[error("executor: {0}")]
    Executor(String),
}

/// One tabulated trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Index of the config in the table's design.
    pub config: usize,
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
    /// The table's search space.
    pub space: SearchSpace,
    /// How the configs were chosen.
    pub design: DesignKind,
    /// Value texts of each design config (`None`: no row tabulates it yet).
    pub configs: Vec<Option<Vec<String>>>,
    /// Context length of the trials.
    pub context: usize,
    /// Held-out bytes scored per checkpoint.
    pub eval_tokens: usize,
    /// Fidelity levels.
    pub fidelities: Vec<f64>,
    /// Budget of a full trial in GFLOP.
    pub budget: f64,
    /// Rows in file order.
    pub rows: Vec<Row>,
}

/// A table row's status: a table is trained by this program, never by a user's command.
fn status_from(s: &str) -> Option<TrialStatus> {
    TrialStatus::parse(s).filter(|s| *s != TrialStatus::Crashed)
}

impl Table {
    /// Parse a table file's text (a partial last line is ignored).
    pub fn parse(path: &Path, text: &str) -> Result<Table, TableError> {
        let bad = |line: usize, message: String| TableError::Format { path: path.to_path_buf(), line, message };
        let mut lines = text.split_inclusive('\n').enumerate();
        let version = match lines.next().map(|(_, l)| l.trim_end()) {
            Some(MAGIC_V1) => 1,
            Some(MAGIC_V2) => 2,
            _ => return Err(bad(1, format!("not a gpt table (first line must be `{MAGIC_V2}` or `{MAGIC_V1}`)"))),
        };
        let mut header = Vec::new();
        let mut columns: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        for (i, line) in lines {
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
            rows.push((i + 1, line.to_string()));
        }
        let get = |k: &str| header.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
        let need = |k: &str| get(k).ok_or_else(|| bad(0, format!("header lacks `#! {k}`")));
        let number = |k: &str| -> Result<f64, TableError> {
            need(k)?
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| bad(0, format!("header `{k}` must be a positive number")))
        };
        let budget = number("budget")?;
        let context = number("context")? as usize;
        let eval_tokens = number("eval_tokens")? as usize;
        let fidelities: Vec<f64> = need("fidelities")?
            .split(',')
            .map(|f| f.parse().map_err(|_| bad(0, "header `fidelities` must be numbers separated by commas".into())))
            .collect::<Result<_, _>>()?;
        if fidelities.is_empty() || fidelities.last() != Some(&1.0) {
            return Err(bad(0, "header `fidelities` must end in 1".into()));
        }
        let (space, design, mut configs, grid_index) = if version == 1 {
            let mut axes = Vec::new();
            for part in need("grid")?.split(' ').filter(|p| !p.is_empty()) {
                let (name, values) = part.split_once('=').ok_or_else(|| bad(0, format!("bad grid entry `{part}`")))?;
                axes.push((name.to_string(), values.split(',').map(str::to_string).collect::<Vec<_>>()));
            }
            let space = grid_space_from_text(&axes);
            let lists: Vec<&[String]> = axes.iter().map(|a| a.1.as_slice()).collect();
            let configs: Vec<Option<Vec<String>>> = grid_product(&lists).into_iter().map(Some).collect();
            let index: HashMap<Vec<String>, usize> =
                configs.iter().enumerate().filter_map(|(i, c)| c.clone().map(|c| (c, i))).collect();
            (space, DesignKind::Grid, configs, Some(index))
        } else {
            let space = space_from_header(&need("space")?).map_err(|e| bad(0, format!("header `space`: {e}")))?;
            let design = DesignKind::parse_header(&need("design")?)
                .ok_or_else(|| bad(0, "header `design` must be `grid` or `sobol CONFIGS SEED`".into()))?;
            let n = match &design {
                DesignKind::Sobol { configs, .. } => *configs,
                DesignKind::Grid => {
                    need("configs")?.parse().map_err(|_| bad(0, "header `configs` must be a count".into()))?
                }
            };
            (space, design, vec![None; n], None)
        };
        let dims = space.dim();
        let lead = usize::from(version == 2);
        let width = lead + dims + 4 + fidelities.len();
        let mut parsed = Vec::with_capacity(rows.len());
        for (line, row) in &rows {
            let line = *line;
            let f: Vec<&str> = row.split('\t').collect();
            if f.len() != width {
                return Err(bad(line, format!("{} fields, expected {width}", f.len())));
            }
            let values: Vec<String> = f[lead..lead + dims].iter().map(|s| s.to_string()).collect();
            for (knob, v) in space.knobs().iter().zip(&values) {
                parse_value(knob, v).map_err(|e| bad(line, e.to_string()))?;
            }
            let config = match &grid_index {
                Some(index) => *index
                    .get(&values)
                    .ok_or_else(|| bad(line, format!("`{}` is not a grid config", values.join(" "))))?,
                None => {
                    let id: usize = f[0].parse().map_err(|_| bad(line, format!("bad config index `{}`", f[0])))?;
                    let size = configs.len();
                    let slot = configs
                        .get_mut(id)
                        .ok_or_else(|| bad(line, format!("config index {id} is outside the design of {size}")))?;
                    match slot {
                        Some(known) if *known != values => {
                            return Err(bad(line, format!("config {id} has other values than on an earlier line")));
                        }
                        _ => *slot = Some(values),
                    }
                    id
                }
            };
            let at = lead + dims;
            let num = |s: &str| {
                s.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| bad(line, format!("bad number `{s}`")))
            };
            let seed = f[at].parse::<u64>().map_err(|_| bad(line, format!("bad seed `{}`", f[at])))?;
            let status = status_from(f[at + 1])
                .ok_or_else(|| bad(line, format!("bad status `{}` (ok, diverged, invalid)", f[at + 1])))?;
            let curve = f[at + 4..].iter().map(|s| num(s)).collect::<Result<Vec<_>, _>>()?;
            parsed.push(Row { config, seed, status, cost: num(f[at + 2])?, seconds: num(f[at + 3])?, curve });
        }
        if version == 1 {
            // A v1 grid lists every config whether or not it has rows yet.
            let tabulated: HashSet<usize> = parsed.iter().map(|r| r.config).collect();
            for (i, c) in configs.iter_mut().enumerate() {
                if !tabulated.contains(&i) {
                    *c = None;
                }
            }
        }
        Ok(Table { header, space, design, configs, context, eval_tokens, fidelities, budget, rows: parsed })
    }

    /// Read a table file.
    pub fn load(path: &Path) -> Result<Table, TableError> {
        Table::load_hashed(path).map(|(table, _)| table)
    }

    /// [`Table::load`], with the file's content hash (a user's table in a run's record).
    pub fn load_hashed(path: &Path) -> Result<(Table, u64), TableError> {
        let bytes = crate::input::read_bytes(path, crate::input::MAX_TEXT_BYTES)
            .map_err(|source| TableError::Io { path: path.to_path_buf(), source })?;
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        let text = String::from_utf8(bytes).map_err(|e| TableError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8 text: {e}")),
        })?;
        Ok((Table::parse(path, &text)?, hash))
    }

    /// A header value.
    pub fn header_value(&self, key: &str) -> Option<&str> {
        self.header.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Number of configs with at least one row.
    pub fn tabulated(&self) -> usize {
        self.configs.iter().filter(|c| c.is_some()).count()
    }

    /// Config `id` in the table's own space (`None` when it has no rows).
    pub fn config(&self, id: usize) -> Option<Config> {
        let texts = self.configs.get(id)?.as_ref()?;
        let values = self
            .space
            .knobs()
            .iter()
            .zip(texts)
            .map(|(k, t)| match parse_value(k, t) {
                // Ordinal values parse as reals; integer knobs as integers.
                Ok(v) => v,
                Err(_) => KnobValue::Real(0.0),
            })
            .collect();
        Some(Config { values })
    }

    /// Rows of config `id`, in seed order.
    pub fn rows_of(&self, id: usize) -> Vec<&Row> {
        let mut rows: Vec<&Row> = self.rows.iter().filter(|r| r.config == id).collect();
        rows.sort_by_key(|r| r.seed);
        rows
    }
}

/// The config of the full GPT space with the given knob texts (others at defaults).
pub fn full_config(space: &SearchSpace, texts: &[String]) -> Config {
    let full = gpt_space();
    let mut config = default_config(&full);
    for (knob, text) in space.knobs().iter().zip(texts) {
        if let Some(k) = full.index_of(&knob.name)
            && let Ok(v) = parse_value(&full.knobs()[k], text)
        {
            config.values[k] = v;
        }
    }
    config
}

fn format_row(row: &Row, values: &[String]) -> String {
    let mut fields = vec![row.config.to_string()];
    fields.extend(values.iter().cloned());
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
    /// The configs and their space.
    pub spec: TableSpec,
    /// Budget of a full trial in GFLOP.
    pub budget: f64,
    /// Seeds `0..seeds` per config.
    pub seeds: u64,
    /// Trials run in parallel (one thread each).
    pub jobs: usize,
    /// The output (appended to when it exists).
    pub out: PathBuf,
    /// Run only the first this many configs of the design (all when `None`): a build
    /// can grow in steps and every prefix of a Sobol design is itself space-filling.
    pub limit: Option<usize>,
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

/// The header a build writes (and a resumed build must find).
fn build_header(plan: &BuildPlan, corpus: &Corpus, settings: &TrainSettings) -> Vec<(String, String)> {
    let fid: Vec<String> = settings.fidelities.iter().map(|f| f.to_string()).collect();
    let mut header = vec![
        ("code".to_string(), CODE_VERSION.to_string()),
        ("corpus".to_string(), format!("{} {:016x}", corpus.name(), corpus.hash())),
        ("budget".to_string(), plan.budget.to_string()),
        ("context".to_string(), plan.spec.context.to_string()),
        ("eval_tokens".to_string(), plan.spec.eval_tokens.to_string()),
        ("fidelities".to_string(), fid.join(",")),
        ("design".to_string(), plan.spec.design.header()),
    ];
    if plan.spec.design == DesignKind::Grid {
        header.push(("configs".to_string(), plan.spec.configs.len().to_string()));
    }
    header.push(("space".to_string(), space_to_header(&plan.spec.space)));
    header
}

/// Build (or resume) a table: run every missing `(config, seed)` of the design and append
/// each finished trial as one line, the trials running on `executor` (here: `plan.jobs`
/// at a time). `progress` is called after each trial.
pub fn build(
    plan: &BuildPlan,
    corpus: &Corpus,
    executor: &crate::exec::Executor,
    progress: &(dyn Fn(usize, usize, &str) + Sync),
) -> Result<BuildReport, TableError> {
    let settings = TrainSettings {
        budget_gflop: plan.budget,
        eval_tokens: plan.spec.eval_tokens,
        fidelities: plan.spec.fidelities.clone(),
        ..TrainSettings::default()
    };
    let header = build_header(plan, corpus, &settings);
    let path = &plan.out;
    let io = |source| TableError::Io { path: path.clone(), source };
    let mut done: HashSet<(usize, u64)> = HashSet::new();
    let mut known: HashMap<usize, Vec<String>> = HashMap::new();
    let existing_bytes = match crate::input::read_bytes(path, crate::input::MAX_TEXT_BYTES) {
        // An empty file is a table not started yet (the shipped placeholders).
        Ok(t) if t.is_empty() => None,
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let existing_text = match existing_bytes {
        None => None,
        Some(bytes) => Some(
            String::from_utf8(bytes)
                .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error())))?,
        ),
    };
    let file = match &existing_text {
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
                done.insert((r.config, r.seed));
            }
            for (i, c) in table.configs.iter().enumerate() {
                if let Some(c) = c {
                    known.insert(i, c.clone());
                }
            }
            // Drop a partial last line left by an interrupted build.
            let keep = text.rfind('\n').map(|i| i + 1).unwrap_or(0);
            let f = std::fs::OpenOptions::new().write(true).open(path).map_err(io)?;
            f.set_len(keep as u64).map_err(io)?;
            std::fs::OpenOptions::new().append(true).open(path).map_err(io)?
        }
        None => {
            let mut f = std::fs::File::create(path).map_err(io)?;
            let mut head = format!("{MAGIC_V2}\n");
            for (k, v) in &header {
                head.push_str(&format!("#! {k} {v}\n"));
            }
            let mut cols = vec!["config".to_string()];
            cols.extend(plan.spec.space.knobs().iter().map(|k| k.name.clone()));
            cols.extend(["seed", "status", "cost_gflop", "seconds"].map(String::from));
            cols.extend(settings.fidelities.iter().map(|f| format!("bpb@{f}")));
            head.push_str(&(cols.join("\t") + "\n"));
            f.write_all(head.as_bytes()).map_err(io)?;
            f
        }
    };
    let n = plan.limit.unwrap_or(usize::MAX).min(plan.spec.configs.len());
    let total = n * plan.seeds as usize;
    let jobs: Vec<(usize, u64)> =
        (0..n).flat_map(|i| (0..plan.seeds).map(move |s| (i, s))).filter(|k| !done.contains(k)).collect();
    let existing = total - jobs.len();
    let file = Mutex::new(file);
    let count = std::sync::atomic::AtomicUsize::new(0);
    let full = gpt_space();
    // Rows already written fix a config's values (float text may differ across
    // machines in the last digit of a regenerated design).
    let prepared: Vec<(Vec<String>, Config)> = jobs
        .iter()
        .map(|&(id, _)| {
            let values = known.get(&id).cloned().unwrap_or_else(|| plan.spec.configs[id].clone());
            let config = full_config(&plan.spec.space, &values);
            (values, config)
        })
        .collect();
    let top = settings.fidelities.len() - 1;
    // Append job `j`'s row as soon as its trial is done, so an interrupted build keeps it.
    let write_row = |j: usize, outcome: Result<&TrialOutcome, String>| -> Result<(), TableError> {
        let ((id, seed), (values, config)) = (jobs[j], &prepared[j]);
        let row = match outcome {
            Ok(o) => Row {
                config: id,
                seed,
                status: o.status,
                cost: o.steps as f64 / o.total_steps.max(1) as f64 * plan.budget,
                seconds: o.seconds,
                curve: o.curve.iter().map(|c| c.1).collect(),
            },
            Err(_) => Row {
                config: id,
                seed,
                status: TrialStatus::Invalid,
                cost: 0.0,
                seconds: 0.0,
                curve: vec![FAILURE_BPB; top + 1],
            },
        };
        let line = format_row(&row, values);
        {
            let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
            f.write_all(line.as_bytes()).map_err(io)?;
            f.flush().map_err(io)?;
        }
        let n = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress(existing + n, total, &full.describe(config));
        Ok(())
    };
    let specs = || prepared.iter().map(|(_, config)| spec_from_config(&full, config, plan.spec.context));
    if executor.is_remote() && !jobs.is_empty() {
        let batch = TrialBatch {
            corpus: CorpusData::of(corpus),
            settings: settings.clone(),
            jobs: specs().zip(jobs.iter().map(|&(_, seed)| seed)).collect(),
        };
        let mut written = Ok(());
        let mut on_part = |range: std::ops::Range<usize>, outcomes: &[Result<TrialOutcome, String>]| {
            for (j, o) in range.zip(outcomes) {
                let r = write_row(j, o.as_ref().map_err(Clone::clone));
                if written.is_ok() {
                    written = r;
                }
            }
        };
        executor.execute(&batch, plan.jobs, &mut on_part).map_err(TableError::Executor)?;
        written?;
    } else {
        let specs: Vec<TrialSpec> = specs().collect();
        let indices: Vec<usize> = (0..jobs.len()).collect();
        let results = super::par_trials(&indices, plan.jobs, |&j| -> Result<(), TableError> {
            let outcome = run_trial(&specs[j], corpus, &settings, 1.0, jobs[j].1).map_err(|e| e.to_string());
            write_row(j, outcome.as_ref().map_err(Clone::clone))
        });
        results.into_iter().collect::<Result<Vec<()>, TableError>>()?;
    }
    Ok(BuildReport { existing, ran: jobs.len(), total })
}

/// The GPT trials of a table build as a batch of work: each job a spec and a seed,
/// trained at full fidelity (what `outerloop table build --executor slurm` sends out).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrialBatch {
    /// The training corpus.
    pub corpus: CorpusData,
    /// Budget, evaluation tokens and fidelity levels.
    pub settings: TrainSettings,
    /// `(spec, seed)` per job.
    pub jobs: Vec<(TrialSpec, u64)>,
}

impl Work for TrialBatch {
    /// The trial, or why it could not start (the build records it as invalid).
    type Output = Result<TrialOutcome, String>;
    const KIND: &'static str = "trials";

    fn len(&self) -> usize {
        self.jobs.len()
    }

    fn run(&self, range: std::ops::Range<usize>, threads: usize) -> Result<Vec<Self::Output>, String> {
        let jobs =
            self.jobs.get(range.clone()).ok_or_else(|| format!("jobs {range:?} of a batch of {}", self.jobs.len()))?;
        let corpus = self.corpus.corpus();
        Ok(super::par_trials(jobs, threads, |(spec, seed)| {
            run_trial(spec, &corpus, &self.settings, 1.0, *seed).map_err(|e| e.to_string())
        }))
    }
}

/// One answerable config of a [`GptTable`].
#[derive(Debug, Clone)]
struct Entry {
    /// Design index.
    id: usize,
    /// Encoded point in the table space's unit cube.
    point: Vec<f64>,
    /// Row indices, in seed order.
    rows: Vec<usize>,
    /// Seed mean at full fidelity.
    mean: f64,
}

/// The `gpt-table` objective: answers from a table of real trials (see the module doc
/// for the answer rule and the true score).
#[derive(Debug, Clone)]
pub struct GptTable {
    name: String,
    table: Table,
    entries: Vec<Entry>,
    exact: HashMap<Vec<u64>, usize>,
    optimum: Option<f64>,
    resolution: f64,
    /// GFLOP per budget unit: 1 for v1 tables (budgets in GFLOP, as the quickstart
    /// has always counted), the trial budget for v2 tables (budgets in full-trial
    /// equivalents, so one budget means the same on every scale of the suite).
    gflop_per_unit: f64,
    /// The content hash of the user's table file it was loaded from (none for shipped ones).
    input_identity: Option<u64>,
}

/// Bit pattern of an encoded point, for exact lookups.
fn point_bits(point: &[f64]) -> Vec<u64> {
    point.iter().map(|x| x.to_bits()).collect()
}

impl GptTable {
    /// The table as loaded from the user's file with content hash `identity` (what a run
    /// records in `inputs.txt`).
    pub fn with_input_identity(mut self, identity: u64) -> Self {
        self.input_identity = Some(identity);
        self
    }

    /// Wrap a loaded table.
    pub fn new(name: &str, table: Table) -> Self {
        let top = table.fidelities.len().saturating_sub(1);
        let mut by_config: Vec<Vec<usize>> = vec![Vec::new(); table.configs.len()];
        for (i, r) in table.rows.iter().enumerate() {
            by_config[r.config].push(i);
        }
        let mut entries = Vec::new();
        for (id, mut rows) in by_config.into_iter().enumerate() {
            let Some(config) = table.config(id).filter(|_| !rows.is_empty()) else { continue };
            rows.sort_by_key(|&i| table.rows[i].seed);
            let finals: Vec<f64> = rows.iter().map(|&i| final_score(&table.rows[i], top)).collect();
            let mean = finals.iter().sum::<f64>() / finals.len() as f64;
            entries.push(Entry { id, point: table.space.encode(&config), rows, mean });
        }
        let exact = entries.iter().enumerate().map(|(i, e)| (point_bits(&e.point), i)).collect();
        // Entries are in design order, so ties resolve the same way on every machine.
        let optimum = entries.iter().map(|e| e.mean).min_by(f64::total_cmp);
        let resolution = seed_mean_resolution(&table, &entries);
        let gflop_per_unit = if table.header_value("design").is_some() { table.budget } else { 1.0 };
        GptTable {
            name: name.to_string(),
            table,
            entries,
            exact,
            optimum,
            resolution,
            gflop_per_unit,
            input_identity: None,
        }
    }

    /// The underlying table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Design index and seed mean of every tabulated config, in design order.
    pub fn config_means(&self) -> Vec<(usize, f64)> {
        self.entries.iter().map(|e| (e.id, e.mean)).collect()
    }

    /// Design index of the tabulated config that answers `config` (exact match, else
    /// the nearest in the encoded unit cube); `None` for an empty table.
    pub fn answer(&self, config: &Config) -> Option<usize> {
        self.entry_for(config).map(|e| self.entries[e].id)
    }

    /// Design index answering `config` among the configs other than `exclude` (for
    /// leave-one-out error estimates).
    pub fn nearest_other(&self, point: &[f64], exclude: usize) -> Option<usize> {
        nearest(&self.entries, point, Some(exclude)).map(|e| self.entries[e].id)
    }

    /// Seed mean of design config `id` at full fidelity.
    pub fn mean_of(&self, id: usize) -> Option<f64> {
        self.entries.iter().find(|e| e.id == id).map(|e| e.mean)
    }

    fn entry_for(&self, config: &Config) -> Option<usize> {
        let point = self.table.space.encode(config);
        self.exact.get(&point_bits(&point)).copied().or_else(|| nearest(&self.entries, &point, None))
    }
}

fn final_score(row: &Row, top: usize) -> f64 {
    match row.status {
        TrialStatus::Ok => row.curve.get(top).copied().unwrap_or(FAILURE_BPB),
        _ => FAILURE_BPB,
    }
}

/// Index of the entry nearest to `point` (squared Euclidean distance; first on ties).
fn nearest(entries: &[Entry], point: &[f64], exclude: Option<usize>) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, e) in entries.iter().enumerate() {
        if Some(e.id) == exclude {
            continue;
        }
        let d: f64 = e.point.iter().zip(point).map(|(a, b)| (a - b) * (a - b)).sum();
        if best.is_none_or(|(_, bd)| d < bd) {
            best = Some((i, d));
        }
    }
    best.map(|b| b.0)
}

/// The precision with which the table knows a config's true score: the median over
/// configs with 2+ ok seeds of the standard error of their seed mean (0.01 bpb when no
/// config has two seeds). Regrets below it carry no meaning.
fn seed_mean_resolution(table: &Table, entries: &[Entry]) -> f64 {
    let top = table.fidelities.len().saturating_sub(1);
    let errors: Vec<f64> = entries
        .iter()
        .filter_map(|e| {
            let ok: Vec<f64> = e
                .rows
                .iter()
                .map(|&i| &table.rows[i])
                .filter(|r| r.status == TrialStatus::Ok)
                .map(|r| final_score(r, top))
                .collect();
            if ok.len() < 2 {
                return None;
            }
            let n = ok.len() as f64;
            let mean = ok.iter().sum::<f64>() / n;
            let var = ok.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
            Some((var / n).sqrt())
        })
        .collect();
    if errors.is_empty() {
        return 0.01;
    }
    crate::stats::upper_median(&errors).max(1e-6)
}

impl Objective for GptTable {
    fn name(&self) -> &str {
        &self.name
    }

    fn input_identity(&self) -> Option<u64> {
        self.input_identity
    }

    fn space(&self) -> &SearchSpace {
        &self.table.space
    }

    fn fidelities(&self) -> &[f64] {
        &self.table.fidelities
    }

    fn score(&self, config: &Config, fidelity: f64, seed: u64) -> TrialResult {
        let level = fidelity_level(&self.table.fidelities, fidelity);
        let levels = &self.table.fidelities[..=level];
        let Some(entry) = self.entry_for(config).map(|e| &self.entries[e]) else {
            let curve = levels.iter().map(|&l| (l, FAILURE_BPB)).collect();
            return TrialResult { score: FAILURE_BPB, curve, cost: 0.0, status: TrialStatus::Invalid };
        };
        let row = &self.table.rows[entry.rows[(seed % entry.rows.len() as u64) as usize]];
        let curve: Vec<(f64, f64)> =
            levels.iter().enumerate().map(|(i, &l)| (l, row.curve.get(i).copied().unwrap_or(FAILURE_BPB))).collect();
        let top = levels.last().copied().unwrap_or(1.0);
        let cost = match row.status {
            TrialStatus::Ok => top * self.table.budget,
            _ => row.cost.min(top * self.table.budget),
        } / self.gflop_per_unit;
        TrialResult { score: curve.last().map(|c| c.1).unwrap_or(FAILURE_BPB), curve, cost, status: row.status }
    }

    fn full_cost(&self) -> f64 {
        self.table.budget / self.gflop_per_unit
    }

    /// The best config's seed mean at full fidelity: regret measures the distance to the
    /// best the table holds, not to an unreachable single lucky seed.
    fn optimum(&self) -> Option<f64> {
        self.optimum
    }

    /// The seed mean at full fidelity of the config that answers `config`.
    fn true_score(&self, config: &Config) -> Option<f64> {
        self.entry_for(config).map(|e| self.entries[e].mean)
    }

    fn resolution(&self) -> f64 {
        self.resolution
    }

    fn failure_score(&self) -> f64 {
        FAILURE_BPB
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::WorkFile;
    use crate::objective::gpt::{ModelConfig, OptimConfig, Skill};

    #[test]
    fn a_trial_batch_survives_its_work_file_and_shards_concatenate_to_the_whole() {
        let spec =
            TrialSpec { model: ModelConfig::tiny(), optim: OptimConfig { batch_tokens: 64, ..OptimConfig::default() } };
        let settings = TrainSettings { budget_gflop: 0.002, eval_tokens: 256, ..TrainSettings::default() };
        let corpus = Corpus::synthetic(&[Skill::Copy], 6000, 1);
        let batch =
            TrialBatch { corpus: CorpusData::of(&corpus), settings, jobs: vec![(spec, 0), (spec, 1), (spec, 2)] };
        let back: TrialBatch = WorkFile::of(&batch).unwrap().decode().unwrap();
        assert_eq!(back, batch);
        let strip = |v: Vec<Result<TrialOutcome, String>>| {
            v.into_iter().map(|o| o.map(|o| (o.curve, o.steps))).collect::<Vec<_>>()
        };
        let whole = strip(batch.run(0..3, 2).unwrap());
        let mut parts = strip(back.run(0..1, 1).unwrap());
        parts.extend(strip(back.run(1..3, 1).unwrap()));
        assert_eq!(whole, parts);
        assert!(batch.run(2..4, 1).is_err(), "a range past the end is refused");
    }
}
