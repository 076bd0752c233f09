//! Objectives that run the user's program: `cmd:<spec.toml>`, or `cmd:<file.toml>#<name>`
//! for a spec written as the table `[objectives.<name>]` of a scenario.
//!
//! A spec file ([`spec`]) names a command, how a trial reaches it, its fidelity levels and
//! its search space. Each trial starts the program once ([`process`]) with the config,
//! the fidelity (a budget fraction) and the trial's seed, and reads its result line.
//! Budgets count full trials (a trial at fidelity 0.25 costs 0.25 unless the program
//! reports its own cost). A trial that crashes, times out or prints garbage is a failed
//! trial ([`TrialStatus::Crashed`]), healed or not by the inner loop's fault policy.
//!
//! Results are cached beside the spec (`.outerloop-cache/`) under a key made of the
//! trial's **identity** (the spec's bytes, the bytes of the program, of every argument
//! naming a file and of the spec's `files`), config, fidelity and seed: editing the
//! script or its data is a new identity, never a stale answer. Failed trials are not
//! cached, so a fixed script is retried.

pub mod process;
pub mod spec;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use self::process::{crashed, run_trial, trial_input};
use self::spec::CommandSpec;
use super::{Objective, TrialResult, TrialStatus};
use crate::space::{Config, SearchSpace, config_json};

/// The task-name prefix of command objectives.
pub const PREFIX: &str = "cmd:";
/// The cache folder's name, beside the spec.
pub const CACHE_DIR: &str = ".outerloop-cache";

/// A user's program as an objective.
#[derive(Debug)]
pub struct CommandObjective {
    name: String,
    spec: CommandSpec,
    identity: u64,
    cache: Option<PathBuf>,
    failures: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    count: usize,
    first: Option<String>,
}

/// One remembered result.
#[derive(Debug, Serialize, Deserialize)]
struct Cached {
    score: f64,
    curve: Vec<(f64, f64)>,
    cost: f64,
    status: String,
}

impl CommandObjective {
    /// Load the objective named `cmd:<target>`: a spec file, or `<file>#<entry>` for the
    /// table `[objectives.<entry>]` of a file holding several (a scenario).
    pub fn load(name: &str, target: &str) -> Result<CommandObjective, spec::SpecError> {
        let (path, entry) = match target.rsplit_once('#') {
            Some((path, entry)) => (Path::new(path), Some(entry)),
            None => (Path::new(target), None),
        };
        let spec = CommandSpec::load(path, entry)?;
        let identity = identity_of(path, &spec)?;
        let cache = spec.cache.then(|| spec.dir.join(CACHE_DIR));
        Ok(CommandObjective { name: name.to_string(), spec, identity, cache, failures: Mutex::default() })
    }

    /// The hash of everything a trial runs: the spec and the files it names.
    pub fn identity(&self) -> u64 {
        self.identity
    }

    fn cache_path(&self, input: &str) -> Option<PathBuf> {
        let mut bytes = self.identity.to_le_bytes().to_vec();
        bytes.extend_from_slice(input.as_bytes());
        let key = xxhash_rust::xxh3::xxh3_64(&bytes);
        self.cache.as_ref().map(|dir| dir.join(format!("{key:016x}.msgpack")))
    }

    fn cached(&self, input: &str) -> Option<TrialResult> {
        let bytes = crate::input::read_bytes(&self.cache_path(input)?, 1 << 20).ok()?;
        let c: Cached = rmp_serde::from_slice(&bytes).ok()?;
        // Failed runs are never stored.
        let status = TrialStatus::parse(&c.status).filter(|s| *s != TrialStatus::Crashed)?;
        Some(TrialResult { score: c.score, curve: c.curve, cost: c.cost, status })
    }

    fn remember(&self, input: &str, result: &TrialResult) {
        let Some(path) = self.cache_path(input) else { return };
        let entry = Cached {
            score: result.score,
            curve: result.curve.clone(),
            cost: result.cost,
            status: result.status.as_str().to_string(),
        };
        // A cache that cannot be written only costs reruns.
        let Ok(bytes) = rmp_serde::to_vec_named(&entry) else { return };
        if std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).is_ok() {
            let tmp = path.with_extension(format!("tmp{}", crate::input::unique_writer_tag()));
            if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, &path).is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }

    fn record_failure(&self, message: String) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        f.count += 1;
        f.first.get_or_insert(message);
    }
}

/// The identity hash of the spec read from `path`: its own text (the whole file, or an
/// entry's canonical text) and the bytes of every file it names.
fn identity_of(path: &Path, spec: &CommandSpec) -> Result<u64, spec::SpecError> {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let own = spec.identity_text.as_bytes();
    hasher.update(&(own.len() as u64).to_le_bytes());
    hasher.update(own);
    let unreadable =
        |file: &Path, e: String| spec::SpecError::whole(path, format!("cannot read {}: {e}", file.display()));
    for file in &spec.identity_files {
        // Each file's length, then its bytes (as when files were read whole: identities
        // and cache keys are unchanged), streamed so that a large program costs no memory.
        let len = std::fs::metadata(file).map_err(|e| unreadable(file, e.to_string()))?.len();
        hasher.update(&len.to_le_bytes());
        let read = crate::input::stream_bytes(file, crate::input::MAX_HASHED_BYTES, |chunk| hasher.update(chunk))
            .map_err(|e| unreadable(file, e.to_string()))?;
        if read != len {
            return Err(unreadable(file, "it changed while it was read".into()));
        }
    }
    Ok(hasher.digest())
}

