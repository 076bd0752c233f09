//! `outerloop analyze` and `outerloop compare` on small real runs. Every figure replayed
//! from the event log is recomputed here from `events.jsonl` read as plain JSON (not
//! through the crate's event types or the analysis module) and must match
//! `report.json`; the recomputed figures need new inner runs are checked through the
//! crate's lower-level APIs; the SVGs must be well-formed XML with plot content.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use outerloop::genome::hash::shape_distance;
use outerloop::genome::library::LIBRARY;
use outerloop::genome::{Limits, load};
use quick_xml::events::Event as Xml;
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_outerloop"))
}

fn run_scenario(scenario: &Path, dir: &Path) {
    let out = bin().args(["run", scenario.to_str().unwrap(), "--out", dir.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn analyze(run: &Path, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["analyze", run.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = bin().args(&args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

fn events(run: &Path) -> Vec<Value> {
    fs::read_to_string(run.join("events.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn close(a: &Value, b: Option<f64>, what: &str) {
    match (a.as_f64(), b) {
        (None, None) => {}
        (Some(x), Some(y)) => assert!((x - y).abs() < 1e-9, "{what}: report {x} vs recomputed {y}"),
        (x, y) => panic!("{what}: report {x:?} vs recomputed {y:?}"),
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// Parse an SVG with a standard XML parser; count drawn elements and text.
fn svg_content(path: &Path) -> (usize, usize) {
    let text = fs::read_to_string(path).unwrap();
    let mut reader = quick_xml::Reader::from_str(&text);
    let (mut shapes, mut texts) = (0, 0);
    let mut root = None;
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("{}: not well-formed XML: {e}", path.display())) {
            Xml::Start(e) | Xml::Empty(e) => {
                let name = e.name().as_ref().to_string();
                root.get_or_insert(name.clone());
                match name.as_str() {
                    "polyline" | "circle" | "line" | "rect" | "path" | "polygon" => shapes += 1,
                    "text" => texts += 1,
                    _ => {}
                }
            }
            Xml::Eof => break,
            _ => {}
        }
    }
    assert_eq!(root.as_deref(), Some("svg"), "{}", path.display());
    (shapes, texts)
}

#[test]
fn report_figures_match_an_independent_replay_of_the_event_log() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let report_dir = tmp.path().join("report");
    run_scenario(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml"), &run);
    let report = analyze(&run, &report_dir, &["--episodes", "4", "--scaling-episodes", "3"]);
    let ev = events(&run);
    let ticks = report["ticks_done"].as_u64().unwrap();

    // Progress: replay births, claims, verifications and retirements tick by tick.
    #[derive(Default, Clone)]
    struct M {
        claimed: Option<f64>,
        verified: Option<f64>,
    }
    let mut alive: BTreeMap<u64, M> = BTreeMap::new();
    let rows = report["progress"]["ticks"].as_array().unwrap();
    assert_eq!(rows.len() as u64, ticks);
    for (tick, row) in rows.iter().enumerate() {
        for e in ev.iter().filter(|e| e["tick"].as_u64() == Some(tick as u64)) {
            let id = e["id"].as_u64();
            match e["event"].as_str().unwrap() {
                "born" => {
                    alive.insert(id.unwrap(), M::default());
                }
                "evaluated" => {
                    if let Some(m) = alive.get_mut(&id.unwrap()) {
                        m.claimed = e["claimed"].as_f64();
                    }
                }
                "verified" => {
                    if let Some(m) = alive.get_mut(&id.unwrap()) {
                        m.verified = e["verified"].as_f64();
                    }
                }
                "retired" => {
                    alive.remove(&id.unwrap());
                }
                _ => {}
            }
        }
        let verified: Vec<f64> = alive.values().filter_map(|m| m.verified).collect();
        assert_eq!(row["alive"].as_u64().unwrap() as usize, alive.len(), "tick {tick}");
        close(&row["best_verified"], verified.iter().copied().reduce(f64::max), "best verified");
        close(&row["median_verified"], median(verified.clone()), "median verified");
        close(&row["best_claimed"], alive.values().filter_map(|m| m.claimed).reduce(f64::max), "best claimed");
    }
    let checks = report["progress"]["checks"].as_array().unwrap();
    let verified_events: Vec<&Value> = ev.iter().filter(|e| e["event"] == "verified").collect();
    assert_eq!(checks.len(), verified_events.len());
    for (c, e) in checks.iter().zip(&verified_events) {
        assert_eq!((&c["id"], &c["claimed"], &c["verified"]), (&e["id"], &e["claimed"], &e["verified"]));
    }

    // Champion: best verified among the living at the end (ties: lower id).
    let champion = alive
        .iter()
        .filter_map(|(id, m)| Some((*id, m.verified?)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .expect("the smoke run verifies mechanisms");
    assert_eq!(report["champion"]["id"].as_u64(), Some(champion.0));
    close(&report["champion"]["fitness"], Some(champion.1), "champion fitness");

    // Lineage: follow parents[0] of each birth back to a seed.
    let born: BTreeMap<u64, &Value> =
        ev.iter().filter(|e| e["event"] == "born").map(|e| (e["id"].as_u64().unwrap(), e)).collect();
    let mut path = vec![champion.0];
    while let Some(p) = born[path.last().unwrap()]["parents"].as_array().unwrap().first() {
        path.push(p.as_u64().unwrap());
    }
    path.reverse();
    let steps: Vec<u64> =
        report["lineage"]["path"].as_array().unwrap().iter().map(|s| s["id"].as_u64().unwrap()).collect();
    assert_eq!(steps, path);
    for s in report["lineage"]["path"].as_array().unwrap().iter().skip(1) {
        let b = born[&s["id"].as_u64().unwrap()];
        assert_eq!((&s["operator"], &s["agent"]), (&b["operator"], &b["agent"]));
    }
    // Ancestors: every mechanism reachable through any parent, the champion itself not
    // counted in the sentence ("N ancestors").
    let mut ancestors = std::collections::BTreeSet::new();
    let mut stack = vec![champion.0];
    while let Some(id) = stack.pop() {
        for p in born[&id]["parents"].as_array().unwrap() {
            if ancestors.insert(p.as_u64().unwrap()) {
                stack.push(p.as_u64().unwrap());
            }
        }
    }
    let listed: std::collections::BTreeSet<u64> =
        report["lineage"]["ancestors"].as_array().unwrap().iter().map(|a| a.as_u64().unwrap()).collect();
    assert!(listed.contains(&champion.0), "the list holds the champion too");
    assert_eq!(
        listed.iter().filter(|&&a| a != champion.0).copied().collect::<std::collections::BTreeSet<_>>(),
        ancestors
    );
    let md = fs::read_to_string(report_dir.join("report.md")).unwrap();
    assert!(md.contains(&format!("; {} ancestors,", ancestors.len())), "the report counts proper ancestors");

    // Attribution: debate precision, audits and the verifier gap.
    // Accepted: debated children evaluated without an audit (proposer and recombiner).
    let debated: Vec<u64> = ev.iter().filter(|e| e["event"] == "debated").map(|e| e["id"].as_u64().unwrap()).collect();
    let evaluated: Vec<&Value> = ev.iter().filter(|e| e["event"] == "evaluated" && !e["improved"].is_null()).collect();
    let accepted: Vec<&&Value> =
        evaluated.iter().filter(|e| e["audited"] == false && debated.contains(&e["id"].as_u64().unwrap())).collect();
    let audited: Vec<&&Value> = evaluated.iter().filter(|e| e["audited"] == true).collect();
    let d = &report["attribution"]["debate"];
    assert_eq!(d["accepted_evaluated"].as_u64().unwrap() as usize, accepted.len());
    assert_eq!(
        d["accepted_improved"].as_u64().unwrap() as usize,
        accepted.iter().filter(|e| e["improved"] == true).count()
    );
    assert_eq!(d["audited"].as_u64().unwrap() as usize, audited.len());
    let gaps: Vec<f64> = verified_events.iter().map(|e| e["gap"].as_f64().unwrap()).collect();
    close(&report["attribution"]["verifier"]["mean_gap"], Some(gaps.iter().sum::<f64>() / gaps.len() as f64), "gap");
    let born_by_agents: u64 =
        report["attribution"]["credits"].as_array().unwrap().iter().map(|c| c["born"].as_u64().unwrap()).sum();
    assert_eq!(born_by_agents as usize, born.values().filter(|b| b["agent"] != "seed").count());
    // Verified improvements per agent and operator family: final verified fitness of the
    // child above the final verified fitness of its primary parent.
    let mut last_verified: BTreeMap<u64, f64> = BTreeMap::new();
    for e in &verified_events {
        last_verified.insert(e["id"].as_u64().unwrap(), e["verified"].as_f64().unwrap());
    }
    let mut expected: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for (id, b) in &born {
        if b["agent"] == "seed" {
            continue;
        }
        let family = b["operator"].as_str().unwrap().split('(').next().unwrap().to_string();
        let entry = expected.entry((b["agent"].as_str().unwrap().to_string(), family)).or_default();
        if let Some(v) = last_verified.get(id) {
            entry.0 += 1;
            let parent = b["parents"][0].as_u64().and_then(|p| last_verified.get(&p));
            entry.1 += u64::from(parent.is_some_and(|p| v > p));
        }
    }
    let credits: BTreeMap<(String, String), (u64, u64)> = report["attribution"]["credits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let key = (c["agent"].as_str().unwrap().to_string(), c["operator"].as_str().unwrap().to_string());
            (key, (c["verified"].as_u64().unwrap(), c["verified_improvements"].as_u64().unwrap()))
        })
        .collect();
    assert_eq!(credits, expected);
    // The run's own metrics agree on the debate precision at the last tick.
    let metrics = fs::read_to_string(run.join("metrics.csv")).unwrap();
    let last: Vec<&str> = metrics.lines().last().unwrap().split(',').collect();
    if let Some(p) = d["precision"].as_f64() {
        assert!((last[8].parse::<f64>().unwrap() - p).abs() < 1e-9);
    }

    // Novelty: the champion's smallest structural distance to the library.
    let genome = load(report["champion"]["genome"].as_str().unwrap(), &Limits::default()).unwrap();
    let min_structural = LIBRARY
        .iter()
        .map(|(_, t)| shape_distance(&genome, &load(t, &Limits::default()).unwrap()))
        .fold(f64::INFINITY, f64::min);
    close(&report["novelty"]["rows"][0]["min_structural"], Some(min_structural), "min structural distance");
    assert_eq!(report["novelty"]["rows"][0]["id"].as_u64(), Some(champion.0));

    // Scaling: held-out BBOB instances, one curve per library mechanism plus the champion.
    let s = &report["scaling"];
    assert_eq!(s["tasks"], serde_json::json!(["bbob-f1-i101-d3", "bbob-f15-i102-d3-mixed"]));
    assert_eq!(s["curves"].as_array().unwrap().len(), LIBRARY.len() + 1);

    // Figures: well-formed SVG with drawn content, inlined in the HTML page.
    let html = fs::read_to_string(report_dir.join("report.html")).unwrap();
    for name in ["progress.svg", "claims.svg", "lineage.svg", "scaling.svg"] {
        let (shapes, texts) = svg_content(&report_dir.join(name));
        assert!(shapes >= 5 && texts >= 3, "{name}: {shapes} shapes, {texts} texts");
        assert!(html.contains(&fs::read_to_string(report_dir.join(name)).unwrap()[..200]), "{name} inlined");
    }
    let md = fs::read_to_string(report_dir.join("report.md")).unwrap();
    for section in [
        "## Progress",
        "## Champion lineage",
        "## Novelty",
        "## Live genes",
        "## Attribution",
        "## Search-step scaling",
    ] {
        assert!(md.contains(section), "{section}");
    }

    // A second analysis writes the same bytes.
    let again = tmp.path().join("again");
    analyze(&run, &again, &["--episodes", "4", "--scaling-episodes", "3"]);
    for f in ["report.json", "report.md", "report.html", "lineage.svg", "scaling.svg"] {
        assert_eq!(fs::read(report_dir.join(f)).unwrap(), fs::read(again.join(f)).unwrap(), "{f}");
    }
}

#[test]
fn a_planted_dead_gene_is_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    // The `(uniform)` branch needs an iteration count below -1: it never fires.
    let scenario = tmp.path().join("dead.toml");
    fs::write(
        &scenario,
        r#"name = "dead"
seed = 3
ticks = 2
reference = "lib:uniform-random"
[inner]
tasks = ["bbob-f1-i1-d3"]
budget = 30
seeds = 2
[seeds]
inline = ["(mechanism planted (init 4 (latin 4)) (propose (if (< (iter) -1) (uniform) (perturb (best 1) 2 0.1))))"]
[proposer]
enabled = false
[verifier]
enabled = false
[recombiner]
enabled = false
"#,
    )
    .unwrap();
    let run = tmp.path().join("run");
    run_scenario(&scenario, &run);
    let out = tmp.path().join("report");
    let report = analyze(&run, &out, &["--episodes", "3", "--no-scaling"]);
    let genes = report["genes"]["genes"].as_array().unwrap();
    let dead: Vec<&str> = report["genes"]["dead"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| genes[n.as_u64().unwrap() as usize]["text"].as_str().unwrap())
        .collect();
    assert_eq!(dead, vec!["(uniform)"], "exactly the planted gene is dead");
    assert!(genes.iter().any(|g| g["text"] == "(perturb (best 1) 2 0.1)" && g["reached"].as_u64().unwrap() > 0));
    let md = fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("DEAD GENES") && md.contains("| DEAD |"), "the report flags it");
    assert!(report["scaling"].is_null());
}

#[test]
fn compare_finds_a_two_by_two_design_and_its_effects() {
    let tmp = tempfile::tempdir().unwrap();
    let base = fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml")).unwrap();
    let mut dirs = Vec::new();
    for debate in [false, true] {
        for recombine in [false, true] {
            let text = base
                .replace("[debater]\n", &format!("[debater]\nenabled = {debate}\n"))
                .replace("[recombiner]\n", &format!("[recombiner]\nenabled = {recombine}\n"));
            let path = tmp.path().join(format!("arm-{debate}-{recombine}.toml"));
            fs::write(&path, text).unwrap();
            let dir = tmp.path().join(format!("run-{debate}-{recombine}"));
            run_scenario(&path, &dir);
            dirs.push(dir);
        }
    }
    let out = tmp.path().join("cmp");
    let mut args = vec!["compare".to_string()];
    args.extend(dirs.iter().map(|d| d.display().to_string()));
    args.extend(["--out".into(), out.display().to_string(), "--episodes".into(), "4".into()]);
    let o = bin().args(&args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c: Value = serde_json::from_str(&fs::read_to_string(out.join("comparison.json")).unwrap()).unwrap();
    assert_eq!(c["design"], "2^2 factorial design");
    let factors: Vec<&str> =
        c["factorial"]["factors"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect();
    assert_eq!(factors, vec!["debater.enabled", "recombiner.enabled"]);
    assert_eq!(c["pairs"].as_array().unwrap().len(), 6);
    // Recompute the effects from the per-run means on the common episodes: with one run
    // per cell, the mean of per-episode contrasts is the contrast of the means.
    let y: Vec<f64> = c["runs"].as_array().unwrap().iter().map(|r| r["common"]["estimate"].as_f64().unwrap()).collect();
    // Runs were made in the order (debate, recombine) = ff, ft, tf, tt.
    let (ff, ft, tf, tt) = (y[0], y[1], y[2], y[3]);
    let effects = c["factorial"]["effects"].as_array().unwrap();
    let get =
        |name: &str| effects.iter().find(|e| e["name"] == name).unwrap()["estimate"]["estimate"].as_f64().unwrap();
    assert!((get("debater.enabled") - ((tf + tt) - (ff + ft)) / 2.0).abs() < 1e-9);
    assert!((get("recombiner.enabled") - ((ft + tt) - (ff + tf)) / 2.0).abs() < 1e-9);
    assert!((get("debater.enabled x recombiner.enabled") - (tt - tf - ft + ff) / 2.0).abs() < 1e-9);
    assert!((get("synergy") - ((tt - ff) - (tf - ff) - (ft - ff))).abs() < 1e-9);
    assert!((get("removal synergy") - ((tt - ff) - (tt - ft) - (tt - tf))).abs() < 1e-9);
    svg_content(&out.join("progress.svg"));
}

#[test]
fn compare_groups_replicates_and_tests_them_at_the_run_level() {
    let tmp = tempfile::tempdir().unwrap();
    let base = fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml"))
        .unwrap()
        .replace("ticks = 6", "ticks = 2");
    let mut dirs = Vec::new();
    for (arm, debate) in [("with", true), ("without", false)] {
        let path = tmp.path().join(format!("{arm}.toml"));
        fs::write(&path, base.replace("[debater]\n", &format!("[debater]\nenabled = {debate}\n"))).unwrap();
        let root = tmp.path().join(arm);
        let o = bin()
            .args(["run", path.to_str().unwrap(), "--out", root.to_str().unwrap(), "--replicates", "2"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut seeds: Vec<PathBuf> = fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
        seeds.sort();
        dirs.extend(seeds);
    }
    let out = tmp.path().join("cmp");
    let mut args = vec!["compare".to_string()];
    args.extend(dirs.iter().map(|d| d.display().to_string()));
    args.extend(["--out".into(), out.display().to_string(), "--episodes".into(), "3".into()]);
    let o = bin().args(&args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c: Value = serde_json::from_str(&fs::read_to_string(out.join("comparison.json")).unwrap()).unwrap();
    let groups = c["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "two scenarios, two replicates each");
    let runs: Vec<Vec<u64>> =
        groups.iter().map(|g| g["runs"].as_array().unwrap().iter().map(|r| r.as_u64().unwrap()).collect()).collect();
    assert_eq!(runs, vec![vec![0, 1], vec![2, 3]]);
    // The group mean is the mean of its runs' means on the common episodes.
    let y: Vec<f64> = c["runs"].as_array().unwrap().iter().map(|r| r["common"]["estimate"].as_f64().unwrap()).collect();
    assert!((groups[0]["common"]["estimate"].as_f64().unwrap() - (y[0] + y[1]) / 2.0).abs() < 1e-9);
    let pair = &c["group_pairs"][0];
    // Two runs a side: 6 relabellings, the observed one and its mirror as extreme.
    assert!((pair["min_p"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert!(pair["p_value"].as_f64().unwrap() >= 1.0 / 3.0 - 1e-9);
    let report = fs::read_to_string(out.join("comparison.md")).unwrap();
    assert!(report.contains("Scenarios with replicates") && report.contains("smallest possible p"), "{report}");
}

#[test]
fn analyze_rejects_a_folder_that_is_not_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let o = bin().args(["analyze", tmp.path().to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a run folder") && err.contains("hint"), "{err}");
    let o = bin().args(["compare", tmp.path().to_str().unwrap(), tmp.path().to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// A scenario with `verifier.held_out` prints the champion on those tasks in its summary:
/// against the best library mechanism (the same numbers `analyze` reports on the same
/// held-out episodes) and the best trivial baseline (a library mechanism pinned to the
/// lowest fidelity), identically whatever the thread count.
#[test]
fn the_summary_measures_the_champion_on_held_out_tasks_as_analyze_does() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let smoke = fs::read_to_string(root.join("scenarios/smoke.toml")).unwrap();
    // analyze's default held-out tasks of a BBOB run: the same functions, instance + 100.
    let held = "[verifier]\nheld_out = [\"bbob-f1-i101-d3\", \"bbob-f15-i102-d3-mixed\"]\n";
    let scenario = tmp.path().join("held.toml");
    fs::write(&scenario, smoke.replace("[verifier]\n", held)).unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    for (dir, threads) in [(&one, "1"), (&two, "2")] {
        let out = bin()
            .args(["run", scenario.to_str().unwrap(), "--out", dir.to_str().unwrap(), "--threads", threads])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let summary = fs::read_to_string(one.join("summary.txt")).unwrap();
    assert_eq!(summary, fs::read_to_string(two.join("summary.txt")).unwrap(), "thread count changed the summary");
    assert!(
        summary.contains(
            "on tasks it never saw (verifier.held_out: bbob-f1-i101-d3, bbob-f15-i102-d3-mixed; 20 episodes each"
        ),
        "{summary}"
    );
    let line = |what: &str| -> String {
        summary
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no `{what}` line in\n{summary}"))
            .to_string()
    };
    let library = line("versus the best library mechanism there, ");
    assert!(library.ends_with("(the number to quote)"), "{library}");
    let trivial = line("versus the best trivial baseline");
    let rival = |l: &str, after: &str| l.split(after).nth(1).unwrap().split(':').next().unwrap().to_string();
    assert!(rival(&trivial, "lowest fidelity), ").ends_with("@lowest"), "{trivial}");
    // `better on W, tied on T, worse on L of 40 episodes`
    for l in [&library, &trivial] {
        let counts: Vec<usize> = l
            .split("better on ")
            .nth(1)
            .unwrap()
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .take(4)
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(counts[0] + counts[1] + counts[2], counts[3], "{l}");
        assert_eq!(counts[3], 40, "{l}");
    }
    let report = analyze(&one, &tmp.path().join("analysis"), &[]);
    let pooled = report["held_out"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["task"] == "all tables")
        .expect("a pooled held-out row")
        .clone();
    let name = rival(&library, "there, ");
    assert_eq!(pooled["best_library"].as_str().unwrap(), name, "{library}");
    let medians = format!(
        "median regret {:.4} vs {:.4}",
        pooled["champion_regret"].as_f64().unwrap(),
        pooled["best_library_regret"].as_f64().unwrap()
    );
    assert!(library.contains(&medians), "analyze says {medians}; the summary says\n{library}");
}

/// The field's BBOB setting: a held-out BBOB suite in the single-fidelity setting gets its
/// own section, per function group, with the AOCC beside the final regret and no trivial
/// baselines (one fidelity level); the budget carries over per dimension; `task serve` and
/// `mech table` report the same AOCC for the same episode.
#[test]
fn a_bbob_held_out_suite_is_reported_per_group_with_aocc() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let smoke = fs::read_to_string(root.join("scenarios/smoke.toml")).unwrap();
    let held =
        "[verifier]\nheld_out = [\"suite:bbob-heldout-functions-d5\", \"bbob-f1-i101-d3\"]\nheld_out_seeds = 1\n";
    let scenario = tmp.path().join("bbob.toml");
    fs::write(&scenario, smoke.replace("[verifier]\n", held)).unwrap();
    let run = tmp.path().join("run");
    run_scenario(&scenario, &run);
    let summary = fs::read_to_string(run.join("summary.txt")).unwrap();
    // Budget 40 at d=3 is 40/3 units of d evaluations: 66.67 at d=5.
    assert!(
        summary.contains("on tasks it never saw (verifier.held_out: suite:bbob-heldout-functions-d5 (25 tasks); 1 episodes each, budget 66.66"),
        "{summary}"
    );
    assert!(
        summary.contains("verifier.held_out: bbob-f1-i101-d3; 1 episodes each, budget 40 per episode"),
        "{summary}"
    );
    let sections: Vec<&str> = summary.split("\non tasks it never saw (").skip(1).collect();
    assert_eq!(sections.len(), 2, "{summary}");
    let suite = sections[0];
    assert!(suite.contains("AOCC (area over the convergence curve, higher is better)"), "{suite}");
    assert!(suite.contains("no trivial baselines: these tasks have one fidelity level"), "{suite}");
    assert!(!suite.contains("versus the best trivial baseline"), "{suite}");
    let groups = suite.lines().find(|l| l.trim_start().starts_with("per group:")).expect("a per-group line");
    for g in ["separable", "moderate", "ill-conditioned", "multimodal", "weak-structure"] {
        assert!(groups.contains(&format!("{g} ")) && groups.contains("(AOCC "), "{groups}");
    }
    // The multi-fidelity task keeps its trivial baselines.
    assert!(sections[1].contains("versus the best trivial baseline"), "{}", sections[1]);

    // One episode, two ways: mech table's TSV and task serve's finish agree on the AOCC.
    let tsv = tmp.path().join("t.tsv");
    let o = bin()
        .args(["mech", "table", "-q", "--tasks", "bbob-f7-i1-d5-full", "--budget", "30", "--seeds", "1"])
        .args(["--tsv", tsv.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = fs::read_to_string(&tsv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "mechanism\ttask\tepisode\tseed\tbudget\tregret\taocc");
    let row: Vec<String> = lines.next().unwrap().split('\t').map(String::from).collect();
    let aocc: f64 = row[6].parse().unwrap();
    assert!((0.0..=1.0).contains(&aocc), "{row:?}");
    // task serve's finish: two evaluations, the better first, budget 4 (two units unspent
    // hold the last value): every unit counts 1 - (log10 r + 8) / 10 for the first regret r.
    let mut serve = bin()
        .args(["task", "serve", "bbob-f7-i1-d5-full", "--budget", "4"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    let requests = "{\"op\":\"eval\",\"unit\":[0.5,0.5,0.5,0.5,0.5]}\n{\"op\":\"eval\",\"unit\":[0.1,0.2,0.3,0.4,0.5]}\n{\"op\":\"finish\"}\n";
    serve.stdin.take().unwrap().write_all(requests.as_bytes()).unwrap();
    let out = serve.wait_with_output().unwrap();
    let replies: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let optimum = replies[0]["optimum"].as_f64().unwrap();
    let (first, second) = (replies[1]["score"].as_f64().unwrap(), replies[2]["score"].as_f64().unwrap());
    assert!(first < second, "the test wants the better point first: {first} {second}");
    let expected = 1.0 - ((first - optimum).log10() + 8.0) / 10.0;
    let aocc = replies[3]["aocc"].as_f64().unwrap();
    assert!((aocc - expected).abs() < 1e-12, "{aocc} vs {expected}");
}
