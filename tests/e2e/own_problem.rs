//! Bring your own problem: command objectives (`cmd:<spec.toml>`) through `mech run`,
//! `mech serve` and a short evolution that resumes to the uninterrupted bytes; bad
//! specs, missing and changed files, commands that are not found, hang, print garbage or
//! exit non-zero, each a clear error or a recorded failed trial; and the Python package
//! (its own unittest suite) against this binary, where a Python with numpy and Optuna is
//! given (`OUTERLOOP_PYTHON`; CI's `.ci/python-setup.sh` makes a fresh venv and sets
//! `OUTERLOOP_REQUIRE_PYTHON=1`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::slurm::folder;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_outerloop"))
}

/// A scoring script in plain sh and awk (no Python needed): reads the JSON line, scores
/// `(x - 0.3)^2 + (y - 0.6)^2 + 0.1 (1 - fidelity)`, and counts its runs in `runs.log`.
const SCRIPT: &str = r#"read line
echo run >> runs.log
num() { echo "$line" | sed "s/.*\"$1\":\([-0-9.e]*\).*/\1/"; }
echo "epoch 1 of 1"
awk -v x="$(num x)" -v y="$(num y)" -v f="$(num fidelity)" \
  'BEGIN { printf "{\"score\": %.17g}\n", (x - 0.3)^2 + (y - 0.6)^2 + 0.1 * (1 - f) }'
"#;

fn spec(extra: &str) -> String {
    format!(
        "command = [\"sh\", \"score.sh\"]\nfidelities = [0.25, 1.0]\ntimeout = 20\n{extra}\n[space]\nx = {{ linear = [0, 1] }}\ny = {{ linear = [0, 1] }}\n"
    )
}

fn problem_dir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("score.sh"), SCRIPT).unwrap();
    fs::write(tmp.path().join("a.toml"), spec("")).unwrap();
    fs::write(tmp.path().join("b.toml"), spec("cache = false")).unwrap();
    fs::write(tmp.path().join("held.toml"), spec("optimum = 0.0")).unwrap();
    tmp
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    bin().current_dir(dir).args(args).output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn bad_input(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stdout));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_command_objective_runs_under_mech_run_and_its_cache_answers_repeats() {
    let tmp = problem_dir();
    let d = tmp.path();
    let args = ["mech", "run", "lib:successive-halving", "--task", "cmd:a.toml", "--budget", "4", "--trials"];
    let first = ok(&run_in(d, &args));
    assert!(first.contains("task cmd:a.toml") && first.contains("failed trials 0"), "{first}");
    let runs = || fs::read_to_string(d.join("runs.log")).unwrap().lines().count();
    let ran = runs();
    assert!(ran > 4, "cheap trials at 0.25: more than 4 runs in 4 full trials ({ran})");
    assert_eq!(ok(&run_in(d, &args)), first, "a rerun prints the same");
    assert_eq!(runs(), ran, "the rerun was answered from the cache");
    // The same mechanism asked and told over `mech serve` proposes the same trials.
    let served = serve_with_script_scores(d, "lib:successive-halving", 4.0, 0);
    let listed: Vec<String> = first
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .map(|l| l.split_whitespace().nth(5).unwrap().to_string())
        .collect();
    let told: Vec<String> = served.iter().map(|s| format!("{s:.6e}")).collect();
    assert_eq!(told, listed, "mech serve and mech run see the same trials");
}