impl Objective for CommandObjective {
    fn name(&self) -> &str {
        &self.name
    }

    fn space(&self) -> &SearchSpace {
        &self.spec.space
    }

    fn fidelities(&self) -> &[f64] {
        &self.spec.fidelities
    }

    fn score(&self, config: &Config, fidelity: f64, seed: u64) -> TrialResult {
        let level = self.spec.fidelities[crate::space::fidelity_level(&self.spec.fidelities, fidelity)];
        let config = config_json(&self.spec.space, config);
        let input = trial_input(&config, level, seed);
        if let Some(hit) = self.cached(&input) {
            return hit;
        }
        match run_trial(&self.spec, &config, level, seed) {
            Ok(reply) => {
                let result = reply.into_result(level, self.spec.failure_score);
                self.remember(&input, &result);
                result
            }
            Err(failure) => {
                self.record_failure(format!("{input}: {failure}"));
                crashed(level, self.spec.failure_score)
            }
        }
    }

    fn full_cost(&self) -> f64 {
        1.0
    }

    fn optimum(&self) -> Option<f64> {
        self.spec.optimum
    }

    fn failure_score(&self) -> f64 {
        self.spec.failure_score
    }

    fn input_identity(&self) -> Option<u64> {
        Some(self.identity)
    }

    fn failure_note(&self) -> Option<String> {
        let f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        f.first.as_ref().map(|first| format!("{} trial(s) of {} failed; the first: {first}", f.count, self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_spec(dir: &Path, script: &str, extra: &str) -> PathBuf {
        std::fs::write(dir.join("f.sh"), script).unwrap();
        let spec = dir.join("obj.toml");
        std::fs::write(&spec, format!("command = [\"sh\", \"f.sh\"]\n{extra}\n[space]\nx = {{ linear = [0, 1] }}\n"))
            .unwrap();
        spec
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("outerloop-cmd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_program_scores_trials_and_its_results_are_cached_under_its_identity() {
        let dir = tmp("score");
        // Reads the JSON line, scores (x - 0.3)^2, counts its runs in a file.
        let script = "read line; echo run >> runs.log\n\
                      x=$(echo \"$line\" | sed 's/.*\"x\":\\([0-9.e-]*\\).*/\\1/')\n\
                      echo \"training...\"\n\
                      awk -v x=\"$x\" 'BEGIN { printf \"{\\\"score\\\": %.17g}\\n\", (x - 0.3)^2 }'\n";
        let spec = write_spec(&dir, script, "fidelities = [0.5, 1.0]");
        let o = CommandObjective::load("cmd:obj.toml", spec.to_str().unwrap()).unwrap();
        let c = o.space().decode(&[0.5]);
        let r = o.score(&c, 0.3, 1);
        assert_eq!(r.status, TrialStatus::Ok, "{:?}", o.failure_note());
        assert!((r.score - 0.04).abs() < 1e-9 && r.cost == 0.5 && r.curve == vec![(0.5, r.score)], "{r:?}");
        assert_eq!(o.score(&c, 0.3, 1), r, "the cached answer");
        let runs = || std::fs::read_to_string(dir.join("runs.log")).unwrap().lines().count();
        assert_eq!(runs(), 1, "the second call is a cache hit");
        o.score(&c, 0.3, 2);
        assert_eq!(runs(), 2, "another seed is another trial");
        // Editing the script is a new identity: no stale answer.
        std::fs::write(dir.join("f.sh"), format!("{script}\n# edited\n")).unwrap();
        let edited = CommandObjective::load("cmd:obj.toml", spec.to_str().unwrap()).unwrap();
        assert_ne!(edited.identity(), o.identity());
        edited.score(&c, 0.3, 1);
        assert_eq!(runs(), 3);
    }

    #[test]
    fn crashes_hangs_and_garbage_are_failed_trials_with_a_reason() {
        for (script, extra, needle) in [
            ("echo oops >&2; exit 3", "", "exited with exit status: 3: oops"),
            ("sleep 30", "timeout = 0.3", "killed after the 0.3 s timeout"),
            ("echo '{\"score\": \"low\"}'", "", "finite number"),
            ("echo hello", "", "printed no result"),
        ] {
            let dir = tmp("fail");
            let spec = write_spec(&dir, script, extra);
            let o = CommandObjective::load("cmd:obj.toml", spec.to_str().unwrap()).unwrap();
            let started = std::time::Instant::now();
            let r = o.score(&o.space().decode(&[0.5]), 1.0, 1);
            assert!(started.elapsed().as_secs() < 20, "{script}: a hang is killed");
            assert_eq!((r.status, r.score, r.cost), (TrialStatus::Crashed, f64::MAX, 1.0), "{script}");
            let note = o.failure_note().unwrap();
            assert!(note.contains(needle), "{script}: {note}");
        }
    }
}
