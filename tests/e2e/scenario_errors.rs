//! Bad scenarios and damaged run folders through the real binary: each must exit with
//! code 2 and one clear error naming the file (with `line:col` inside a TOML file), the
//! specific message and a hint, without a panic, and must leave every existing file
//! exactly as it was. Also keeps `scenarios/README.md` in step with the scenario keys.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use outerloop::scenario::file::{
    DebaterFile, InnerFile, LlmFile, PopulationFile, ProposerFile, RecombinerFile, ScenarioFile, SeedsFile,
    VerifierFile,
};
use outerloop::scenario::keys::{KEYS, SECTIONS, keys_markdown};
use outerloop::store::checkpoint;

use crate::serde_keys::{dotted_keys, fields_of};

const BIN: &str = env!("CARGO_BIN_EXE_outerloop");

/// A small, valid scenario (two ticks of a 2-D task: a run takes a few milliseconds).
/// Bad cases are made from it by replacing one piece, so their line numbers are known.
const BASE: &str = r#"# A tiny scenario for error tests.
name = "tiny"
seed = 3
ticks = 2
reference = "lib:greedy-keep-discard"

[population]
size = 4
elites = 1

[inner]
tasks = ["bbob-f1-i1-d2"]
budget = 20
seeds = 1

[seeds]
library = ["uniform-random", "one-plus-one-es"]

[proposer]
children_per_tick = 2

[verifier]
seeds = 1
"#;

// ---------------------------------------------------------------------------------------
// Helpers

/// Run the binary in `cwd`.
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(BIN).current_dir(cwd).args(args).output().expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Number of `error` headings in a report.
fn error_headings(report: &str) -> usize {
    report.lines().filter(|l| l.starts_with("error")).count()
}

/// `BASE` with `old` (which must occur exactly once) replaced by `new`.
fn base_with(old: &str, new: &str) -> String {
    assert_eq!(BASE.matches(old).count(), 1, "`{old}` must occur once in BASE");
    BASE.replacen(old, new, 1)
}

/// 1-based line and column of the first occurrence of `needle` in `text`, plus `skip`
/// characters.
fn loc(text: &str, needle: &str, skip: usize) -> (usize, usize) {
    let at = text.find(needle).unwrap_or_else(|| panic!("`{needle}` not in the scenario")) + skip;
    let before = &text[..at];
    (before.matches('\n').count() + 1, before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1)
}

/// Every file and folder under `dir` (relative path -> length and xxh3 of the contents;
/// folders map to `None`).
fn tree(dir: &Path) -> BTreeMap<PathBuf, Option<(u64, u64)>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<(u64, u64)>>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).expect("folder readable").map(|e| e.expect("entry")).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            if path.is_dir() {
                out.insert(rel, None);
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).expect("file readable");
                out.insert(rel, Some((bytes.len() as u64, xxhash_rust::xxh3::xxh3_64(&bytes))));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Run `args` in `cwd` and assert a bad-input report: exit code 2, exactly one error
/// heading, a hint, no panic, nothing on stdout, each needle present, and no file or
/// folder under `cwd` created, changed or removed.
fn expect_bad_input(cwd: &Path, args: &[&str], needles: &[&str], what: &str) -> String {
    let before = tree(cwd);
    let out = run_in(cwd, args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{what}: exit status {:?}\n{err}", out.status);
    assert!(!err.contains("panicked"), "{what}: panic\n{err}");
    assert_eq!(error_headings(&err), 1, "{what}: expected one error, got\n{err}");
    assert!(err.contains("hint:"), "{what}: no hint\n{err}");
    assert!(out.stdout.is_empty(), "{what}: stdout {:?}", String::from_utf8_lossy(&out.stdout));
    for n in needles {
        assert!(err.contains(n), "{what}: `{n}` not in\n{err}");
    }
    assert_eq!(tree(cwd), before, "{what}: files changed\n{err}");
    err
}

/// Write `text` as `scenario.toml` in a fresh folder, `run` it, and expect one error
/// located at `scenario.toml:LINE:COL:` (the column only when given) with `message` and
/// `hint`.
fn bad_scenario(what: &str, text: impl AsRef<[u8]>, at: (usize, Option<usize>), message: &str, hint: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("scenario.toml"), text.as_ref()).expect("scenario written");
    let located = match at {
        (line, Some(col)) => format!("scenario.toml:{line}:{col}: "),
        (line, None) => format!("scenario.toml:{line}:"),
    };
    let err = expect_bad_input(dir.path(), &["run", "scenario.toml", "--out", "out"], &[&located, message, hint], what);
    assert!(err.starts_with(&format!("error: {located}")), "{what}: the heading is not first\n{err}");
    assert!(!dir.path().join("out").exists(), "{what}: a run folder was created");
}

