//! The Slurm executor on a real cluster: a run whose episode batches ran as job arrays
//! equals the local run byte for byte, also when array tasks are cancelled or their
//! workers killed mid-task (they are resubmitted), and bad executor settings are bad
//! input that writes nothing.
//!
//! Needs a reachable Slurm (`.ci/slurm-setup.sh` starts a one-node cluster, and CI sets
//! `OUTERLOOP_REQUIRE_SLURM=1` so that a cluster that does not start fails the test);
//! elsewhere the tests say why they are skipped and pass.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_outerloop"))
}

/// Whether a Slurm cluster answers; panics where CI requires one.
fn slurm_available() -> bool {
    let up = Command::new("sinfo").args(["-h", "-o", "%t"]).output().is_ok_and(|o| {
        let states = String::from_utf8_lossy(&o.stdout).to_string();
        o.status.success() && (states.contains("idle") || states.contains("mix") || states.contains("alloc"))
    });
    if !up {
        assert!(
            std::env::var_os("OUTERLOOP_REQUIRE_SLURM").is_none(),
            "OUTERLOOP_REQUIRE_SLURM is set but no Slurm cluster answers `sinfo` (run .ci/slurm-setup.sh)"
        );
        eprintln!("skipped: no Slurm cluster answers `sinfo` (start one with .ci/slurm-setup.sh)");
    }
    up
}

/// A one-tick smoke scenario: few batches, each a job array.
fn scenario(dir: &Path) -> PathBuf {
    let text = fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml"))
        .unwrap()
        .replace("ticks = 6", "ticks = 1");
    let path = dir.join("slurm.toml");
    fs::write(&path, text).unwrap();
    path
}

/// Every file directly in `dir`, by name, with its bytes.
pub fn folder(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap()))
        .collect()
}