/// Drive `mech serve` on `a.toml`'s space, scoring each trial with the same formula as
/// the script; the scores told, in order.
fn serve_with_script_scores(dir: &Path, mech: &str, budget: f64, seed: u64) -> Vec<f64> {
    use std::io::{BufRead, BufReader, Write};
    let mut child = bin()
        .current_dir(dir)
        .args([
            "mech",
            "serve",
            mech,
            "--space",
            "a.toml",
            "--budget",
            &budget.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let hello: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(hello["hello"], "outerloop-mech/1");
    let mut scores = Vec::new();
    loop {
        writeln!(stdin, "{{\"op\":\"ask\"}}").unwrap();
        let a: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        if a["done"] == true {
            break;
        }
        let (x, y, f) =
            (a["config"]["x"].as_f64().unwrap(), a["config"]["y"].as_f64().unwrap(), a["fidelity"].as_f64().unwrap());
        // awk printed %.17g: the same double.
        let score: f64 = format!("{:.17e}", (x - 0.3).powi(2) + (y - 0.6).powi(2) + 0.1 * (1.0 - f)).parse().unwrap();
        scores.push(score);
        writeln!(stdin, "{{\"op\":\"tell\",\"trial\":{},\"score\":{score}}}", a["trial"]).unwrap();
        let t: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!(t["ok"], true, "{t}");
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    scores
}

const SCENARIO: &str = r#"name = "own"
seed = 3
ticks = 2
reference = "lib:uniform-random"
[population]
size = 6
elites = 2
[inner]
tasks = ["cmd:a.toml", "cmd:b.toml"]
budget = 3
seeds = 1
[seeds]
library = ["uniform-random", "successive-halving", "one-plus-one-es"]
[proposer]
children_per_tick = 2
[verifier]
seeds = 2
report_seeds = 2
held_out = ["cmd:held.toml"]
held_out_seeds = 2
[recombiner]
children_per_tick = 1
"#;

#[test]
fn an_evolution_on_command_tasks_resumes_exactly_and_refuses_changed_files() {
    let tmp = problem_dir();
    let d = tmp.path();
    fs::create_dir(d.join("scenarios")).unwrap();
    // The scenario names its tasks from its own folder.
    for f in ["score.sh", "a.toml", "b.toml", "held.toml"] {
        fs::rename(d.join(f), d.join("scenarios").join(f)).unwrap();
    }
    fs::write(d.join("scenarios/own.toml"), SCENARIO).unwrap();
    let whole = ok(&run_in(d, &["-q", "run", "scenarios/own.toml", "--out", "whole"]));
    let _ = whole;
    let summary = fs::read_to_string(d.join("whole/summary.txt")).unwrap();
    assert!(summary.contains("cmd:scenarios/a.toml") && summary.contains("cmd:scenarios/held.toml"), "{summary}");
    let inputs = fs::read_to_string(d.join("whole/inputs.txt")).unwrap();
    assert_eq!(inputs.lines().count(), 3, "{inputs}");

    ok(&run_in(d, &["-q", "run", "scenarios/own.toml", "--out", "cut", "--stop-after", "1"]));
    ok(&run_in(d, &["-q", "resume", "cut"]));
    assert_eq!(folder(&d.join("cut")), folder(&d.join("whole")), "a resumed run equals the uninterrupted one");
    // Analysed like a built-in run (fresh episodes on the command tasks).
    let analysis = ["-q", "analyze", "whole", "--episodes", "2", "--scaling-episodes", "2", "--out", "report"];
    ok(&run_in(d, &analysis));
    let report = fs::read_to_string(d.join("report/report.md")).unwrap();
    assert!(report.contains("cmd:scenarios/a.toml"), "{report}");

    // An edited script is another problem: resume refuses and changes nothing.
    ok(&run_in(d, &["-q", "run", "scenarios/own.toml", "--out", "edited", "--stop-after", "1"]));
    let before = folder(&d.join("edited"));
    fs::write(d.join("scenarios/score.sh"), format!("{SCRIPT}\n# tuned\n")).unwrap();
    let err = bad_input(&run_in(d, &["resume", "edited"]));
    assert!(err.contains("inputs.txt") && err.contains("cmd:scenarios/a.toml") && err.contains("changed"), "{err}");
    assert_eq!(folder(&d.join("edited")), before, "a refused resume writes nothing");
}

#[test]
fn bad_specs_and_bad_programs_are_clear_errors_or_failed_trials() {
    let tmp = problem_dir();
    let d = tmp.path();
    let mech_run = |task: &str| run_in(d, &["mech", "run", "lib:uniform-random", "--task", task, "--budget", "2"]);
    // Bad input: exit 2 with the file, the place and the fix.
    fs::write(d.join("empty.toml"), spec("").replace("x = { linear = [0, 1] }", "x = { linear = [1, 1] }")).unwrap();
    fs::write(d.join("missing.toml"), spec("").replace("\"sh\", \"score.sh\"", "\"no-such-program-xyz\"")).unwrap();
    for (task, needle) in [
        ("cmd:nope.toml", "nope.toml"),
        ("cmd:empty.toml", "empty.toml:6:5: knob `x`: bounds must be finite with lo < hi"),
        ("cmd:missing.toml", "command `no-such-program-xyz` not found on PATH"),
    ] {
        let err = bad_input(&mech_run(task));
        assert!(err.contains(needle), "{task}: {err}");
    }
    // A scenario naming a bad task is refused before anything is written.
    fs::write(d.join("bad.toml"), SCENARIO.replace("cmd:b.toml", "cmd:empty.toml")).unwrap();
    let err = bad_input(&run_in(d, &["run", "bad.toml", "--out", "never"]));
    assert!(err.contains("bad.toml:") && err.contains("lo < hi"), "{err}");
    assert!(!d.join("never").exists());
    // Programs that fail are failed trials: the run goes on and says why.
    for (script, extra, needle) in [
        ("sleep 30", "timeout = 0.5", "killed after the 0.5 s timeout"),
        ("echo '{\"score\": \"low\"}'", "", "must be a finite number"),
        ("echo all good", "", "printed no result"),
        ("echo broken >&2; exit 4", "", "exit status: 4: broken"),
    ] {
        fs::write(d.join("fail.sh"), script).unwrap();
        let text = spec("").replace("score.sh", "fail.sh").replace("timeout = 20", "");
        fs::write(d.join("fail.toml"), format!("{extra}\n{text}")).unwrap();
        let started = std::time::Instant::now();
        let out = ok(&mech_run("cmd:fail.toml"));
        assert!(started.elapsed().as_secs() < 60, "{script}");
        assert!(out.contains("failed trials 2") || out.contains("failed trials 1"), "{script}: {out}");
        assert!(out.contains("note: ") && out.contains(needle), "{script}: {out}");
    }
}

/// The Python interpreter with numpy and Optuna (and this package installed), if given.
fn python() -> Option<PathBuf> {
    match std::env::var_os("OUTERLOOP_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            assert!(
                std::env::var_os("OUTERLOOP_REQUIRE_PYTHON").is_none(),
                "OUTERLOOP_REQUIRE_PYTHON is set but OUTERLOOP_PYTHON is not (run .ci/python-setup.sh)"
            );
            eprintln!(
                "skipped: set OUTERLOOP_PYTHON to a Python with numpy, optuna and this package (.ci/python-setup.sh)"
            );
            None
        }
    }
}

#[test]
fn the_python_package_and_its_optuna_sampler_give_the_trials_of_mech_run() {
    let Some(python) = python() else { return };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new(&python)
        .current_dir(repo)
        .args(["-m", "unittest", "discover", "-s", "python/tests", "-v"])
        .env("OUTERLOOP_BIN", env!("CARGO_BIN_EXE_outerloop"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
}

/// Some text of the user's: a few kilobytes of repeated, varied lines.
fn my_corpus(seed: u32) -> String {
    (0..400)
        .map(|i| format!("entry {i}: the {} fox saw {} hens\n", ["red", "grey", "old"][(i + seed as usize) % 3], i % 7))
        .collect()
}

#[test]
fn tables_and_live_tasks_train_on_the_users_corpus_files_and_refuse_changed_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::create_dir(d.join("specs")).unwrap();
    fs::write(d.join("specs/mine.txt"), my_corpus(0)).unwrap();
    // A table spec names its corpus file from its own folder.
    fs::write(
        d.join("specs/mine.toml"),
        "corpus = \"mine.txt\"\ncontext = 16\neval_tokens = 128\n[grid]\nlr = [0.003, 0.01]\nwidth = [16]\ndepth = [1]\n",
    )
    .unwrap();
    let build =
        ["table", "build", "--spec", "specs/mine.toml", "--out", "mine.tsv", "--budget", "0.02", "--seeds", "1"];
    ok(&run_in(d, &build));
    let table = fs::read_to_string(d.join("mine.tsv")).unwrap();
    let hash = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(my_corpus(0).as_bytes()));
    assert!(table.contains(&format!("corpus mine {hash}")), "the header names the file's content: {table}");
    let out = ok(&run_in(d, &["mech", "run", "lib:uniform-random", "--task", "gpt-table:mine.tsv", "--budget", "2"]));
    assert!(out.contains("task gpt-table:mine.tsv"), "{out}");
    // A scenario on the user's table records the table file's content.
    let on_table = SCENARIO
        .replace("tasks = [\"cmd:a.toml\", \"cmd:b.toml\"]", "tasks = [\"gpt-table:mine.tsv\"]")
        .replace("held_out = [\"cmd:held.toml\"]\n", "")
        .replace("ticks = 2", "ticks = 1");
    fs::write(d.join("table.toml"), on_table).unwrap();
    ok(&run_in(d, &["-q", "run", "table.toml", "--out", "on-table"]));
    let table_hash = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(table.as_bytes()));
    assert_eq!(
        fs::read_to_string(d.join("on-table/inputs.txt")).unwrap(),
        format!("gpt-table:mine.tsv\t{table_hash}\n")
    );
    // Another file under the same name is another corpus: resuming the build says so.
    fs::write(d.join("specs/mine.txt"), my_corpus(1)).unwrap();
    let err = bad_input(&run_in(d, &build));
    assert!(err.contains("corpus"), "{err}");
    fs::write(d.join("specs/mine.txt"), my_corpus(0)).unwrap();

    // A live task on the file, in `mech run` and in a scenario beside it.
    let cache = d.join("cache");
    let live = "gpt-live:specs/mine.txt:b0.02:c16:e128";
    let o = bin()
        .current_dir(d)
        .env("OUTERLOOP_CACHE", &cache)
        .args(["mech", "run", "lib:uniform-random", "--task", live, "--budget", "2"])
        .output()
        .unwrap();
    assert!(ok(&o).contains(&format!("task {live}")));
    let missing =
        run_in(d, &["mech", "run", "lib:uniform-random", "--task", "gpt-live:specs/nope.txt", "--budget", "2"]);
    assert!(bad_input(&missing).contains("specs/nope.txt"));
    let scenario = SCENARIO
        .replace("tasks = [\"cmd:a.toml\", \"cmd:b.toml\"]", "tasks = [\"gpt-live:mine.txt:b0.02:c16:e128\"]")
        .replace("held_out = [\"cmd:held.toml\"]\n", "")
        .replace("budget = 3", "budget = 2");
    fs::write(d.join("specs/live.toml"), scenario).unwrap();
    let run = |out: &str| {
        bin()
            .current_dir(d)
            .env("OUTERLOOP_CACHE", &cache)
            .args(["-q", "run", "specs/live.toml", "--out", out, "--stop-after", "1"])
            .output()
            .unwrap()
    };
    ok(&run("live"));
    let inputs = fs::read_to_string(d.join("live/inputs.txt")).unwrap();
    assert!(inputs.starts_with("gpt-live:specs/mine.txt:b0.02:c16:e128\t") && inputs.contains(&hash), "{inputs}");
    fs::write(d.join("specs/mine.txt"), my_corpus(2)).unwrap();
    let err =
        bad_input(&bin().current_dir(d).env("OUTERLOOP_CACHE", &cache).args(["resume", "live"]).output().unwrap());
    assert!(err.contains("changed since the run started"), "{err}");
}

