//! A reproduction set's manifest (`scenarios/reproductions/<set>/reproduction.toml`):
//! which claim it tests, what the source reported, the base scenario, its arms (listed,
//! or the full factorial of two-level factors), run seeds, the evaluation, and the
//! quick variant the tests run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::diagnostic::{Diagnostic, InputError, TomlHints, parse_toml};
use crate::scenario::overrides::set_dotted;

/// The claim a set tests; it decides what is run and what is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimKind {
    /// Groups of outer loops compared with the plain inner loop (first arm) on held-out
    /// and live tasks.
    Bilevel,
    /// A 2^k factorial over components: main effects, interactions, synergy.
    Factorial,
    /// Score against inner budget: power laws fitted to the champions' and the
    /// library's curves.
    Scaling,
    /// Model-swarm merges against the experts and merge baselines.
    Swarm,
    /// Novelty of every champion of the other sets (runs nothing itself).
    Novelty,
}

/// Most replicate runs per arm (as `run --replicates`).
pub const MAX_RUN_SEEDS: u32 = 1000;

/// Most held-out or live episodes per task.
pub const MAX_EPISODES: u32 = 10_000;

/// Whether `name` can only name a folder under the set's root: 1 to 64 ASCII letters,
/// digits, `-`, `_`, `.`, not starting with `.` or `-` (no separators, no `..`, nothing
/// absolute, nothing hidden).
fn is_plain_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with(['.', '-'])
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The span of `name = ...` in `text`, in `[section]` when one is given (the top level
/// otherwise); empty when not found.
fn locate_key(text: &str, section: &str, name: &str) -> std::ops::Range<usize> {
    let mut current = String::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            current = trimmed.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        } else if current == section
            && let Some((key, _)) = trimmed.split_once('=')
            && key.trim() == name
        {
            let start = offset + line.find(name).unwrap_or(0);
            return start..start + line.trim_end().len() - line.find(name).unwrap_or(0);
        }
        offset += line.len();
    }
    0..0
}

/// One arm: overrides of the base scenario.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmSpec {
    /// Short name (folder names, tables).
    pub name: String,
    /// What the arm is, for the document.
    #[serde(default)]
    pub label: String,
    /// Dotted keys and their values (`"proposer.operators" = "constants"`).
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
    /// Overrides applied after `set` in the quick variant only (an arm whose `set`
    /// changes what `[quick]` shrinks, e.g. a longer run, shrinks it here too).
    #[serde(default)]
    pub quick_set: BTreeMap<String, toml::Value>,
}

/// A two-level factor of a factorial set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactorSpec {
    /// Dotted scenario key (`inherit` takes `false`/`true`: off, or the set's prior run
    /// of the same seed).
    pub key: String,
    /// Short name used in arm names (`debate` gives `debate` / `no-debate`).
    pub name: String,
    /// The low and high level.
    pub levels: [toml::Value; 2],
}

/// The quick variant: fewer seeds and episodes, and extra overrides for every arm.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuickSpec {
    /// Run seeds (default: the full set's).
    pub run_seeds: Option<u32>,
    /// Held-out episodes per task (default: the full set's).
    pub episodes: Option<u32>,
    /// Live episodes per task (default: the full set's).
    pub live_episodes: Option<u32>,
    /// Overrides applied to the base (and the prior) before the arms' own.
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
}

