//! The routing stage of a model-swarm run end to end, with tiny models: every decision
//! recorded in `routing.json` follows the cluster scores recorded beside it, the reported
//! frontier is recomputed from the saved checkpoints and the decisions, the stage is the
//! same with 1 and 2 threads, and bad `[routing]` keys are located errors.

use std::path::Path;

use outerloop::diagnostic::InputError;
use outerloop::exec::{Executor, Workers};
use outerloop::swarm::routing::{self, RoutingReport};
use outerloop::swarm::scenario::parse;
use outerloop::swarm::utility::score_flat;
use outerloop::swarm::weights::load;

use crate::swarm::TINY;

/// The tiny swarm with a routing stage: four query types, a width-8 copy specialist and a
/// width-24 add specialist.
fn tiny_routing() -> String {
    format!(
        "{TINY}\n[routing]\nqueries = [\"copy\", \"add\", \"recall\", \"copy+add\"]\nvalid_items = 40\ntest_items = 50\n\
         clusters = 4\nsmall_width = 8\nsmall_heads = 2\nlarge_width = 24\nlarge_heads = 2\nalphas = [0.0, 0.5, 1.0]\n"
    )
}

fn run(dir: &Path, threads: usize) -> RoutingReport {
    let sc = parse(Path::new("tiny.toml"), &tiny_routing()).expect("valid scenario");
    let report = outerloop::swarm::run::run(&sc, dir, &Workers { executor: Executor::local(), threads }, &|_| {})
        .expect("the run succeeds");
    report.routing.expect("the scenario has a routing stage")
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn decisions_follow_the_recorded_cluster_scores_and_rebuild_the_frontier() {
    let tmp = tempfile::tempdir().unwrap();
    let report = run(&tmp.path().join("a"), 2);
    let sc = parse(Path::new("tiny.toml"), &tiny_routing()).unwrap();
    let cfg = sc.routing.clone().unwrap();
    assert_eq!(report.seeds.len(), 2);
    let top = json(&tmp.path().join("a/report.json"));
    assert_eq!(top["routing"]["seeds"].as_array().unwrap().len(), 2);
    let md = std::fs::read_to_string(tmp.path().join("a/report.md")).unwrap();
    assert!(md.contains("## Routing across specialists") && md.contains("| router, alpha 1.00 (top end) |"), "{md}");
    for r in &report.seeds {
        let sub = tmp.path().join(format!("a/seed-{}", r.index));
        let v = json(&sub.join("routing.json"));
        let clusters = v["clusters"].as_array().unwrap();
        let numbers = |c: &serde_json::Value, key: &str| -> Vec<f64> {
            c[key].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
        };
        let models = r.candidates.len();
        let cheapest = (0..models).min_by(|&a, &b| r.candidates[a].test_cost.total_cmp(&r.candidates[b].test_cost));
        assert!(r.candidates[cheapest.unwrap()].name.starts_with("small"), "the small specialist costs least");
        let decisions = v["decisions"].as_array().unwrap();
        assert_eq!(decisions.len(), cfg.alphas.len());
        for (a, d) in decisions.iter().enumerate() {
            let chosen: Vec<usize> =
                d["model"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
            let cluster: Vec<usize> =
                d["cluster"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
            assert_eq!(chosen.len(), cfg.test_items);
            for (&m, &c) in chosen.iter().zip(&cluster) {
                let utility = numbers(&clusters[c], "utility");
                let flops = numbers(&clusters[c], "flops");
                match a {
                    // alpha 0: only cost counts; alpha 1: only utility (the cheaper on ties).
                    0 => assert_eq!(flops[m], flops.iter().copied().fold(f64::INFINITY, f64::min)),
                    2 => {
                        let best = utility.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        assert_eq!(utility[m], best);
                        let cheapest_best =
                            (0..models).filter(|&i| utility[i] == best).map(|i| flops[i]).fold(f64::INFINITY, f64::min);
                        assert_eq!(flops[m], cheapest_best);
                    }
                    _ => {}
                }
            }
            // The reported test accuracy and bits are those of the chosen models'
            // checkpoints on the test queries.
            if a == 2 {
                let test: Vec<_> =
                    routing::queries(&cfg, cfg.test_items, r.seed, 1).into_iter().map(|(_, it)| it).collect();
                let files: Vec<String> = std::iter::once("base".to_string())
                    .chain(sc.skills.iter().map(|s| format!("expert-{}", s.name())))
                    .chain(["soup", "swarm-best", "routing-small", "routing-large"].map(String::from))
                    .collect();
                let shapes: Vec<_> = (0..models)
                    .map(|m| {
                        if m + 2 == models {
                            cfg.small.model
                        } else if m + 1 == models {
                            cfg.large.model
                        } else {
                            sc.model
                        }
                    })
                    .collect();
                let (mut right, mut bits, mut bytes) = (0, 0.0, 0);
                for (q, &m) in chosen.iter().enumerate() {
                    let w = load(shapes[m], &sub.join(format!("{}.safetensors", files[m]))).unwrap();
                    let s = score_flat(shapes[m], &w, &test[q..=q]).unwrap();
                    right += usize::from(s.correct[0]);
                    bits += s.bits[0];
                    bytes += s.bytes[0];
                }
                let f = &r.frontier[2];
                assert_eq!(right as f64 / test.len() as f64, f.test_exact);
                assert!((bits / bytes as f64 - f.test_bpb).abs() < 1e-9, "{} vs {}", bits / bytes as f64, f.test_bpb);
            }
        }
        assert!(r.oracle_exact >= r.frontier.iter().map(|f| f.test_exact).fold(0.0, f64::max));
    }
    // Same stage with one thread: the same files.
    run(&tmp.path().join("b"), 1);
    for i in 0..2 {
        let file = format!("seed-{i}/routing.json");
        assert_eq!(
            std::fs::read(tmp.path().join("a").join(&file)).unwrap(),
            std::fs::read(tmp.path().join("b").join(&file)).unwrap(),
            "{file} differs between 1 and 2 threads"
        );
    }
    assert_eq!(
        std::fs::read(tmp.path().join("a/report.json")).unwrap(),
        std::fs::read(tmp.path().join("b/report.json")).unwrap()
    );
}

#[test]
fn bad_routing_keys_are_located_errors() {
    for (bad, fragment, message) in [
        ("small_skill = \"brackets\"", "\"brackets\"", "is not one of the experts' skills"),
        ("queries = [\"copy\", \"jump\"]", "\"jump\"", "names an unknown skill"),
        ("alphas = [0.5, 0.2]", "[0.5, 0.2]", "ascending"),
        ("large_width = 30", "30", "heads do not divide width 30"),
        ("clusters = 0", "0", "`routing.clusters` = 0 is out of range"),
    ] {
        let text = format!("{TINY}\n[routing]\n{bad}\n");
        let Err(InputError::Source { diagnostics, .. }) = parse(Path::new("x.toml"), &text) else {
            panic!("`{bad}` should be refused")
        };
        assert_eq!(diagnostics.len(), 1, "{bad}: {diagnostics:?}");
        let d = &diagnostics[0];
        assert!(d.message.contains(message), "{bad}: {}", d.message);
        assert_eq!(&text[d.span.clone()], fragment, "{bad}");
    }
}