#[test]
fn a_scenario_holds_its_own_objectives_and_spaces_checked_where_they_are_written() {
    let tmp = problem_dir();
    let d = tmp.path();
    let inline = "\n[objectives.quad]\ncommand = [\"sh\", \"score.sh\"]\nfidelities = [0.25, 1.0]\n\
                  [objectives.quad.space]\nx = { linear = [0, 1] }\ny = { linear = [0, 1] }\n";
    let scenario = SCENARIO
        .replace("tasks = [\"cmd:a.toml\", \"cmd:b.toml\"]", "tasks = [\"cmd:own.toml#quad\"]")
        .replace("held_out = [\"cmd:held.toml\"]\n", "")
        .replace("ticks = 2", "ticks = 1");
    fs::write(d.join("own.toml"), format!("{scenario}{inline}")).unwrap();
    ok(&run_in(d, &["-q", "run", "own.toml", "--out", "run"]));
    assert!(fs::read_to_string(d.join("run/inputs.txt")).unwrap().starts_with("cmd:own.toml#quad\t"));
    // The same entry from the command line, with the scores the spec file gives.
    let entry = ok(&run_in(d, &["mech", "run", "lib:cma-es", "--task", "cmd:own.toml#quad", "--budget", "3"]));
    let file = ok(&run_in(d, &["mech", "run", "lib:cma-es", "--task", "cmd:a.toml", "--budget", "3"]));
    let scores = |t: &str| t.lines().skip(1).take(2).collect::<Vec<_>>().join("\n");
    assert_eq!(scores(&entry), scores(&file));
    // A bad knob is reported in the scenario, at its line and column.
    let bad = format!("{scenario}{}", inline.replace("y = { linear = [0, 1] }", "y = { log = [0, 1] }"));
    fs::write(d.join("bad.toml"), bad).unwrap();
    let err = bad_input(&run_in(d, &["run", "bad.toml", "--out", "never"]));
    assert!(
        err.contains("bad.toml:") && err.contains("[objectives.quad]: knob `y`: a log-scale knob needs lo > 0"),
        "{err}"
    );
    assert!(!d.join("never").exists());
    let missing = bad_input(&run_in(d, &["mech", "run", "lib:cma-es", "--task", "cmd:own.toml#nope", "--budget", "3"]));
    assert!(missing.contains("no [objectives.nope] table here (it has quad)"), "{missing}");
}

