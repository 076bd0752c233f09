//! The routing stage's numbers: per seed (with every decision, for `routing.json`) and
//! over seeds (mean ± sd, paired differences with the best single model), as Markdown and
//! JSON. Nothing depends on timing.

use serde_json::{Value, json};

use super::router::{Decision, Router};
use crate::analysis::doc::Block;
use crate::stats::mean_sd;
use crate::swarm::report::table;

/// The name of the swarm's global best among the candidates.
pub const SWARM_BEST: &str = "swarm best";

/// The name of the compute-matched generalist.
pub const MIXTURE: &str = "mixture model";

/// FLOPs in the unit reports print costs in.
const MFLOP: f64 = 1e6;

/// One model's numbers on one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateResult {
    /// Name.
    pub name: String,
    /// Parameters.
    pub params: usize,
    /// Mean validation utility (the routing utility: exact match, or minus bits per byte).
    pub valid_utility: f64,
    /// Test exact-match accuracy.
    pub test_exact: f64,
    /// Test bits per answer byte.
    pub test_bpb: f64,
    /// Mean forward FLOPs per test query.
    pub test_cost: f64,
    /// Test exact-match accuracy on each query type.
    pub per_type: Vec<f64>,
}

/// The router at one alpha on one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontierPoint {
    /// The trade-off.
    pub alpha: f64,
    /// Mean validation utility of the routed answers.
    pub valid_utility: f64,
    /// Test exact-match accuracy of the routed answers.
    pub test_exact: f64,
    /// Test bits per answer byte of the routed answers.
    pub test_bpb: f64,
    /// Mean forward FLOPs per test query.
    pub test_cost: f64,
    /// Fraction of test queries sent to each candidate.
    pub shares: Vec<f64>,
    /// Test exact-match accuracy on each query type.
    pub per_type: Vec<f64>,
}

/// One seed of the routing stage.
#[derive(Debug, Clone)]
pub struct RoutingSeed {
    /// Seed index.
    pub index: usize,
    /// Derived seed.
    pub seed: u64,
    /// The candidates, routed among.
    pub candidates: Vec<CandidateResult>,
    /// The mixture model (compared with, not routed to).
    pub mixture: CandidateResult,
    /// The candidate with the best validation utility.
    pub best_single: usize,
    /// The swarm's global best among the candidates.
    pub swarm: usize,
    /// The router at each alpha.
    pub frontier: Vec<FrontierPoint>,
    /// The smallest alpha whose validation utility reaches the best single model's.
    pub parity: Option<usize>,
    /// Test queries some candidate answers exactly.
    pub oracle_exact: f64,
    /// The fitted router.
    pub router: Router,
    /// Validation queries of each type in each cluster.
    pub cluster_types: Vec<Vec<usize>>,
    /// The type of each test query.
    pub test_types: Vec<usize>,
    /// Per alpha, the decision for each test query.
    pub decisions: Vec<Vec<Decision>>,
}

fn candidate_json(c: &CandidateResult) -> Value {
    json!({
        "name": c.name, "params": c.params, "valid_utility": c.valid_utility,
        "test_exact": c.test_exact, "test_bpb": c.test_bpb, "test_flops": c.test_cost,
        "test_exact_per_type": c.per_type,
    })
}

impl RoutingSeed {
    fn summary_json(&self) -> Value {
        json!({
            "index": self.index, "seed": self.seed,
            "candidates": self.candidates.iter().map(candidate_json).collect::<Vec<_>>(),
            "mixture_model": candidate_json(&self.mixture),
            "best_single": self.candidates[self.best_single].name,
            "oracle_exact": self.oracle_exact,
            "parity_alpha": self.parity.map(|p| self.frontier[p].alpha),
            "frontier": self.frontier.iter().map(|f| json!({
                "alpha": f.alpha, "valid_utility": f.valid_utility, "test_exact": f.test_exact,
                "test_bpb": f.test_bpb, "test_flops": f.test_cost, "shares": f.shares,
                "test_exact_per_type": f.per_type,
            })).collect::<Vec<_>>(),
        })
    }

