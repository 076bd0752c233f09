//! One trial of a command objective: start the user's program with the trial, wait for
//! it under a deadline, and read its result line.
//!
//! The program prints, as its last JSON line on stdout, `{"score": s}` and optionally
//! `"curve": [[fidelity, score], ...]` (scores at lower levels along the way), `"cost"`
//! (the compute spent as a fraction of a full trial; default the fidelity it ran at) and
//! `"status"` (`"ok"`, `"diverged"` or `"invalid"`). Anything else on stdout is ignored,
//! so a script may log freely. A program that exits non-zero, outlives its timeout, or
//! prints no result is a failed trial, with the reason kept for the user.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use wait_timeout::ChildExt;

use super::spec::{CommandSpec, InputMode};
use crate::objective::{TrialResult, TrialStatus};

/// The most bytes of a trial's stdout kept (the result line is its last).
const MAX_STDOUT_BYTES: usize = 4 << 20;
/// The most bytes of a failed trial's stderr quoted back to the user.
const STDERR_TAIL_BYTES: usize = 600;

/// A trial's result as whoever ran it reports it (a command's result line, a `tell`).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Its score (ignored for a failed trial).
    pub score: f64,
    /// Scores at lower levels along the way, `(fidelity, score)`.
    pub curve: Vec<(f64, f64)>,
    /// Compute spent, as a fraction of a full trial, when it said.
    pub cost: Option<f64>,
    /// How the trial went, by its own account.
    pub status: TrialStatus,
}

impl Reply {
    /// The result a trial run at fidelity `level` records: a failed trial scores
    /// `failure_score`; reported scores below the level stay on the curve, the level's own
    /// score ends it; the cost is the reported one, else the level.
    pub fn into_result(self, level: f64, failure_score: f64) -> TrialResult {
        let score = if self.status == TrialStatus::Ok { self.score } else { failure_score };
        let mut curve: Vec<(f64, f64)> = self.curve.into_iter().filter(|(f, _)| *f < level).collect();
        curve.push((level, score));
        TrialResult { score, curve, cost: self.cost.unwrap_or(level), status: self.status }
    }
}

/// A trial at fidelity `level` that produced no result (crashed, timed out, or its
/// caller went away): the failure score, the level's cost.
pub fn crashed(level: f64, failure_score: f64) -> TrialResult {
    TrialResult { score: failure_score, curve: vec![(level, failure_score)], cost: level, status: TrialStatus::Crashed }
}

/// Why a trial produced no reply.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrialFailure {
    /// The program could not be started.
    #[error("could not start `{program}`: {reason}")]
    Spawn {
        /// The program.
        program: String,
        /// The operating system's reason.
        reason: String,
    },
    /// It ran past the spec's timeout and was killed.
    #[error("killed after the {0} s timeout")]
    Timeout(f64),
    /// It exited unsuccessfully.
    #[error("exited with {status}{stderr}")]
    Exit {
        /// The exit status in words.
        status: String,
        /// The end of its stderr, prefixed `: `, or empty.
        stderr: String,
    },
    /// It exited successfully without a result line.
    #[error("printed no result: the last JSON line on stdout must be {{\"score\": <number>}} ({0})")]
    NoResult(String),
}

/// The trial's input line (JSON mode) and identity in the cache: the config, fidelity and
/// seed.
pub fn trial_input(config: &Value, fidelity: f64, seed: u64) -> String {
    json!({"config": config, "fidelity": fidelity, "seed": seed}).to_string()
}

/// Run one trial of `spec` and read its reply.
pub fn run_trial(spec: &CommandSpec, config: &Value, fidelity: f64, seed: u64) -> Result<Reply, TrialFailure> {
    let mut command = Command::new(&spec.program);
    command.args(&spec.args).current_dir(&spec.dir);
    command.env("OUTERLOOP_FIDELITY", fidelity.to_string()).env("OUTERLOOP_SEED", seed.to_string());
    if spec.input == InputMode::Args {
        command.args(argument_form(config, fidelity, seed));
    }
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // Its own process group, so a timeout kills whatever it started too.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|e| TrialFailure::Spawn { program: spec.program.display().to_string(), reason: e.to_string() })?;
    if let Some(mut stdin) = child.stdin.take()
        && spec.input == InputMode::Json
    {
        // A program that never reads its stdin closes the pipe: that is its business.
        let _ = writeln!(stdin, "{}", trial_input(config, fidelity, seed));
    }
    let stdout = drain(child.stdout.take(), MAX_STDOUT_BYTES);
    let stderr = drain(child.stderr.take(), MAX_STDOUT_BYTES);
    let waited = child.wait_timeout(Duration::from_secs_f64(spec.timeout_s));
    let status = match waited {
        Ok(Some(status)) => status,
        Ok(None) | Err(_) => {
            kill_group(&mut child);
            let _ = (stdout.join(), stderr.join());
            return Err(TrialFailure::Timeout(spec.timeout_s));
        }
    };
    // The group may outlive the leader (a backgrounded child holding the pipes).
    kill_group(&mut child);
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    if !status.success() {
        let tail = tail_of(&err);
        return Err(TrialFailure::Exit {
            status: status.to_string(),
            stderr: if tail.is_empty() { String::new() } else { format!(": {tail}") },
        });
    }
    parse_reply(&String::from_utf8_lossy(&out))
}

