//! The report of a model-swarm run: per-seed results and their mean ± sd over seeds,
//! as Markdown and JSON. Nothing in it depends on timing, so the same scenario gives
//! byte-identical reports.

use serde_json::json;

use super::lineage::ModelLineage;
use super::scenario::SwarmScenario;

/// The name of the swarm's row.
pub const SWARM: &str = "model swarm";

/// One method's numbers on one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodResult {
    /// Method name.
    pub name: String,
    /// What was chosen (expert, scale, density, iterations).
    pub detail: String,
    /// Utility evaluations spent on validation items.
    pub evals: usize,
    /// Validation loss under the scenario's utility.
    pub valid: f64,
    /// Test bits per answer byte.
    pub test_bpb: f64,
    /// Test exact-match accuracy.
    pub test_exact: f64,
    /// Fraction of test items every expert gets wrong and this model gets right.
    pub emergence: f64,
}

/// One seed's results.
#[derive(Debug, Clone)]
pub struct SeedResult {
    /// Seed index.
    pub index: usize,
    /// Derived seed.
    pub seed: u64,
    /// Base, best single expert, soup, task arithmetic, TIES, model swarm.
    pub methods: Vec<MethodResult>,
    /// Each expert on the target task.
    pub experts: Vec<MethodResult>,
    /// Test items every expert gets wrong.
    pub all_wrong: usize,
    /// Test items.
    pub test_items: usize,
    /// The global best as a mixture of the experts (coefficients sum to one).
    pub mixture: Vec<(String, f64)>,
    /// xxh3 of the global best's weight bits.
    pub best_digest: u64,
    /// Swarm iterations run.
    pub iterations: usize,
    /// ModelLineage node of the global best.
    pub best_node: u64,
    /// Experts among the global best's ancestors.
    pub experts_reached: usize,
    /// The global best's weights.
    pub best_weights: Vec<f32>,
    /// The lineage graph.
    pub lineage: ModelLineage,
}

/// The swarm minus one other method, per seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Paired {
    /// The other method.
    pub versus: String,
    /// Test bpb differences.
    pub test_bpb: Vec<f64>,
    /// Test exact-match differences.
    pub test_exact: Vec<f64>,
    /// Emergence differences.
    pub emergence: Vec<f64>,
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct SwarmReport {
    /// Scenario name.
    pub name: String,
    /// Utility name.
    pub utility: String,
    /// Composed skills.
    pub compose: Vec<String>,
    /// Per-seed results.
    pub seeds: Vec<SeedResult>,
    /// The routing stage, when the scenario has one.
    pub routing: Option<super::routing::RoutingReport>,
}

use crate::analysis::doc::{Block, Doc};
use crate::stats::mean_sd;

/// A table block from a header and rows.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> Block {
    Block::Table { header: header.iter().map(|h| h.to_string()).collect(), rows }
}

impl SwarmReport {
    /// Collect seed results.
    pub fn new(sc: &SwarmScenario, seeds: Vec<SeedResult>) -> Self {
        SwarmReport {
            name: sc.name.clone(),
            utility: sc.utility.name().to_string(),
            compose: sc.compose.iter().map(|s| s.name().to_string()).collect(),
            seeds,
            routing: None,
        }
    }

    /// Values of one field of method `m` over seeds.
    fn column(&self, m: usize, f: impl Fn(&MethodResult) -> f64) -> Vec<f64> {
        self.seeds.iter().filter_map(|s| s.methods.get(m)).map(f).collect()
    }