/// A finished run of `BASE` in `dir/run` (optionally stopped after `stop_after` ticks).
fn make_run(dir: &Path, stop_after: Option<u32>) -> PathBuf {
    std::fs::write(dir.join("tiny.toml"), BASE).expect("scenario written");
    let stop = stop_after.map(|n| n.to_string());
    let mut args = vec!["run", "tiny.toml", "--out", "run"];
    if let Some(s) = &stop {
        args.extend(["--stop-after", s]);
    }
    let out = run_in(dir, &args);
    assert!(out.status.success(), "the base scenario runs: {}", stderr(&out));
    let run = dir.join("run");
    assert!(run.join("checkpoint.bin").exists() && run.join("events.jsonl").exists());
    run
}

/// Make a run, damage it with `damage`, then expect `outerloop resume run` to fail with
/// the given needles and leave every file (the damaged ones included) as they were.
fn bad_resume(what: &str, damage: impl FnOnce(&Path), needles: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = make_run(dir.path(), None);
    damage(&run);
    expect_bad_input(dir.path(), &["resume", "run"], needles, what);
}

fn patch(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).expect("file readable");
    f(&mut bytes);
    std::fs::write(path, bytes).expect("file written");
}

// ---------------------------------------------------------------------------------------
// Reading the scenario file

#[test]
fn missing_scenario_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    expect_bad_input(
        dir.path(),
        &["run", "nope.toml"],
        &["error: nope.toml: no such file", "check the path"],
        "missing file",
    );
}

#[test]
fn scenario_not_utf8() {
    let mut bytes = BASE.as_bytes().to_vec();
    bytes.splice(2..2, [0xff, 0xfe]);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("scenario.toml"), bytes).expect("written");
    expect_bad_input(
        dir.path(),
        &["run", "scenario.toml"],
        &["error: scenario.toml: not valid UTF-8 text (byte 2)", "save the file as UTF-8"],
        "not utf-8",
    );
}

#[test]
fn toml_syntax_error() {
    let text = base_with("ticks = 2", "ticks = = 2");
    bad_scenario("syntax", &text, loc_some(&text, "= 2"), "extra `=`", "not valid TOML");
}

#[test]
fn unknown_top_level_key() {
    let text = base_with("seed = 3", "seed = 3\ntick = 5");
    bad_scenario("unknown top key", &text, loc_some(&text, "tick ="), "unknown field `tick`", "fix its spelling");
}

#[test]
fn unknown_key_in_table() {
    let text = base_with("elites = 1", "elites = 1\nelite = 2");
    bad_scenario("unknown table key", &text, loc_some(&text, "elite ="), "unknown field `elite`", "fix its spelling");
}

#[test]
fn missing_required_key() {
    let text = base_with("[inner]\ntasks = [\"bbob-f1-i1-d2\"]\nbudget = 20\nseeds = 1\n", "");
    bad_scenario("missing inner", &text, (1, Some(1)), "missing field `inner`", "add the key");
}

#[test]
fn missing_required_key_in_table() {
    let text = base_with("budget = 20\n", "");
    bad_scenario("missing budget", &text, (11, None), "missing field `budget`", "add the key");
}

#[test]
fn wrong_type() {
    let text = base_with("ticks = 2", "ticks = \"ten\"");
    bad_scenario("ticks string", &text, (4, Some(9)), "invalid type: string \"ten\"", "type");
}

#[test]
fn negative_seed() {
    let text = base_with("seed = 3", "seed = -3");
    bad_scenario("negative seed", &text, (3, Some(8)), "-3", "type");
}

// ---------------------------------------------------------------------------------------
// Values out of range

#[test]
fn zero_ticks() {
    let text = base_with("ticks = 2", "ticks = 0");
    bad_scenario("ticks 0", &text, (4, Some(9)), "`ticks` = 0 is out of range", "from 1 to");
}

#[test]
fn elites_not_below_size() {
    let text = base_with("elites = 1", "elites = 4");
    bad_scenario("elites", &text, (9, Some(10)), "`population.elites` = 4 leaves no room", "below population.size");
}

