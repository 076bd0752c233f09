//! The line protocol of `outerloop mech serve`: a mechanism asked for trials and told
//! their results over JSON lines, so any program (the Python package, its Optuna sampler)
//! can use it as an optimizer.
//!
//! The server first prints a hello line:
//!
//! ```text
//! {"hello":"outerloop-mech/1","mechanism":"lib:cma-es","space":[...],"fidelities":[0.25,0.5,1.0],"budget":20.0,"seed":0}
//! ```
//!
//! Requests (`op`):
//! - `{"op":"ask"}`: `{"ok":true,"trial":i,"config":{"lr":0.01,...},"fidelity":0.25,"seed":S}`,
//!   the trial to run (at that budget fraction, with that seed); once the budget is spent,
//!   `{"ok":true,"done":true,"best":{"trial":k,"config":{...},"score":x},"trials":n,"spent":b}`.
//! - `{"op":"tell","trial":i,"score":x}` with optional `"curve":[[f,s],...]` (scores at
//!   lower fidelities on the way), `"cost"` (a fraction of a full trial; default the
//!   fidelity asked) and `"status"` (`"ok"`, `"diverged"`, `"invalid"` or `"crashed"`: a
//!   failed trial, which needs no score): `{"ok":true}`.
//!
//! Trials are sequential: one is out at a time. A malformed or out-of-order request gets
//! `{"ok":false,"error":"..."}` and the server goes on.

use serde_json::{Value, json};

use super::ask_tell::AskTell;
use super::serve::{answer_line, space_json};
use crate::genome::Program;
use crate::objective::command::process::reply_from_json;
use crate::space::{SearchSpace, config_json};

/// Protocol name in the hello line.
pub const PROTOCOL: &str = "outerloop-mech/1";

/// A served mechanism's episode.
pub struct MechServer {
    episode: AskTell,
    hello: Value,
}

impl MechServer {
    /// Serve `program` (named `mechanism` in the hello) on `space` with fidelity `levels`,
    /// an episode of `budget` full trials with `seed`; failed trials score `failure_score`.
    pub fn new(
        mechanism: &str,
        program: Program,
        space: SearchSpace,
        levels: Vec<f64>,
        failure_score: f64,
        seed: u64,
        budget: f64,
    ) -> Self {
        let hello = json!({
            "hello": PROTOCOL,
            "mechanism": mechanism,
            "space": space_json(&space),
            "fidelities": levels,
            "budget": budget,
            "seed": seed,
        });
        MechServer { episode: AskTell::start(program, space, levels, failure_score, seed, budget), hello }
    }

    /// The hello line.
    pub fn hello(&self) -> String {
        self.hello.to_string()
    }

    /// Answer one request line.
    pub fn handle(&mut self, line: &str) -> String {
        answer_line(line, |req| self.dispatch(req))
    }

    fn dispatch(&mut self, req: &Value) -> Result<Value, String> {
        match req.get("op").and_then(Value::as_str).ok_or("missing \"op\" (ask, tell)")? {
            "ask" => self.ask(),
            "tell" => self.tell(req),
            other => Err(format!("unknown op `{other}` (ask, tell)")),
        }
    }

    fn ask(&mut self) -> Result<Value, String> {
        let space = self.episode.space().clone();
        match self.episode.ask().map_err(|e| e.to_string())? {
            Some(ask) => Ok(json!({
                "ok": true,
                "trial": ask.trial,
                "config": config_json(&space, &ask.config),
                "fidelity": ask.fidelity,
                "seed": ask.seed,
            })),
            None => {
                let trace = self.episode.trace().ok_or("the mechanism's episode ended abnormally")?;
                let best = trace.outcome.recommended.and_then(|i| trace.trials.get(i).map(|t| (i, t)));
                Ok(json!({
                    "ok": true,
                    "done": true,
                    "best": best.map(|(i, t)| json!({
                        "trial": i,
                        "config": config_json(&space, &space.decode(&t.point)),
                        "score": t.score,
                    })),
                    "trials": trace.outcome.trials,
                    "spent": trace.outcome.spent,
                }))
            }
        }
    }

    fn tell(&mut self, req: &Value) -> Result<Value, String> {
        let trial = req.get("trial").and_then(Value::as_u64).ok_or("tell needs \"trial\": the index ask gave")?;
        self.episode.tell(trial as usize, reply_from_json(req, true)?).map_err(|e| e.to_string())?;
        Ok(json!({"ok": true}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::library::LIBRARY;
    use crate::genome::{Limits, load};
    use crate::space::Knob;

    #[test]
    fn a_client_asks_and_tells_until_done_and_bad_lines_get_errors() {
        let (_, text) = LIBRARY.iter().find(|(n, _)| *n == "successive-halving").unwrap();
        let prog = Program::compile(&load(text, &Limits::default()).unwrap(), Limits::default()).unwrap();
        let space =
            SearchSpace::new(vec![Knob::log("lr", 1e-4, 1.0), Knob::categorical("act", &["relu", "tanh"])]).unwrap();
        let mut s = MechServer::new("lib:successive-halving", prog, space, vec![0.25, 1.0], 10.0, 3, 4.0);
        let hello: Value = serde_json::from_str(&s.hello()).unwrap();
        assert_eq!(hello["hello"], PROTOCOL);
        let reply = |s: &mut MechServer, line: &str| -> Value { serde_json::from_str(&s.handle(line)).unwrap() };
        for (line, needle) in [
            ("nope", "not a JSON object"),
            ("{}", "missing \"op\""),
            ("{\"op\":\"fly\"}", "unknown op"),
            ("{\"op\":\"tell\",\"trial\":0,\"score\":1}", "no trial is out"),
        ] {
            assert!(reply(&mut s, line)["error"].as_str().unwrap().contains(needle), "{line}");
        }
        let mut n = 0;
        loop {
            let a = reply(&mut s, "{\"op\":\"ask\"}");
            if a["done"] == true {
                assert_eq!(a["trials"], n);
                assert!(a["best"]["config"]["act"].is_string());
                break;
            }
            assert!(reply(&mut s, "{\"op\":\"ask\"}")["error"].as_str().unwrap().contains("still out"));
            assert!(
                reply(&mut s, &format!("{{\"op\":\"tell\",\"trial\":{}}}", a["trial"]))["error"]
                    .as_str()
                    .unwrap()
                    .contains("\"score\"")
            );
            let lr = a["config"]["lr"].as_f64().unwrap();
            let status = if n == 1 { ",\"status\":\"crashed\"" } else { "" };
            let line =
                format!("{{\"op\":\"tell\",\"trial\":{},\"score\":{}{status}}}", a["trial"], (lr.ln() + 4.0).abs());
            assert_eq!(reply(&mut s, &line)["ok"], true);
            n += 1;
        }
        assert!(n > 4, "cheap trials at 0.25: more than 4 in a budget of 4 full trials ({n})");
    }
}
