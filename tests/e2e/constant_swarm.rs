//! Constant-swarm merges end to end (`tests/fixtures/constant_swarm.toml`): the
//! recombiner's merges reach the exported ancestry as merge edges with coefficients in
//! GraphML and DOT, every merged child's constants are rebuilt from its sources'
//! constants and those coefficients, a run with merges resumes to the same bytes after a
//! crash, and with the key at its default the log has no merge at all.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use outerloop::driver::Run;
use outerloop::exec::Executor;
use outerloop::genome::constants::constants;
use outerloop::genome::syntax::parse;
use outerloop::scenario;
use outerloop::store::crashpoint;
use quick_xml::events::Event as Xml;

use crate::outer_loop::{assert_same_outputs, run_to};
use crate::run_folder::{drive, folder};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_outerloop"))
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/constant_swarm.toml")
}

/// A merge edge as an export writes it.
#[derive(Debug, Clone, PartialEq)]
struct MergeEdge {
    key: u64,
    source: u64,
    target: u64,
    coefficient: f64,
}

/// The GraphML export's genomes by node id and its merge edges (key order).
fn read_graphml(text: &str) -> (BTreeMap<u64, String>, Vec<MergeEdge>) {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut genomes = BTreeMap::new();
    let mut edges = Vec::new();
    let (mut node, mut edge): (Option<u64>, Option<(u64, u64, u64)>) = (None, None);
    let (mut data_key, mut content) = (String::new(), String::new());
    let (mut kind, mut coefficient) = (String::new(), None::<f64>);
    loop {
        match reader.read_event().expect("well-formed GraphML") {
            Xml::Start(e) => {
                let attr = |k: &str| e.try_get_attribute(k).unwrap().map(|a| a.value.to_string());
                match e.name().as_ref() {
                    "node" => node = attr("id").map(|v| v.parse().unwrap()),
                    "edge" => {
                        let num = |k: &str| attr(k).unwrap().parse::<u64>().unwrap();
                        edge = Some((num("id"), num("source"), num("target")));
                        (kind, coefficient) = (String::new(), None);
                    }
                    "data" => (data_key, content) = (attr("key").unwrap(), String::new()),
                    _ => {}
                }
            }
            Xml::Text(t) => content.push_str(t.as_ref()),
            Xml::GeneralRef(r) => content.push(match r.as_ref() {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                other => panic!("unexpected entity {other}"),
            }),
            Xml::End(e) => match e.name().as_ref() {
                "data" => match (data_key.as_str(), node, edge) {
                    ("genome", Some(id), _) => {
                        genomes.insert(id, std::mem::take(&mut content));
                    }
                    ("ekind", _, Some(_)) => kind = std::mem::take(&mut content),
                    ("coefficient", _, Some(_)) => coefficient = Some(content.parse().expect("a number")),
                    _ => {}
                },
                "node" => node = None,
                "edge" => {
                    let (key, source, target) = edge.take().unwrap();
                    if kind == "merge" {
                        let coefficient = coefficient.expect("a merge edge carries its coefficient");
                        edges.push(MergeEdge { key, source, target, coefficient });
                    } else {
                        assert_eq!(coefficient, None, "edge {key} ({kind}) has a coefficient");
                    }
                }
                _ => {}
            },
            Xml::Eof => break,
            _ => {}
        }
    }
    (genomes, edges)
}

/// The DOT export's merge edges: `S -> T [id=K, label="...", kind="merge", coefficient="C"]`.
fn read_dot(text: &str) -> Vec<MergeEdge> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.contains(" -> ") && l.contains("kind=\"merge\""))
        .map(|l| {
            let (ends, attrs) = l.split_once(" [").unwrap();
            let (s, t) = ends.split_once(" -> ").unwrap();
            let field = |name: &str| {
                let at = attrs.find(&format!("{name}=")).unwrap() + name.len() + 1;
                attrs[at..].trim_start_matches('"').split(['"', ',', ']']).next().unwrap().to_string()
            };
            MergeEdge {
                key: field("id").parse().unwrap(),
                source: s.parse().unwrap(),
                target: t.parse().unwrap(),
                coefficient: field("coefficient").parse().unwrap(),
            }
        })
        .collect()
}

