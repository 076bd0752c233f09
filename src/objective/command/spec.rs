//! A command objective's spec file: the user's program, how a trial is handed to it, its
//! fidelity levels and its search space. Every problem is reported as `file:line:column`
//! with the fix.
//!
//! ```toml
//! command = ["python3", "train.py"]   # run in this file's folder
//! input = "json"                      # the trial as one JSON line on stdin, or "args"
//! fidelities = [0.25, 0.5, 1.0]       # budget fractions a trial may run at (default [1.0])
//! timeout = 600                       # seconds per trial (default 3600)
//! failure_score = 10.0                # a failed trial's score (default: the largest f64)
//! optimum = 0.0                       # the best attainable score, when known
//! files = ["data.csv"]                # more files whose content makes the trial's identity
//! cache = true                        # remember results in .outerloop-cache/ beside this file
//! [space]
//! lr = { log = [1e-4, 1e-1] }
//! layers = { integer = [1, 4] }
//! act = ["relu", "tanh"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::line_col;
use crate::space::SearchSpace;
use crate::space_spec::{SpaceSpecError, knob_from_toml};

/// The most bytes a spec file may hold.
pub const MAX_SPEC_BYTES: u64 = 1 << 20;
/// The longest timeout a spec may ask for: a week.
pub const MAX_TIMEOUT_S: f64 = 7.0 * 24.0 * 3600.0;

/// A problem in a spec file, located.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{}: {message}", path.display(), at.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct SpecError {
    /// The spec file.
    pub path: PathBuf,
    /// Line and column (from 1), when the problem is at a place in the file.
    pub at: Option<(usize, usize)>,
    /// The byte range of that place (a scenario holding the spec points at it).
    pub span: Option<std::ops::Range<usize>>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl SpecError {
    /// A problem with the whole file.
    pub fn whole(path: &Path, message: String) -> Self {
        SpecError { path: path.to_path_buf(), at: None, span: None, message }
    }

    fn located(path: &Path, text: &str, span: std::ops::Range<usize>, message: String) -> Self {
        SpecError { path: path.to_path_buf(), at: Some(line_col(text, span.start)), span: Some(span), message }
    }
}

/// The entries of a file holding specs as tables `[objectives.<name>]` (a scenario).
#[derive(Deserialize)]
struct Entries {
    #[serde(default)]
    objectives: BTreeMap<String, Spanned<SpecFile>>,
}

/// The same entries as plain values: an entry's identity is its canonical text.
#[derive(Deserialize)]
struct EntryValues {
    #[serde(default)]
    objectives: BTreeMap<String, toml::Value>,
}

/// The canonical text of entry `name` of `text` (what its identity hashes instead of the
/// whole file, so editing the rest of a scenario changes nothing).
fn entry_text(path: &Path, text: &str, name: &str) -> Result<String, SpecError> {
    let values: EntryValues = toml::from_str(text).map_err(|e| SpecError::whole(path, e.message().to_string()))?;
    let value = values.objectives.get(name).ok_or_else(|| missing_entry(path, name, values.objectives.keys()))?;
    toml::to_string(value).map_err(|e| SpecError::whole(path, e.to_string()))
}

fn missing_entry<'a>(path: &Path, name: &str, names: impl Iterator<Item = &'a String>) -> SpecError {
    let names: Vec<&str> = names.map(String::as_str).collect();
    SpecError::whole(
        path,
        format!(
            "no [objectives.{name}] table here ({}): write the spec there, or name a spec file `cmd:<file.toml>`",
            if names.is_empty() { "it has none".to_string() } else { format!("it has {}", names.join(", ")) }
        ),
    )
}

/// How a trial reaches the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputMode {
    /// One JSON line on stdin: `{"config":{...},"fidelity":f,"seed":s}`.
    Json,
    /// Arguments after the command: `--<knob>=<value> ... --fidelity=f --seed=s`.
    Args,
}