#[test]
fn elites_default_not_below_small_size() {
    // `elites` is not written (default 4), so the error points at `size`.
    let text = base_with("size = 4\nelites = 1\n", "size = 3\n");
    bad_scenario("default elites", &text, (8, Some(8)), "leaves no room", "below population.size");
}

#[test]
fn unknown_task_name() {
    let text = base_with("tasks = [\"bbob-f1-i1-d2\"]", "tasks = [\"bbob-f1-i1-d2\", \"sphere\"]");
    bad_scenario("unknown task", &text, loc_some(&text, "\"sphere\""), "unknown task `sphere`", "bbob-f<1..24>");
}

#[test]
fn an_unknown_episode_score_is_located() {
    let text = base_with("budget = 20\n", "budget = 20\nscore = \"auc\"\n");
    bad_scenario(
        "unknown score",
        &text,
        loc_some(&text, "\"auc\""),
        "`inner.score` = \"auc\"",
        "\"final-regret\" or \"aocc\"",
    );
}

#[test]
fn held_out_tasks_are_checked_where_they_are_named() {
    let at_list = |text: &str| {
        let (line, col) = loc(text, "held_out = ", "held_out = ".len());
        (line, Some(col))
    };
    let held =
        |list: &str| base_with("[verifier]\nseeds = 1\n", &format!("[verifier]\nseeds = 1\nheld_out = {list}\n"));
    let text = held("[\"bbob-f1-i101-d2\", \"sphere\"]");
    bad_scenario("unknown held-out task", &text, loc_some(&text, "\"sphere\""), "unknown task `sphere`", "task names:");
    let text = held("[\"bbob-f1-i1-d2\"]");
    bad_scenario(
        "a held-out task the run evolves on",
        &text,
        at_list(&text),
        "names `bbob-f1-i1-d2`, a task the run evolves on",
        "tasks the run never sees",
    );
    let text = held("[\"bbob-f1-i101-d2\", \"gpt-table\"]");
    bad_scenario(
        "held-out tasks in two units",
        &text,
        at_list(&text),
        "count budgets in different units",
        "of one kind",
    );
    // A suite is its own set, checked where it is named; the tasks named directly are one
    // set, wherever the first of them is.
    let text =
        held("[\"suite:gpt-heldout\", \"bbob-f1-i101-d2\", \"suite:bbob-heldout-functions-d5\", \"bbob-f3-i101-d2\"]");
    let sc = outerloop::scenario::parse(std::path::Path::new("sets.toml"), &text).unwrap();
    let sets: Vec<(&str, usize)> = sc.held_out.iter().map(|h| (h.entry.as_str(), h.tasks.len())).collect();
    assert_eq!(
        sets,
        [("suite:gpt-heldout", 3), ("bbob-f1-i101-d2, bbob-f3-i101-d2", 2), ("suite:bbob-heldout-functions-d5", 25)]
    );
    let text = held("[\"bbob-f1-i101-d2\", \"suite:bbob-train-d2\"]");
    bad_scenario("an unknown suite", &text, loc_some(&text, "\"suite:bbob-train-d2\""), "no such suite", "task names:");
    let text = held("[\"bbob-f1-i101-d2\"]\nheld_out_seeds = 0");
    let (line, col) = loc(&text, "held_out_seeds = 0", "held_out_seeds = ".len());
    bad_scenario("no held-out episodes", &text, (line, Some(col)), "held_out_seeds", "1 to 10000");
}

#[test]
fn bad_bbob_task_name() {
    let text = base_with("tasks = [\"bbob-f1-i1-d2\"]", "tasks = [\"bbob-f25-i1-d2\"]");
    bad_scenario("bbob f25", &text, loc_some(&text, "\"bbob-f25"), "out of range 1..=24", "task names:");
}

#[test]
fn empty_task_list() {
    let text = base_with("tasks = [\"bbob-f1-i1-d2\"]", "tasks = []");
    bad_scenario("no tasks", &text, loc_some(&text, "[]"), "`inner.tasks` is empty", "name at least one task");
}

#[test]
fn negative_budget() {
    let text = base_with("budget = 20", "budget = -5");
    bad_scenario("budget", &text, loc_some(&text, "-5"), "`inner.budget` = -5 is out of range", "use a number");
}

#[test]
fn audit_rate_above_one() {
    let text = format!("{BASE}\n[debater]\naudit_rate = 1.5\n");
    bad_scenario("audit", &text, loc_some(&text, "1.5"), "`debater.audit_rate` = 1.5 is out of range", "from 0 to 1");
}

