//! The ask/tell protocol that lets external optimizers (Optuna, SMAC, ...) run on any
//! task under exactly the accounting the inner loop uses: `outerloop task serve TASK`.
//!
//! One JSON object per line on stdin, one JSON object per line on stdout. The server
//! first prints a hello line describing the task:
//!
//! ```text
//! {"hello":"outerloop-task/1","task":"gpt-table:records-s","space":[{"name":"lr","kind":"log","lo":0.0003,"hi":0.03}, ...],
//!  "fidelities":[0.125,0.25,0.5,1.0],"full_cost":20.0,"budget":300.0,"optimum":1.62,"resolution":0.004}
//! ```
//!
//! Requests (`op`):
//! - `{"op":"reset","seed":S}` starts an episode with seed `S` (the seed `mech table
//!   --tsv` lists for each episode) and a fresh budget. A server starts in episode 0.
//! - `{"op":"eval","config":{"lr":0.003,...},"fidelity":0.25}` or with `"unit":[...]`
//!   (a point of the unit cube, as mechanisms see it) runs trial number `i` of the
//!   episode with the seed the inner loop would give trial `i`, snapped to the space's
//!   grid like a mechanism's proposal. The fidelity (default 1) snaps up to a level; if
//!   the budget left cannot pay for it, a lower level is used (as in the inner loop).
//!   Reply: `{"ok":true,"trial":i,"score":...,"curve":[[f,s],...],"cost":...,
//!   "status":"ok","spent":...,"remaining":...}`.
//! - `{"op":"finish"}` (optionally with `"config"` or `"unit"` to recommend a config
//!   explicitly; by default the best observed trial at the highest level reached, the
//!   inner loop's rule; `"rule":"mean"` recommends the config with the best mean over
//!   its repeats, as `(recommend mean)` does for a mechanism) ends the episode: `{"ok":true,"true_score":...,"regret":...,
//!   "observed_score":...,"trials":n,"spent":...}`.
//!
//! Any malformed or impossible request gets `{"ok":false,"error":"..."}` and the server
//! goes on; nothing a client sends can make it panic. Budget accounting is the inner
//! loop's own, the [`Study`] both drive: each trial costs its objective cost (a fraction
//! of `full_cost` at the fidelity it ran), and no trial starts unless the cheapest level
//! still fits.

use serde_json::{Value, json};

use super::study::Study;
use crate::genome::ast::Recommend;
use crate::history::Source;
use crate::objective::Objective;
use crate::space::{Config, KnobKind, SearchSpace, config_json};

/// Protocol name in the hello line.
pub const PROTOCOL: &str = "outerloop-task/1";

/// One served task with the current episode's state.
pub struct Server<'a> {
    /// The episode under way: the inner loop's own accounting.
    study: Study<'a>,
}

impl<'a> Server<'a> {
    /// Serve `objective` with `budget` cost units per episode, starting in episode `seed`.
    pub fn new(objective: &'a dyn Objective, budget: f64, seed: u64) -> Self {
        Server { study: Study::new(objective, seed, budget) }
    }

    /// The hello line.
    pub fn hello(&self) -> String {
        let o = self.study.objective();
        json!({
            "hello": PROTOCOL,
            "task": o.name(),
            "space": space_json(o.space()),
            "fidelities": o.fidelities(),
            "full_cost": o.full_cost(),
            "budget": self.study.budget(),
            "optimum": o.optimum(),
            "resolution": o.resolution(),
        })
        .to_string()
    }

    /// Answer one request line (without its newline).
    pub fn handle(&mut self, line: &str) -> String {
        answer_line(line, |req| self.dispatch(req))
    }

    fn dispatch(&mut self, req: &Value) -> Result<Value, String> {
        let op = req.get("op").and_then(Value::as_str).ok_or("missing \"op\" (reset, eval, finish)")?;
        match op {
            "reset" => {
                let seed =
                    req.get("seed").and_then(Value::as_u64).ok_or("reset needs \"seed\": a non-negative integer")?;
                self.study.reset(seed);
                Ok(json!({"ok": true, "seed": seed, "budget": self.study.budget()}))
            }
            "eval" => self.eval(req),
            "finish" => self.finish(req),
            other => Err(format!("unknown op `{other}` (reset, eval, finish)")),
        }
    }

