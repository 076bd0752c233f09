//! A model-swarm run folder is a run folder like an evolution run's: a crash at any
//! file-system step, or a `kill -9` of the process, resumes to the uninterrupted run's
//! bytes; resuming a finished run rewrites its derived files (and only those); `analyze`
//! renders a swarm folder and refuses one whose derived files were changed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use outerloop::exec::{Executor, Workers};
use outerloop::store::crashpoint;
use outerloop::swarm::scenario::parse;

use crate::swarm::TINY;

const BIN: &str = env!("CARGO_BIN_EXE_outerloop");

/// Every file under `dir` (relative path → bytes).
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

fn assert_same(got: &BTreeMap<String, Vec<u8>>, expected: &BTreeMap<String, Vec<u8>>, what: &str) {
    let names = |f: &BTreeMap<String, Vec<u8>>| f.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(got), names(expected), "files after {what}");
    for (name, bytes) in expected {
        assert!(got[name] == *bytes, "{name} differs after {what}");
    }
}

fn run_in(dir: &Path, text: &str) -> Result<(), outerloop::swarm::SwarmError> {
    let sc = parse(Path::new("tiny.toml"), text).unwrap();
    outerloop::swarm::run::run(&sc, dir, &Workers { executor: Executor::local(), threads: 2 }, &|_| {}).map(|_| ())
}

#[test]
fn a_crash_at_every_file_system_step_resumes_to_the_uninterrupted_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean");
    crashpoint::arm(u64::MAX);
    run_in(&clean, TINY).unwrap();
    let steps = crashpoint::disarm();
    let expected = files(&clean);
    assert!(expected.contains_key("events.jsonl") && expected.contains_key("checkpoint.bin"));
    assert!(steps > 40, "only {steps} crash points in a swarm run");
    eprintln!("crashing at each of {steps} file-system steps");
    for step in 1..=steps {
        let dir = tmp.path().join(format!("crash{step}"));
        crashpoint::arm(step);
        assert!(run_in(&dir, TINY).is_err(), "the run survived its crash at step {step}");
        crashpoint::disarm();
        // What a user does after a kill: resume a folder that holds its scenario; a
        // folder killed before that holds nothing of value and is run again.
        if dir.join("scenario.toml").exists() {
            match outerloop::swarm::run::resume(&dir, &Workers { executor: Executor::local(), threads: 2 }, &|_| {}) {
                Ok(_) => {}
                Err(e) => panic!("step {step}: resume: {e}"),
            }
        } else {
            fs::remove_dir_all(&dir).ok();
            run_in(&dir, TINY).unwrap_or_else(|e| panic!("step {step}: run again: {e}"));
        }
        assert_same(&files(&dir), &expected, &format!("a crash at step {step} of {steps}"));
        fs::remove_dir_all(&dir).unwrap();
    }
}

/// The tiny scenario with longer training, so a run lasts long enough to be killed
/// part-way.
fn slower() -> String {
    TINY.replace("pretrain_steps = 20", "pretrain_steps = 400").replace("finetune_steps = 10", "finetune_steps = 150")
}

fn outerloop(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(BIN).args(args).current_dir(cwd).output().unwrap()
}

