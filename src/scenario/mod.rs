//! Scenarios: a TOML file that, with its seed, fully determines a run.
//!
//! Two stages: [`file::ScenarioFile`] mirrors what the user wrote (unknown keys are
//! errors, spans are kept), then [`load`] validates it into a [`Scenario`] whose values
//! the simulation can trust. Every problem is reported with file, line:column, what is
//! wrong and how to fix it. Every key is documented in `scenarios/README.md`.

pub mod choices;
pub mod file;
pub mod keys;
pub mod llm;
pub mod overrides;
pub mod validate;

use std::path::{Path, PathBuf};

use toml::Spanned;

use self::choices::{Aggregate, EpisodeScore, OperatorSet};
use self::validate::Validator;
use crate::diagnostic::{Diagnostic, InputError, TomlHints, parse_toml};
use crate::genome::library::{LIBRARY, library_names_hint, library_source};
use crate::genome::{Genome, Limits, load as load_genome};
use crate::inner::FaultPolicy;
use crate::objective::registry::{TASK_FORMS, expand_tasks, task_hint};
use file::ScenarioFile;

/// A genome the run starts from, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedGenome {
    /// `lib:NAME`, a file path, or `inline[i]`.
    pub origin: String,
    /// The checked genome.
    pub genome: Genome,
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Run name.
    pub name: String,
    /// Root seed.
    pub seed: u64,
    /// Outer-loop ticks.
    pub ticks: u32,
    /// Output folder: the file's `out` relative to the scenario's folder, else
    /// `populations/<name>` under the current directory.
    pub out: PathBuf,
    /// Earlier run to inherit hall of fame and operator statistics from (relative to the
    /// scenario's folder, like every path the file names).
    pub inherit: Option<PathBuf>,
    /// Maximum live mechanisms.
    pub population_size: usize,
    /// Verified elites protected from removal.
    pub elites: usize,
    /// Size of the hall of fame (distinct best verified genomes kept for `inherit`).
    pub hall_of_fame: usize,
    /// Task names.
    pub tasks: Vec<String>,
    /// Compute budget per episode.
    pub inner_budget: f64,
    /// Episode seeds per task for claimed fitness (the most a race spends on a child).
    pub inner_seeds: u32,
    /// Episode seeds per task before a race may drop a child (`inner_seeds`: no race).
    pub min_seeds: u32,
    /// How per-task gains become one fitness.
    pub aggregate: Aggregate,
    /// What an episode's regret is for fitness (`inner.score`).
    pub score: EpisodeScore,
    /// How episodes meet genome faults and failed trials (`[inner] self_heal`).
    pub execution: FaultPolicy,
    /// Initial mechanisms.
    pub seed_genomes: Vec<SeedGenome>,
    /// The reference mechanism.
    pub reference: SeedGenome,
    /// Proposer switch.
    pub proposer_enabled: bool,
    /// Proposals per tick.
    pub children_per_tick: usize,
    /// Tournament size.
    pub tournament: usize,
    /// The operators the proposer may use (`[proposer] operators`).
    pub operators: OperatorSet,
    /// Constant vectors a structurally new child tries on the first claim block before
    /// its claim (`sim::tuning`; 0 or 1: off).
    pub tune_constants: usize,
    /// The language-model proposer (`[proposer.llm]`; `None`: typed operators only).
    pub llm: Option<llm::LlmSettings>,
    /// Debate switch.
    pub debater_enabled: bool,
    /// Fraction of rejected proposals evaluated anyway.
    pub audit_rate: f64,
    /// Structural novelty threshold of the innovator.
    pub novelty_threshold: f64,
    /// Extra proposals per tick the debate starts with.
    pub debate_extra: usize,
    /// Most extra proposals per tick the debate's budget may grow to.
    pub debate_max_extra: usize,
    /// Verifier switch.
    pub verifier_enabled: bool,
    /// Fresh seeds per task for verification.
    pub verify_seeds: u32,
    /// Verifications per tick.
    pub verify_per_tick: usize,
    /// Report episodes per task for the final champion.
    pub report_seeds: u32,
    /// Verification rounds (of `verify_seeds` blocks) the best elites may reach.
    pub verify_rounds: u32,
    /// Tasks the run never sees, one set per `verifier.held_out` entry, on which the
    /// summary compares the champion with the library (empty: no comparison).
    pub held_out: Vec<HeldOutSet>,
    /// Episodes per held-out task.
    pub held_out_seeds: u32,
    /// Recombiner switch.
    pub recombiner_enabled: bool,
    /// Crossover children per tick (starting share of the slots).
    pub crossover_per_tick: usize,
    /// Whether the recombiner's share follows its measured yield.
    pub recombiner_adaptive: bool,
    /// Of the recombiner's children per tick, at most this many are constant-swarm
    /// merges of verified elites sharing a structure (0: off).
    pub constant_swarm: usize,
    /// The file's text, as loaded (copied into the run folder).
    pub text: String,
    /// Hash of the text: checkpoints refuse to resume under another scenario.
    pub hash: u64,
    /// The folder every relative path of the file (`files`, `reference`, `out`,
    /// `inherit`) is relative to: the scenario file's folder (for a run folder's copy,
    /// the folder the original was in).
    pub base_dir: PathBuf,
}