    /// The snapped unit point of a request's `config` or `unit`.
    fn point(&self, req: &Value) -> Result<Vec<f64>, String> {
        let space = self.study.objective().space();
        match (req.get("config"), req.get("unit")) {
            (Some(c), None) => Ok(space.snap(&space.encode(&config_from_json(space, c)?))),
            (None, Some(u)) => {
                let u = u.as_array().ok_or("\"unit\" must be a list of numbers")?;
                if u.len() != space.dim() {
                    return Err(format!("\"unit\" has {} numbers; the space has {} knobs", u.len(), space.dim()));
                }
                let unit = u
                    .iter()
                    .map(|x| x.as_f64().filter(|x| x.is_finite()).ok_or("\"unit\" must hold finite numbers"))
                    .collect::<Result<Vec<f64>, _>>()?;
                Ok(space.snap(&unit))
            }
            (Some(_), Some(_)) => Err("give \"config\" or \"unit\", not both".into()),
            (None, None) => Err("eval needs \"config\" (knob values) or \"unit\" (a point of the unit cube)".into()),
        }
    }

    fn eval(&mut self, req: &Value) -> Result<Value, String> {
        let point = self.point(req)?;
        let fidelity = match req.get("fidelity") {
            None => 1.0,
            Some(f) => {
                f.as_f64().filter(|f| f.is_finite() && *f > 0.0).ok_or("\"fidelity\" must be a positive number")?
            }
        };
        let study = &mut self.study;
        if !study.can_afford() {
            return Err(format!(
                "budget exhausted ({:.4} of {} spent, {} trials); send finish",
                study.spent(),
                study.budget(),
                study.history().len()
            ));
        }
        let o = study.objective();
        let level = study.ask(fidelity).level;
        let index = study.history().len();
        let (trial, result) = study.evaluate(point, level, Source::Propose);
        let (score, cost, status) = (trial.score, trial.cost, trial.status);
        let config = o.space().decode(&trial.point);
        Ok(json!({
            "ok": true,
            "trial": index,
            "config": config_json(o.space(), &config),
            "level": level,
            "score": score,
            "curve": result.curve,
            "cost": cost,
            "status": status.as_str(),
            "spent": study.spent(),
            "remaining": study.remaining(),
        }))
    }

    fn finish(&mut self, req: &Value) -> Result<Value, String> {
        let o = self.study.objective();
        if self.study.history().is_empty() {
            return Err("no trial in this episode yet".into());
        }
        let explicit =
            if req.get("config").is_some() || req.get("unit").is_some() { Some(self.point(req)?) } else { None };
        let space = o.space();
        let rule = match req.get("rule").map(|r| r.as_str().and_then(Recommend::from_name)) {
            None => Recommend::Best,
            Some(Some(rule)) => rule,
            Some(None) => return Err("\"rule\" must be \"best\" or \"mean\"".into()),
        };
        let out = self.study.outcome(rule);
        let (true_score, regret) = match &explicit {
            None => (out.final_score, out.regret),
            Some(point) => {
                let config = space.decode(point);
                let score = o.true_score(&config).unwrap_or(out.observed_score);
                (score, o.optimum().map(|opt| score - opt))
            }
        };
        let reply = json!({
            "ok": true,
            "true_score": true_score,
            "regret": regret,
            "observed_score": out.observed_score,
            "aocc": out.aocc,
            "trials": out.trials,
            "spent": out.spent,
            "seed": self.study.seed(),
        });
        self.study.reset(self.study.seed());
        Ok(reply)
    }
}

/// Answer one request line of a JSON-lines protocol with `dispatch`: a line that is not
/// JSON, and every error, become `{"ok":false,"error":"..."}` (the server goes on).
pub fn answer_line(line: &str, dispatch: impl FnOnce(&Value) -> Result<Value, String>) -> String {
    let reply = serde_json::from_str::<Value>(line)
        .map_err(|e| format!("not a JSON object: {e}"))
        .and_then(|req| dispatch(&req));
    match reply {
        Ok(v) => v.to_string(),
        Err(e) => json!({"ok": false, "error": e}).to_string(),
    }
}

/// The space as JSON: `kind` is `linear`, `log`, `integer`, `ordinal` or `categorical`.
pub fn space_json(space: &SearchSpace) -> Value {
    Value::Array(
        space
            .knobs()
            .iter()
            .map(|k| match &k.kind {
                KnobKind::Continuous { lo, hi, log } => {
                    json!({"name": k.name, "kind": if *log { "log" } else { "linear" }, "lo": lo, "hi": hi})
                }
                KnobKind::Integer { lo, hi } => json!({"name": k.name, "kind": "integer", "lo": lo, "hi": hi}),
                KnobKind::Ordinal { values } => json!({"name": k.name, "kind": "ordinal", "values": values}),
                KnobKind::Categorical { choices } => json!({"name": k.name, "kind": "categorical", "choices": choices}),
            })
            .collect(),
    )
}