#[test]
fn merged_constants_rebuild_from_the_exported_sources_and_coefficients() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    run_to(&run, &fixture(), 2);
    for format in ["graphml", "dot"] {
        let out = bin().args(["export", run.to_str().unwrap(), "--format", format]).output().unwrap();
        assert!(out.status.success(), "{format}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let (genomes, merges) = read_graphml(&fs::read_to_string(run.join("export/ancestry.graphml")).unwrap());
    let dot = read_dot(&fs::read_to_string(run.join("export/ancestry.dot")).unwrap());
    assert_eq!(dot, merges, "DOT and GraphML carry the same merge edges, bit for bit");
    let mut children: BTreeMap<u64, Vec<&MergeEdge>> = BTreeMap::new();
    for e in &merges {
        children.entry(e.target).or_default().push(e);
    }
    assert!(children.len() >= 3, "only {} merged children in the fixture run", children.len());
    let split = |id: u64| constants(&parse(&genomes[&id]).genome.expect("an exported genome parses"));
    let mut largest_error = 0f64;
    for (child, sources) in &children {
        let target = split(*child);
        let total: f64 = sources.iter().map(|e| e.coefficient).sum();
        assert!((total - 1.0).abs() < 1e-9, "#{child}: coefficients sum to {total}");
        let mut rebuilt = vec![0.0; target.values.len()];
        for e in sources {
            let source = split(e.source);
            assert_eq!(source.key(), target.key(), "#{child} and its source #{} share a structure", e.source);
            for (r, v) in rebuilt.iter_mut().zip(&source.values) {
                *r += e.coefficient * v;
            }
        }
        for (d, (r, t)) in rebuilt.iter().zip(&target.values).enumerate() {
            let error = (r - t).abs() / t.abs().max(1.0);
            largest_error = largest_error.max(error);
            assert!(error < 1e-9, "#{child} constant {d}: rebuilt {r}, genome {t}");
        }
        assert!(!target.values.is_empty(), "#{child} has constants");
    }
    eprintln!(
        "{} merged children, {} merge edges, largest relative error {largest_error:e}",
        children.len(),
        merges.len()
    );
    // The event log says the same: each merge birth lists its sources and coefficients.
    let events = fs::read_to_string(run.join("events.jsonl")).unwrap();
    let births = events.lines().filter(|l| l.contains("\"operator\":\"constant-swarm\"") && l.contains("\"born\""));
    assert_eq!(births.filter(|l| l.contains("\"coefficients\":[")).count(), children.len());
}

#[test]
fn a_run_with_merges_resumes_to_the_same_bytes_after_a_crash_or_a_stop() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    run_to(&reference, &fixture(), 2);
    assert!(fs::read_to_string(reference.join("events.jsonl")).unwrap().contains("\"coefficients\":["));
    // Stopped after two ticks and resumed on another thread count.
    let stopped = tmp.path().join("stopped");
    let out = bin()
        .args(["run", fixture().to_str().unwrap(), "--out", stopped.to_str().unwrap(), "--stop-after", "2"])
        .output()
        .unwrap();
    assert!(out.status.success() && !stopped.join("summary.txt").exists());
    let out = bin().args(["resume", stopped.to_str().unwrap(), "--threads", "1"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_same_outputs(&reference, &stopped);
    // Killed (a crash point) at every file-system step of the run, then resumed (or run
    // again when the kill came before the scenario was written).
    let start =
        |dir: &Path| Run::start(scenario::load(&fixture()).unwrap(), Some(dir.to_path_buf()), Executor::local());
    let clean = tmp.path().join("clean");
    crashpoint::arm(u64::MAX);
    drive(start(&clean).unwrap()).unwrap();
    let steps = crashpoint::disarm();
    let expected = folder(&clean);
    assert!(steps > 40, "only {steps} crash points in the fixture run");
    eprintln!("crashing at each of {steps} file-system steps");
    for step in 1..=steps {
        let dir = tmp.path().join(format!("crash{step}"));
        crashpoint::arm(step);
        assert!(start(&dir).and_then(drive).is_err(), "the run survived its crash at step {step}");
        crashpoint::disarm();
        if dir.join("scenario.toml").exists() {
            drive(Run::resume(&dir, Executor::local()).unwrap_or_else(|e| panic!("step {step}: resume: {e}"))).unwrap();
        } else {
            drive(start(&dir).unwrap()).unwrap();
        }
        assert!(folder(&dir) == expected, "the folder differs after a crash at step {step} of {steps}");
    }
}

#[test]
fn with_the_key_at_its_default_no_merge_is_made_or_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("off");
    let out = bin()
        .args([
            "run",
            fixture().to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
            "--set",
            "recombiner.constant_swarm=0",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = fs::read_to_string(run.join("events.jsonl")).unwrap();
    assert!(!events.contains("\"operator\":\"constant-swarm\"") && !events.contains("\"coefficients\""));
    assert!(events.contains("\"operator\":\"crossover"), "the recombiner's slots went to crossover");
}
