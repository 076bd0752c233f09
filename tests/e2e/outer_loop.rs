//! End-to-end runs of the outer loop: determinism, thread independence, kill-and-resume,
//! the verifier demoting lucky claims, and dead-gene reports.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bevy_ecs::system::RunSystemOnce;
use outerloop::exec::Executor;
use outerloop::genome::{Limits, Program, library::library_text, load};
use outerloop::objective::registry::objective_by_name;
use outerloop::scenario;
use outerloop::sim::Simulation;
use outerloop::sim::agents::verifier::verify;
use outerloop::sim::components::{Fitness, Status};
use outerloop::sim::evaluator::Evaluator;
use outerloop::sim::events::Event;
use outerloop::sim::spawn::prepare;

pub(crate) const OUTPUTS: [&str; 7] =
    ["scenario.toml", "checkpoint.bin", "events.jsonl", "metrics.csv", "ancestry.dot", "lessons.bin", "summary.txt"];

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_outerloop"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn run_to(dir: &Path, scenario: &Path, threads: usize) {
    let out = bin()
        .args(["run", scenario.to_str().unwrap(), "--out", dir.to_str().unwrap(), "--threads", &threads.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

pub(crate) fn assert_same_outputs(a: &Path, b: &Path) {
    for f in OUTPUTS {
        let x = fs::read(a.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        let y = fs::read(b.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(x == y, "{f} differs between {} and {}", a.display(), b.display());
    }
}

/// A smoke-sized scenario with enough ticks that a kill lands mid-run.
pub(crate) fn long_smoke(dir: &Path) -> PathBuf {
    let text = fs::read_to_string(root().join("scenarios/smoke.toml"))
        .unwrap()
        .replace("ticks = 6", "ticks = 40")
        .replace("budget = 40", "budget = 120");
    let path = dir.join("long.toml");
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn same_scenario_twice_gives_byte_identical_outputs_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let sc = root().join("scenarios/smoke.toml");
    run_to(&tmp.path().join("a"), &sc, 1);
    run_to(&tmp.path().join("b"), &sc, 1);
    run_to(&tmp.path().join("c"), &sc, 2);
    assert_same_outputs(&tmp.path().join("a"), &tmp.path().join("b"));
    assert_same_outputs(&tmp.path().join("a"), &tmp.path().join("c"));
    let events = fs::read_to_string(tmp.path().join("a/events.jsonl")).unwrap();
    for kind in ["born", "debated", "evaluated", "verified", "retired"] {
        assert!(events.contains(&format!("\"event\":\"{kind}\"")), "no {kind} event");
    }
}

#[test]
fn killed_runs_resume_to_identical_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let sc = long_smoke(tmp.path());
    let reference = tmp.path().join("reference");
    run_to(&reference, &sc, 2);
    // Kill points spread over the run: wait until the run has completed `k` ticks (rows
    // in metrics.csv), then SIGKILL it at once, so the kill lands somewhere inside the
    // following tick; every interruption must resume to the same bytes.
    for (i, k) in [1usize, 8, 20].into_iter().enumerate() {
        let dir = tmp.path().join(format!("killed{i}"));
        let mut child = bin()
            .args(["run", sc.to_str().unwrap(), "--out", dir.to_str().unwrap(), "--threads", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let rows =
                fs::read_to_string(dir.join("metrics.csv")).map(|t| t.lines().count().saturating_sub(1)).unwrap_or(0);
            if rows >= k || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        assert!(!dir.join("summary.txt").exists(), "the kill after {k} ticks landed after the run finished");
        let out = bin().args(["resume", dir.to_str().unwrap(), "--threads", "1"]).output().unwrap();
        assert!(out.status.success(), "resume failed: {}", String::from_utf8_lossy(&out.stderr));
        assert_same_outputs(&reference, &dir);
    }
    // A clean stop after a few ticks resumes the same way.
    let dir = tmp.path().join("stopped");
    let out = bin()
        .args(["run", sc.to_str().unwrap(), "--out", dir.to_str().unwrap(), "--stop-after", "7"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!dir.join("summary.txt").exists());
    let out = bin().args(["resume", dir.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success());
    assert_same_outputs(&reference, &dir);
}

/// The smoke scenario's simulation, uniform random search (a real mechanism that is not
/// the reference) compiled, the reference and an evaluator of the tasks: what the planted-population
/// tests start from.
struct Smoke {
    sc: scenario::Scenario,
    sim: Simulation,
    uniform: outerloop::genome::Genome,
    program: Program,
    reference: Program,
    evaluator: Evaluator,
}

fn smoke_with_uniform_random() -> Smoke {
    let sc = scenario::load(&root().join("scenarios/smoke.toml")).unwrap();
    let sim = Simulation::new(&sc, None, Executor::local()).unwrap();
    let limits = Limits::default();
    let uniform = load(library_text("uniform-random").unwrap(), &limits).unwrap();
    let reference = Program::compile(&sc.reference.genome, limits).unwrap();
    let program = Program::compile(&uniform, limits).unwrap();
    let tasks = sc.tasks.iter().map(|t| objective_by_name(t).unwrap()).collect();
    let evaluator = Evaluator::new(tasks, sc.inner_budget, sc.execution, Executor::local());
    Smoke { sc, sim, uniform, program, reference, evaluator }
}

#[test]
fn the_verifier_demotes_a_claim_obtained_on_lucky_seeds() {
    let Smoke { mut sim, uniform, program, reference, evaluator, .. } = smoke_with_uniform_random();
    // Find lucky seeds: episodes where uniform random happened to beat the reference.
    let mut lucky = Vec::new();
    for seed in 1000..1200u64 {
        let r = evaluator.run(&[(&program, 0, seed), (&reference, 0, seed)]).unwrap();
        let g = evaluator.paired_gains(&r[..1], &r[1..])[0];
        if g > 0.2 {
            lucky.push(g);
        }
        if lucky.len() == 4 {
            break;
        }
    }
    assert_eq!(lucky.len(), 4, "uniform random never got lucky");
    let claimed = lucky.iter().sum::<f64>() / lucky.len() as f64;
    let candidate = prepare(uniform).unwrap();
    sim.plant(
        9999,
        candidate.mechanism,
        Status::Evaluated,
        Fitness { claimed: Some(claimed), claimed_episodes: lucky.clone(), ..Fitness::default() },
    );
    sim.world_mut().run_system_once(verify).unwrap();
    let events = sim.drain_events();
    let verdict = events
        .iter()
        .find_map(|e| match e {
            Event::Verified { id: 9999, claimed, verified, gap, integrity, .. } => {
                Some((*claimed, *verified, *gap, *integrity))
            }
            _ => None,
        })
        .expect("the planted claim is a would-be elite and must be verified");
    let (c, v, gap, integrity) = verdict;
    assert!(c > 0.2, "planted claim {c}");
    assert!(v < 0.0, "uniform random must not verify as better than the baseline: {v}");
    assert!(gap > 0.2, "gap {gap}");
    assert!(!integrity, "a claim not obtained on the shared claim episodes cannot pass the integrity re-run");
}

#[test]
fn a_gene_that_never_fires_is_reported_and_pruned() {
    let tmp = tempfile::tempdir().unwrap();
    let text = r#"
name = "deadgene"
seed = 3
ticks = 1
reference = "lib:greedy-keep-discard"
[population]
size = 4
elites = 1
[inner]
tasks = ["bbob-f1-i1-d3"]
budget = 30
seeds = 2
[seeds]
inline = ["(mechanism planted (propose (if (< 1 0) (uniform) (perturb (best 1) 2 0.1))))"]
[proposer]
enabled = false
[recombiner]
enabled = false
"#;
    let path = tmp.path().join("dead.toml");
    fs::write(&path, text).unwrap();
    let dir = tmp.path().join("run");
    run_to(&dir, &path, 1);
    let events = fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let dead = events.lines().find(|l| l.contains("\"event\":\"dead-genes\"")).expect("dead genes reported");
    assert!(dead.contains("(uniform)"), "{dead}");
    assert!(!dead.contains("(perturb"), "the live branch is not dead: {dead}");
    let pruned = events.lines().find(|l| l.contains("\"kind\":\"pruned\"")).expect("the dead gene is simplified away");
    assert!(pruned.contains("(propose (perturb (best 1) 2 0.1))"), "{pruned}");
    let checkpoint = fs::read(dir.join("checkpoint.bin")).unwrap();
    let needle = b"(if (< 1 0)";
    assert!(!checkpoint.windows(needle.len()).any(|w| w == needle), "the stored genome still holds the dead gene");
}

#[test]
fn a_run_with_genome_files_resumes_from_another_working_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let scen_dir = tmp.path().join("scen");
    fs::create_dir_all(scen_dir.join("mechs")).unwrap();
    fs::write(scen_dir.join("mechs/mine.mech"), "(mechanism mine (propose (perturb (best 1) 1 0.05)))").unwrap();
    let text = fs::read_to_string(root().join("scenarios/smoke.toml"))
        .unwrap()
        .replace("library = [", "files = [\"mechs/mine.mech\"]\nlibrary = [")
        .replace("reference = \"lib:greedy-keep-discard\"", "reference = \"mechs/mine.mech\"");
    let path = scen_dir.join("files.toml");
    fs::write(&path, text).unwrap();
    let dir = tmp.path().join("run");
    let out = bin()
        .args(["run", path.to_str().unwrap(), "--out", dir.to_str().unwrap(), "--stop-after", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = bin().current_dir(tmp.path()).args(["resume", "run"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("summary.txt").exists());
}

#[test]
fn inherit_seeds_a_new_run_with_the_hall_of_fame_operator_statistics_and_predictor() {
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first");
    run_to(&first, &root().join("scenarios/smoke.toml"), 2);
    let text = fs::read_to_string(root().join("scenarios/smoke.toml"))
        .unwrap()
        .replace("name = \"smoke\"", &format!("name = \"second\"\ninherit = \"{}\"", first.display()))
        .replace("ticks = 6", "ticks = 1");
    let path = tmp.path().join("second.toml");
    fs::write(&path, text).unwrap();
    let second = tmp.path().join("second");
    run_to(&second, &path, 2);
    let lessons_path = first.join("lessons.bin");
    let lessons = outerloop::store::run_dir::decode_lessons(&lessons_path, &fs::read(&lessons_path).unwrap()).unwrap();
    assert!(!lessons.hall_of_fame.is_empty());
    assert!(!lessons.operator_stats.is_empty());
    let events = fs::read_to_string(second.join("events.jsonl")).unwrap();
    let inherited = events.lines().filter(|l| l.contains("\"operator\":\"inherit\"")).count();
    // Hall-of-fame genomes identical to a library seed are deduplicated, the rest enter.
    assert!(inherited >= 1, "no inherited mechanism in {events}");
    let snap = outerloop::store::checkpoint::load(
        &second.join("checkpoint.bin"),
        outerloop::scenario::load(&path).unwrap().hash,
    )
    .unwrap();
    for (d, op, credit) in &lessons.operator_stats {
        let carried = snap.operator_stats.iter().find(|(d2, op2, _)| d2 == d && op2 == op).map(|x| x.2).unwrap();
        assert!(carried.trials >= credit.trials, "credit for {op} under {d:?} was not carried over");
    }
    // The pragmatist's learned predictor travels too: the second run starts from it.
    assert!(lessons.predictor.updates > 0, "the first run's debate learned nothing");
    assert!(snap.predictor.updates >= lessons.predictor.updates, "the predictor was not carried over");
}

/// The printed champion fitness is unbiased by construction: plant a population of equal
/// mechanisms (copies of uniform random search), each verified on its own few episodes
/// as the old verifier did, so the best verified number is inflated by the choice. The
/// report, measured on the report seeds, must still estimate the mechanism's true
/// fitness (estimated independently on many other episodes) within its interval.
#[test]
fn the_reported_champion_fitness_is_not_inflated_by_choosing_the_best_of_many() {
    let Smoke { sc, mut sim, uniform, program, reference, evaluator } = smoke_with_uniform_random();
    let gains_on = |seeds: &[(usize, u64)]| -> Vec<f64> {
        let jobs: Vec<_> = seeds.iter().flat_map(|&(t, s)| [(&program, t, s), (&reference, t, s)]).collect();
        let r = evaluator.run(&jobs).unwrap();
        r.chunks(2).map(|p| evaluator.paired_gains(&p[..1], &p[1..])[0]).collect()
    };
    let mean = |g: &[f64]| g.iter().sum::<f64>() / g.len() as f64;
    let mut best_verified = f64::NEG_INFINITY;
    for i in 0..40u64 {
        let own: Vec<(usize, u64)> = (0..2).flat_map(|t| (0..2).map(move |k| (t, 50_000 + 10 * i + k))).collect();
        let g = gains_on(&own);
        let v = mean(&g);
        best_verified = best_verified.max(v);
        sim.plant(
            10_000 + i,
            prepare(uniform.clone()).unwrap().mechanism,
            Status::Verified,
            Fitness { claimed: Some(v), claimed_episodes: g.clone(), verified: Some(v), verified_episodes: g },
        );
    }
    let truth: Vec<(usize, u64)> = (0..2).flat_map(|t| (0..200).map(move |k| (t, 900_000 + k))).collect();
    let mu = mean(&gains_on(&truth));
    let report = sim.report().unwrap().expect("a verified champion");
    assert_eq!(report.chosen_from, 0, "planted mechanisms were not verified by this run");
    assert_eq!(report.champion.verified, Some(best_verified), "the champion is the best verified");
    let (m, sd) = outerloop::stats::mean_sd(&report.gains);
    let half = outerloop::stats::t95(report.gains.len() - 1) * sd / (report.gains.len() as f64).sqrt();
    assert_eq!(report.gains.len(), 2 * sc.report_seeds as usize);
    assert!((m - mu).abs() <= half, "report {m:+.3} ± {half:.3} misses the true fitness {mu:+.3}");
    assert!(
        best_verified > mu + half,
        "the selection-biased number ({best_verified:+.3}) is inflated beyond the interval around {mu:+.3}, so printing it would fail this test"
    );
}

/// How many times each mechanism was verified, from a run's event log.
fn verifications(dir: &Path) -> std::collections::BTreeMap<u64, usize> {
    let mut n = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(dir.join("events.jsonl")).unwrap().lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        if e["event"] == "verified" {
            *n.entry(e["id"].as_u64().unwrap()).or_default() += 1;
        }
    }
    n
}

#[test]
fn verifier_max_rounds_bounds_how_often_an_elite_is_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let quickstart = std::fs::read_to_string(root().join("scenarios/quickstart.toml")).unwrap();
    let ticks = quickstart.lines().find(|l| l.starts_with("ticks = ")).unwrap();
    let text = quickstart.replace(ticks, "ticks = 20");
    let mut most = Vec::new();
    for rounds in [1, 4] {
        let sc = tmp.path().join(format!("r{rounds}.toml"));
        std::fs::write(&sc, text.replace("[verifier]", &format!("[verifier]\nmax_rounds = {rounds}"))).unwrap();
        let dir = tmp.path().join(format!("run{rounds}"));
        run_to(&dir, &sc, 2);
        most.push(verifications(&dir).into_values().max().unwrap_or(0));
    }
    // Each verification after the first extends by `verifier.seeds` blocks: one round
    // means no extension; four allow up to three more.
    assert_eq!(most[0], 1, "max_rounds = 1 verifies each mechanism once");
    assert!(most[1] > 1 && most[1] <= 4, "max_rounds = 4: at most four verifications, got {}", most[1]);
}

#[test]
fn an_output_folder_that_is_a_file_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("notes.txt");
    std::fs::write(&file, "keep me").unwrap();
    let out = bin()
        .args(["run", root().join("scenarios/smoke.toml").to_str().unwrap(), "--out", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a file, not a folder") && err.contains("--out DIR"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

#[test]
fn run_overrides_equal_the_edited_file_and_are_checked_like_it() {
    let tmp = tempfile::tempdir().unwrap();
    let smoke = root().join("scenarios/smoke.toml");
    let text = std::fs::read_to_string(&smoke).unwrap();
    let edited = text
        .lines()
        .map(|l| {
            if l.starts_with("seed = ") {
                "seed = 5"
            } else if l.starts_with("ticks = ") {
                "ticks = 3"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    // smoke.toml names no genome files, so a copy elsewhere reads the same.
    let file = tmp.path().join("smoke-edited.toml");
    std::fs::write(&file, edited).unwrap();
    let (a, b) = (tmp.path().join("flags"), tmp.path().join("file"));
    let out = bin()
        .args(["run", smoke.to_str().unwrap(), "--out", a.to_str().unwrap(), "--seed", "5", "--ticks", "3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    run_to(&b, &file, 1);
    for f in ["events.jsonl", "metrics.csv", "summary.txt", "lessons.bin"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f}");
    }
    let kept = std::fs::read_to_string(a.join("scenario.toml")).unwrap();
    assert!(kept.contains("seed = 5") && kept.contains("command-line overrides: seed=5, ticks=3"), "{kept}");
    // A bad value is reported like the file's, with the overridden line; a bad flag is usage.
    for (flag, expect) in
        [("inner.seeds=0", "`inner.seeds` = 0 is out of range"), ("inner.seeds", "expected KEY=VALUE")]
    {
        let out = bin()
            .args(["run", smoke.to_str().unwrap(), "--out", tmp.path().join("x").to_str().unwrap(), "--set", flag])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(expect), "{flag}");
    }
    assert!(!tmp.path().join("x").exists(), "nothing written on bad input");
}

/// `proposer.tune_constants`: every structurally new child (and no other) tries that
/// many constant vectors before its claim, keeps the best (never worse than its own on
/// the tuning episodes), is charged for it, and lives on with the tuned genome; a
/// resumed run equals an uninterrupted one, whatever the thread count.
#[test]
fn structurally_new_children_are_judged_with_tuned_constants() {
    let tmp = tempfile::tempdir().unwrap();
    let smoke = fs::read_to_string(root().join("scenarios/smoke.toml")).unwrap();
    let scenario = tmp.path().join("tuned.toml");
    fs::write(&scenario, smoke.replace("[proposer]\n", "[proposer]\ntune_constants = 4\n")).unwrap();
    let whole = tmp.path().join("whole");
    run_to(&whole, &scenario, 2);
    let events: Vec<Event> = fs::read_to_string(whole.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut born = std::collections::BTreeMap::new();
    let mut tuned = 0;
    let mut changed = 0;
    for e in &events {
        match e {
            Event::Born { id, operator, genome, .. } => {
                born.insert(*id, (operator.name(), genome.clone()));
            }
            Event::Tuned { id, tried, spent, before, after, genome, .. } => {
                let (operator, birth_genome) = &born[id];
                assert!(
                    !["mutate-constant", "constant-swarm", "seed", "prune-dead"].contains(operator),
                    "#{id} made by {operator} was tuned"
                );
                assert!(*tried > 1 && *tried <= 4 && *spent > 0.0 && after >= before, "{e:?}");
                tuned += 1;
                if genome != birth_genome {
                    changed += 1;
                    assert!(after > before, "a changed genome must have won: {e:?}");
                    let name = |g: &str| g.split_whitespace().nth(1).map(str::to_string);
                    assert_eq!(name(genome), name(birth_genome), "tuning keeps the name");
                }
            }
            _ => {}
        }
    }
    let structural =
        born.values().filter(|(op, _)| !["mutate-constant", "constant-swarm", "seed"].contains(op)).count();
    assert!(tuned > 0 && changed > 0, "{tuned} tuned, {changed} changed of {structural} structural births");
    // The ancestry holds the tuned genome and keeps the untuned one.
    let ancestry = outerloop::ancestry::Ancestry::from_events(&events);
    for e in &events {
        if let Event::Tuned { id, genome, .. } = e {
            let node = ancestry.mechanism(*id).unwrap();
            assert_eq!(&node.genome, genome);
            let birth = &born[id].1;
            assert_eq!(node.untuned.as_ref(), (genome != birth).then_some(birth));
        }
    }
    // Tuning costs compute: the same run without it spends less.
    let plain = tmp.path().join("plain");
    run_to(&plain, &root().join("scenarios/smoke.toml"), 2);
    let compute = |dir: &Path| -> f64 {
        let csv = fs::read_to_string(dir.join("metrics.csv")).unwrap();
        csv.lines().last().unwrap().rsplit(',').next().unwrap().parse().unwrap()
    };
    assert!(compute(&whole) > compute(&plain), "{} vs {}", compute(&whole), compute(&plain));
    // Stopped after 3 ticks on one thread and resumed: the same bytes.
    let parts = tmp.path().join("parts");
    let out = bin()
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--out",
            parts.to_str().unwrap(),
            "--stop-after",
            "3",
            "--threads",
            "1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = bin().args(["resume", parts.to_str().unwrap(), "--threads", "1"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_same_outputs(&whole, &parts);
}