    /// Mean and sd over seeds of the test bpb of each method, by name.
    pub fn test_bpb(&self) -> Vec<(String, f64, f64)> {
        let names = self.seeds.first().map(|s| s.methods.iter().map(|m| m.name.clone()).collect()).unwrap_or(vec![]);
        names
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                let (m, s) = mean_sd(&self.column(i, |r| r.test_bpb));
                (n, m, s)
            })
            .collect()
    }

    /// The report as one document (the model shared with `outerloop analyze`): the
    /// summary tables, the routing section when there is one, and per seed the methods,
    /// the global best and a figure of its lineage.
    pub fn doc(&self) -> Doc {
        let mut d = Doc { title: format!("Model swarm: {}", self.name), ..Doc::default() };
        let seeds = self.seeds.len();
        d.push(Block::Para(format!(
            "Target: `{}` (one example of each skill, line after line; exact means every answer exact). Utility searched on: validation `{}`. \
             Mean ± sd over {seeds} seed(s). Test bpb is bits per answer byte (lower is better); exact is \
             exact-match accuracy; emergent is the fraction of test items that every expert gets wrong and \
             the model gets right. Evals are utility evaluations on the validation items.",
            self.compose.join(" + "),
            self.utility
        )));
        let count = self.seeds.first().map_or(0, |r| r.methods.len());
        let rows = (0..count)
            .map(|i| {
                let cell = |f: &dyn Fn(&MethodResult) -> f64, pct: bool| {
                    let (m, sd) = mean_sd(&self.column(i, f));
                    if pct { format!("{:.1}% ± {:.1}", 100.0 * m, 100.0 * sd) } else { format!("{m:.4} ± {sd:.4}") }
                };
                let (evals, _) = mean_sd(&self.column(i, |r| r.evals as f64));
                vec![
                    self.seeds[0].methods[i].name.clone(),
                    cell(&|r| r.test_bpb, false),
                    cell(&|r| r.test_exact, true),
                    cell(&|r| r.emergence, true),
                    cell(&|r| r.valid, false),
                    format!("{evals:.0}"),
                ]
            })
            .collect();
        d.push(table(&["Method", "Test bpb", "Test exact", "Emergent", "Valid loss", "Evals"], rows));
        d.push(Block::Para(
            "Paired by seed, model swarm minus each method (negative bpb and positive exact favour the swarm):".into(),
        ));
        d.push(self.paired_table());
        let wrong: Vec<f64> = self.seeds.iter().map(|r| r.all_wrong as f64 / r.test_items.max(1) as f64).collect();
        let (wm, wsd) = mean_sd(&wrong);
        d.push(Block::Para(format!("Test items every expert gets wrong: {:.1}% ± {:.1}.", 100.0 * wm, 100.0 * wsd)));
        if let Some(r) = &self.routing {
            d.blocks.extend(r.blocks());
        }
        d.push(Block::Heading(1, "Per seed".into()));
        for r in &self.seeds {
            d.push(Block::Heading(2, format!("Seed {} (derived seed {})", r.index, r.seed)));
            let rows = r
                .methods
                .iter()
                .map(|m| (m.name.clone(), m))
                .chain(r.experts.iter().map(|m| (format!("expert {}", m.name), m)))
                .map(|(label, m)| {
                    vec![
                        label,
                        m.detail.clone(),
                        format!("{:.4}", m.test_bpb),
                        format!("{:.1}%", 100.0 * m.test_exact),
                        format!("{:.1}%", 100.0 * m.emergence),
                        format!("{:.4}", m.valid),
                        m.evals.to_string(),
                    ]
                })
                .collect();
            d.push(table(&["Model", "Chosen", "Test bpb", "Test exact", "Emergent", "Valid loss", "Evals"], rows));
            let mix: Vec<String> = r.mixture.iter().map(|(n, a)| format!("{a:+.3} {n}")).collect();
            d.push(Block::Para(format!(
                "Global best = {} (weights xxh3 {:016x}, lineage node {}, reaches {} of {} experts).",
                mix.join(" "),
                r.best_digest,
                r.best_node,
                r.experts_reached,
                r.experts.len()
            )));
            let path: Vec<u64> = r.lineage.first_parent_path(r.best_node).into_iter().map(|(id, _)| id).collect();
            match crate::analysis::plots::model_lineage(&r.lineage, r.best_node, &path) {
                Ok(svg) => d.push(Block::Figure {
                    file: format!("lineage-seed-{}.svg", r.index),
                    svg,
                    caption: format!(
                        "Seed {}: every model of the search; the global best's ancestors in black, its primary parents thick",
                        r.index
                    ),
                }),
                Err(e) => d.push(Block::Para(format!("(lineage figure not drawn: {e})"))),
            }
        }
        d
    }

    /// The report as Markdown (the document's Markdown rendering).
    pub fn markdown(&self) -> String {
        self.doc().markdown()
    }

    /// Per seed, the swarm's numbers minus each other method's, seeds in order.
    pub fn paired(&self) -> Vec<Paired> {
        let Some(first) = self.seeds.first() else { return vec![] };
        let Some(sw) = first.methods.iter().position(|m| m.name == SWARM) else { return vec![] };
        (0..first.methods.len())
            .filter(|&i| i != sw)
            .map(|i| {
                let d = |f: &dyn Fn(&MethodResult) -> f64| -> Vec<f64> {
                    self.seeds.iter().map(|r| f(&r.methods[sw]) - f(&r.methods[i])).collect()
                };
                Paired {
                    versus: first.methods[i].name.clone(),
                    test_bpb: d(&|r| r.test_bpb),
                    test_exact: d(&|r| r.test_exact),
                    emergence: d(&|r| r.emergence),
                }
            })
            .collect()
    }

    fn paired_table(&self) -> Block {
        let rows = self
            .paired()
            .into_iter()
            .map(|p| {
                let (bm, bs) = mean_sd(&p.test_bpb);
                let (em, es) = mean_sd(&p.test_exact);
                let (gm, gs) = mean_sd(&p.emergence);
                let wins = p.test_bpb.iter().filter(|&&d| d < 0.0).count();
                vec![
                    p.versus.clone(),
                    format!("{bm:+.4} ± {bs:.4}"),
                    format!("{:+.1} ± {:.1} pts", 100.0 * em, 100.0 * es),
                    format!("{:+.1} ± {:.1} pts", 100.0 * gm, 100.0 * gs),
                    format!("{wins} of {} seeds", p.test_bpb.len()),
                ]
            })
            .collect();
        table(&["Versus", "Δ test bpb", "Δ test exact", "Δ emergent", "Swarm lower bpb"], rows)
    }

    /// The report as JSON.
    pub fn json(&self) -> String {
        let method = |m: &MethodResult| {
            json!({
                "name": m.name, "detail": m.detail, "evals": m.evals, "valid_loss": m.valid,
                "test_bpb": m.test_bpb, "test_exact": m.test_exact, "emergence": m.emergence,
            })
        };
        let count = self.seeds.first().map_or(0, |r| r.methods.len());
        let summary: Vec<_> = (0..count)
            .map(|i| {
                let stat = |f: &dyn Fn(&MethodResult) -> f64| {
                    let (m, sd) = mean_sd(&self.column(i, f));
                    json!({"mean": m, "sd": sd})
                };
                json!({
                    "name": self.seeds[0].methods[i].name,
                    "test_bpb": stat(&|r| r.test_bpb),
                    "test_exact": stat(&|r| r.test_exact),
                    "emergence": stat(&|r| r.emergence),
                    "valid_loss": stat(&|r| r.valid),
                })
            })
            .collect();
        let seeds: Vec<_> = self
            .seeds
            .iter()
            .map(|r| {
                json!({
                    "index": r.index, "seed": r.seed,
                    "methods": r.methods.iter().map(method).collect::<Vec<_>>(),
                    "experts": r.experts.iter().map(method).collect::<Vec<_>>(),
                    "all_experts_wrong": r.all_wrong, "test_items": r.test_items,
                    "mixture": r.mixture.iter().map(|(n, a)| json!({"expert": n, "coefficient": a})).collect::<Vec<_>>(),
                    "best_weights_xxh3": format!("{:016x}", r.best_digest),
                    "best_lineage_node": r.best_node, "experts_reached": r.experts_reached,
                })
            })
            .collect();
        let paired: Vec<_> = self
            .paired()
            .into_iter()
            .map(|p| {
                json!({"versus": p.versus, "test_bpb_diff": p.test_bpb, "test_exact_diff": p.test_exact, "emergence_diff": p.emergence})
            })
            .collect();
        let mut v = json!({
            "name": self.name, "utility": self.utility, "compose": self.compose,
            "summary": summary, "swarm_minus": paired, "seeds": seeds,
        });
        if let Some(r) = &self.routing {
            v["routing"] = r.json();
        }
        let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(name: &str, bpb: f64, exact: f64) -> MethodResult {
        MethodResult {
            name: name.into(),
            detail: String::new(),
            evals: 1,
            valid: bpb,
            test_bpb: bpb,
            test_exact: exact,
            emergence: 0.0,
        }
    }

    #[test]
    fn paired_differences_are_per_seed() {
        let seed = |index, a: f64, s: f64| SeedResult {
            index,
            seed: index as u64,
            methods: vec![method("soup", a, 0.1), method(SWARM, s, 0.3)],
            experts: vec![],
            all_wrong: 5,
            test_items: 10,
            mixture: vec![],
            best_digest: 0,
            best_node: 0,
            iterations: 0,
            experts_reached: 0,
            best_weights: vec![],
            lineage: ModelLineage::default(),
        };
        let r = SwarmReport {
            name: "t".into(),
            utility: "bpb".into(),
            compose: vec![],
            seeds: vec![seed(0, 2.0, 1.5), seed(1, 1.0, 1.25)],
            routing: None,
        };
        let p = r.paired();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].versus, "soup");
        assert_eq!(p[0].test_bpb, vec![-0.5, 0.25]);
        assert!(r.markdown().contains("| soup | -0.1250 ± 0.5303 | +20.0 ± 0.0 pts | +0.0 ± 0.0 pts | 1 of 2 seeds |"));
        let json: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(json["swarm_minus"][0]["test_bpb_diff"][1], 0.25);
    }

    #[test]
    fn mean_and_sample_sd() {
        assert_eq!(mean_sd(&[1.0]), (1.0, 0.0));
        let (m, s) = mean_sd(&[1.0, 3.0]);
        assert_eq!(m, 2.0);
        assert!((s - 2f64.sqrt()).abs() < 1e-12);
    }
}