#[test]
fn constant_swarm_above_the_recombiners_slots() {
    let text = format!("{BASE}\n[recombiner]\nchildren_per_tick = 1\nconstant_swarm = 3\n");
    bad_scenario(
        "constant swarm",
        &text,
        {
            let (line, col) = loc(&text, "constant_swarm = 3", "constant_swarm = ".len());
            (line, Some(col))
        },
        "`recombiner.constant_swarm` = 3 is more than `recombiner.children_per_tick` = 1",
        "use 0 to 1, or raise `children_per_tick`",
    );
}

#[test]
fn unknown_operator_set() {
    let text = base_with("children_per_tick = 2", "children_per_tick = 2\noperators = \"mutations\"");
    bad_scenario(
        "operators",
        &text,
        loc_some(&text, "\"mutations\""),
        "`proposer.operators` = \"mutations\" is not an operator set",
        "\"all\", \"constants\", \"structure\"",
    );
}

#[test]
fn diverge_modifier_out_of_range() {
    let text = base_with("tasks = [\"bbob-f1-i1-d2\"]", "tasks = [\"bbob-f1-i1-d2+diverge1.5\"]");
    bad_scenario("diverge", &text, loc_some(&text, "\"bbob-f1-i1-d2+"), "a decimal in (0, 1)", "+diverge<P>");
}

#[test]
fn no_seed_mechanisms() {
    let text = base_with("library = [\"uniform-random\", \"one-plus-one-es\"]", "library = []");
    bad_scenario("no seeds", &text, (1, Some(1)), "no seed mechanisms", "library = [\"all\"]");
}

// ---------------------------------------------------------------------------------------
// Genome specs

#[test]
fn unknown_library_mechanism() {
    let text = base_with("\"one-plus-one-es\"", "\"one-plus-two-es\"");
    bad_scenario(
        "unknown lib",
        &text,
        loc_some(&text, "\"one-plus-two-es\""),
        "no library mechanism named `one-plus-two-es`",
        "library mechanisms: uniform-random",
    );
}

#[test]
fn unknown_library_reference() {
    let text = base_with("lib:greedy-keep-discard", "lib:greedy");
    bad_scenario("unknown lib ref", &text, loc_some(&text, "\"lib:greedy\""), "no library mechanism named", "tabu");
}

#[test]
fn genome_file_missing() {
    let text = with_seed_key("files = [\"mechs/gone.mech\"]");
    bad_scenario(
        "missing genome file",
        &text,
        loc_some(&text, "\"mechs/gone.mech\""),
        "cannot read genome file",
        "relative to the scenario file",
    );
}

#[test]
fn genome_file_invalid() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("bad.mech"), "(mechanism m\n  (propose (uniform))))\n").expect("written");
    let text = with_seed_key("files = [\"bad.mech\"]");
    std::fs::write(dir.path().join("scenario.toml"), &text).expect("written");
    let (line, col) = loc(&text, "\"bad.mech\"", 0);
    expect_bad_input(
        dir.path(),
        &["run", "scenario.toml"],
        &[&format!("scenario.toml:{line}:{col}: invalid genome ("), "bad.mech 2:23): unmatched `)`", "hint:"],
        "bad genome file",
    );
}

#[test]
fn inline_genome_type_error() {
    let text = with_seed_key("inline = [\"(mechanism m (propose (uniform)) (filter (+ 1 2)))\"]");
    bad_scenario(
        "inline type error",
        &text,
        loc_some(&text, "\"(mechanism m"),
        "invalid genome (inline[0] 1:42): expected a bool here, found a real",
        "produces a bool",
    );
}

#[test]
fn reference_not_a_genome() {
    let text = base_with("\"lib:greedy-keep-discard\"", "\"(propose (uniform))\"");
    bad_scenario(
        "bad reference",
        &text,
        loc_some(&text, "\"(propose"),
        "invalid genome (reference 1:1)",
        "(mechanism NAME",
    );
}

#[test]
fn bad_run_name() {
    let text = base_with("name = \"tiny\"", "name = \"a/b\"");
    bad_scenario("name a/b", &text, (2, Some(8)), "run name `a/b` cannot name a folder", "letters, digits");
}

/// `BASE` with one more line in its `[seeds]` table.
fn with_seed_key(line: &str) -> String {
    base_with("[seeds]\n", &format!("[seeds]\n{line}\n"))
}

/// `Some` line and column of `needle` in `text`.
fn loc_some(text: &str, needle: &str) -> (usize, Option<usize>) {
    let (line, col) = loc(text, needle, 0);
    (line, Some(col))
}

