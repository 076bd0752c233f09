//! Model swarms end to end with tiny models (well under a second a run): checkpoints
//! reload bit-identically, the lineage of the global best reaches the experts, the same
//! scenario gives the same global best whatever the thread count, the CLI reaches it
//! through `run` and `swarm`, bad scenarios exit with code 2 and a located message, and
//! `scenarios/README.md` documents every model-swarm key.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use outerloop::exec::{Executor, Workers};
use outerloop::swarm::report::SwarmReport;
use outerloop::swarm::scenario::{
    BaselinesFile, ExpertsFile, KEYS, ModelFile, RoutingFile, SwarmFile, SwarmTable, TargetFile, keys_markdown, parse,
};
use outerloop::swarm::tasks::items;
use outerloop::swarm::utility::score_flat;
use outerloop::swarm::weights::{digest, load};

use crate::serde_keys::{dotted_keys, fields_of};

const BIN: &str = env!("CARGO_BIN_EXE_outerloop");

/// A tiny scenario: three experts of a one-block width-16 model, two seeds, four swarm
/// iterations.
pub const TINY: &str = r#"kind = "model-swarm"
name = "tiny"
seed = 5
seeds = 2

[model]
context = 40
depth = 1
width = 16
heads = 2

[experts]
skills = ["copy", "add", "recall"]
corpus_bytes = 20000
pretrain_steps = 20
finetune_steps = 10
batch_tokens = 256

[target]
compose = ["copy", "add"]
valid_items = 30
test_items = 40

[swarm]
grow = 2
max_iters = 4
"#;

fn run_tiny(dir: &Path, threads: usize) -> SwarmReport {
    let sc = parse(Path::new("tiny.toml"), TINY).expect("valid scenario");
    outerloop::swarm::run::run(&sc, dir, &Workers { executor: Executor::local(), threads }, &|_| {})
        .expect("the run succeeds")
}

fn bin(cwd: &Path, args: &[&str]) -> Output {
    Command::new(BIN).current_dir(cwd).args(args).output().expect("the binary runs")
}

// ---------------------------------------------------------------------------------------
// Checkpoints, lineage, determinism

#[test]
fn checkpoints_reload_bit_identically_and_the_best_descends_from_the_experts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let report = run_tiny(&dir, 2);
    let sc = parse(Path::new("tiny.toml"), TINY).unwrap();
    assert_eq!(report.seeds.len(), 2);
    for r in &report.seeds {
        let sub = dir.join(format!("seed-{}", r.index));
        let back = load(sc.model, &sub.join("swarm-best.safetensors")).expect("reloads");
        assert_eq!(digest(&back), r.best_digest);
        assert!(back.iter().zip(&r.best_weights).all(|(a, b)| a.to_bits() == b.to_bits()));
        // The reloaded model scores exactly what the report says.
        let test = items(&sc.compose, sc.test_items, r.seed, 1);
        let swarm = r.methods.iter().find(|m| m.name == "model swarm").unwrap();
        assert_eq!(score_flat(sc.model, &back, &test).unwrap().bpb(), swarm.test_bpb);
        for f in ["base", "expert-copy", "expert-add", "expert-recall", "soup", "task-arithmetic", "ties"] {
            load(sc.model, &sub.join(format!("{f}.safetensors"))).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
        // Lineage: every expert with a non-zero share of the best is among its ancestors,
        // and so is the base (through the experts' fine-tune edges).
        let ancestors = r.lineage.ancestors(r.best_node);
        let node = |label: &str| {
            r.lineage.graph.node_weights().find(|n| n.kind.label() == label).map(|n| n.id).expect("node exists")
        };
        assert!(ancestors.contains(&node("base")));
        let mut shared = 0;
        for (name, coef) in &r.mixture {
            if coef.abs() > 1e-6 {
                shared += 1;
                assert!(ancestors.contains(&node(&format!("expert-{name}"))), "{name} ({coef}) is not an ancestor");
            }
        }
        assert!(shared >= 1 && r.experts_reached >= shared);
        let total: f64 = r.mixture.iter().map(|m| m.1).sum();
        assert!((total - 1.0).abs() < 1e-3, "mixture sums to {total}");
        assert_eq!(
            r.lineage.node(r.best_node).and_then(|n| n.checkpoint.clone()).as_deref(),
            Some("swarm-best.safetensors")
        );
        let graphml = std::fs::read_to_string(sub.join("lineage.graphml")).unwrap();
        assert!(graphml.contains("global-best") && graphml.contains("fine-tune"));
    }
    for f in ["report.md", "report.json", "scenario.toml"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
}

#[test]
fn same_scenario_and_seed_give_the_same_global_best_whatever_the_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let one = run_tiny(&tmp.path().join("one"), 1);
    let two = run_tiny(&tmp.path().join("two"), 2);
    for (a, b) in one.seeds.iter().zip(&two.seeds) {
        assert_eq!(a.best_digest, b.best_digest);
        assert_eq!(a.best_weights, b.best_weights);
    }
    let read = |d: &str| std::fs::read(tmp.path().join(d).join("report.json")).unwrap();
    assert_eq!(read("one"), read("two"));
    assert_ne!(one.seeds[0].best_digest, one.seeds[1].best_digest, "seeds differ");
}