/// The spec, checked.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// The folder the spec is in: the trials' working directory and the base of relative
    /// paths.
    pub dir: PathBuf,
    /// The program to run, found (a path, or a name on `PATH`).
    pub program: PathBuf,
    /// Its arguments as written.
    pub args: Vec<String>,
    /// How a trial is handed over.
    pub input: InputMode,
    /// Fidelity levels, increasing, ending at 1.
    pub fidelities: Vec<f64>,
    /// Seconds a trial may run before it is killed and counted as failed.
    pub timeout_s: f64,
    /// A failed trial's score.
    pub failure_score: f64,
    /// The best attainable score, when known.
    pub optimum: Option<f64>,
    /// Whether results are remembered between runs.
    pub cache: bool,
    /// The files whose content is the trial's identity besides the spec: the program
    /// when it is a file, every argument naming a file, and `files`.
    pub identity_files: Vec<PathBuf>,
    /// The spec's own part of the identity: the whole file's text, or an entry's
    /// canonical text.
    pub identity_text: String,
    /// The search space.
    pub space: SearchSpace,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    command: Option<Spanned<Vec<String>>>,
    input: Option<Spanned<String>>,
    fidelities: Option<Spanned<Vec<f64>>>,
    timeout: Option<Spanned<f64>>,
    failure_score: Option<Spanned<f64>>,
    optimum: Option<Spanned<f64>>,
    #[serde(default)]
    files: Vec<Spanned<String>>,
    cache: Option<bool>,
    space: Spanned<BTreeMap<String, Spanned<toml::Value>>>,
}

impl CommandSpec {
    /// Read and check the spec at `path`: a whole file, or with `entry` the table
    /// `[objectives.<entry>]` of a file holding several (a scenario).
    pub fn load(path: &Path, entry: Option<&str>) -> Result<CommandSpec, SpecError> {
        let text = read_spec(path)?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        match entry {
            None => Self::parse(path, &dir, &text),
            Some(name) => Self::parse_entry(path, &dir, &text, name),
        }
    }

    /// Check the whole-file spec `text` of `path`, relative paths taken from `dir`.
    pub fn parse(path: &Path, dir: &Path, text: &str) -> Result<CommandSpec, SpecError> {
        let file: SpecFile = toml::from_str(text).map_err(|e| toml_error(path, text, e))?;
        Self::check(path, dir, text, file, text.to_string())
    }

    /// Check the table `[objectives.<name>]` of `text` (a scenario's own objective).
    pub fn parse_entry(path: &Path, dir: &Path, text: &str, name: &str) -> Result<CommandSpec, SpecError> {
        let mut entries: Entries = toml::from_str(text).map_err(|e| toml_error(path, text, e))?;
        let names: Vec<String> = entries.objectives.keys().cloned().collect();
        let file = entries.objectives.remove(name).ok_or_else(|| missing_entry(path, name, names.iter()))?;
        let identity_text = entry_text(path, text, name)?;
        Self::check(path, dir, text, file.into_inner(), identity_text)
    }