/// The manifest as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The claim.
    pub claim: ClaimKind,
    /// The claim's name and source.
    pub title: String,
    /// What the source reported.
    pub source: String,
    /// The verdict rule, stated before any run.
    pub rule: String,
    /// The base scenario, relative to the manifest (not for `novelty`).
    #[serde(default)]
    pub base: Option<PathBuf>,
    /// Replicate runs per arm (run seeds 1..=N).
    #[serde(default = "one")]
    pub run_seeds: u32,
    /// Arms listed by hand.
    #[serde(default, rename = "arm")]
    pub arms: Vec<ArmSpec>,
    /// Or the full factorial of these factors.
    #[serde(default, rename = "factor")]
    pub factors: Vec<FactorSpec>,
    /// A scenario run once per run seed before the arms, for arms that inherit.
    #[serde(default)]
    pub prior: Option<PathBuf>,
    /// Tasks the champions are scored on (never seen during evolution).
    #[serde(default)]
    pub held_out: Vec<String>,
    /// Held-out episodes per task and champion.
    #[serde(default = "ten")]
    pub episodes: u32,
    /// Live tasks the champions are also scored on.
    #[serde(default)]
    pub live: Vec<String>,
    /// Live episodes per task and champion.
    #[serde(default = "one")]
    pub live_episodes: u32,
    /// The quick variant.
    #[serde(default)]
    pub quick: QuickSpec,
}

fn one() -> u32 {
    1
}
fn ten() -> u32 {
    10
}

/// The manifest format's hints for files that do not deserialize.
const HINTS: TomlHints = TomlHints {
    unknown: "remove the key or fix its spelling; see scenarios/reproductions/README.md for the manifest's keys",
    missing: "add the key; see scenarios/reproductions/README.md for the manifest's keys",
    invalid: "see scenarios/reproductions/README.md for each key's type",
    syntax: "this is not valid TOML; compare with scenarios/reproductions/1-bilevel/reproduction.toml",
};

/// A loaded manifest with its location.
#[derive(Debug, Clone)]
pub struct ReproSet {
    /// Set name (the manifest's folder name).
    pub name: String,
    /// The manifest file.
    pub path: PathBuf,
    /// Its content.
    pub manifest: Manifest,
    /// Whether this is the quick variant.
    pub quick: bool,
}

/// One run to make: an arm at a run seed (or the prior run).
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Arm name (`prior` for the prior run).
    pub arm: String,
    /// Run seed.
    pub seed: u64,
    /// Folder name under the set's output folder.
    pub dir: String,
    /// The scenario text to run.
    pub text: String,
}

impl ReproSet {
    /// Load `<dir>/reproduction.toml` (or a manifest file given directly).
    pub fn load(path: &Path, quick: bool) -> Result<Self, InputError> {
        let path = if path.is_dir() { path.join("reproduction.toml") } else { path.to_path_buf() };
        let text = crate::input::read_text(&path)?;
        ReproSet::parse(&path, &text, quick)
    }