/// A seed or reference genome named in the file: `lib:NAME`, inline text, or a file
/// relative to `base_dir`; a problem is reported at the spec's span.
fn genome_spec(v: &mut Validator<'_>, base_dir: &Path, spec: &Spanned<String>, origin: String) -> Option<SeedGenome> {
    let s = spec.get_ref().trim();
    let span = spec.span();
    let limits = Limits::default();
    if let Some(name) = s.strip_prefix("lib:") {
        return match library_source(name) {
            Some(t) => load_genome(&t, &limits).ok().map(|genome| SeedGenome { origin: s.to_string(), genome }),
            None => {
                v.error(span, format!("no library mechanism named `{name}`"), library_names_hint());
                None
            }
        };
    }
    let (text, origin) = if s.starts_with('(') {
        (s.to_string(), origin)
    } else {
        let file = base_dir.join(s);
        match crate::input::read_text_limited(&file, crate::input::MAX_GENOME_BYTES) {
            Ok(t) => (t, file.display().to_string()),
            Err(e) => {
                v.error(
                    span,
                    format!("cannot read genome file: {e}"),
                    "paths are relative to the scenario file; library mechanisms are `lib:NAME`",
                );
                return None;
            }
        }
    };
    match load_genome(&text, &limits) {
        Ok(genome) => Some(SeedGenome { origin, genome }),
        Err(diags) => {
            let first = &diags[0];
            let (line, col) = crate::diagnostic::line_col(&text, first.span.start);
            v.error(
                span,
                format!("invalid genome ({origin} {line}:{col}): {}", first.message),
                first.hint.clone().unwrap_or_else(|| "check it with `outerloop mech check`".into()),
            );
            None
        }
    }
}

/// Whether scenario text declares a scenario kind of its own (a top-level `kind` key:
/// `kind = "model-swarm"`); outer-loop scenarios have none. Text that is not TOML does not.
pub fn declares_kind(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|table| table.contains_key("kind"))
}

/// A set of held-out tasks compared on its own (its own budget and summary section):
/// each suite named in `verifier.held_out`, and the tasks named directly, together.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOutSet {
    /// The suite's name (`suite:gpt-heldout`), or the directly named tasks joined by `, `.
    pub entry: String,
    /// Its tasks.
    pub tasks: Vec<String>,
}

/// Group `verifier.held_out` into sets: one per suite, one for the tasks named directly
/// (placed where the first of them is), each checked on its own.
fn held_out_sets(
    v: &mut Validator<'_>,
    base_dir: &Path,
    list: &Spanned<Vec<Spanned<String>>>,
    tasks: &[String],
    budget: f64,
) -> Vec<HeldOutSet> {
    let mut sets: Vec<HeldOutSet> = Vec::new();
    let mut direct: Option<usize> = None;
    for entry in list.get_ref() {
        let expanded = task_names(v, base_dir, std::slice::from_ref(entry));
        if expanded.is_empty() {
            continue;
        }
        if entry.get_ref().starts_with("suite:") {
            if !sets.iter().any(|s| &s.entry == entry.get_ref()) {
                check_held_out(v, entry.span(), &expanded, tasks, budget);
                sets.push(HeldOutSet { entry: entry.get_ref().clone(), tasks: expanded });
            }
            continue;
        }
        let slot = *direct.get_or_insert_with(|| {
            sets.push(HeldOutSet { entry: String::new(), tasks: Vec::new() });
            sets.len() - 1
        });
        for t in expanded {
            if !sets[slot].tasks.contains(&t) {
                sets[slot].tasks.push(t);
            }
        }
    }
    if let Some(slot) = direct {
        let set = &mut sets[slot];
        set.entry = set.tasks.join(", ");
        check_held_out(v, list.span(), &set.tasks, tasks, budget);
    }
    sets
}