    fn check(
        path: &Path,
        dir: &Path,
        text: &str,
        file: SpecFile,
        identity_text: String,
    ) -> Result<CommandSpec, SpecError> {
        let at = |span: std::ops::Range<usize>, message: String| SpecError::located(path, text, span, message);
        let trials = check_trials(path, text, &file)?;
        let Some(command_entry) = &file.command else {
            return Err(SpecError::whole(
                path,
                "no `command`: add the program a trial runs, e.g. command = [\"python3\", \"train.py\"]".into(),
            ));
        };
        let command = command_entry.get_ref();
        let Some((program, args)) = command.split_first() else {
            return Err(at(
                command_entry.span(),
                "the command is empty: e.g. command = [\"python3\", \"train.py\"]".into(),
            ));
        };
        let program = find_program(dir, program).map_err(|m| at(command_entry.span(), m))?;
        let input = match file.input.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("json") => InputMode::Json,
            Some("args") => InputMode::Args,
            Some(other) => {
                let span = file.input.as_ref().map(|s| s.span()).unwrap_or_default();
                return Err(at(span, format!("unknown input `{other}`: \"json\" (one line on stdin) or \"args\"")));
            }
        };
        let timeout_s = match &file.timeout {
            None => 3600.0,
            Some(t) if *t.get_ref() > 0.0 && *t.get_ref() <= MAX_TIMEOUT_S => *t.get_ref(),
            Some(t) => {
                return Err(at(t.span(), format!("timeout is seconds per trial, above 0 and at most {MAX_TIMEOUT_S}")));
            }
        };
        let optimum = finite(path, text, &file.optimum, "optimum")?;
        let mut identity_files = Vec::new();
        if program.is_absolute() || command[0].contains('/') {
            identity_files.push(program.clone());
        }
        // An argument naming a file here (a script) is part of what a trial runs.
        identity_files.extend(args.iter().map(|a| dir.join(a)).filter(|p| p.is_file()));
        for f in &file.files {
            let p = dir.join(f.get_ref());
            if !p.is_file() {
                return Err(at(f.span(), format!("`{}` is not a file here ({})", f.get_ref(), p.display())));
            }
            identity_files.push(p);
        }
        Ok(CommandSpec {
            dir: dir.to_path_buf(),
            program,
            args: args.to_vec(),
            input,
            fidelities: trials.fidelities,
            timeout_s,
            failure_score: trials.failure_score,
            optimum,
            cache: file.cache.unwrap_or(true),
            identity_files,
            identity_text,
            space: trials.space,
        })
    }
}

/// What trials are, from a spec or any TOML file with the same `[space]`, `fidelities`
/// and `failure_score` keys (its `command` may be absent): what `mech serve --space`
/// reads.
#[derive(Debug, Clone)]
pub struct TrialSpace {
    /// The search space.
    pub space: SearchSpace,
    /// Fidelity levels, increasing, ending at 1.
    pub fidelities: Vec<f64>,
    /// A failed trial's score.
    pub failure_score: f64,
}

impl TrialSpace {
    /// Read and check the trial space of the file at `path`.
    pub fn load(path: &Path) -> Result<TrialSpace, SpecError> {
        let text = read_spec(path)?;
        let file: SpecFile = toml::from_str(&text).map_err(|e| toml_error(path, &text, e))?;
        check_trials(path, &text, &file)
    }
}

fn toml_error(path: &Path, text: &str, e: toml::de::Error) -> SpecError {
    let message = e.message().to_string();
    match e.span() {
        Some(span) => SpecError::located(path, text, span, message),
        None => SpecError::whole(path, message),
    }
}

fn read_spec(path: &Path) -> Result<String, SpecError> {
    let whole = |message: String| SpecError::whole(path, message);
    let size = std::fs::metadata(path).map_err(|e| whole(format!("cannot read the file: {e}")))?.len();
    if size > MAX_SPEC_BYTES {
        return Err(whole(format!("{size} bytes: a spec holds at most {MAX_SPEC_BYTES}")));
    }
    crate::input::read_text(path).map_err(|e| whole(e.to_string()))
}

/// Whether `levels` are fidelity levels: increasing budget fractions in (0, 1] ending at 1.
pub fn valid_levels(levels: &[f64]) -> bool {
    levels.first().is_some_and(|f| *f > 0.0) && levels.windows(2).all(|w| w[0] < w[1]) && levels.last() == Some(&1.0)
}

/// A finite number's value, or its located error.
fn finite(path: &Path, text: &str, v: &Option<Spanned<f64>>, key: &str) -> Result<Option<f64>, SpecError> {
    match v {
        Some(x) if !x.get_ref().is_finite() => {
            Err(SpecError::located(path, text, x.span(), format!("`{key}` must be a finite number")))
        }
        other => Ok(other.as_ref().map(|x| *x.get_ref())),
    }
}