fn run(scenario: &Path, out: &Path, extra: &[&str]) {
    let o =
        bin().args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap()]).args(extra).output().unwrap();
    assert!(o.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_run_on_slurm_equals_the_local_run_even_when_tasks_are_cancelled_or_killed() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let scenario = scenario(tmp.path());
    let local = tmp.path().join("local");
    run(&scenario, &local, &[]);

    let clean = tmp.path().join("slurm");
    run(&scenario, &clean, &["--executor", "slurm", "--array-size", "4"]);
    assert_eq!(folder(&clean), folder(&local), "a run on Slurm differs from the local run");
    assert!(!clean.join("batches").exists(), "batch folders are removed once merged");

    // Interrupted tasks: cancel one array task and kill -9 another task's worker while
    // the run goes on; both are resubmitted and the outputs do not change.
    let hurt = tmp.path().join("hurt");
    let mut child = bin()
        .args(["run", scenario.to_str().unwrap(), "--out", hurt.to_str().unwrap()])
        .args(["--executor", "slurm", "--array-size", "4"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (mut cancelled, mut killed) = (false, false);
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(600) {
        if !cancelled {
            // A running or pending task of a worker array: `JOBID_INDEX`.
            let q = Command::new("squeue").args(["-h", "-r", "-n", "outerloop-worker", "-o", "%i"]).output().unwrap();
            if let Some(task) = String::from_utf8_lossy(&q.stdout).split_whitespace().next() {
                cancelled = Command::new("scancel").arg(task).status().unwrap().success();
            }
        } else if !killed {
            killed = Command::new("pkill").args(["-9", "-f", "outerloop worker"]).status().unwrap().success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(cancelled, "no array task was seen to cancel");
    assert_eq!(folder(&hurt), folder(&local), "cancelled or killed tasks changed the outputs");
}

#[test]
fn bad_executor_settings_are_bad_input_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = scenario(tmp.path());
    let out = tmp.path().join("run");
    let expect_bad = |extra: &[&str], path: Option<&str>, needle: &str| {
        let mut cmd = bin();
        cmd.args(["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap()]).args(extra);
        if let Some(p) = path {
            cmd.env("PATH", p);
        }
        let o = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(needle) && stderr.contains("hint:"), "{extra:?}: {stderr}");
        assert!(!out.exists(), "{extra:?} created the run folder");
    };
    // No Slurm client on PATH.
    expect_bad(&["--executor", "slurm"], Some("/nonexistent"), "sbatch");
    // Slurm settings without the Slurm executor.
    expect_bad(&["--partition", "debug"], None, "without --executor slurm");
    if !slurm_available() {
        return;
    }
    expect_bad(&["--executor", "slurm", "--partition", "no-such-partition"], None, "no partition");
    expect_bad(&["--executor", "slurm", "--worker-binary", "/nonexistent/outerloop"], None, "does not start");
}

/// The table's rows without the wall-clock column, sorted by (config, seed).
fn rows_without_seconds(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let seconds = header.iter().position(|c| *c == "seconds").unwrap();
    let mut rows: Vec<(u64, u64, String)> = lines
        .map(|l| {
            let mut cells: Vec<&str> = l.split('\t').collect();
            let key =
                (cells[0].parse().unwrap(), cells[header.iter().position(|c| *c == "seed").unwrap()].parse().unwrap());
            cells.remove(seconds);
            (key.0, key.1, cells.join("\t"))
        })
        .collect();
    rows.sort();
    rows.into_iter().map(|r| r.2).collect()
}

#[test]
fn a_table_build_on_slurm_has_the_rows_of_the_local_build() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("grid.toml");
    fs::write(&spec, "context = 16\neval_tokens = 128\n[grid]\nlr = [0.003, 0.01, 0.03]\nwidth = [16]\ndepth = [1]\n")
        .unwrap();
    let build = |out: &Path, extra: &[&str]| {
        let o = bin()
            .args(["table", "build", "--spec", spec.to_str().unwrap(), "--budget", "0.02", "--seeds", "2"])
            .args(["--skills", "copy", "--out", out.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    let local = tmp.path().join("local.tsv");
    build(&local, &["--jobs", "1"]);
    let slurm = tmp.path().join("slurm.tsv");
    // Four tasks for six trials: shards of one and two trials.
    build(&slurm, &["--executor", "slurm", "--array-size", "4"]);
    assert_eq!(rows_without_seconds(&slurm).len(), 6);
    assert_eq!(rows_without_seconds(&slurm), rows_without_seconds(&local), "trials on Slurm differ from local ones");
    assert!(!tmp.path().join(".slurm.tsv.batches").exists(), "the batch folder is removed once merged");
}

/// The swarm tests' tiny scenario with one seed and two iterations: few batches, each
/// a job array.
fn tiny_swarm() -> String {
    crate::swarm::TINY.replace("seeds = 2", "seeds = 1").replace("max_iters = 4", "max_iters = 2")
}

/// Every file under `dir` (relative path -> bytes).
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().display().to_string(), fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn a_model_swarm_on_slurm_equals_the_local_swarm() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("tiny.toml");
    fs::write(&scenario, tiny_swarm()).unwrap();
    let swarm = |out: &Path, extra: &[&str]| {
        let o = bin()
            .args(["swarm", scenario.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    let local = tmp.path().join("local");
    swarm(&local, &[]);
    let slurm = tmp.path().join("slurm");
    swarm(&slurm, &["--executor", "slurm", "--array-size", "2"]);
    let (a, b) = (tree(&local), tree(&slurm));
    assert!(a.contains_key("report.json") && a.keys().any(|k| k.ends_with(".safetensors")));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(b[name] == *bytes, "{name} differs between the local and the Slurm swarm");
    }
}

/// A command objective on Slurm: every trial of the numpy script runs inside an array
/// task's worker, and the run equals the local one byte for byte. Needs the Python with
/// numpy that `.ci/python-setup.sh` makes (`OUTERLOOP_PYTHON`).
#[test]
fn a_command_objective_on_slurm_equals_the_local_run() {
    let Some(python) = std::env::var_os("OUTERLOOP_PYTHON") else {
        assert!(std::env::var_os("OUTERLOOP_REQUIRE_PYTHON").is_none(), "OUTERLOOP_PYTHON is not set");
        eprintln!("skipped: set OUTERLOOP_PYTHON to a Python with numpy (.ci/python-setup.sh)");
        return;
    };
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let own = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/own");
    for p in [0, 1] {
        // No cache: the Slurm run must run the script itself, not read the local run's answers.
        let text = fs::read_to_string(own.join(format!("problem{p}.toml"))).unwrap().replace(
            "[\"python3\", \"numpy_mlp.py\"",
            &format!("[{:?}, {:?}", python.to_string_lossy(), own.join("numpy_mlp.py").to_string_lossy()),
        );
        fs::write(tmp.path().join(format!("problem{p}.toml")), format!("cache = false\n{text}")).unwrap();
    }
    let scenario = tmp.path().join("own.toml");
    fs::write(
        &scenario,
        r#"name = "own-slurm"
seed = 1
ticks = 1
reference = "lib:uniform-random"
[population]
size = 4
elites = 1
[inner]
tasks = ["cmd:problem0.toml", "cmd:problem1.toml"]
budget = 1.5
seeds = 1
[seeds]
library = ["uniform-random", "successive-halving"]
[proposer]
children_per_tick = 1
[verifier]
seeds = 1
report_seeds = 1
[recombiner]
children_per_tick = 0
"#,
    )
    .unwrap();
    let local = tmp.path().join("local");
    run(&scenario, &local, &[]);
    let on_slurm = tmp.path().join("slurm");
    run(&scenario, &on_slurm, &["--executor", "slurm", "--array-size", "4"]);
    assert_eq!(folder(&on_slurm), folder(&local), "a command objective's run on Slurm differs from the local run");
    assert!(fs::read_to_string(local.join("inputs.txt")).unwrap().contains("cmd:"));
}