/// Parse a JSON object of knob values; every knob must be given.
fn config_from_json(space: &SearchSpace, value: &Value) -> Result<Config, String> {
    let map = value.as_object().ok_or("\"config\" must be an object of knob values")?;
    for key in map.keys() {
        if space.index_of(key).is_none() {
            let names: Vec<&str> = space.knobs().iter().map(|k| k.name.as_str()).collect();
            return Err(format!("unknown knob `{key}` (knobs: {})", names.join(", ")));
        }
    }
    let mut values = Vec::with_capacity(space.dim());
    for k in space.knobs() {
        let v = map.get(&k.name).ok_or_else(|| format!("\"config\" lacks knob `{}`", k.name))?;
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => return Err(format!("knob `{}`: unsupported value {other}", k.name)),
        };
        let value = crate::objective::gpt::parse_value(k, &text).map_err(|e| e.to_string())?;
        values.push(value);
    }
    Ok(Config { values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::library::LIBRARY;
    use crate::genome::{Limits, Program};
    use crate::inner::run_inner;
    use crate::objective::registry::objective_by_name;

    fn ask(server: &mut Server, line: &str) -> Value {
        serde_json::from_str(&server.handle(line)).unwrap()
    }

    #[test]
    fn a_replayed_episode_matches_the_inner_loop() {
        let obj = objective_by_name("gpt-table").unwrap();
        let (_, text) = LIBRARY.iter().find(|(n, _)| *n == "greedy-keep-discard").unwrap();
        let prog =
            Program::compile(&crate::genome::load(text, &Limits::default()).unwrap(), Limits::default()).unwrap();
        let trace = run_inner(&prog, obj.as_ref(), 42, 200.0);
        let mut server = Server::new(obj.as_ref(), 200.0, 0);
        let hello: Value = serde_json::from_str(&server.hello()).unwrap();
        assert_eq!(hello["hello"], PROTOCOL);
        assert_eq!(ask(&mut server, r#"{"op":"reset","seed":42}"#)["ok"], true);
        for t in &trace.trials {
            let fid = obj.fidelities()[t.level];
            let req = json!({"op": "eval", "unit": t.point, "fidelity": fid}).to_string();
            let r = ask(&mut server, &req);
            assert_eq!(r["score"].as_f64().unwrap(), t.score, "{r}");
        }
        let done = ask(&mut server, r#"{"op":"finish"}"#);
        assert_eq!(done["true_score"].as_f64().unwrap(), trace.outcome.final_score);
        assert_eq!(done["regret"].as_f64(), trace.outcome.regret);
        // The budget is spent: another trial is refused with an error line.
        let mut server = Server::new(obj.as_ref(), 20.0, 0);
        let cfg = r#"{"op":"eval","config":{"lr":0.004,"batch_tokens":256,"depth":1,"width":32,"warmup":0.1,"schedule":"linear"}}"#;
        assert_eq!(ask(&mut server, cfg)["ok"], true);
        assert!(ask(&mut server, cfg)["error"].as_str().unwrap().contains("budget"));
    }

    #[test]
    fn bad_lines_get_error_lines() {
        let obj = objective_by_name("gpt-table").unwrap();
        let mut server = Server::new(obj.as_ref(), 100.0, 0);
        for (line, needle) in [
            ("", "JSON"),
            ("{", "JSON"),
            ("[1,2]", "op"),
            (r#"{"op":"dance"}"#, "unknown op"),
            (r#"{"op":"reset"}"#, "seed"),
            (r#"{"op":"reset","seed":-1}"#, "seed"),
            (r#"{"op":"eval"}"#, "config"),
            (r#"{"op":"eval","unit":[0.5]}"#, "knobs"),
            (r#"{"op":"eval","unit":[0.5,0.5,0.5,0.5,0.5,"x"]}"#, "finite"),
            (r#"{"op":"eval","config":{"lr":0.1}}"#, "lacks"),
            (r#"{"op":"eval","config":{"nope":1}}"#, "unknown knob"),
            (r#"{"op":"eval","unit":[0.5,0.5,0.5,0.5,0.5,0.5],"fidelity":-1}"#, "fidelity"),
            (r#"{"op":"finish"}"#, "no trial"),
        ] {
            let r = ask(&mut server, line);
            assert_eq!(r["ok"], false, "{line}");
            assert!(r["error"].as_str().unwrap().contains(needle), "{line}: {r}");
        }
    }
}