    /// `routing.json` of the seed's folder: the summary, every cluster's scores and
    /// centre, and every test query's decision at every alpha.
    pub fn json_with_decisions(&self) -> String {
        let mut v = self.summary_json();
        v["clusters"] = self
            .router
            .scores
            .iter()
            .zip(&self.router.clusters.centroids)
            .zip(&self.cluster_types)
            .map(|((s, c), types)| {
                json!({
                    "size": s.size, "utility": s.utility, "flops": s.cost,
                    "query_types": types, "centroid": c,
                })
            })
            .collect();
        v["top_clusters"] = json!(self.router.top);
        v["test_query_types"] = json!(self.test_types);
        v["decisions"] = self
            .decisions
            .iter()
            .zip(&self.frontier)
            .map(|(d, f)| {
                json!({
                    "alpha": f.alpha,
                    "model": d.iter().map(|d| d.model).collect::<Vec<_>>(),
                    "cluster": d.iter().map(|d| d.cluster).collect::<Vec<_>>(),
                })
            })
            .collect();
        let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// The routing stage over all seeds.
#[derive(Debug, Clone)]
pub struct RoutingReport {
    /// Optimiser steps of the mixture model.
    pub mixture_steps: usize,
    /// Query type names.
    pub queries: Vec<String>,
    /// The alphas swept.
    pub alphas: Vec<f64>,
    /// Per seed.
    pub seeds: Vec<RoutingSeed>,
}

/// `mean ± sd` with `digits` decimals, scaled by `k`.
fn ms(xs: &[f64], k: f64, digits: usize) -> String {
    let (m, s) = mean_sd(&xs.iter().map(|x| x * k).collect::<Vec<_>>());
    if m.is_finite() { format!("{m:.digits$} ± {s:.digits$}") } else { "n/a".into() }
}

impl RoutingReport {
    /// One number per seed.
    fn per_seed(&self, f: impl Fn(&RoutingSeed) -> f64) -> Vec<f64> {
        self.seeds.iter().map(f).collect()
    }

    /// The routing section as document blocks (rendered with the rest of the report).
    pub fn blocks(&self) -> Vec<Block> {
        let mut b = vec![Block::Heading(1, "Routing across specialists (Avengers-Pro)".into())];
        let Some(first) = self.seeds.first() else { return b };
        let n = self.seeds.len();
        b.push(Block::Para(format!(
            "Query types: {}. Candidates: the run's models plus a smaller and a larger specialist; \
             the mixture model is the base trained {} more steps on the mixture (the specialists' \
             training FLOPs). Cost is forward MFLOP per query. {n} seed(s), mean ± sd.",
            self.queries.join(", "),
            self.mixture_steps,
        )));
        let row = |name: &str, params: usize, f: &dyn Fn(&RoutingSeed) -> &CandidateResult, best: usize| {
            vec![
                name.to_string(),
                params.to_string(),
                ms(&self.per_seed(|r| f(r).test_cost), 1.0 / MFLOP, 2),
                format!("{}%", ms(&self.per_seed(|r| f(r).test_exact), 100.0, 1)),
                ms(&self.per_seed(|r| f(r).test_bpb), 1.0, 3),
                format!("{best} of {n} seeds"),
            ]
        };
        let mut rows: Vec<Vec<String>> = first
            .candidates
            .iter()
            .enumerate()
            .map(|(m, c)| {
                let best = self.seeds.iter().filter(|r| r.best_single == m).count();
                row(&c.name, c.params, &|r| &r.candidates[m], best)
            })
            .collect();
        rows.push(row(MIXTURE, first.mixture.params, &|r| &r.mixture, 0));
        b.push(table(&["Model", "Params", "MFLOP/query", "Test exact", "Test bpb", "Best single on"], rows));
        b.push(Block::Para(format!(
            "Some candidate answers exactly: {}% of test queries (the oracle router).",
            ms(&self.per_seed(|r| r.oracle_exact), 100.0, 1)
        )));

        b.push(Block::Para("Frontier over alpha (the router on the test queries):".into()));
        let rows = self
            .alphas
            .iter()
            .enumerate()
            .map(|(a, alpha)| {
                vec![
                    format!("{alpha:.2}"),
                    format!("{}%", ms(&self.per_seed(|r| r.frontier[a].test_exact), 100.0, 1)),
                    ms(&self.per_seed(|r| r.frontier[a].test_bpb), 1.0, 3),
                    ms(&self.per_seed(|r| r.frontier[a].test_cost), 1.0 / MFLOP, 2),
                    format!(
                        "{}%",
                        ms(
                            &self.per_seed(|r| r.frontier[a].test_cost / r.candidates[r.best_single].test_cost - 1.0),
                            100.0,
                            1
                        )
                    ),
                    ms(&self.per_seed(|r| r.frontier[a].valid_utility), 1.0, 3),
                ]
            })
            .collect();
        b.push(table(
            &["alpha", "Test exact", "Test bpb", "MFLOP/query", "Cost vs best single", "Valid utility"],
            rows,
        ));

        b.push(Block::Para("Paired by seed against the best single model (chosen on validation):".into()));
        let top = self.alphas.len().saturating_sub(1);
        let versus = |name: String, f: &dyn Fn(&RoutingSeed) -> (f64, f64)| {
            let exact = self.per_seed(|r| f(r).0);
            let d = self.per_seed(|r| f(r).0 - r.candidates[r.best_single].test_exact);
            let rel = self.per_seed(|r| f(r).0 / r.candidates[r.best_single].test_exact - 1.0);
            let cost = self.per_seed(|r| f(r).1 / r.candidates[r.best_single].test_cost - 1.0);
            vec![
                name,
                format!("{}%", ms(&exact, 100.0, 1)),
                format!("{} pts", ms(&d, 100.0, 1)),
                format!("{}%", ms(&rel, 100.0, 1)),
                format!("{}%", ms(&cost, 100.0, 1)),
            ]
        };
        let mut rows = vec![
            versus("best single model".into(), &|r| {
                let b = &r.candidates[r.best_single];
                (b.test_exact, b.test_cost)
            }),
            versus(SWARM_BEST.into(), &|r| (r.candidates[r.swarm].test_exact, r.candidates[r.swarm].test_cost)),
            versus(MIXTURE.into(), &|r| (r.mixture.test_exact, r.mixture.test_cost)),
        ];
        if let Some(alpha) = self.alphas.get(top) {
            rows.push(versus(format!("router, alpha {alpha:.2} (top end)"), &|r| {
                (r.frontier[top].test_exact, r.frontier[top].test_cost)
            }));
        }
        let with_parity = self.seeds.iter().filter(|r| r.parity.is_some()).count();
        let alphas: Vec<String> = self
            .seeds
            .iter()
            .map(|r| r.parity.map_or("none".into(), |p| format!("{:.2}", r.frontier[p].alpha)))
            .collect();
        if with_parity > 0 {
            rows.push(versus(
                format!("router at parity (alpha per seed: {})", alphas.join(", ")),
                &|r| match r.parity {
                    Some(p) => (r.frontier[p].test_exact, r.frontier[p].test_cost),
                    None => (f64::NAN, f64::NAN),
                },
            ));
        }
        b.push(table(
            &["Method", "Test exact", "Δ exact vs best single", "Δ exact relative", "Cost vs best single"],
            rows,
        ));

        b.push(Block::Para("Test exact-match accuracy by query type (mean over seeds, %):".into()));
        let by_type = |name: &str, f: &dyn Fn(&RoutingSeed) -> Vec<f64>| {
            let mut cells = vec![name.to_string()];
            cells.extend(
                (0..self.queries.len())
                    .map(|t| format!("{:.1}", 100.0 * crate::stats::mean(&self.per_seed(|r| f(r)[t])))),
            );
            cells
        };
        let mut rows: Vec<Vec<String>> = first
            .candidates
            .iter()
            .enumerate()
            .map(|(m, c)| by_type(&c.name, &|r| r.candidates[m].per_type.clone()))
            .collect();
        rows.push(by_type(MIXTURE, &|r| r.mixture.per_type.clone()));
        if let Some(alpha) = self.alphas.get(top) {
            rows.push(by_type(&format!("router, alpha {alpha:.2}"), &|r| r.frontier[top].per_type.clone()));
        }
        let mut header = vec!["Model"];
        header.extend(self.queries.iter().map(String::as_str));
        b.push(table(&header, rows));
        b.push(Block::Para(format!(
            "Parity: the smallest alpha whose routed *validation* utility reaches the best single \
             model's ({with_parity} of {n} seeds have one); its test numbers are then measured on test queries that \
             played no part in choosing it."
        )));
        b
    }

    /// The routing section as JSON (per-seed summaries; decisions are in each seed's
    /// `routing.json`).
    pub fn json(&self) -> Value {
        json!({
            "queries": self.queries, "alphas": self.alphas, "mixture_steps": self.mixture_steps,
            "seeds": self.seeds.iter().map(RoutingSeed::summary_json).collect::<Vec<_>>(),
        })
    }
}
