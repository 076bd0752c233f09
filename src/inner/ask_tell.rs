//! A mechanism as an optimizer for someone else's objective: ask for a trial, run it
//! anywhere, tell its result (`outerloop mech serve`, the Python package, its Optuna
//! sampler).
//!
//! The inner loop is the one [`run_inner`] every other path uses, on a thread of its own
//! whose objective ([`Remote`]) hands each trial out and waits for the caller's result.
//! So a mechanism asked and told here proposes exactly the trials it proposes in `mech
//! run` on a task with the same space, fidelity levels and scores, for the same episode
//! seed: same configs, same fidelities, same trial seeds.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use super::run::run_inner;
use super::trace::Trace;
use crate::genome::Program;
use crate::objective::command::process::crashed;
use crate::objective::{Objective, TrialResult, TrialStatus};
use crate::space::{Config, SearchSpace};

/// A trial the mechanism asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    /// Its index in the episode.
    pub trial: usize,
    /// The config to run.
    pub config: Config,
    /// The fidelity (budget fraction) to run it at: one of the levels.
    pub fidelity: f64,
    /// The trial's seed (what `mech run` would hand the task).
    pub seed: u64,
}

/// What the caller reports for a trial: the score (ignored for a failed trial), scores
/// at lower levels on the way, the compute spent as a fraction of a full trial (default:
/// the fidelity asked) and how it went; the same fields a command objective's program
/// reports.
pub use crate::objective::command::process::Reply as Tell;

/// Misuse of the ask/tell order.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AskTellError {
    /// A trial is out and not told yet.
    #[error("trial {0} is still out: tell its result before asking again")]
    Pending(usize),
    /// A tell with no trial out, or for another trial.
    #[error("{0}")]
    UnexpectedTell(String),
    /// The score of a successful trial is not a finite number.
    #[error("the score of a successful trial must be a finite number (tell status \"crashed\" for a failed one)")]
    BadScore,
}

/// The objective the mechanism's thread runs on: each trial goes out to the caller.
struct Remote {
    space: SearchSpace,
    fidelities: Vec<f64>,
    failure_score: f64,
    asks: Mutex<Sender<(Config, f64, u64)>>,
    tells: Mutex<Receiver<Tell>>,
}

impl Objective for Remote {
    fn name(&self) -> &str {
        "ask-tell"
    }
    fn space(&self) -> &SearchSpace {
        &self.space
    }
    fn fidelities(&self) -> &[f64] {
        &self.fidelities
    }
    fn score(&self, config: &Config, fidelity: f64, seed: u64) -> TrialResult {
        let level = self.fidelities[crate::space::fidelity_level(&self.fidelities, fidelity)];
        let sent = self.asks.lock().map(|s| s.send((config.clone(), level, seed)).is_ok()).unwrap_or(false);
        let told = if sent { self.tells.lock().ok().and_then(|r| r.recv().ok()) } else { None };
        // The caller went away: the episode winds down on failed trials nobody reads.
        let Some(tell) = told else { return crashed(level, self.failure_score) };
        if tell.status != TrialStatus::Ok {
            // A failed tell is charged the level, whatever cost it names.
            return TrialResult { status: tell.status, ..crashed(level, self.failure_score) };
        }
        tell.into_result(level, self.failure_score)
    }
    fn full_cost(&self) -> f64 {
        1.0
    }
    fn optimum(&self) -> Option<f64> {
        None
    }
    fn failure_score(&self) -> f64 {
        self.failure_score
    }
}

/// One episode of a mechanism driven by ask and tell.
pub struct AskTell {
    space: SearchSpace,
    asks: Receiver<(Config, f64, u64)>,
    tells: Sender<Tell>,
    worker: Option<JoinHandle<Trace>>,
    trace: Option<Trace>,
    pending: Option<usize>,
    asked: usize,
}

impl AskTell {
    /// Start `program` on an episode with `seed` and `budget` full trials over `space` with
    /// fidelity `levels` (increasing, ending at 1); a failed trial scores `failure_score`.
    pub fn start(
        program: Program,
        space: SearchSpace,
        levels: Vec<f64>,
        failure_score: f64,
        seed: u64,
        budget: f64,
    ) -> AskTell {
        let (ask_tx, ask_rx) = channel();
        let (tell_tx, tell_rx) = channel();
        let remote = Remote {
            space: space.clone(),
            fidelities: levels,
            failure_score,
            asks: Mutex::new(ask_tx),
            tells: Mutex::new(tell_rx),
        };
        // The thread ends when the episode's budget is spent, dropping the ask channel.
        let worker = std::thread::spawn(move || run_inner(&program, &remote, seed, budget));
        AskTell { space, asks: ask_rx, tells: tell_tx, worker: Some(worker), trace: None, pending: None, asked: 0 }
    }

