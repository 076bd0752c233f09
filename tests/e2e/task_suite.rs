//! The GPT task suite end to end: design tables (build, answer rule, true scores),
//! task names and suites, the ask/tell protocol over a real process, live tasks through
//! `mech run` with the trial cache, and located errors for bad tables and tasks.

use std::io::Write;
use std::process::{Command, Stdio};

use outerloop::objective::Objective;
use outerloop::objective::gpt::data::Corpus;
use outerloop::objective::gpt::design::TableSpec;
use outerloop::objective::gpt::table::{BuildPlan, GptTable, Table, build};
use outerloop::objective::registry::{expand_task_list, objective_by_name};
use outerloop::space::Config;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_outerloop"))
}

const DESIGN: &str = r#"
context = 16
eval_tokens = 128
[design]
configs = 6
seed = 9
[space]
lr = { log = [1e-3, 3e-2] }
width = [16, 32]
schedule = ["cosine", "constant"]
"#;

fn small_design_table(dir: &std::path::Path) -> (Table, std::path::PathBuf) {
    let spec = TableSpec::parse(&dir.join("d.toml"), DESIGN).unwrap();
    let out = dir.join("d.tsv");
    let plan = BuildPlan { spec, budget: 0.02, seeds: 2, jobs: 2, out: out.clone(), limit: None };
    let corpus = Corpus::synthetic(outerloop::objective::gpt::Skill::ALL, 6000, 1);
    let report = build(&plan, &corpus, &outerloop::exec::Executor::local(), &|_, _, _| {}).unwrap();
    assert_eq!(report.total, 12);
    (Table::load(&out).unwrap(), out)
}

#[test]
fn design_tables_answer_with_the_nearest_config_and_true_means() {
    let dir = tempfile::tempdir().unwrap();
    let (table, out) = small_design_table(dir.path());
    assert_eq!(table.tabulated(), 6);
    let obj = GptTable::new("t", table.clone());
    assert_eq!(obj.full_cost(), 1.0, "design tables count budgets in full trials");
    // A tabulated config reads its own rows; its true score is the seed mean.
    let c0 = table.config(0).unwrap();
    let rows = table.rows_of(0);
    let mean = rows.iter().map(|r| r.curve[3]).sum::<f64>() / rows.len() as f64;
    assert_eq!(obj.answer(&c0), Some(0));
    assert!((obj.true_score(&c0).unwrap() - mean).abs() < 1e-12);
    let seeds: Vec<f64> = (0..2).map(|s| obj.score(&c0, 1.0, s).score).collect();
    assert_eq!(seeds, rows.iter().map(|r| r.curve[3]).collect::<Vec<_>>());
    // An off-design config is answered by the nearest tabulated one in the unit cube.
    let space = obj.space().clone();
    let mut p = space.encode(&c0);
    p[0] = (p[0] + 0.01).min(1.0);
    let near = space.decode(&p);
    assert_ne!(near, c0);
    assert_eq!(obj.answer(&near), Some(0));
    // The optimum is the best seed mean; regrets are never negative.
    let best = obj.config_means().iter().map(|m| m.1).fold(f64::INFINITY, f64::min);
    assert_eq!(obj.optimum(), Some(best));
    for id in 0..6 {
        assert!(obj.true_score(&table.config(id).unwrap()).unwrap() >= best);
    }
    // `gpt-table:<file>` reaches the same table.
    let by_name = objective_by_name(&format!("gpt-table:{}", out.display())).unwrap();
    assert_eq!(by_name.true_score(&c0), obj.true_score(&c0));
    // A resumed build of a complete table runs nothing.
    let spec = TableSpec::parse(&dir.path().join("d.toml"), DESIGN).unwrap();
    let plan = BuildPlan { spec, budget: 0.02, seeds: 2, jobs: 1, out, limit: None };
    let corpus = Corpus::synthetic(outerloop::objective::gpt::Skill::ALL, 6000, 1);
    assert_eq!(build(&plan, &corpus, &outerloop::exec::Executor::local(), &|_, _, _| {}).unwrap().ran, 0);
}