/// A task naming a file (`cmd:<spec.toml>`, `gpt-table:<file.tsv>`, `gpt-live:<corpus file>`)
/// with a relative path
/// names it from the scenario's folder `base_dir`; the task's name is then that file's
/// path from the working directory, the same whether the scenario is loaded from its
/// own folder or, on resume, through a run folder's record of that folder.
fn task_file_from(base_dir: &Path, name: &str) -> String {
    use crate::objective::gpt::corpora::CorpusSource;
    let relative = |path: &str| Path::new(path).is_relative();
    // (prefix, the relative path, what follows it)
    let (prefix, path, tail) = if let Some(rest) = name.strip_prefix(crate::objective::command::PREFIX) {
        let (path, entry) = rest.split_at(rest.rfind('#').unwrap_or(rest.len()));
        (crate::objective::command::PREFIX, path, entry)
    } else if let Some(rest) = name.strip_prefix("gpt-table:").filter(|r| r.contains('/') || r.contains(".tsv")) {
        ("gpt-table:", rest, "")
    } else if let Some(rest) = name.strip_prefix("gpt-live:") {
        let (corpus, tail) = rest.split_at(rest.find(':').unwrap_or(rest.len()));
        if !matches!(CorpusSource::parse(corpus), Ok(CorpusSource::File(_))) {
            return name.to_string();
        }
        ("gpt-live:", corpus, tail)
    } else {
        return name.to_string();
    };
    if !relative(path) {
        return name.to_string();
    }
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let file = canonical(base_dir).join(path);
    let from_here = std::env::current_dir().ok().and_then(|cwd| pathdiff::diff_paths(&file, canonical(&cwd)));
    format!("{prefix}{}{tail}", from_here.unwrap_or(file).display())
}

/// Read, parse and validate a scenario file.
pub fn load(path: &Path) -> Result<Scenario, InputError> {
    let text = crate::input::read_text(path)?;
    parse(path, &text)
}

/// Expand task and suite names, each error at its own name; the first occurrence of
/// each task is kept.
fn task_names(v: &mut Validator<'_>, base_dir: &Path, names: &[Spanned<String>]) -> Vec<String> {
    let mut tasks = Vec::new();
    for t in names {
        match expand_tasks(&task_file_from(base_dir, t.get_ref())) {
            Ok(expanded) => {
                for name in expanded {
                    if !tasks.contains(&name) {
                        tasks.push(name);
                    }
                }
            }
            Err(e) => v.error(t.span(), e.to_string(), task_hint(&e)),
        }
    }
    tasks
}

/// The tasks of one held-out entry must be ones the run never sees, count budgets in one
/// unit, and be able to pay for a trial at the run's budget carried over.
fn check_held_out(v: &mut Validator<'_>, span: std::ops::Range<usize>, held: &[String], tasks: &[String], budget: f64) {
    if held.is_empty() || tasks.is_empty() {
        return;
    }
    if let Some(seen) = held.iter().find(|h| tasks.contains(h)) {
        v.error(
            span,
            format!("`verifier.held_out` names `{seen}`, a task the run evolves on"),
            "held-out tasks are tasks the run never sees: remove it from one of `verifier.held_out` and `inner.tasks`",
        );
        return;
    }
    match crate::objective::registry::budget_in_units_of(budget, tasks, held) {
        Err(e) => v.error(
            span,
            format!("`verifier.held_out`: {e}"),
            "make each entry of `verifier.held_out` tasks of one kind (GPT tables, or BBOB functions of one dimension), one entry per kind",
        ),
        Ok(carried) => {
            for task in held {
                let Ok(objective) = crate::objective::registry::objective_by_name(task) else { continue };
                let cheapest = crate::inner::run::cheapest_trial(objective.as_ref());
                if carried + 1e-9 < cheapest {
                    v.error(
                        span.clone(),
                        format!("the run's budget carried over to `{task}` ({carried:.4} in its units) is below its cheapest trial ({cheapest})"),
                        "raise `inner.budget`, or hold out tasks whose trials cost less",
                    );
                    return;
                }
            }
        }
    }
}