// ---------------------------------------------------------------------------------------
// Run folders

#[test]
fn run_into_a_folder_that_holds_a_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    make_run(dir.path(), None);
    expect_bad_input(
        dir.path(),
        &["run", "tiny.toml", "--out", "run"],
        &["error: run: this folder already holds a run", "outerloop resume run"],
        "run over a run",
    );
    // Also when the earlier run was stopped part-way.
    let dir = tempfile::tempdir().expect("temp dir");
    make_run(dir.path(), Some(1));
    expect_bad_input(
        dir.path(),
        &["run", "tiny.toml", "--out", "run"],
        &["already holds a run"],
        "run over a stopped run",
    );
}

#[test]
fn resume_without_scenario() {
    bad_resume(
        "no scenario.toml",
        |run| std::fs::remove_file(run.join("scenario.toml")).expect("removed"),
        &["error: run: not a run folder (no scenario.toml)", "hint:"],
    );
    let dir = tempfile::tempdir().expect("temp dir");
    expect_bad_input(dir.path(), &["resume", "nowhere"], &["error: nowhere: not a run folder"], "resume nowhere");
}

#[test]
fn resume_truncated_checkpoint() {
    bad_resume(
        "truncated checkpoint",
        |run| patch(&run.join("checkpoint.bin"), |b| b.truncate(b.len() / 2)),
        &["error: run/checkpoint.bin: the checkpoint is truncated or corrupt", "start the run again"],
    );
    bad_resume(
        "checkpoint cut inside the header",
        |run| patch(&run.join("checkpoint.bin"), |b| b.truncate(20)),
        &["run/checkpoint.bin: the checkpoint is truncated or corrupt", "start the run again"],
    );
    bad_resume(
        "checkpoint cut inside the magic",
        |run| patch(&run.join("checkpoint.bin"), |b| b.truncate(9)),
        &["run/checkpoint.bin: the checkpoint is truncated or corrupt", "start the run again"],
    );
    bad_resume(
        "empty checkpoint",
        |run| patch(&run.join("checkpoint.bin"), Vec::clear),
        &["run/checkpoint.bin: the checkpoint is truncated or corrupt", "start the run again"],
    );
}

#[test]
fn resume_corrupt_checkpoint_body() {
    bad_resume(
        "flipped body byte",
        |run| {
            patch(&run.join("checkpoint.bin"), |b| {
                let last = b.len() - 1;
                b[last] ^= 0x40;
            })
        },
        &["run/checkpoint.bin: the checkpoint is truncated or corrupt (body hash mismatch)", "hint:"],
    );
}

#[test]
fn resume_checkpoint_with_wrong_magic() {
    bad_resume(
        "bad magic",
        |run| patch(&run.join("checkpoint.bin"), |b| b[0] = b'X'),
        &["error: run/checkpoint.bin: not an outerloop checkpoint (bad magic bytes)", "hint:"],
    );
}

#[test]
fn resume_checkpoint_of_another_version() {
    let other = checkpoint::FORMAT_VERSION + 1;
    bad_resume(
        "other version",
        |run| patch(&run.join("checkpoint.bin"), |b| b[16..20].copy_from_slice(&other.to_le_bytes())),
        &[
            &format!("run/checkpoint.bin: checkpoint format version {other}, but this build reads version"),
            "the outerloop version that wrote it",
        ],
    );
}

#[test]
fn resume_after_scenario_was_edited() {
    bad_resume(
        "edited scenario",
        |run| patch(&run.join("scenario.toml"), |b| b.extend_from_slice(b"max_per_tick = 1\n")),
        &[
            "run/checkpoint.bin: the checkpoint belongs to a different scenario",
            "scenario.toml in the run folder was edited",
        ],
    );
}

#[test]
fn resume_after_scenario_was_broken() {
    bad_resume(
        "broken scenario copy",
        |run| patch(&run.join("scenario.toml"), |b| b.splice(0..0, b"ticks = 3\n".iter().copied()).for_each(drop)),
        &["run/scenario.toml:5:1: ", "duplicate key", "hint:"],
    );
}

#[test]
fn resume_with_short_event_log() {
    bad_resume(
        "short events",
        |run| patch(&run.join("events.jsonl"), |b| b.truncate(b.len() - 10)),
        &["error: run/events.jsonl: the event log has", "but the checkpoint recorded", "start the run again"],
    );
}