#[test]
fn malformed_tables_and_unknown_tasks_are_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = small_design_table(dir.path());
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let header_lines = lines.iter().take_while(|l| l.starts_with('#')).count() + 1;
    let bad_row_line = header_lines + 2;
    let mut cases: Vec<(String, String, &str)> = Vec::new();
    let mut broken = lines.clone();
    let row = broken[bad_row_line - 1].replace("\tok\t", "\tmaybe\t");
    broken[bad_row_line - 1] = &row;
    cases.push(("status.tsv".into(), broken.join("\n") + "\n", "bad status"));
    let mut broken = lines.clone();
    let short = broken[bad_row_line - 1].rsplit_once('\t').unwrap().0.to_string();
    broken[bad_row_line - 1] = &short;
    cases.push(("short.tsv".into(), broken.join("\n") + "\n", "fields"));
    cases.push(("magic.tsv".into(), "hello\n".into(), "not a gpt table"));
    let no_budget: String = lines.iter().filter(|l| !l.starts_with("#! budget")).map(|l| format!("{l}\n")).collect();
    cases.push(("nobudget.tsv".into(), no_budget, "budget"));
    for (name, body, needle) in cases {
        let path = dir.path().join(&name);
        std::fs::write(&path, body).unwrap();
        let o = bin().args(["table", "show", path.to_str().unwrap()]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(needle) && err.contains(&name), "{name}: {err}");
        if needle == "bad status" || needle == "fields" {
            assert!(err.contains(&format!("{name}:{bad_row_line}:1")), "{name} is located: {err}");
        }
        // The same file as a task is refused with the same reason.
        let o = bin()
            .args(["mech", "run", "lib:uniform-random", "--task"])
            .arg(format!("gpt-table:{}", path.display()))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{name}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(needle));
    }
    for task in ["gpt-table:nope", "gpt-live:moon", "suite:gpt-nothing", "bbob-f99-i1-d2"] {
        let o = bin().args(["mech", "run", "lib:uniform-random", "--task", task]).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{task}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("unknown task"), "{task}");
    }
    // A scenario naming an unknown task points at it.
    let sc = dir.path().join("bad.toml");
    std::fs::write(&sc, "name = \"x\"\nseed = 1\nticks = 1\nreference = \"lib:uniform-random\"\n[inner]\ntasks = [\"gpt-table\", \"suite:nope\"]\nbudget = 10\n[seeds]\nlibrary = [\"all\"]\n").unwrap();
    let o =
        bin().args(["run", sc.to_str().unwrap(), "--out", dir.path().join("run").to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.toml:6:") && err.contains("suite:nope"), "{err}");
}

#[test]
fn task_lists_expand_suites() {
    let names = expand_task_list(&["gpt-table,bbob-f1-i1-d2", "gpt-table"]).unwrap();
    assert_eq!(names, vec!["gpt-table".to_string(), "bbob-f1-i1-d2".to_string()]);
    assert!(expand_task_list(&["suite:nope"]).is_err());
}

#[test]
fn the_protocol_runs_over_a_real_process_and_survives_bad_lines() {
    let mut child = bin()
        .args(["task", "serve", "gpt-table", "--budget", "60"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let unit = "[0.5,0.1,0.2,0.3,0.9,0.5]";
    let script = format!(
        "{{\"op\":\"reset\",\"seed\":7}}\nnot json\n\u{1}\u{2}\n{{\"op\":\"eval\",\"unit\":{unit},\"fidelity\":0.5}}\n{{\"op\":\"eval\",\"unit\":{unit}}}\n{{\"op\":\"eval\",\"unit\":[1]}}\n{{\"op\":\"finish\"}}\n"
    );
    stdin.write_all(script.as_bytes()).unwrap();
    stdin.write_all(&[0xff, 0xfe, b'\n']).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["hello"], "outerloop-task/1");
    assert_eq!(lines[1]["ok"], true);
    assert_eq!(lines[2]["ok"], false);
    assert_eq!(lines[3]["ok"], false);
    assert_eq!(lines[4]["cost"].as_f64(), Some(10.0), "half a 20 GFLOP trial");
    assert_eq!(lines[5]["level"].as_u64(), Some(3));
    assert_eq!(lines[6]["ok"], false);
    let done = &lines[7];
    assert_eq!(done["trials"].as_u64(), Some(2));
    assert!(done["regret"].as_f64().unwrap() >= 0.0);
    assert_eq!(lines[8]["ok"], false, "bytes that are not UTF-8 get an error line");
    // An unknown task is a usage error before any line.
    let o = bin().args(["task", "serve", "gpt-table:nope"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_live_task_runs_through_mech_run_and_the_cache_answers_identically() {
    let cache = tempfile::tempdir().unwrap();
    // 3 full trials of a tiny model on the records corpus.
    let run = || {
        bin()
            .env("OUTERLOOP_CACHE", cache.path())
            .args([
                "mech",
                "run",
                "lib:greedy-keep-discard",
                "--task",
                "gpt-live:records:b0.02:c16:e128",
                "--budget",
                "3",
                "--seed",
                "5",
                "--trials",
            ])
            .output()
            .unwrap()
    };
    let first = run();
    let text = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(text.contains("gpt-live:records:b0.02:c16:e128") && text.contains("true score"), "{text}");
    let entries = std::fs::read_dir(cache.path()).unwrap().count();
    assert!(entries >= 3, "trials and the truth re-evaluation are cached ({entries})");
    let second = run();
    assert_eq!(String::from_utf8_lossy(&second.stdout), text, "cache hits give the same numbers");
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), entries);
}

#[test]
fn live_true_scores_are_fresh_reevaluations() {
    let task = outerloop::objective::gpt::live::LiveTask::parse("gpt-live:synthetic:b0.02:c16:e128").unwrap();
    let obj = task.objective_with_cache(None).unwrap();
    let space = obj.space().clone();
    let config: Config = space.decode(&vec![0.5; space.dim()]);
    let t = obj.true_score(&config).unwrap();
    let by_hand: f64 =
        outerloop::objective::gpt::live::TRUTH_SEEDS.iter().map(|&s| obj.score(&config, 1.0, s).score).sum::<f64>()
            / 2.0;
    assert!((t - by_hand).abs() < 1e-12);
    assert_eq!(obj.full_cost(), 1.0);
}

#[test]
fn evolving_on_the_training_suite_is_reported_on_held_out_tables() {
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("suite.toml");
    std::fs::write(
        &sc,
        "name = \"suite-test\"\nseed = 3\nticks = 4\nreference = \"lib:greedy-keep-discard\"\n[population]\nsize = 8\nelites = 2\n[inner]\ntasks = [\"suite:gpt-train\"]\nbudget = 6\nseeds = 2\n[seeds]\nlibrary = [\"uniform-random\", \"successive-halving\", \"tpe-density-ratio\"]\n[proposer]\nchildren_per_tick = 3\n[verifier]\nseeds = 3\n",
    )
    .unwrap();
    let run_dir = dir.path().join("run");
    let o = bin().args(["run", sc.to_str().unwrap(), "--out", run_dir.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let saved = std::fs::read_to_string(run_dir.join("scenario.toml")).unwrap();
    assert!(saved.contains("suite:gpt-train"));
    let o = bin()
        .args(["analyze", run_dir.to_str().unwrap(), "--no-scaling", "--episodes", "4", "--top", "1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("analysis/report.json")).unwrap()).unwrap();
    let train: Vec<String> =
        report["tasks"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    assert_eq!(train, outerloop::objective::registry::Suite::GptTrain.tasks());
    let rows = report["held_out"]["rows"].as_array().unwrap();
    let held = outerloop::objective::registry::Suite::GptHeldOut.tasks();
    assert_eq!(rows.len(), held.len() + 1, "one row per held-out table and a pooled row");
    for (row, task) in rows.iter().zip(held.iter().map(String::as_str).chain(["all tables"])) {
        assert_eq!(row["task"], task);
        assert!(!train.contains(&task.to_string()), "held out means never seen");
        let i = &row["champion_vs_reference"];
        assert!(i["lo"].as_f64().unwrap() <= i["estimate"].as_f64().unwrap());
        assert!(i["estimate"].as_f64().unwrap() <= i["hi"].as_f64().unwrap());
        assert!(row["champion_regret"].as_f64().unwrap() >= 0.0);
    }
    assert_eq!(report["held_out"]["budget"].as_f64(), Some(6.0));
    let md = std::fs::read_to_string(run_dir.join("analysis/report.md")).unwrap();
    assert!(md.contains("## Held-out tasks") && md.contains("gpt-table:records-s"));
}

#[test]
fn a_closed_output_pipe_is_not_a_panic() {
    // The read end closes before the command writes (it may win the race and write
    // first, in which case there is nothing to see; never a false failure).
    let mut child = bin().args(["task", "list"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(matches!(out.status.code(), Some(0) | Some(141)), "{:?}", out.status);
}

#[test]
fn a_scenario_can_evolve_on_live_trials() {
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("live.toml");
    std::fs::write(
        &sc,
        "name = \"live\"\nseed = 1\nticks = 2\nreference = \"lib:uniform-random\"\n[population]\nsize = 4\nelites = 1\n[inner]\ntasks = [\"gpt-live:records:b0.02:c16:e128\"]\nbudget = 3\nseeds = 1\n[seeds]\nlibrary = [\"greedy-keep-discard\", \"successive-halving\"]\n[proposer]\nchildren_per_tick = 1\n[verifier]\nseeds = 1\n",
    )
    .unwrap();
    let cache = dir.path().join("cache");
    let run = |out: &str| {
        bin()
            .env("OUTERLOOP_CACHE", &cache)
            .args(["run", sc.to_str().unwrap(), "--out", dir.path().join(out).to_str().unwrap()])
            .output()
            .unwrap()
    };
    let first = run("a");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(std::fs::read_dir(&cache).unwrap().count() > 0, "live trials went through the cache");
    let second = run("b");
    assert!(second.status.success());
    let events = |d: &str| std::fs::read(dir.path().join(d).join("events.jsonl")).unwrap();
    assert_eq!(events("a"), events("b"), "a live run is reproducible");
}