    /// A manifest's `text` as read from `path` (named in messages; its folder names the
    /// set), checked.
    pub fn parse(path: &Path, text: &str, quick: bool) -> Result<Self, InputError> {
        let manifest: Manifest = parse_toml(path, text, HINTS)?;
        let name = path
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "set".into());
        let set = ReproSet { name, path: path.to_path_buf(), manifest, quick };
        set.validate(text)?;
        Ok(set)
    }

    fn validate(&self, text: &str) -> Result<(), InputError> {
        let m = &self.manifest;
        let bad = |message: String, hint: &str| InputError::Source {
            path: self.path.clone(),
            text: text.to_string(),
            diagnostics: vec![Diagnostic::new(message, 0..0).with_hint(hint.to_string())],
        };
        let runs = !matches!(m.claim, ClaimKind::Novelty);
        if runs && m.base.is_none() {
            return Err(bad("`base` is missing".into(), "name the base scenario, relative to the manifest"));
        }
        if matches!(m.claim, ClaimKind::Bilevel | ClaimKind::Scaling) && m.arms.is_empty() {
            return Err(bad("this claim needs at least one `[[arm]]`".into(), "list the arms to run"));
        }
        if matches!(m.claim, ClaimKind::Factorial) && (m.factors.is_empty() || !m.arms.is_empty()) {
            return Err(bad("a factorial set needs `[[factor]]`s and no `[[arm]]`".into(), "declare 1 to 5 factors"));
        }
        if m.factors.len() > 5 {
            return Err(bad(format!("{} factors; at most 5", m.factors.len()), "drop factors"));
        }
        if m.run_seeds == 0 || m.quick.run_seeds == Some(0) {
            return Err(bad("`run_seeds` must be at least 1".into(), "e.g. run_seeds = 10"));
        }
        if m.factors.iter().any(|f| f.key == "inherit") && m.prior.is_none() {
            return Err(bad("an `inherit` factor needs a `prior` scenario".into(), "add prior = \"prior.toml\""));
        }
        let counts = [
            ("run_seeds", Some(m.run_seeds), MAX_RUN_SEEDS),
            ("quick.run_seeds", m.quick.run_seeds, MAX_RUN_SEEDS),
            ("episodes", Some(m.episodes), MAX_EPISODES),
            ("quick.episodes", m.quick.episodes, MAX_EPISODES),
            ("live_episodes", Some(m.live_episodes), MAX_EPISODES),
            ("quick.live_episodes", m.quick.live_episodes, MAX_EPISODES),
        ];
        for (key, value, max) in counts {
            if let Some(v) = value.filter(|v| *v > max) {
                let (section, name) = key.split_once('.').map_or(("", key), |(s, n)| (s, n));
                let at = locate_key(text, section, name);
                return Err(self.bad_at(text, at, format!("`{key}` is {v}; at most {max}"), "ask for fewer"));
            }
        }
        let names = m.arms.iter().map(|a| ("arm", &a.name)).chain(m.factors.iter().map(|f| ("factor", &f.name)));
        let mut seen = std::collections::BTreeSet::new();
        for (what, name) in names {
            let at = text.find(&format!("\"{name}\"")).map(|i| i + 1..i + 1 + name.len()).unwrap_or(0..0);
            if !is_plain_name(name) {
                return Err(self.bad_at(
                    text,
                    at,
                    format!("{what} name `{}` is not a plain name", name.escape_debug()),
                    "use 1 to 64 letters, digits, `-`, `_` or `.`, not starting with `.` or `-` (it names a folder)",
                ));
            }
            if what == "arm" && !seen.insert(name.as_str()) {
                return Err(self.bad_at(
                    text,
                    at,
                    format!("two arms are named `{name}`"),
                    "give every arm its own name",
                ));
            }
        }
        Ok(())
    }

    /// A located error in this manifest's `text`.
    fn bad_at(&self, text: &str, at: std::ops::Range<usize>, message: String, hint: &str) -> InputError {
        InputError::Source {
            path: self.path.clone(),
            text: text.to_string(),
            diagnostics: vec![Diagnostic::new(message, at).with_hint(hint.to_string())],
        }
    }

    /// Replicate runs per arm in this variant.
    pub fn run_seeds(&self) -> u32 {
        if self.quick {
            self.manifest.quick.run_seeds.unwrap_or(self.manifest.run_seeds)
        } else {
            self.manifest.run_seeds
        }
    }

    /// Held-out episodes per task in this variant.
    pub fn episodes(&self) -> u32 {
        if self.quick { self.manifest.quick.episodes.unwrap_or(self.manifest.episodes) } else { self.manifest.episodes }
    }

    /// Live episodes per task in this variant.
    pub fn live_episodes(&self) -> u32 {
        let m = &self.manifest;
        if self.quick { m.quick.live_episodes.unwrap_or(m.live_episodes) } else { m.live_episodes }
    }

    /// The folder relative paths in the manifest are resolved against.
    pub fn folder(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The arms: listed, or every combination of the factors (factor 0 varies fastest).
    pub fn arms(&self) -> Vec<ArmSpec> {
        let m = &self.manifest;
        if m.factors.is_empty() {
            return m.arms.clone();
        }
        (0..1usize << m.factors.len())
            .map(|cell| {
                let mut set = BTreeMap::new();
                let mut parts = Vec::new();
                for (j, f) in m.factors.iter().enumerate() {
                    let high = cell >> j & 1 == 1;
                    set.insert(f.key.clone(), f.levels[usize::from(high)].clone());
                    parts.push(if high { f.name.clone() } else { format!("no-{}", f.name) });
                }
                ArmSpec { name: parts.join("_"), label: String::new(), set, quick_set: BTreeMap::new() }
            })
            .collect()
    }

    /// Every run of the set, priors first, with the scenario text each runs.
    /// `out` is the set's output folder (an inheriting arm names its prior run there).
    pub fn jobs(&self, out: &Path) -> Result<Vec<Job>, InputError> {
        let m = &self.manifest;
        let Some(base) = &m.base else { return Ok(Vec::new()) };
        let base_path = self.folder().join(base);
        let base_text = crate::input::read_text(&base_path)?;
        let mut jobs = Vec::new();
        if m.claim == ClaimKind::Swarm {
            // A model-swarm scenario runs all its seeds in one folder.
            let set = BTreeMap::from([("seeds".to_string(), toml::Value::Integer(i64::from(self.run_seeds())))]);
            let text = self.arm_text(&base_path, &base_text, "swarm", 1, &set, out)?;
            return Ok(vec![Job { arm: "swarm".into(), seed: 1, dir: "swarm".into(), text }]);
        }
        for seed in 1..=u64::from(self.run_seeds()) {
            if let Some(prior) = &m.prior {
                let prior_path = self.folder().join(prior);
                let text = crate::input::read_text(&prior_path)?;
                let dir = format!("prior-s{seed}");
                let text = self.arm_text(&prior_path, &text, "prior", seed, &BTreeMap::new(), out)?;
                jobs.push(Job { arm: "prior".into(), seed, dir, text });
            }
        }
        for arm in self.arms() {
            // The quick variant's own overrides of this arm come after its `set`.
            let mut set = arm.set.clone();
            if self.quick {
                set.extend(arm.quick_set.clone());
            }
            for seed in 1..=u64::from(self.run_seeds()) {
                let text = self.arm_text(&base_path, &base_text, &arm.name, seed, &set, out)?;
                jobs.push(Job { arm: arm.name.clone(), seed, dir: format!("{}-s{seed}", arm.name), text });
            }
        }
        Ok(jobs)
    }

    /// The base text with the quick overrides, the arm's overrides, the run seed and a
    /// name that says which arm and seed it is.
    fn arm_text(
        &self,
        path: &Path,
        text: &str,
        arm: &str,
        seed: u64,
        set: &BTreeMap<String, toml::Value>,
        out: &Path,
    ) -> Result<String, InputError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| InputError::file(path, e.message().trim().to_string(), "fix the TOML"))?;
        let bad = |message: String| InputError::file(&self.path, message, "see scenarios/reproductions/README.md");
        if self.quick {
            for (k, v) in &self.manifest.quick.set {
                set_dotted(&mut table, k, v.clone()).map_err(bad)?;
            }
        }
        for (k, v) in set {
            let v = match (k.as_str(), v) {
                // `inherit = true` names this seed's prior run; `false` removes the key.
                // Scenario paths are relative to the scenario's folder, here the
                // manifest's, so name the prior run relative to it.
                ("inherit", toml::Value::Boolean(true)) => {
                    let prior = out.join(format!("prior-s{seed}"));
                    let folder = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                    let relative = match (std::path::absolute(&prior), std::path::absolute(folder)) {
                        (Ok(p), Ok(f)) => pathdiff::diff_paths(&p, &f).unwrap_or(p),
                        _ => prior,
                    };
                    toml::Value::String(relative.to_string_lossy().into_owned())
                }
                ("inherit", toml::Value::Boolean(false)) => {
                    table.remove("inherit");
                    continue;
                }
                _ => v.clone(),
            };
            set_dotted(&mut table, k, v).map_err(bad)?;
        }
        let variant = if self.quick { "quick" } else { "full" };
        let name = if self.manifest.claim == ClaimKind::Swarm {
            // A model-swarm scenario's own `seeds` are its replicates; its seed stays.
            format!("repro-{}-{variant}-{arm}", self.name)
        } else {
            table.insert("seed".into(), toml::Value::Integer(seed as i64));
            format!("repro-{}-{variant}-{arm}-s{seed}", self.name)
        };
        table.insert("name".into(), toml::Value::String(name));
        table.remove("out");
        Ok(format!(
            "# Generated by `outerloop reproduce run` from {} (set `{}`, arm `{arm}`, run seed {seed}).\n{}",
            self.path.display(),
            self.name,
            toml::to_string(&table).map_err(|e| bad(e.to_string()))?
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_expand_to_every_combination() {
        let text = r#"
claim = "factorial"
title = "t"
source = "s"
rule = "r"
base = "base.toml"
[[factor]]
key = "debater.enabled"
name = "debate"
levels = [false, true]
[[factor]]
key = "verifier.enabled"
name = "verify"
levels = [false, true]
"#;
        let manifest: Manifest = toml::from_str(text).unwrap();
        let set = ReproSet { name: "x".into(), path: "x/reproduction.toml".into(), manifest, quick: false };
        let names: Vec<String> = set.arms().into_iter().map(|a| a.name).collect();
        assert_eq!(names, ["no-debate_no-verify", "debate_no-verify", "no-debate_verify", "debate_verify"]);
    }

    /// Validate a bilevel manifest whose arm is named `name` and with `extra` appended.
    fn check(name: &str, extra: &str) -> Result<(), String> {
        let text = format!(
            "claim = \"bilevel\"\ntitle = \"t\"\nsource = \"s\"\nrule = \"r\"\nbase = \"b.toml\"\n{extra}\n[[arm]]\nname = {}\n",
            toml::Value::String(name.to_string())
        );
        let manifest: Manifest = toml::from_str(&text).map_err(|e| e.to_string())?;
        let set = ReproSet { name: "x".into(), path: "x/reproduction.toml".into(), manifest, quick: false };
        set.validate(&text).map_err(|e| match e {
            InputError::Source { diagnostics, .. } => {
                let d = &diagnostics[0];
                format!("{} @{:?}", d.message, d.span)
            }
            other => other.to_string(),
        })
    }

    #[test]
    fn names_can_only_name_a_folder_under_the_root() {
        assert_eq!(check("structure_b-2.1", ""), Ok(()));
        let long = "a".repeat(5000);
        for bad in ["../../../X", "/abs/X", "a/b", "a\\b", "a\0b", "", ".hidden", "-flag", long.as_str(), "ü"] {
            let err = check(bad, "").unwrap_err();
            assert!(err.contains("is not a plain name"), "{bad:?}: {err}");
        }
        // Located on the name itself.
        let err = check("../X", "").unwrap_err();
        assert!(err.ends_with(&format!("@{:?}", 87..91)), "{err}");
    }

    #[test]
    fn two_arms_with_one_name_are_refused() {
        let err = check("a", "[[arm]]\nname = \"a\"").unwrap_err();
        assert!(err.contains("two arms are named `a`"), "{err}");
    }

    #[test]
    fn counts_are_capped_where_they_are_written() {
        let err = check("a", "run_seeds = 4294967295").unwrap_err();
        assert!(err.contains("`run_seeds` is 4294967295; at most 1000"), "{err}");
        assert!(err.ends_with(&format!("@{:?}", 70..92)), "{err}");
        let err = check("a", "[quick]\nepisodes = 4294967295").unwrap_err();
        assert!(err.contains("`quick.episodes` is 4294967295; at most 10000"), "{err}");
        assert_eq!(check("a", "run_seeds = 1000\nepisodes = 10000"), Ok(()));
    }
}