#[test]
fn outerloop_trial_on_a_users_corpus_is_itself_a_command_objective() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("mine.txt"), my_corpus(0)).unwrap();
    // The binary by name on PATH, as a user's installed `outerloop` would be.
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_outerloop")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    fs::write(
        d.join("trial.toml"),
        "command = [\"outerloop\", \"trial\", \"--request\", \"--corpus\", \"mine.txt\", \"--budget\", \"0.02\", \
         \"--context\", \"16\", \"--eval-tokens\", \"128\"]\nfidelities = [0.25, 1.0]\nfailure_score = 8.0\n\
         [space]\nlr = { log = [1e-3, 3e-2] }\nwidth = [16, 32]\ndepth = { integer = [1, 2] }\n",
    )
    .unwrap();
    let o = bin()
        .current_dir(d)
        .env("PATH", &path)
        .args(["mech", "run", "lib:successive-halving", "--task", "cmd:trial.toml", "--budget", "2", "--trials"])
        .output()
        .unwrap();
    let out = ok(&o);
    assert!(out.contains("failed trials 0") && !out.contains("note:"), "{out}");
    // The request line and the printed result agree with a trial run by hand.
    let by_hand = bin()
        .current_dir(d)
        .args(["trial", "--corpus", "mine.txt", "--budget", "0.02", "--context", "16", "--eval-tokens", "128"])
        .args([
            "--set",
            "lr=0.01",
            "--set",
            "width=32",
            "--set",
            "depth=2",
            "--fidelity",
            "0.25",
            "--seed",
            "9",
            "--json",
        ])
        .output()
        .unwrap();
    let hand = ok(&by_hand);
    let mut child = bin()
        .current_dir(d)
        .args([
            "trial",
            "--request",
            "--corpus",
            "mine.txt",
            "--budget",
            "0.02",
            "--context",
            "16",
            "--eval-tokens",
            "128",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(
        child.stdin.take().unwrap(),
        "{{\"config\":{{\"lr\":0.01,\"width\":32.0,\"depth\":2}},\"fidelity\":0.25,\"seed\":9}}"
    )
    .unwrap();
    let asked = ok(&child.wait_with_output().unwrap());
    assert_eq!(asked.lines().last(), hand.lines().last(), "{asked}\n{hand}");
    assert!(hand.lines().last().unwrap().starts_with("{\"cost\":0.25,"), "{hand}");
}