// ---------------------------------------------------------------------------------------
// The command line

#[test]
fn run_and_swarm_commands_reach_the_swarm_and_refuse_a_used_folder() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("tiny.toml"), TINY).unwrap();
    let out = bin(tmp.path(), &["run", "tiny.toml", "--out", "a", "--threads", "2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("| model swarm |") && stdout.contains("| TIES |"), "{stdout}");
    let out = bin(tmp.path(), &["swarm", "tiny.toml", "--out", "b"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        std::fs::read(tmp.path().join("a/report.json")).unwrap(),
        std::fs::read(tmp.path().join("b/report.json")).unwrap()
    );
    let before = std::fs::read(tmp.path().join("a/report.json")).unwrap();
    let out = bin(tmp.path(), &["swarm", "tiny.toml", "--out", "a"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds files"));
    assert_eq!(std::fs::read(tmp.path().join("a/report.json")).unwrap(), before);
}

/// Run a broken version of `TINY` (`old` replaced by `new`) and check the exit code,
/// the `file:line:col` of the first occurrence of `at` in the broken text, the message,
/// the hint and that nothing was written.
fn check_bad(old: &str, new: &str, at: &str, message: &str) {
    assert_eq!(TINY.matches(old).count(), 1, "`{old}` must occur once");
    let text = TINY.replacen(old, new, 1);
    let offset = text.find(at).expect("`at` occurs in the broken text");
    let line = text[..offset].matches('\n').count() + 1;
    let col = offset - text[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("bad.toml"), &text).unwrap();
    let out = bin(tmp.path(), &["run", "bad.toml", "--out", "o"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("bad.toml:{line}:{col}: ")), "expected {line}:{col}: {err}");
    assert!(err.contains(message), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!tmp.path().join("o").exists());
}

#[test]
fn bad_scenarios_exit_2_with_a_located_message_and_a_hint() {
    check_bad("grow = 2", "grwo = 2", "grwo", "unknown field `grwo`");
    check_bad("max_iters = 4", "max_iters = -4", "-4", "`swarm.max_iters` = -4 is out of range");
    check_bad(
        "compose = [\"copy\", \"add\"]",
        "compose = [\"copy\", \"juggle\"]",
        "\"juggle\"",
        "unknown skill `juggle`",
    );
    check_bad(
        "compose = [\"copy\", \"add\"]",
        "compose = [\"copy\", \"reverse\"]",
        "\"reverse\"",
        "`reverse` has no expert",
    );
    check_bad("heads = 2", "heads = 3", "3\n", "3 heads do not divide width 16");
    check_bad("context = 40", "context = 20", "20\n", "raise model.context to at least 34");
    check_bad("seed = 5", "seed = \"five\"", "\"five\"", "invalid type");
    check_bad("kind = \"model-swarm\"", "kind = \"model-swam\"", "\"model-swam\"", "is not a model-swarm scenario");
}

// ---------------------------------------------------------------------------------------
// Documentation of the keys

#[test]
fn every_key_is_defined_once_documented_and_set_by_the_shipped_scenario() {
    let tables: [(&str, &[&str]); 6] = [
        ("model", fields_of::<ModelFile>()),
        ("experts", fields_of::<ExpertsFile>()),
        ("target", fields_of::<TargetFile>()),
        ("swarm", fields_of::<SwarmTable>()),
        ("baselines", fields_of::<BaselinesFile>()),
        ("routing", fields_of::<RoutingFile>()),
    ];
    let fields = dotted_keys(fields_of::<SwarmFile>(), &tables);
    let keys: std::collections::BTreeSet<String> = KEYS.iter().map(|k| k.key.to_string()).collect();
    assert_eq!(fields, keys, "SwarmFile's keys and scenario::KEYS differ");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("scenarios/README.md")).unwrap();
    assert!(readme.contains(&keys_markdown()), "scenarios/README.md lacks the current key table:\n{}", keys_markdown());
    // The shipped scenarios are valid and state their defaults explicitly, each the
    // documented one.
    for file in ["model-swarm.toml", "model-swarm-routing.toml"] {
        let text = std::fs::read_to_string(root.join("scenarios").join(file)).unwrap();
        let shipped = parse(Path::new(file), &text).expect("the shipped scenario is valid");
        assert_eq!(shipped.seeds, 3);
        assert_eq!(shipped.routing.is_some(), file.contains("routing"));
        let table: toml::Table = toml::from_str(&text).unwrap();
        for doc in KEYS {
            let key = doc.key;
            let value = match key.split_once('.') {
                Some((t, k)) => table.get(t).and_then(|t| t.get(k)),
                None => table.get(key),
            };
            let Some(value) = value else { continue };
            if let Some(default) = doc.default_literal()
                && key != "seeds"
            {
                let parsed: toml::Value =
                    toml::from_str::<toml::Table>(&format!("x = {default}")).unwrap()["x"].clone();
                assert_eq!(value, &parsed, "{file}: {key}: the shipped scenario differs from the documented default");
            }
        }
    }
}