#[test]
fn resume_without_event_log() {
    bad_resume(
        "no events",
        |run| std::fs::remove_file(run.join("events.jsonl")).expect("removed"),
        &["error: run/events.jsonl: the event log is missing", "start the run again"],
    );
}

#[test]
fn inherit_from_a_run_without_lessons() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A run stopped part-way has a checkpoint but no lessons yet.
    make_run(dir.path(), Some(1));
    let text = base_with("ticks = 2", "ticks = 2\ninherit = \"run\"");
    std::fs::write(dir.path().join("child.toml"), text).expect("written");
    expect_bad_input(
        dir.path(),
        &["run", "child.toml", "--out", "child"],
        &["error: run/lessons.bin: cannot read the inherited run's lessons", "inherit names a finished run folder"],
        "inherit without lessons",
    );
}

#[test]
fn inherit_from_a_damaged_lessons_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    make_run(dir.path(), None);
    patch(&dir.path().join("run/lessons.bin"), |b| b.truncate(b.len() / 3));
    let text = base_with("ticks = 2", "ticks = 2\ninherit = \"run\"");
    std::fs::write(dir.path().join("child.toml"), text).expect("written");
    expect_bad_input(
        dir.path(),
        &["run", "child.toml", "--out", "child"],
        &["error: run/lessons.bin: not a lessons file", "inherit names a finished run folder"],
        "inherit damaged lessons",
    );
}

#[test]
fn zero_threads() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("tiny.toml"), BASE).expect("written");
    expect_bad_input(
        dir.path(),
        &["run", "tiny.toml", "--out", "run", "--threads", "0"],
        &["error: --threads must be at least 1", "hint:"],
        "run --threads 0",
    );
    let run = make_run(dir.path(), Some(1));
    assert!(run.exists());
    expect_bad_input(
        dir.path(),
        &["resume", "run", "--threads", "0"],
        &["--threads must be at least 1"],
        "resume --threads 0",
    );
}

#[test]
fn inspect_a_non_run_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("plain")).expect("created");
    std::fs::write(dir.path().join("plain/notes.txt"), "hello").expect("written");
    expect_bad_input(
        dir.path(),
        &["inspect", "plain"],
        &["error: plain: not a run folder (no scenario.toml)", "hint:"],
        "inspect plain folder",
    );
}

#[test]
fn inspect_a_damaged_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = make_run(dir.path(), None);
    patch(&run.join("checkpoint.bin"), |b| b.truncate(b.len() - 1));
    expect_bad_input(
        dir.path(),
        &["inspect", "run"],
        &["run/checkpoint.bin: the checkpoint is truncated"],
        "inspect damaged",
    );
}