/// Check a spec's trial space: levels, failure score, knobs.
fn check_trials(path: &Path, text: &str, file: &SpecFile) -> Result<TrialSpace, SpecError> {
    let at = |span: std::ops::Range<usize>, message: String| SpecError::located(path, text, span, message);
    let fidelities = match &file.fidelities {
        None => vec![1.0],
        Some(f) => {
            let levels = f.get_ref().clone();
            if !valid_levels(&levels) {
                return Err(at(
                    f.span(),
                    "fidelities are increasing budget fractions in (0, 1] ending at 1, e.g. [0.25, 0.5, 1.0]".into(),
                ));
            }
            levels
        }
    };
    let failure_score = finite(path, text, &file.failure_score, "failure_score")?.unwrap_or(f64::MAX);
    let mut knobs = Vec::new();
    for (name, value) in file.space.get_ref() {
        knobs.push(knob_from_toml(name, value.get_ref()).map_err(|e| at(value.span(), e.to_string()))?);
    }
    if knobs.is_empty() {
        return Err(at(file.space.span(), "the [space] has no knobs: e.g. lr = { log = [1e-4, 1e-1] }".into()));
    }
    let space = SearchSpace::new(knobs).map_err(|e| at(file.space.span(), SpaceSpecError::from(e).message))?;
    Ok(TrialSpace { space, fidelities, failure_score })
}

/// The program a command names: a path (relative to the spec's folder) or a name on
/// `PATH`.
fn find_program(dir: &Path, program: &str) -> Result<PathBuf, String> {
    if program.contains('/') {
        let path = dir.join(program);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("the program `{program}` is not a file ({})", path.display()))
        };
    }
    which::which(program).map_err(|_| {
        format!(
            "command `{program}` not found on PATH: install it, or give its path (e.g. \"./{program}\" beside the spec)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CommandSpec, SpecError> {
        CommandSpec::parse(Path::new("obj.toml"), Path::new("."), text)
    }

    #[test]
    fn a_spec_parses_with_defaults() {
        let s = parse("command = [\"sh\", \"-c\", \"true\"]\n[space]\nx = { linear = [0, 1] }\n").unwrap();
        assert_eq!((s.input, s.fidelities.clone(), s.timeout_s, s.cache), (InputMode::Json, vec![1.0], 3600.0, true));
        assert_eq!(s.failure_score, f64::MAX);
        assert_eq!(s.space.dim(), 1);
    }

    #[test]
    fn problems_are_located_with_the_fix() {
        for (text, needle) in [
            ("command = []\n[space]\nx = [1, 2]", "obj.toml:1:11: the command is empty"),
            (
                "command = [\"no-such-program-xyz\"]\n[space]\nx = [1, 2]",
                "obj.toml:1:11: command `no-such-program-xyz` not found",
            ),
            ("command = [\"sh\"]\ninput = \"xml\"\n[space]\nx = [1, 2]", "obj.toml:2:9: unknown input `xml`"),
            ("command = [\"sh\"]\nfidelities = [0.5, 0.25, 1.0]\n[space]\nx = [1, 2]", "obj.toml:2:14: fidelities"),
            ("command = [\"sh\"]\nfidelities = [0.5]\n[space]\nx = [1, 2]", "ending at 1"),
            ("command = [\"sh\"]\ntimeout = 0\n[space]\nx = [1, 2]", "obj.toml:2:11: timeout"),
            (
                "command = [\"sh\"]\n[space]\nx = { linear = [2, 1] }",
                "obj.toml:3:5: knob `x`: bounds must be finite with lo < hi",
            ),
            ("command = [\"sh\"]\n[space]\n", "has no knobs"),
            ("command = [\"sh\"]\nfiles = [\"nope.csv\"]\n[space]\nx = [1]", "obj.toml:2:10: `nope.csv` is not a file"),
            ("command = [\"sh\"]\ncolour = 3\n[space]\nx = [1]", "obj.toml:2:1: unknown field `colour`"),
            ("command = [\"./nope.sh\"]\n[space]\nx = [1]", "the program `./nope.sh` is not a file"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
