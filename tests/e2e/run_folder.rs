//! The run folder under faults: a crash at every file-system step resumes to the
//! uninterrupted run's bytes, damage to the event log or the derived files is found
//! (exit 2, located), and a second writer is refused while the first holds the folder.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::outer_loop::long_smoke;
use outerloop::driver::{Run, Stops};
use outerloop::exec::Executor;
use outerloop::scenario;
use outerloop::store::crashpoint;
use outerloop::store::run_dir::RunError;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_outerloop"))
}

fn smoke() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml")
}

/// Every file in a folder, by name.
pub(crate) fn folder(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let bytes =
                if e.file_type().unwrap().is_dir() { b"<folder>".to_vec() } else { fs::read(e.path()).unwrap() };
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

/// Drive a run to its end in this thread (as `outerloop run` and `resume` do).
pub(crate) fn drive(mut run: Run) -> Result<(), RunError> {
    outerloop::driver::drive(&mut run, Stops::default(), |_| {}).map(|_| ())
}

fn run_in(dir: &Path) -> Result<(), RunError> {
    drive(Run::start(scenario::load(&smoke()).unwrap(), Some(dir.to_path_buf()), Executor::local())?)
}

#[test]
fn a_crash_at_every_file_system_step_resumes_to_the_uninterrupted_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean");
    crashpoint::arm(u64::MAX);
    run_in(&clean).unwrap();
    let steps = crashpoint::disarm();
    let expected = folder(&clean);
    assert!(steps > 60, "only {steps} crash points in a six-tick run");
    eprintln!("crashing at each of {steps} file-system steps");
    for step in 1..=steps {
        let dir = tmp.path().join(format!("crash{step}"));
        crashpoint::arm(step);
        let crashed = run_in(&dir);
        assert!(crashed.is_err(), "the run survived its crash at step {step}");
        crashpoint::disarm();
        // What a user does after a kill: resume a run folder, or run again when the kill
        // came before the scenario was written.
        if dir.join("scenario.toml").exists() {
            drive(Run::resume(&dir, Executor::local()).unwrap_or_else(|e| panic!("step {step}: resume: {e}"))).unwrap();
        } else {
            run_in(&dir).unwrap_or_else(|e| panic!("step {step}: run again: {e}"));
        }
        let got = folder(&dir);
        let names = |f: &BTreeMap<String, Vec<u8>>| f.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(&got), names(&expected), "files after a crash at step {step}");
        for (name, bytes) in &expected {
            assert!(got[name] == *bytes, "{name} differs after a crash at step {step} of {steps}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}

pub(crate) fn finished_smoke(dir: &Path) {
    let out = bin().args(["run", smoke().to_str().unwrap(), "--out", dir.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Run `outerloop ARGS`; expect exit 2 and return stderr.
fn bad_input(args: &[&str]) -> String {
    let out = bin().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains("hint:"), "{args:?}: {stderr}");
    stderr
}

#[test]
fn a_flipped_byte_or_a_copied_line_in_the_event_log_is_found_at_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    finished_smoke(&dir);
    let d = dir.to_str().unwrap();
    let log = dir.join("events.jsonl");
    let clean = fs::read(&log).unwrap();
    let before = folder(&dir);

    // A digit of line 5's event changed (the checksum field left alone).
    let mut flipped = clean.clone();
    let line5 = flipped.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(3).unwrap().0 + 1;
    let tick = line5 + String::from_utf8_lossy(&flipped[line5..]).find("\"tick\":").unwrap() + 7;
    flipped[tick] = if flipped[tick] == b'9' { b'8' } else { b'9' };
    fs::write(&log, &flipped).unwrap();
    for cmd in [&["resume", d][..], &["inspect", d], &["export", d, "--format", "csv"], &["analyze", d]] {
        let err = bad_input(cmd);
        assert!(err.contains("events.jsonl:5:1") && err.contains("checksum mismatch"), "{cmd:?}: {err}");
    }

    // A valid line copied over the next one.
    let text = String::from_utf8(clean.clone()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[8] = lines[7];
    fs::write(&log, lines.join("\n") + "\n").unwrap();
    let err = bad_input(&["resume", d]);
    assert!(err.contains("events.jsonl:9:1"), "{err}");

    // Restored, the folder is as it was: nothing was rewritten by the refused commands.
    fs::write(&log, &clean).unwrap();
    assert_eq!(folder(&dir), before);
}

#[test]
fn a_second_writer_is_refused_and_the_folder_is_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let out = bin()
        .args(["run", smoke().to_str().unwrap(), "--out", dir.to_str().unwrap(), "--stop-after", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = folder(&dir);
    let held = Run::resume(&dir, Executor::local()).unwrap();
    let after_open = folder(&dir);
    let d = dir.to_str().unwrap();
    let err = bad_input(&["resume", d]);
    assert!(err.contains("another outerloop command is writing"), "{err}");
    let err = bad_input(&["run", smoke().to_str().unwrap(), "--out", d]);
    assert!(err.contains("already holds a run"), "{err}");
    assert_eq!(folder(&dir), after_open, "a refused writer changed the folder");
    assert_eq!(before, after_open, "resuming a cleanly stopped run rewrote a file differently");
    drop(held);
    let out = bin().args(["resume", d]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn damaged_derived_files_are_bad_input_and_resume_rewrites_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    finished_smoke(&dir);
    let d = dir.to_str().unwrap();
    let expected = folder(&dir);

    // genome-base.txt pointed elsewhere: read-only commands refuse, resume rewrites it.
    fs::write(dir.join("genome-base.txt"), "/elsewhere").unwrap();
    let err = bad_input(&["inspect", d]);
    assert!(err.contains("genome-base.txt") && err.contains("checkpoint recorded"), "{err}");
    let out = bin().args(["resume", d]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(folder(&dir), expected);

    // A derived file replaced by a folder.
    for name in ["summary.txt", "lessons.bin", "ancestry.dot"] {
        fs::remove_file(dir.join(name)).unwrap();
        fs::create_dir(dir.join(name)).unwrap();
        let err = bad_input(&["resume", d]);
        assert!(err.contains(name) && err.contains("is a folder"), "{err}");
        fs::remove_dir(dir.join(name)).unwrap();
        let out = bin().args(["resume", d]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(folder(&dir), expected, "after restoring {name}");
    }

    // The event log replaced by a folder, or not UTF-8.
    let log = dir.join("events.jsonl");
    let clean = fs::read(&log).unwrap();
    fs::remove_file(&log).unwrap();
    fs::create_dir(&log).unwrap();
    assert!(bad_input(&["inspect", d]).contains("not a file"));
    fs::remove_dir(&log).unwrap();
    let mut bad = clean.clone();
    bad[20] = 0xff;
    fs::write(&log, &bad).unwrap();
    assert!(bad_input(&["export", d, "--format", "json"]).contains("events.jsonl:1:1"));
    fs::write(&log, &clean).unwrap();
}

/// Every derived file changed or deleted is named by each read-only command (exit 2,
/// nothing written), and `resume` on the finished run rewrites the uninterrupted bytes.
#[test]
fn changed_or_missing_derived_files_are_named_by_read_only_commands_and_resume_rebuilds_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    finished_smoke(&dir);
    let d = dir.to_str().unwrap();
    let expected = folder(&dir);
    for name in ["metrics.csv", "summary.txt", "ancestry.dot", "lessons.bin"] {
        let path = dir.join(name);
        let clean = fs::read(&path).unwrap();
        let mut changed = clean.clone();
        let middle = changed.len() / 2;
        changed[middle] ^= 0x01;
        for damage in [Some(changed), None] {
            match &damage {
                Some(bytes) => fs::write(&path, bytes).unwrap(),
                None => fs::remove_file(&path).unwrap(),
            }
            let damaged = folder(&dir);
            for args in [vec!["inspect", d], vec!["export", d, "--format", "json"], vec!["analyze", d]] {
                let err = bad_input(&args);
                let what = if damage.is_some() { "does not match the run's record" } else { "is missing" };
                assert!(err.contains(name) && err.contains(what), "{args:?} after damaging {name}: {err}");
                assert_eq!(folder(&dir), damaged, "{args:?} changed the folder");
            }
            let out = bin().args(["resume", d]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(folder(&dir), expected, "after resuming with {name} damaged");
        }
    }
}

/// While a writer holds the folder's lock, the derived files are not checked: it
/// replaces the checkpoint a moment before `metrics.csv`.
#[test]
fn derived_files_are_not_judged_while_a_writer_holds_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    finished_smoke(&dir);
    let metrics = dir.join("metrics.csv");
    let clean = fs::read(&metrics).unwrap();
    // A writer's window: the checkpoint is newer than metrics.csv.
    fs::write(&metrics, &clean[..clean.len() / 2]).unwrap();
    let writer = fs::File::open(&dir).unwrap();
    writer.try_lock().unwrap();
    let out = bin().args(["inspect", dir.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    writer.unlock().unwrap();
    bad_input(&["inspect", dir.to_str().unwrap()]);
}

#[test]
fn inherit_from_lessons_with_an_invalid_genome_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let prior = tmp.path().join("prior");
    finished_smoke(&prior);
    let path = prior.join("lessons.bin");
    let mut lessons = outerloop::store::run_dir::decode_lessons(&path, &fs::read(&path).unwrap()).unwrap();
    assert!(!lessons.hall_of_fame.is_empty());
    lessons.hall_of_fame[0].genome = "(mechanism broken (propose (+ 1 2)))".into();
    fs::write(prior.join("lessons.bin"), outerloop::store::run_dir::encode_lessons(&lessons)).unwrap();
    let err = inheriting_run_fails(tmp.path(), &prior);
    assert!(err.contains("lessons.bin") && err.contains("invalid genome"), "{err}");
}

/// Run the smoke scenario inheriting from `prior` into `tmp/next`: it must be refused as
/// bad input without creating the folder. Returns the error text.
fn inheriting_run_fails(tmp: &Path, prior: &Path) -> String {
    let text = fs::read_to_string(smoke())
        .unwrap()
        .replace("reference = ", &format!("inherit = {:?}\nreference = ", prior.to_str().unwrap()));
    let scenario = tmp.join("inherit.toml");
    fs::write(&scenario, text).unwrap();
    let out = tmp.join("next");
    let err = bad_input(&["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!out.exists(), "nothing written on bad input");
    err
}

/// A lessons file damaged in a way that still decodes (one genome byte changed) is
/// refused by its frame's hash instead of being inherited silently.
#[test]
fn a_damaged_lessons_file_is_refused_not_inherited() {
    let tmp = tempfile::tempdir().unwrap();
    let prior = tmp.path().join("prior");
    finished_smoke(&prior);
    let path = prior.join("lessons.bin");
    let mut bytes = fs::read(&path).unwrap();
    let at = bytes.windows(10).position(|w| w == b"(mechanism").expect("a stored genome") + 1;
    bytes[at] = b'M';
    fs::write(&path, &bytes).unwrap();
    let err = inheriting_run_fails(tmp.path(), &prior);
    assert!(err.contains("lessons.bin") && err.contains("body hash mismatch"), "{err}");
}

#[test]
fn a_closed_output_pipe_ends_every_command_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    finished_smoke(&dir);
    let d = dir.to_str().unwrap();
    let commands = [
        format!("inspect {d}"),
        format!("export {d} --format csv --out {d}/x"),
        format!("resume {d}"),
        format!("run {} --out {d}/again", smoke().display()),
        format!("analyze {d} --out {d}/report"),
        "mech list".to_string(),
        "mech check scenarios/mechanisms/tabu-search.mech".to_string(),
        "mech fmt lib:tabu-search".to_string(),
        "mech run lib:tabu-search --task bbob-f1-i1-d2 --budget 20 --trials".to_string(),
        "trial --list".to_string(),
        "task list".to_string(),
        "table show records-s".to_string(),
        "help".to_string(),
    ];
    for cmd in commands {
        let script =
            format!("{} {cmd} | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}", env!("CARGO_BIN_EXE_outerloop"));
        let out = Command::new("bash").current_dir(env!("CARGO_MANIFEST_DIR")).args(["-c", &script]).output().unwrap();
        let status = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(status == "0" || status == "141", "{cmd}: exit {status}: {stderr}");
        assert!(!stderr.contains("panicked"), "{cmd}: {stderr}");
    }
}

/// Output that cannot be written (`>/dev/full`: every write fails with ENOSPC) ends
/// every printing command with one line and exit 1, never a panic (exit 101).
#[test]
fn an_unwritable_standard_output_is_one_error_line_not_a_panic() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full on this system");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    finished_smoke(&dir);
    let d = dir.to_str().unwrap();
    let commands = [
        format!("inspect {d}"),
        format!("export {d} --format csv --out {d}/x"),
        format!("resume {d}"),
        "mech list".to_string(),
        "task list".to_string(),
        "trial --list".to_string(),
    ];
    for cmd in commands {
        let script = format!("{} {cmd} >/dev/full", env!("CARGO_BIN_EXE_outerloop"));
        let out = Command::new("bash").current_dir(env!("CARGO_MANIFEST_DIR")).args(["-c", &script]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {stderr}");
        assert!(stderr.contains("cannot write to standard output: No space left on device"), "{cmd}: {stderr}");
        assert!(!stderr.contains("panicked"), "{cmd}: {stderr}");
    }
}

#[test]
fn ctrl_c_saves_the_tick_says_how_to_resume_and_exits_130() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = long_smoke(tmp.path());
    let clean = tmp.path().join("clean");
    let out = bin().args(["run", scenario.to_str().unwrap(), "--out", clean.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let dir = tmp.path().join("interrupted");
    let child = bin()
        .args(["run", scenario.to_str().unwrap(), "--out", dir.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // SIGINT once the run has saved a few ticks (a row per tick in metrics.csv).
    let started = std::time::Instant::now();
    while fs::read_to_string(dir.join("metrics.csv")).map(|m| m.lines().count()).unwrap_or(0) < 4 {
        assert!(started.elapsed() < std::time::Duration::from_secs(120), "the run made no progress");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        // The signal landed in the last tick: nothing to resume, and the run is whole.
        assert_eq!(folder(&dir), folder(&clean));
        return;
    }
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("is saved; resume with `outerloop resume"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!dir.join("summary.txt").exists(), "the interrupted run did not stop");
    let out = bin().args(["resume", dir.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(folder(&dir), folder(&clean), "an interrupted and resumed run differs");
}

#[test]
fn force_replaces_a_damaged_or_foreign_run_and_keeps_other_files() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean");
    finished_smoke(&clean);
    let dir = tmp.path().join("run");
    finished_smoke(&dir);
    let d = dir.to_str().unwrap();
    // A damaged checkpoint: resume says to start again with --force.
    fs::write(dir.join("checkpoint.bin"), b"OUTERLOOP-CKPT\0\0garbage").unwrap();
    let err = bad_input(&["resume", d]);
    assert!(err.contains("--force"), "{err}");
    // Another scenario into the folder: named as such.
    let other = tmp.path().join("other.toml");
    fs::write(&other, fs::read_to_string(smoke()).unwrap().replace("seed = 7", "seed = 8")).unwrap();
    let err = bad_input(&["run", other.to_str().unwrap(), "--out", d]);
    assert!(err.contains("another scenario") && err.contains("--force"), "{err}");
    // --force deletes the run's files, keeps the rest, and starts afresh.
    fs::create_dir_all(dir.join("analysis")).unwrap();
    fs::write(dir.join("analysis/notes.txt"), "mine").unwrap();
    fs::write(dir.join(".events.jsonl.tmp-1-x-0"), "stale").unwrap();
    let out = bin().args(["run", smoke().to_str().unwrap(), "--out", d, "--force"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fs::read_to_string(dir.join("analysis/notes.txt")).unwrap(), "mine");
    let mut got = folder(&dir);
    got.remove("analysis");
    assert_eq!(got, folder(&clean));
}

#[test]
fn a_run_folder_stores_no_absolute_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    finished_smoke(&dir);
    let base = fs::read_to_string(dir.join("genome-base.txt")).unwrap();
    assert!(!Path::new(base.trim()).is_absolute(), "genome-base.txt: {base}");
    let roots = [tmp.path().canonicalize().unwrap(), PathBuf::from(env!("CARGO_MANIFEST_DIR")).canonicalize().unwrap()];
    for (name, bytes) in folder(&dir) {
        let text = String::from_utf8_lossy(&bytes);
        for root in &roots {
            // A relative path up and over (`../../work/...`) may spell a root's tail;
            // the root itself, not preceded by `..`, must not appear.
            let root = root.to_str().unwrap();
            let absolute = text.match_indices(root).any(|(i, _)| i < 2 || &text.as_bytes()[i - 2..i] != b"..");
            assert!(!absolute, "{name} holds the absolute path {root}");
        }
    }
}

#[test]
fn verbose_logs_a_line_per_tick_and_quiet_says_nothing_but_results() {
    let tmp = tempfile::tempdir().unwrap();
    let verbose = bin()
        .args(["-v", "run", smoke().to_str().unwrap(), "--out", tmp.path().join("v").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(verbose.status.success());
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    assert_eq!(stderr.lines().filter(|l| l.starts_with("tick ")).count(), 6, "{stderr}");
    let quiet = bin()
        .args(["run", smoke().to_str().unwrap(), "--out", tmp.path().join("q").to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    assert!(quiet.status.success());
    assert!(quiet.stderr.is_empty(), "{}", String::from_utf8_lossy(&quiet.stderr));
    // The results printed are the same whatever the verbosity (the folder names aside).
    let summary = |out: &[u8], dir: &str| String::from_utf8_lossy(out).replace(dir, "DIR");
    let v_dir = tmp.path().join("v").display().to_string();
    let q_dir = tmp.path().join("q").display().to_string();
    let strip = |s: String| s.lines().filter(|l| !l.starts_with("finished in")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(summary(&quiet.stdout, &q_dir)), strip(summary(&verbose.stdout, &v_dir)));
}

#[test]
fn replicates_are_runs_with_consecutive_seeds_and_a_rerun_keeps_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("reps");
    let out = bin()
        .args(["run", smoke().to_str().unwrap(), "--out", root.to_str().unwrap(), "--replicates", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let single = tmp.path().join("single");
    let out2 = bin()
        .args(["run", smoke().to_str().unwrap(), "--out", single.to_str().unwrap(), "--seed", "8"])
        .output()
        .unwrap();
    assert!(out2.status.success());
    // Seeds 7 (the file's) and 8; the second equals a plain `run --seed 8`.
    assert!(root.join("seed-7/summary.txt").exists());
    for f in ["scenario.toml", "events.jsonl", "metrics.csv", "ancestry.dot", "lessons.bin", "summary.txt"] {
        assert_eq!(fs::read(root.join("seed-8").join(f)).unwrap(), fs::read(single.join(f)).unwrap(), "{f}");
    }
    let again = bin()
        .args(["run", smoke().to_str().unwrap(), "--out", root.to_str().unwrap(), "--replicates", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success() && stdout.matches("finished earlier").count() == 2, "{stdout}");
    assert!(stdout.contains("outerloop compare"), "{stdout}");
}
