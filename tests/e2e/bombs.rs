//! Fuel bombs: genomes and inputs built to exhaust time or memory. Each kind is refused
//! quickly with a bounded report, or runs under the interpreter's work bound to a
//! recorded, healed outcome.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use outerloop::genome::{Limits, Program, load};
use outerloop::inner::run::{FaultPolicy, run_inner, run_inner_with};
use outerloop::inner::trace::HealKind;
use outerloop::objective::registry::objective_by_name;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_outerloop"))
}

/// A genome whose every hook call spends its whole fuel: candidate counts at their
/// maxima, a density ratio over the history per candidate, a filter that never accepts
/// (so propose runs again and again), eight heavy updates, and the cheapest fidelity
/// (so the budget buys as many trials as possible).
fn work_bomb() -> String {
    let update = "(set a (nearest-dist (best-of 64 (density-ratio 0.5) (uniform)) 100000))";
    format!(
        "(mechanism bomb (state (a 0)) (init 1 (uniform))
           (propose (best-of 64 (density-ratio 0.2) (best-of 64 (rand 0 1) (latin 1000))))
           (filter (< (density-ratio 0.3) -1000))
           (fidelity 0)
           (update {}))",
        [update; 8].join(" ")
    )
}

#[test]
fn a_work_bomb_runs_to_a_recorded_healed_outcome_in_bounded_time() {
    let genome = load(&work_bomb(), &Limits::default()).expect("the bomb passes the checker");
    let prog = Program::compile(&genome, Limits::default()).unwrap();
    let task = objective_by_name("bbob-f8-i1-d5").unwrap();
    let started = Instant::now();
    // The largest budget the task allows: bounded by the episode's work, not the trials.
    let trace = run_inner(&prog, task.as_ref(), 1, outerloop::inner::run::max_budget(task.as_ref()));
    let took = started.elapsed();
    let spent: Vec<_> = trace.heals.iter().filter(|h| h.kind == HealKind::WorkBoundSpent).collect();
    assert_eq!(spent.len(), 1, "the work bound is recorded once");
    assert!(trace.outcome.regret.is_some_and(f64::is_finite));
    assert!(trace.heals.iter().any(|h| h.trial > spent[0].trial), "later hook calls are healed");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    // Without self-healing the spent bound ends the episode.
    let crashed = run_inner_with(&prog, task.as_ref(), 1, 200.0, FaultPolicy::CrashOnFault);
    assert!(crashed.crash.is_some());
}

/// A genome built to make the model pieces work as hard as they can: Gaussian processes
/// on every rung scored for the most candidates, candidates from the search distribution
/// with absurd learning rates and a generation closed after every two trials, fidelities
/// drawn at random so every rung grows.
fn model_bomb() -> &'static str {
    "(mechanism model-bomb
       (propose (best-of 256 (+ (ei (gp 1)) (+ (ucb (gp 0.5) 2) (+ (thompson (gp 0.25)) (pi (gp 0.125)))))
                  (if (chance 0.5) (mvn-sample 0.3) (uniform))))
       (fidelity (rand 0 1))
       (update (mvn-recenter 2) (mvn-rank-one 10) (mvn-rank-mu 10) (mvn-csa 10)
               (if (< (mvn-sd) 0.001) (mvn-restart (uniform) 1000) (skip))))"
}

#[test]
fn a_model_bomb_runs_to_a_recorded_healed_outcome_in_bounded_time() {
    let genome = load(model_bomb(), &Limits::default()).expect("the bomb passes the checker");
    let prog = Program::compile(&genome, Limits::default()).unwrap();
    let task = objective_by_name("bbob-f10-i1-d20").unwrap();
    let started = Instant::now();
    let trace = run_inner(&prog, task.as_ref(), 1, 2000.0);
    let took = started.elapsed();
    assert!(trace.heals.iter().any(|h| h.kind == HealKind::WorkBoundSpent), "the work bound is reached");
    assert!(trace.outcome.regret.is_some_and(f64::is_finite));
    assert!(trace.trials.iter().all(|t| t.point.iter().all(|x| (0.0..=1.0).contains(x))));
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

fn check_file(dir: &Path, name: &str, text: &str) -> (std::process::Output, Duration) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let started = Instant::now();
    let out = bin().args(["mech", "check", path.to_str().unwrap()]).output().unwrap();
    (out, started.elapsed())
}

#[test]
fn oversized_and_repetitive_genomes_are_refused_quickly_with_a_bounded_report() {
    let tmp = tempfile::tempdir().unwrap();
    let many = |n: usize, item: &dyn Fn(usize) -> String| (0..n).map(item).collect::<Vec<_>>().join(" ");
    let cases = [
        ("state.mech", format!("(mechanism s (state {}) (propose (uniform)))", many(80_000, &|i| format!("(v{i} 0)")))),
        ("list.mech", format!("(mechanism l (propose (best-of 3 (+ {}) (uniform))))", many(400_000, &|_| "1".into()))),
        ("hooks.mech", format!("(mechanism h {})", many(3_000, &|_| "(propose (uniform))".into()))),
        ("dup.mech", format!("(mechanism d (state {}) (propose (uniform)))", many(9_000, &|_| "(v 0)".into()))),
        ("vars.mech", format!("(mechanism v (state {}) (propose (uniform)))", many(5_000, &|i| format!("(v{i} 0)")))),
    ];
    for (name, text) in cases {
        let (out, took) = check_file(tmp.path(), name, &text);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(took < Duration::from_secs(10), "{name}: {took:?}");
        assert!(stderr.len() < 4 << 20, "{name}: {} bytes of errors", stderr.len());
        assert!(stderr.matches("error: ").count() <= 20, "{name}");
        assert!(stderr.contains("hint:"), "{name}");
    }
}

#[test]
fn endless_inputs_are_refused_not_read_until_memory_runs_out() {
    for args in [&["mech", "check", "/dev/zero"][..], &["run", "/dev/zero"]] {
        let out = bin().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("too large"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_scenario_seeding_a_work_bomb_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("bomb.mech"), work_bomb()).unwrap();
    let smoke = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml");
    let text = std::fs::read_to_string(smoke)
        .unwrap()
        .replace("ticks = 6", "ticks = 2")
        .replace("[seeds]\n", "[seeds]\nfiles = [\"bomb.mech\"]\n");
    let scenario = tmp.path().join("bomb.toml");
    std::fs::write(&scenario, text).unwrap();
    let started = Instant::now();
    let out = bin()
        .args(["run", scenario.to_str().unwrap(), "--out", tmp.path().join("run").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[test]
fn out_of_range_requests_are_usage_errors_before_any_work() {
    let cases: [&[&str]; 7] = [
        &["trial", "--exact-match", "1000000000"],
        &["trial", "--set", "depth=100000"],
        &["trial", "--set", "batch_tokens=999999999"],
        &["trial", "--budget", "1e30"],
        &["trial", "--cache", "/etc/hostname"],
        &["mech", "run", "lib:uniform-random", "--task", "bbob-f1-i1-d3", "--budget", "1e30"],
        &["mech", "run", "lib:uniform-random", "--task", "bbob-f1-i1-d3", "--budget", "0.01"],
    ];
    for args in cases {
        let out = bin().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("hint:"), "{args:?}: {stderr}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let smoke = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml");
    let out_dir = tmp.path().join("run");
    for extra in [&["--threads", "100000"][..], &["--set", "inner.budget=0.1"], &["--set", "inner.budget=1e8"]] {
        let out = bin()
            .args(["run", smoke.to_str().unwrap(), "--out", out_dir.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(!out_dir.exists(), "{extra:?}: the run folder was created");
    }
}