    /// The next trial, or `None` once the episode's budget is spent ([`AskTell::trace`]
    /// then holds the episode).
    pub fn ask(&mut self) -> Result<Option<Ask>, AskTellError> {
        if let Some(trial) = self.pending {
            return Err(AskTellError::Pending(trial));
        }
        if self.trace.is_some() {
            return Ok(None);
        }
        match self.asks.recv() {
            Ok((config, fidelity, seed)) => {
                let trial = self.asked;
                self.asked += 1;
                self.pending = Some(trial);
                Ok(Some(Ask { trial, config, fidelity, seed }))
            }
            Err(_) => {
                self.trace = self.worker.take().and_then(|w| w.join().ok());
                Ok(None)
            }
        }
    }

    /// Report the result of trial `trial`.
    pub fn tell(&mut self, trial: usize, tell: Tell) -> Result<(), AskTellError> {
        match self.pending {
            None => {
                return Err(AskTellError::UnexpectedTell(format!("no trial is out (ask first); got trial {trial}")));
            }
            Some(out) if out != trial => {
                return Err(AskTellError::UnexpectedTell(format!("trial {out} is out, not trial {trial}")));
            }
            Some(_) => {}
        }
        if tell.status == TrialStatus::Ok && !tell.score.is_finite() {
            return Err(AskTellError::BadScore);
        }
        self.pending = None;
        // A send fails only when the thread has ended, which it cannot while a trial is out.
        let _ = self.tells.send(tell);
        Ok(())
    }

    /// The finished episode (after [`AskTell::ask`] returned `None`).
    pub fn trace(&self) -> Option<&Trace> {
        self.trace.as_ref()
    }

    /// The space trials come from. Dropping an episode midway is fine: its thread's
    /// trials then fail at once, it spends its budget and ends.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::library::LIBRARY;
    use crate::genome::{Limits, load};
    use crate::objective::registry::objective_by_name;

    fn program(name: &str) -> Program {
        let (_, text) = LIBRARY.iter().find(|(n, _)| *n == name).unwrap();
        Program::compile(&load(text, &Limits::default()).unwrap(), Limits::default()).unwrap()
    }

    #[test]
    fn asked_and_told_trials_are_the_inner_loops_own() {
        // BBOB's full-fidelity task with full cost 1 and one level: the same accounting.
        let task = objective_by_name("bbob-f8-i1-d5-full").unwrap();
        for name in ["cma-es", "successive-halving", "tpe-density-ratio"] {
            let prog = program(name);
            let expected = run_inner(&prog, task.as_ref(), 5, 40.0);
            let mut at =
                AskTell::start(prog, task.space().clone(), task.fidelities().to_vec(), task.failure_score(), 5, 40.0);
            let mut seen = Vec::new();
            while let Some(ask) = at.ask().unwrap() {
                assert!(matches!(at.ask(), Err(AskTellError::Pending(_))));
                let r = task.score(&ask.config, ask.fidelity, ask.seed);
                seen.push(r.score);
                at.tell(ask.trial, Tell { score: r.score, curve: r.curve, cost: None, status: r.status }).unwrap();
            }
            let got: Vec<f64> = at.trace().unwrap().trials.iter().map(|t| t.score).collect();
            let want: Vec<f64> = expected.trials.iter().map(|t| t.score).collect();
            assert_eq!(got, want, "{name}");
            assert_eq!(seen, want, "{name}");
            assert_eq!(at.ask().unwrap(), None, "a finished episode stays finished");
        }
    }

    #[test]
    fn misuse_is_an_error_and_a_dropped_episode_ends() {
        let task = objective_by_name("bbob-f1-i1-d2-full").unwrap();
        let mut at =
            AskTell::start(program("cma-es"), task.space().clone(), vec![1.0], task.failure_score(), 1, 1000.0);
        assert!(matches!(
            at.tell(0, Tell { score: 1.0, curve: vec![], cost: None, status: TrialStatus::Ok }),
            Err(AskTellError::UnexpectedTell(_))
        ));
        let ask = at.ask().unwrap().unwrap();
        let bad = Tell { score: f64::NAN, curve: vec![], cost: None, status: TrialStatus::Ok };
        assert_eq!(at.tell(ask.trial, bad), Err(AskTellError::BadScore));
        assert!(matches!(
            at.tell(ask.trial + 1, Tell { score: 1.0, curve: vec![], cost: None, status: TrialStatus::Ok }),
            Err(AskTellError::UnexpectedTell(_))
        ));
        at.tell(ask.trial, Tell { score: 0.0, curve: vec![], cost: None, status: TrialStatus::Crashed }).unwrap();
        drop(at);
    }
}