#[test]
fn a_good_run_resumes_and_inspects() {
    // The helpers' baseline: the undamaged fixtures are accepted.
    let dir = tempfile::tempdir().expect("temp dir");
    make_run(dir.path(), Some(1));
    let out = run_in(dir.path(), &["resume", "run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_in(dir.path(), &["inspect", "run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for f in
        ["scenario.toml", "checkpoint.bin", "events.jsonl", "metrics.csv", "ancestry.dot", "lessons.bin", "summary.txt"]
    {
        assert!(dir.path().join("run").join(f).is_file(), "{f} missing");
    }
}

// ---------------------------------------------------------------------------------------
// scenarios/README.md documents every key

/// A scenario that sets every key (it must stay valid).
const FULL: &str = r#"
name = "every-key"
seed = 11
ticks = 3
reference = "lib:greedy-keep-discard"
out = "populations/every-key-elsewhere"
inherit = "populations/quickstart"

[population]
size = 12
elites = 3
hall_of_fame = 5

[inner]
tasks = ["bbob-f1-i1-d3", "bbob-f15-i2-d3-mixed-noise0.01", "probe"]
budget = 50
seeds = 2
min_seeds = 1
aggregate = "worst-task"
score = "aocc"
self_heal = false

[seeds]
library = ["uniform-random", "tabu-search"]
files = ["mechanisms/cross-entropy.mech"]
inline = ["(mechanism my-random (propose (uniform)))"]

[proposer]
enabled = true
children_per_tick = 3
tournament = 2
operators = "structure"
tune_constants = 3

[proposer.llm]
endpoint = "http://127.0.0.1:8080/v1"
model = "mechanism-writer"
temperature = 0.7
max_tokens = 2048
timeout = 30
api_key_env = "OUTERLOOP_TEST_KEY"
share = 0.25

[debater]
enabled = true
audit_rate = 0.5
novelty_threshold = 0.2
extra = 2
max_extra = 4

[verifier]
enabled = true
seeds = 4
max_per_tick = 1
report_seeds = 5
max_rounds = 2
held_out = ["bbob-f1-i101-d3"]
held_out_seeds = 3

[recombiner]
enabled = false
children_per_tick = 2
adaptive = false
constant_swarm = 1

[objectives.toy]
command = ["sh", "-c", "echo '{\"score\": 1}'"]
fidelities = [0.5, 1.0]
[objectives.toy.space]
x = { linear = [0, 1] }
"#;

/// The keys `ScenarioFile` accepts, from its derived `Deserialize` impls.
fn keys_of_scenario_file() -> BTreeSet<String> {
    let tables: [(&str, &[&str]); 7] = [
        ("population", fields_of::<PopulationFile>()),
        ("inner", fields_of::<InnerFile>()),
        ("seeds", fields_of::<SeedsFile>()),
        ("proposer", fields_of::<ProposerFile>()),
        ("debater", fields_of::<DebaterFile>()),
        ("verifier", fields_of::<VerifierFile>()),
        ("recombiner", fields_of::<RecombinerFile>()),
    ];
    let mut keys = dotted_keys(fields_of::<ScenarioFile>(), &tables);
    // `[proposer.llm]` is a table within a section.
    keys.extend(fields_of::<LlmFile>().iter().map(|f| format!("proposer.llm.{f}")));
    keys
}

/// Dotted keys set in a TOML text.
fn keys_in_toml(text: &str) -> BTreeSet<String> {
    let table: toml::Table = toml::from_str(text).expect("valid TOML");
    let mut keys = BTreeSet::new();
    for (k, v) in &table {
        match v {
            // Its tables are named by the user, not keys of the format.
            toml::Value::Table(_) if k == "objectives" => {
                keys.insert(k.clone());
            }
            toml::Value::Table(t) => {
                for (f, inner) in t {
                    keys.insert(format!("{k}.{f}"));
                    // A table within a section (`[proposer.llm]`): its keys too.
                    if let toml::Value::Table(sub) = inner {
                        keys.extend(sub.keys().map(|g| format!("{k}.{f}.{g}")));
                    }
                }
            }
            _ => {
                keys.insert(k.clone());
            }
        }
    }
    keys
}

/// The README's key tables: `(section, key) -> default cell`. A section is a `###`
/// heading naming a table (`` `[population]` ``) or the top level; a key row is a
/// Markdown table row whose first cell is a backticked key.
fn readme_keys(readme: &str) -> BTreeMap<String, String> {
    let mut section: Option<String> = None;
    let mut keys = BTreeMap::new();
    for line in readme.lines() {
        if let Some(head) = line.strip_prefix("### ") {
            section = if head.contains("Top-level keys") {
                Some(String::new())
            } else {
                head.split('`')
                    .nth(1)
                    .and_then(|s| s.strip_prefix('['))
                    .and_then(|s| s.strip_suffix(']'))
                    .map(str::to_string)
            };
        } else if line.starts_with("## ") {
            section = None;
        } else if let (Some(sec), Some(row)) = (&section, line.strip_prefix("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let key = row.split('`').next().unwrap_or_default();
            let dotted = if sec.is_empty() { key.to_string() } else { format!("{sec}.{key}") };
            let default = cells.get(3).copied().unwrap_or_default().to_string();
            assert!(keys.insert(dotted.clone(), default).is_none(), "`{dotted}` documented twice");
        }
    }
    keys
}

fn read_repo_file(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn readme_documents_every_scenario_key() {
    let listed: BTreeSet<String> = KEYS.iter().map(|k| k.key.to_string()).collect();
    assert_eq!(
        keys_of_scenario_file(),
        listed,
        "ScenarioFile's keys and scenario::keys::KEYS differ: update KEYS, FULL and the README"
    );
    // The README's key tables are KEYS, word for word.
    let readme = read_repo_file("scenarios/README.md");
    for section in SECTIONS {
        let table = keys_markdown(section);
        assert!(readme.contains(&table), "scenarios/README.md lacks the current `[{section}]` table:\n{table}");
    }
    assert_eq!(keys_in_toml(FULL), listed, "FULL must set every key");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let parsed = outerloop::scenario::parse(&manifest.join("scenarios/every-key.toml"), FULL);
    if let Err(e) = &parsed {
        panic!("FULL does not parse: {}", outerloop::cli::report::render_input(e));
    }
    let documented: BTreeSet<String> = readme_keys(&read_repo_file("scenarios/README.md")).into_keys().collect();
    let missing: Vec<_> = listed.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&listed).collect();
    assert!(missing.is_empty(), "keys missing from scenarios/README.md: {missing:?}");
    assert!(stale.is_empty(), "scenarios/README.md documents keys that do not exist: {stale:?}");
}

#[test]
fn readme_defaults_match_the_code() {
    let minimal = "name = \"m\"\nseed = 1\nticks = 1\nreference = \"lib:uniform-random\"\n\
                   [inner]\ntasks = [\"probe\"]\nbudget = 10\n[seeds]\nlibrary = [\"all\"]\n";
    let sc = outerloop::scenario::parse(Path::new("m.toml"), minimal).expect("the minimal scenario parses");
    let actual: BTreeMap<&str, String> = [
        ("out", format!("{}", sc.out.display())),
        ("population.size", sc.population_size.to_string()),
        ("population.elites", sc.elites.to_string()),
        ("population.hall_of_fame", sc.hall_of_fame.to_string()),
        ("verifier.max_rounds", sc.verify_rounds.to_string()),
        ("inner.seeds", sc.inner_seeds.to_string()),
        ("proposer.enabled", sc.proposer_enabled.to_string()),
        ("inner.score", format!("\"{}\"", sc.score.name())),
        ("proposer.children_per_tick", sc.children_per_tick.to_string()),
        ("proposer.tournament", sc.tournament.to_string()),
        ("proposer.operators", format!("\"{}\"", sc.operators.name())),
        ("proposer.tune_constants", sc.tune_constants.to_string()),
        ("inner.self_heal", (sc.execution == outerloop::inner::FaultPolicy::SelfHealing).to_string()),
        ("debater.enabled", sc.debater_enabled.to_string()),
        ("debater.audit_rate", sc.audit_rate.to_string()),
        ("debater.novelty_threshold", sc.novelty_threshold.to_string()),
        ("verifier.enabled", sc.verifier_enabled.to_string()),
        ("verifier.seeds", sc.verify_seeds.to_string()),
        ("verifier.max_per_tick", sc.verify_per_tick.to_string()),
        ("verifier.held_out", format!("{:?}", sc.held_out)),
        ("verifier.held_out_seeds", sc.held_out_seeds.to_string()),
        ("recombiner.enabled", sc.recombiner_enabled.to_string()),
        ("recombiner.children_per_tick", sc.crossover_per_tick.to_string()),
        ("recombiner.constant_swarm", sc.constant_swarm.to_string()),
    ]
    .into_iter()
    .collect();
    let doc = |key: &str| KEYS.iter().find(|k| k.key == key).unwrap_or_else(|| panic!("`{key}` not in KEYS"));
    for (key, value) in &actual {
        let cell = doc(key).default;
        let documented = cell.split('`').nth(1).unwrap_or_default().replace("<name>", "m");
        assert_eq!(&documented, value, "the documented default of `{key}` is `{cell}`, the code's is {value}");
    }
    for key in ["name", "seed", "ticks", "reference", "inner.tasks", "inner.budget"] {
        assert!(doc(key).default.contains("required"), "`{key}` must be documented as required");
    }
}

#[test]
fn readme_lists_shipped_scenarios_and_library() {
    let readme = read_repo_file("scenarios/README.md");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for entry in std::fs::read_dir(&dir).expect("scenarios/ readable") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        if name.ends_with(".toml") {
            assert!(readme.contains(&format!("`{name}`")), "scenarios/{name} is not listed in scenarios/README.md");
            let path = dir.join(&name);
            let text = std::fs::read_to_string(&path).expect("readable");
            if outerloop::swarm::is_swarm_scenario(&text) {
                // A model-swarm scenario (`kind = "model-swarm"`) has its own format.
                if let Err(e) = outerloop::swarm::scenario::parse(&path, &text) {
                    panic!("scenarios/{name} does not parse: {}", outerloop::cli::report::render_input(&e));
                }
            } else if let Err(e) = outerloop::scenario::parse(&path, &text) {
                panic!("scenarios/{name} does not parse: {}", outerloop::cli::report::render_input(&e));
            }
        }
    }
    for (name, _) in outerloop::genome::library::LIBRARY {
        assert!(readme.contains(&format!("`{name}`")), "library mechanism {name} is not listed in scenarios/README.md");
    }
}