/// Refuse an inner budget that buys no trial of some task (every episode would be
/// empty and its fitness undefined) or more trials than an episode may run.
fn check_budget_fits_tasks(v: &mut Validator<'_>, span: &Spanned<f64>, budget: f64, tasks: &[String]) {
    use crate::inner::run::{MAX_TRIALS, cheapest_trial};
    for task in tasks {
        // Unknown tasks are reported where the names are checked.
        let Ok(objective) = crate::objective::registry::objective_by_name(task) else { continue };
        let cheapest = cheapest_trial(objective.as_ref());
        if budget + 1e-9 < cheapest {
            v.error(
                span.span(),
                format!("`inner.budget` = {budget} is below the cheapest trial of `{task}` ({cheapest})"),
                format!("raise it to at least {cheapest}; a useful budget buys tens of trials"),
            );
            return;
        }
        if budget > MAX_TRIALS as f64 * cheapest {
            v.error(
                span.span(),
                format!("`inner.budget` = {budget} buys more than {MAX_TRIALS} trials of `{task}`"),
                format!("use at most {}", MAX_TRIALS as f64 * cheapest),
            );
            return;
        }
    }
}

/// `path` relative to the scenario's folder `base` (`./` is not added for a scenario in
/// the current directory, so messages show the path as written).
fn under(base: &Path, path: &str) -> PathBuf {
    if base.as_os_str().is_empty() || base == Path::new(".") { PathBuf::from(path) } else { base.join(path) }
}

/// Read a scenario whose genome file paths are relative to `base_dir` (a run folder's
/// copy of a scenario keeps resolving them where the original file lived).
pub fn load_in(path: &Path, base_dir: &Path) -> Result<Scenario, InputError> {
    let text = crate::input::read_text(path)?;
    parse_in(path, &text, base_dir)
}

/// Parse and validate scenario text (`path` is used for messages and relative paths).
pub fn parse(path: &Path, text: &str) -> Result<Scenario, InputError> {
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    parse_in(path, text, base)
}

/// The outer-loop scenario format's hints for files that do not deserialize.
const HINTS: TomlHints = TomlHints {
    unknown: "remove the key or fix its spelling; every key is documented in scenarios/README.md",
    missing: "add the key; see scenarios/README.md and scenarios/quickstart.toml",
    invalid: "see scenarios/README.md for each key's type",
    syntax: "this is not valid TOML; compare with scenarios/quickstart.toml (strings are quoted, one `key = value` a line)",
};