/// The arguments of [`InputMode::Args`].
fn argument_form(config: &Value, fidelity: f64, seed: u64) -> Vec<String> {
    let mut args: Vec<String> = config
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("--{k}={s}"),
                    other => format!("--{k}={other}"),
                })
                .collect()
        })
        .unwrap_or_default();
    args.push(format!("--fidelity={fidelity}"));
    args.push(format!("--seed={seed}"));
    args
}

/// Read a pipe to its end on a thread, keeping at most `cap` bytes.
fn drain<R: Read + Send + 'static>(pipe: Option<R>, cap: usize) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let Some(mut pipe) = pipe else { return kept };
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            // Past the cap keep the newest bytes: the result line is the last one.
            kept.extend_from_slice(&buf[..n]);
            if kept.len() > cap {
                kept.drain(..kept.len() - cap);
            }
        }
        kept
    })
}

fn kill_group(child: &mut std::process::Child) {
    // The group the child leads (`process_group(0)`); gone already is fine.
    #[cfg(unix)]
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

fn tail_of(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let start = text.len().saturating_sub(STDERR_TAIL_BYTES);
    let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
    text[start..].replace('\n', " | ")
}

/// The reply in a trial's stdout: its last line that is a JSON object.
pub fn parse_reply(stdout: &str) -> Result<Reply, TrialFailure> {
    let Some(line) = stdout.lines().rev().map(str::trim).find(|l| l.starts_with('{')) else {
        return Err(TrialFailure::NoResult(if stdout.trim().is_empty() {
            "stdout was empty".into()
        } else {
            format!("no line starts with `{{`; the last was {:?}", stdout.lines().last().unwrap_or(""))
        }));
    };
    let no = |why: String| TrialFailure::NoResult(format!("{why} in {}", clip(line)));
    let value: Value = serde_json::from_str(line).map_err(|e| no(format!("not JSON ({e})")))?;
    reply_from_json(&value, false).map_err(no)
}

/// A result's fields from a JSON object: `score`, and the optional `curve`, `cost` and
/// `status` (`"crashed"` too where the caller may report it: `mech serve`'s tell). A
/// failed trial needs no score.
pub fn reply_from_json(value: &Value, crashed_allowed: bool) -> Result<Reply, String> {
    let status = match value.get("status") {
        None => TrialStatus::Ok,
        Some(s) => {
            s.as_str().and_then(TrialStatus::parse).filter(|s| crashed_allowed || *s != TrialStatus::Crashed).ok_or(
                if crashed_allowed {
                    "\"status\" must be \"ok\", \"diverged\", \"invalid\" or \"crashed\""
                } else {
                    "\"status\" must be \"ok\", \"diverged\" or \"invalid\""
                },
            )?
        }
    };
    let score = match value.get("score").and_then(Value::as_f64) {
        Some(s) if s.is_finite() => s,
        _ if status != TrialStatus::Ok => f64::NAN,
        _ => return Err("\"score\" must be a finite number".into()),
    };
    let curve = match value.get("curve") {
        None => Vec::new(),
        Some(c) => c
            .as_array()
            .and_then(|points| {
                points
                    .iter()
                    .map(|p| {
                        let p = p.as_array().filter(|p| p.len() == 2)?;
                        Some((p[0].as_f64()?, p[1].as_f64()?))
                    })
                    .collect::<Option<Vec<(f64, f64)>>>()
            })
            .filter(|points| points.iter().all(|(f, s)| (0.0..=1.0).contains(f) && *f > 0.0 && s.is_finite()))
            .ok_or("\"curve\" must be a list of [fidelity in (0, 1], finite score] pairs")?,
    };
    let cost = match value.get("cost") {
        None => None,
        Some(c) => Some(
            c.as_f64()
                .filter(|c| c.is_finite() && *c > 0.0)
                .ok_or("\"cost\" must be a positive number (a fraction of a full trial)")?,
        ),
    };
    Ok(Reply { score, curve, cost, status })
}

fn clip(line: &str) -> String {
    let mut end = line.len().min(200);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}", &line[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_json_line_is_the_reply() {
        let r =
            parse_reply("epoch 1\n{\"note\": 1}\n{\"score\": 0.5, \"curve\": [[0.5, 0.9]], \"cost\": 0.75}\n").unwrap();
        assert_eq!(r, Reply { score: 0.5, curve: vec![(0.5, 0.9)], cost: Some(0.75), status: TrialStatus::Ok });
        let d = parse_reply("{\"status\": \"diverged\"}").unwrap();
        assert_eq!(d.status, TrialStatus::Diverged);
        for (out, needle) in [
            ("", "stdout was empty"),
            ("loss 3\n", "no line starts with"),
            ("{score: 1}", "not JSON"),
            ("{\"score\": \"low\"}", "finite number"),
            ("{\"score\": 1, \"status\": \"meh\"}", "\"status\""),
            ("{\"score\": 1, \"curve\": [[2, 1]]}", "\"curve\""),
            ("{\"score\": 1, \"cost\": 0}", "\"cost\""),
        ] {
            let e = parse_reply(out).unwrap_err().to_string();
            assert!(e.contains(needle), "{out:?}: {e}");
        }
    }

    #[test]
    fn arguments_carry_the_trial() {
        let args = argument_form(&json!({"act": "relu", "lr": 0.01}), 0.5, 7);
        assert_eq!(args, ["--act=relu", "--lr=0.01", "--fidelity=0.5", "--seed=7"]);
    }
}