/// Start `outerloop swarm slow.toml --out OUT` in `cwd` (stderr captured) and return it
/// once the bases are recorded in its log (the experts are then training); it must still
/// be running then.
fn spawn_until_bases_recorded(cwd: &Path, out: &str) -> std::process::Child {
    let mut child = Command::new(BIN)
        .args(["-q", "swarm", "slow.toml", "--out", out])
        .current_dir(cwd)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = cwd.join(out).join("events.jsonl");
    let started = Instant::now();
    while !fs::read_to_string(&log).unwrap_or_default().contains("\"model\":\"base\"") {
        assert!(started.elapsed() < Duration::from_secs(120), "the bases were never recorded");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before the bases were seen");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

#[test]
fn kill_9_part_way_then_resume_equals_the_uninterrupted_run_and_resuming_a_finished_run_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("slow.toml"), slower()).unwrap();
    let out = outerloop(&["-q", "swarm", "slow.toml", "--out", "whole"], tmp.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = files(&tmp.path().join("whole"));

    // Kill once the bases are recorded (the experts are then training).
    let killed: PathBuf = tmp.path().join("killed");
    let mut child = spawn_until_bases_recorded(tmp.path(), "killed");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let log = fs::read_to_string(killed.join("events.jsonl")).unwrap();
    assert!(!log.contains("\"event\":\"finished\""), "killed too late to test anything");

    // Ctrl-C (SIGINT) once the bases are recorded: the step under way finishes and is
    // saved, the command exits 130 naming `resume`, and resuming gives the same bytes.
    let interrupted = tmp.path().join("interrupted");
    let child = spawn_until_bases_recorded(tmp.path(), "interrupted");
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("outerloop resume"), "{stderr}");
    assert!(!fs::read_to_string(interrupted.join("events.jsonl")).unwrap().contains("\"event\":\"finished\""));
    let out = outerloop(&["-q", "resume", "interrupted"], tmp.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_same(&files(&interrupted), &expected, "Ctrl-C and resume");

    // A stopped run cannot be analysed yet: exit 2, a hint, nothing written.
    let before = files(&killed);
    let out = outerloop(&["analyze", "killed"], tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("has not finished") && stderr.contains("outerloop resume"), "{stderr}");
    assert_same(&files(&killed), &before, "analyzing a stopped run");

    let out = outerloop(&["-q", "resume", "killed"], tmp.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_same(&files(&killed), &expected, "kill -9 and resume");

    // `analyze` replays the finished run without writing to it and renders the same
    // report, with a lineage figure per seed.
    let out = outerloop(&["analyze", "killed", "--out", "analysis"], tmp.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_same(&files(&killed), &expected, "analyze");
    let analysis = files(&tmp.path().join("analysis"));
    for name in ["report.md", "report.json", "report.html", "lineage-seed-0.svg", "lineage-seed-1.svg"] {
        assert!(analysis[name] == expected[name], "analyze's {name} differs from the run's");
    }
    // Commands that read outer-loop runs say what a swarm folder is instead of calling it
    // damaged; outer-loop flags on a swarm scenario are refused, not ignored.
    for args in [
        vec!["inspect", "killed"],
        vec!["export", "killed", "--format", "graphml"],
        vec!["watch", "killed", "--stop-after", "1"],
    ] {
        let out = outerloop(&args, tmp.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("model-swarm run folder") && stderr.contains("outerloop analyze"),
            "{args:?}: {stderr}"
        );
    }
    let out = outerloop(&["run", "slow.toml", "--seed", "3", "--out", "other"], tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--seed applies to outer-loop scenarios"), "{stderr}");
    assert!(!tmp.path().join("other").exists());
    assert_same(&files(&killed), &expected, "the refused commands");
    let html = String::from_utf8_lossy(&analysis["report.html"]);
    assert!(html.contains("<svg") && html.contains("global best (columns: base, experts"), "no lineage figure");

    // A finished run is replayed from its record: the same bytes, nothing appended.
    let out = outerloop(&["-q", "resume", "killed"], tmp.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_same(&files(&killed), &expected, "resuming a finished run");
}

/// Every derived file of a finished swarm run (merged weights, lineage, report) changed
/// or deleted is named by `analyze` (exit 2, nothing written), and `resume` rewrites the
/// uninterrupted bytes; a damaged trained checkpoint (part of the record) is named once,
/// without candle's doubled message.
#[test]
fn damaged_derived_files_of_a_finished_swarm_are_named_by_analyze_and_rebuilt_by_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    run_in(&dir, TINY).unwrap();
    let expected = files(&dir);
    for name in [
        "seed-0/swarm-best.safetensors",
        "seed-0/soup.safetensors",
        "seed-1/ties.safetensors",
        "seed-0/task-arithmetic.safetensors",
        "seed-1/lineage.dot",
        "report.json",
        "report.md",
    ] {
        let path = dir.join(name);
        let clean = fs::read(&path).unwrap();
        let mut changed = clean.clone();
        let at = changed.len() - 3;
        changed[at] ^= 0x40;
        for damage in [Some(changed), None] {
            match &damage {
                Some(bytes) => fs::write(&path, bytes).unwrap(),
                None => fs::remove_file(&path).unwrap(),
            }
            let damaged = files(&dir);
            let out = outerloop(&["analyze", "run", "--out", "analysis"], tmp.path());
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
            let what = if damage.is_some() { "does not match the run's record" } else { "is missing" };
            assert!(stderr.contains(name) && stderr.contains(what) && stderr.contains("outerloop resume"), "{stderr}");
            assert_same(&files(&dir), &damaged, &format!("analyze with {name} damaged"));
            let out = outerloop(&["-q", "resume", "run"], tmp.path());
            assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
            assert_same(&files(&dir), &expected, &format!("resume with {name} damaged"));
        }
    }
    // A trained expert cut short (no safetensors header): named once, by file.
    let expert = fs::read_dir(dir.join("seed-0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("expert-"))
        .unwrap();
    fs::write(&expert, b"1234").unwrap();
    for args in [vec!["analyze", "run", "--out", "analysis"], vec!["-q", "resume", "run"]] {
        let out = outerloop(&args, tmp.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&*expert.file_name().unwrap().to_string_lossy()), "{stderr}");
        assert!(stderr.contains("cannot be read as model weights"), "{stderr}");
        assert_eq!(stderr.matches("header too small").count(), 1, "{stderr}");
    }
}