/// Parse and validate scenario text with genome paths relative to `base_dir`.
pub fn parse_in(path: &Path, text: &str, base_dir: &Path) -> Result<Scenario, InputError> {
    let source_error = |diagnostics: Vec<Diagnostic>| InputError::Source {
        path: path.to_path_buf(),
        text: text.to_string(),
        diagnostics,
    };
    let raw: ScenarioFile = parse_toml(path, text, HINTS)?;
    let mut v = Validator::new(keys::KEYS);
    let name = raw.name.get_ref().clone();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        v.error(raw.name.span(), format!("run name `{name}` cannot name a folder"), "use letters, digits, `-` and `_`");
    } else if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        // Children are named `<run name>-m<id>`, and a genome's name starts with a letter.
        v.error(
            raw.name.span(),
            format!("run name `{name}` must start with a letter"),
            "the run name prefixes every new mechanism's name, which starts with a letter",
        );
    }
    let ticks = v.int(&raw.ticks, "ticks") as u32;
    let population_size = v.int(&raw.population.size, "population.size") as usize;
    let elites = v.int(&raw.population.elites, "population.elites") as usize;
    if elites >= population_size {
        // A defaulted `elites` has no span of its own: point at the `size` that is too small.
        let span = if raw.population.elites.span().is_empty() {
            raw.population.size.span()
        } else {
            raw.population.elites.span()
        };
        v.error(
            span,
            format!("`population.elites` = {elites} leaves no room in `population.size` = {population_size}"),
            "keep elites below population.size (elites defaults to 4)",
        );
    }
    if let Some(objectives) = &raw.objectives {
        for name in objectives.get_ref().keys() {
            if let Err(e) = crate::objective::command::spec::CommandSpec::parse_entry(path, base_dir, text, name) {
                v.error(
                    e.span.clone().unwrap_or(objectives.span()),
                    format!("[objectives.{name}]: {}", e.message),
                    "a command objective has the keys of a command spec (command, input, fidelities, timeout, failure_score, optimum, files, cache, [space]): see scenarios/README.md",
                );
            }
        }
    }
    if raw.inner.tasks.get_ref().is_empty() {
        v.error(raw.inner.tasks.span(), "`inner.tasks` is empty", format!("name at least one task: {TASK_FORMS}"));
    }
    let tasks = task_names(&mut v, base_dir, raw.inner.tasks.get_ref());
    let inner_budget = v.real_within(&raw.inner.budget, "inner.budget", 1e-9, 1e9);
    if inner_budget == *raw.inner.budget.get_ref() {
        // Only a budget that is a number in range can be compared with the tasks.
        check_budget_fits_tasks(&mut v, &raw.inner.budget, inner_budget, &tasks);
    }
    let inner_seeds = v.int(&raw.inner.seeds, "inner.seeds") as u32;
    let min_seeds = match &raw.inner.min_seeds {
        Some(m) => v.int_within(m, "inner.min_seeds", 1, i64::from(inner_seeds)) as u32,
        None => inner_seeds,
    };
    let score = match raw.inner.score.as_ref() {
        None => EpisodeScore::FinalRegret,
        Some(s) => EpisodeScore::parse(s.get_ref()).unwrap_or_else(|| {
            v.error(
                s.span(),
                format!("`inner.score` = \"{}\" is not an episode score", s.get_ref()),
                "use \"final-regret\" or \"aocc\"",
            );
            EpisodeScore::FinalRegret
        }),
    };
    let aggregate = match raw.inner.aggregate.as_ref().map(|a| (a.get_ref().as_str(), a.span())) {
        None | Some(("mean", _)) => Aggregate::Mean,
        Some(("worst-task", _)) => Aggregate::WorstTask,
        Some((other, span)) => {
            v.error(
                span,
                format!("`inner.aggregate` = \"{other}\" is not an aggregate"),
                "use \"mean\" or \"worst-task\"",
            );
            Aggregate::Mean
        }
    };
    let mut seed_genomes = Vec::new();
    for l in &raw.seeds.library {
        if l.get_ref() == "all" {
            for (n, _) in LIBRARY {
                let spec = Spanned::new(l.span(), format!("lib:{n}"));
                seed_genomes.extend(genome_spec(&mut v, base_dir, &spec, String::new()));
            }
        } else {
            let spec = Spanned::new(l.span(), format!("lib:{}", l.get_ref()));
            seed_genomes.extend(genome_spec(&mut v, base_dir, &spec, String::new()));
        }
    }
    for f in &raw.seeds.files {
        seed_genomes.extend(genome_spec(&mut v, base_dir, f, f.get_ref().clone()));
    }
    for (i, g) in raw.seeds.inline.iter().enumerate() {
        seed_genomes.extend(genome_spec(&mut v, base_dir, g, format!("inline[{i}]")));
    }
    if seed_genomes.is_empty() && v.diags.is_empty() && raw.inherit.is_none() {
        v.error(
            0..0,
            "the scenario has no seed mechanisms",
            "add `[seeds] library = [\"all\"]` (or files, inline genomes, or inherit)",
        );
    }
    let reference = genome_spec(&mut v, base_dir, &raw.reference, "reference".into());
    let children_per_tick = v.int(&raw.proposer.children_per_tick, "proposer.children_per_tick") as usize;
    let tournament = v.int(&raw.proposer.tournament, "proposer.tournament") as usize;
    let operators = match raw.proposer.operators.as_ref().map(|o| (o.get_ref().as_str(), o.span())) {
        None => OperatorSet::All,
        Some((name, span)) => OperatorSet::parse(name).unwrap_or_else(|| {
            let allowed: Vec<String> = OperatorSet::ALL.iter().map(|s| format!("\"{}\"", s.name())).collect();
            v.error(
                span,
                format!("`proposer.operators` = \"{name}\" is not an operator set"),
                format!("use one of {}", allowed.join(", ")),
            );
            OperatorSet::All
        }),
    };
    let tune_constants = v.int(&raw.proposer.tune_constants, "proposer.tune_constants") as usize;
    let llm = raw.proposer.llm.as_ref().map(|l| llm::validate(&mut v, l));
    let audit_rate = v.real(&raw.debater.audit_rate, "debater.audit_rate");
    let novelty_threshold = v.real(&raw.debater.novelty_threshold, "debater.novelty_threshold");
    let verify_seeds = v.int(&raw.verifier.seeds, "verifier.seeds") as u32;
    let verify_per_tick = v.int(&raw.verifier.max_per_tick, "verifier.max_per_tick") as usize;
    let report_seeds = v.int(&raw.verifier.report_seeds, "verifier.report_seeds") as u32;
    let verify_rounds = v.int(&raw.verifier.max_rounds, "verifier.max_rounds") as u32;
    let held_out = held_out_sets(&mut v, base_dir, &raw.verifier.held_out, &tasks, inner_budget);
    let held_out_seeds = v.int(&raw.verifier.held_out_seeds, "verifier.held_out_seeds") as u32;
    let hall_of_fame = v.int(&raw.population.hall_of_fame, "population.hall_of_fame") as usize;
    let debate_max_extra = v.int(&raw.debater.max_extra, "debater.max_extra") as usize;
    let debate_extra = v.int_within(&raw.debater.extra, "debater.extra", 1, debate_max_extra as i64) as usize;
    let crossover_per_tick = v.int(&raw.recombiner.children_per_tick, "recombiner.children_per_tick") as usize;
    let constant_swarm = v.int_within(&raw.recombiner.constant_swarm, "recombiner.constant_swarm", 0, 100_000) as usize;
    if constant_swarm > crossover_per_tick {
        v.error(
            raw.recombiner.constant_swarm.span(),
            format!(
                "`recombiner.constant_swarm` = {constant_swarm} is more than `recombiner.children_per_tick` = {crossover_per_tick}"
            ),
            format!("merges take the recombiner's slots: use 0 to {crossover_per_tick}, or raise `children_per_tick`"),
        );
    }
    if !v.diags.is_empty() {
        return Err(source_error(v.diags));
    }
    let Some(reference) = reference else { unreachable!("a missing reference was reported above") };
    // One rule for the paths a file names: relative to the file's folder. The default
    // output folder is not in the file, so it is where the user stands.
    let out = match raw.out {
        Some(o) => under(base_dir, &o),
        None => PathBuf::from("populations").join(&name),
    };
    Ok(Scenario {
        name,
        seed: raw.seed,
        ticks,
        out,
        inherit: raw.inherit.map(|s| under(base_dir, &s.into_inner())),
        population_size,
        elites,
        hall_of_fame,
        tasks,
        inner_budget,
        inner_seeds,
        min_seeds,
        aggregate,
        score,
        execution: FaultPolicy::from_self_heal(raw.inner.self_heal),
        seed_genomes,
        reference,
        proposer_enabled: raw.proposer.enabled,
        children_per_tick,
        tournament,
        operators,
        tune_constants,
        llm,
        debater_enabled: raw.debater.enabled,
        audit_rate,
        novelty_threshold,
        debate_extra,
        debate_max_extra,
        verifier_enabled: raw.verifier.enabled,
        verify_seeds,
        verify_per_tick,
        report_seeds,
        verify_rounds,
        held_out,
        held_out_seeds,
        recombiner_enabled: raw.recombiner.enabled,
        crossover_per_tick,
        recombiner_adaptive: raw.recombiner.adaptive,
        constant_swarm,
        text: text.to_string(),
        hash: xxhash_rust::xxh3::xxh3_64(text.as_bytes()),
        base_dir: base_dir.to_path_buf(),
    })
}
