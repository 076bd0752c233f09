//! Routing across specialists (Avengers-Pro, arXiv 2508.12631): the stage a model-swarm
//! run with a `[routing]` section runs after the swarm.
//!
//! Per seed, the candidates are the run's own models (the base, every expert, the
//! uniform soup, the swarm's global best, all one size) plus two specialists of other
//! sizes (a smaller and a larger model, each pretrained on the mixture and fine-tuned on
//! one skill like the experts), so that cost matters. Queries are a mix of query types
//! (single skills and compositions), drawn per seed. The router ([`router`]) clusters
//! the validation queries' byte n-gram embeddings ([`embed`]), scores each candidate per
//! cluster, and routes each test query; the frontier over `alpha` is compared on the same
//! test items with the best single candidate (chosen on validation), the swarm's best,
//! and a *mixture model*: the base trained on the skill mixture for as many steps as the
//! specialists' training cost in total (FLOPs), the compute-matched generalist.
//!
//! Cost is the forward FLOPs a model spends on a query (`train_flops_per_token / 3` per
//! input byte); routing's own embedding costs no model FLOPs.

pub mod embed;
pub mod report;
pub mod router;

use std::path::Path;

use rand::RngExt;

pub use report::{RoutingReport, RoutingSeed};
pub use router::{Decision, Router};

use super::SwarmError;
use super::experts::TrainPlan;
use super::record::Record;
use super::scenario::SwarmScenario;
pub use super::scenario::{RoutingConfig, SizedExpert};
use super::tasks::{self, Item};
use super::train::{Progress, mixture_corpus, seeds_of, skill_corpus, train_all, train_logged};
use super::utility::{Scores, UtilityKind};
use super::weights;
use super::work::{ScoringBatch, TrainingBatch, TrainingJob};
use crate::exec::Workers;
use crate::objective::gpt::{ModelConfig, Skill};
use crate::rng::{derive, stream};

/// Forward FLOPs per input byte of a model of shape `m`.
pub fn forward_flops_per_token(m: &ModelConfig) -> f64 {
    m.train_flops_per_token() / 3.0
}

/// A query type's name: its skills joined by `+`.
pub fn query_name(skills: &[Skill]) -> String {
    skills.iter().map(|s| s.name()).collect::<Vec<_>>().join("+")
}

/// `count` queries of seed `seed` (split 0 validation, 1 test): each its type index and
/// its item.
pub fn queries(cfg: &RoutingConfig, count: usize, seed: u64, split: u64) -> Vec<(usize, Item)> {
    let mut rng = stream(seed, "swarm-routing-items", &[split]);
    (0..count)
        .map(|_| {
            let t = rng.random_range(0..cfg.queries.len());
            (t, tasks::compose(&cfg.queries[t], &mut rng))
        })
        .collect()
}

/// Per-query utility under `kind` (higher is better).
fn per_query(s: &Scores, kind: UtilityKind) -> Vec<f64> {
    match kind {
        UtilityKind::ExactMatch => s.correct.iter().map(|&c| if c { 1.0 } else { 0.0 }).collect(),
        UtilityKind::Bpb => s.bits.iter().zip(&s.bytes).map(|(b, &n)| -b / n.max(1) as f64).collect(),
    }
}

/// Optimiser steps of the mixture model: the specialists' total training FLOPs (each
/// base-size expert's fine-tuning, the small and large models' pretraining and
/// fine-tuning) in steps of the base model.
pub fn mixture_steps(sc: &SwarmScenario, cfg: &RoutingConfig) -> usize {
    let per = |m: &ModelConfig| m.train_flops_per_token();
    let base = per(&sc.model);
    let sized = (sc.pretrain_steps + sc.finetune_steps) as f64 * (per(&cfg.small.model) + per(&cfg.large.model));
    ((sc.skills.len() * sc.finetune_steps) as f64 + sized / base).round() as usize
}

/// One candidate model of one seed.
struct Candidate {
    name: String,
    model: ModelConfig,
    weights: Vec<f32>,
}

/// Run the routing stage on the finished swarm run in `dir` (its per-seed checkpoints
/// are read back): train the sized specialists and the mixture model (checkpoints logged
/// in `rec`, loaded instead of trained on resume), score everything on the routing
/// queries, fit the router, sweep alpha. Writes `seed-<i>/routing.json` (cluster scores,
/// every decision) and returns the report.
pub fn run(
    sc: &SwarmScenario,
    cfg: &RoutingConfig,
    rec: &mut Record,
    dir: &Path,
    workers: &Workers,
    progress: Progress,
) -> Result<RoutingReport, SwarmError> {
    let seeds = seeds_of(sc);
    // The two sized specialists: pretraining on the mixture, then fine-tuning (only the
    // fine-tuned weights are checkpoints: a resumed run trains both or neither).
    let mut sized = Vec::new();
    for (which, spec) in [("small", cfg.small), ("large", cfg.large)] {
        progress(&format!(
            "routing: training the {which} {} specialist (depth {}, width {}) for {} seed(s)",
            spec.skill.name(),
            spec.model.depth,
            spec.model.width,
            seeds.len()
        ));
        let names: Vec<(usize, String)> = (0..seeds.len()).map(|i| (i, format!("routing-{which}"))).collect();
        let tuned = train_logged(rec, dir, spec.model, &names, workers, |_| {
            let pre = TrainingBatch {
                plan: TrainPlan { model: spec.model, optim: sc.pretrain_optim, steps: sc.pretrain_steps },
                corpora: seeds.iter().map(|&s| mixture_corpus(sc, s)).collect(),
                inits: Vec::new(),
                jobs: (0..seeds.len())
                    .map(|i| TrainingJob {
                        corpus: i,
                        seed: derive(seeds[i], "swarm-routing-pretrain", &[]),
                        init: None,
                    })
                    .collect(),
            };
            Ok(TrainingBatch {
                plan: TrainPlan { model: spec.model, optim: sc.finetune_optim, steps: sc.finetune_steps },
                corpora: seeds.iter().map(|&s| skill_corpus(sc, s, spec.skill)).collect(),
                inits: train_all(pre, workers)?,
                jobs: (0..seeds.len())
                    .map(|i| TrainingJob {
                        corpus: i,
                        seed: derive(seeds[i], "swarm-routing-finetune", &[]),
                        init: Some(i),
                    })
                    .collect(),
            })
        })?;
        sized.push(tuned);
    }

    // The mixture model: the base, trained on the mixture with the specialists' compute.
    let steps = mixture_steps(sc, cfg);
    progress(&format!("routing: training the mixture model ({steps} steps from the base) for {} seed(s)", seeds.len()));
    let names: Vec<(usize, String)> = (0..seeds.len()).map(|i| (i, "routing-mixture".to_string())).collect();
    let mixture_models = train_logged(rec, dir, sc.model, &names, workers, |_| {
        let mut bases = Vec::new();
        for i in 0..seeds.len() {
            bases.push(weights::load(sc.model, &dir.join(format!("seed-{i}/base.safetensors")))?);
        }
        Ok(TrainingBatch {
            plan: TrainPlan { model: sc.model, optim: sc.finetune_optim, steps },
            corpora: seeds.iter().map(|&s| mixture_corpus(sc, s)).collect(),
            inits: bases,
            jobs: (0..seeds.len())
                .map(|i| TrainingJob { corpus: i, seed: derive(seeds[i], "swarm-routing-mixture", &[]), init: Some(i) })
                .collect(),
        })
    })?;

    let mut results = Vec::new();
    for (i, &seed) in seeds.iter().enumerate() {
        progress(&format!("routing: seed {} scoring and routing", i + 1));
        let sub = dir.join(format!("seed-{i}"));
        let load = |file: &str| weights::load(sc.model, &sub.join(file));
        let mut cands = vec![Candidate { name: "base".into(), model: sc.model, weights: load("base.safetensors")? }];
        for s in &sc.skills {
            cands.push(Candidate {
                name: format!("expert {}", s.name()),
                model: sc.model,
                weights: load(&format!("expert-{}.safetensors", s.name()))?,
            });
        }
        cands.push(Candidate { name: "uniform soup".into(), model: sc.model, weights: load("soup.safetensors")? });
        cands.push(Candidate {
            name: report::SWARM_BEST.into(),
            model: sc.model,
            weights: load("swarm-best.safetensors")?,
        });
        for ((which, spec), w) in [("small", cfg.small), ("large", cfg.large)].into_iter().zip(&sized) {
            cands.push(Candidate {
                name: format!("{which} {} (depth {} width {})", spec.skill.name(), spec.model.depth, spec.model.width),
                model: spec.model,
                weights: w[i].clone(),
            });
        }
        let mixture = Candidate { name: report::MIXTURE.into(), model: sc.model, weights: mixture_models[i].clone() };
        let valid = queries(cfg, cfg.valid_items, seed, 0);
        let test = queries(cfg, cfg.test_items, seed, 1);
        let items: Vec<Item> = valid.iter().chain(&test).map(|(_, it)| it.clone()).collect();
        let mut all: Vec<&Candidate> = cands.iter().collect();
        all.push(&mixture);
        let scores = score_candidates(&all, &items, workers)?;
        let split = |s: &Scores, range: std::ops::Range<usize>| Scores {
            bits: s.bits[range.clone()].to_vec(),
            bytes: s.bytes[range.clone()].to_vec(),
            correct: s.correct[range].to_vec(),
        };
        let (nv, nt) = (valid.len(), test.len());
        let valid_scores: Vec<Scores> = scores.iter().map(|s| split(s, 0..nv)).collect();
        let test_scores: Vec<Scores> = scores.iter().map(|s| split(s, nv..nv + nt)).collect();
        let n = cands.len();
        let flops: Vec<f64> = all.iter().map(|c| forward_flops_per_token(&c.model)).collect();
        let seed_result = measure(
            cfg,
            Seeded { index: i, seed },
            &all.iter().map(|c| (c.name.clone(), c.model.param_count())).collect::<Vec<_>>(),
            &flops,
            (&valid, &valid_scores),
            (&test, &test_scores),
            n,
        );
        crate::swarm::outputs::Outputs::of(rec)
            .file(&sub.join("routing.json"), seed_result.json_with_decisions().as_bytes())?;
        results.push(seed_result);
    }
    Ok(RoutingReport {
        mixture_steps: steps,
        queries: cfg.queries.iter().map(|q| query_name(q)).collect(),
        alphas: cfg.alphas.clone(),
        seeds: results,
    })
}

/// Score candidates (grouped by shape, one batch per shape) on `items`, in order.
fn score_candidates(cands: &[&Candidate], items: &[Item], workers: &Workers) -> Result<Vec<Scores>, SwarmError> {
    let mut out: Vec<Option<Scores>> = vec![None; cands.len()];
    let mut shapes: Vec<ModelConfig> = Vec::new();
    for c in cands {
        if !shapes.contains(&c.model) {
            shapes.push(c.model);
        }
    }
    for shape in shapes {
        let members: Vec<usize> = (0..cands.len()).filter(|&i| cands[i].model == shape).collect();
        let batch = ScoringBatch {
            model: shape,
            items: items.to_vec(),
            weights: members.iter().map(|&i| cands[i].weights.clone()).collect(),
        };
        let scores = workers.execute(&batch).map_err(SwarmError::Executor)?;
        for (&i, s) in members.iter().zip(scores) {
            out[i] = Some(s.map_err(SwarmError::Job)?);
        }
    }
    out.into_iter().map(|s| s.ok_or_else(|| SwarmError::Shape("a candidate was not scored".into()))).collect()
}

/// Which seed a measurement belongs to.
struct Seeded {
    index: usize,
    seed: u64,
}

/// Fit the router on the validation queries and measure the candidates, the mixture
/// model and the router at every alpha on the test queries. `models[m]` is the name and
/// parameter count and `flops[m]` the forward FLOPs per byte of each scored model, whose
/// scores are `valid.1[m]` and `test.1[m]`: the first `n` are the candidates, model `n`
/// is the mixture model (measured, never routed to).
fn measure(
    cfg: &RoutingConfig,
    at: Seeded,
    models: &[(String, usize)],
    flops: &[f64],
    valid: (&[(usize, Item)], &[Scores]),
    test: (&[(usize, Item)], &[Scores]),
    n: usize,
) -> RoutingSeed {
    use crate::stats::mean;
    let ((vq, vs), (tq, ts)) = (valid, test);
    let cost = |m: usize, q: &[(usize, Item)]| -> Vec<f64> {
        q.iter().map(|(_, it)| flops[m] * (it.bytes.len() - 1) as f64).collect()
    };
    let vu: Vec<Vec<f64>> = (0..n).map(|m| per_query(&vs[m], cfg.utility)).collect();
    let vc: Vec<Vec<f64>> = (0..n).map(|m| cost(m, vq)).collect();
    let tc: Vec<Vec<f64>> = (0..=n).map(|m| cost(m, tq)).collect();
    let points: Vec<Vec<f64>> = vq.iter().map(|(_, it)| embed::embed(it)).collect();
    let router = Router::fit(
        &points,
        &vu,
        &vc,
        cfg.clusters,
        cfg.top_clusters,
        &mut stream(at.seed, "swarm-routing-kmeans", &[]),
    );
    let types = cfg.queries.len();
    let per_type = |right: &dyn Fn(usize) -> bool| -> Vec<f64> {
        (0..types)
            .map(|t| {
                let of: Vec<usize> = (0..tq.len()).filter(|&q| tq[q].0 == t).collect();
                of.iter().filter(|&&q| right(q)).count() as f64 / of.len().max(1) as f64
            })
            .collect()
    };
    let candidate = |m: usize| report::CandidateResult {
        name: models[m].0.clone(),
        params: models[m].1,
        valid_utility: mean(&per_query(&vs[m], cfg.utility)),
        test_exact: ts[m].exact_match(),
        test_bpb: ts[m].bpb(),
        test_cost: mean(&tc[m]),
        per_type: per_type(&|q| ts[m].correct[q]),
    };
    let candidates: Vec<report::CandidateResult> = (0..n).map(candidate).collect();
    let mixture = candidate(n);
    let best_single = (0..n)
        .min_by(|&a, &b| {
            let (x, y) = (&candidates[a], &candidates[b]);
            y.valid_utility.total_cmp(&x.valid_utility).then(x.test_cost.total_cmp(&y.test_cost)).then(a.cmp(&b))
        })
        .unwrap_or(0);
    let swarm = candidates.iter().position(|c| c.name == report::SWARM_BEST).unwrap_or(0);
    let test_points: Vec<Vec<f64>> = tq.iter().map(|(_, it)| embed::embed(it)).collect();
    let mut frontier = Vec::new();
    let mut decisions = Vec::new();
    for &alpha in &cfg.alphas {
        let routed_valid: Vec<f64> =
            points.iter().enumerate().map(|(q, p)| vu[router.route(p, alpha).model][q]).collect();
        let chosen: Vec<Decision> = test_points.iter().map(|p| router.route(p, alpha)).collect();
        let (mut bits, mut bytes, mut right, mut spent) = (0.0, 0usize, 0usize, 0.0);
        let mut shares = vec![0.0; n];
        for (q, d) in chosen.iter().enumerate() {
            let s = &ts[d.model];
            bits += s.bits[q];
            bytes += s.bytes[q];
            right += usize::from(s.correct[q]);
            spent += tc[d.model][q];
            shares[d.model] += 1.0 / tq.len().max(1) as f64;
        }
        frontier.push(report::FrontierPoint {
            alpha,
            valid_utility: mean(&routed_valid),
            test_exact: right as f64 / tq.len().max(1) as f64,
            test_bpb: bits / bytes.max(1) as f64,
            test_cost: spent / tq.len().max(1) as f64,
            shares,
            per_type: per_type(&|q| ts[chosen[q].model].correct[q]),
        });
        decisions.push(chosen);
    }
    let parity = frontier.iter().position(|f| f.valid_utility >= candidates[best_single].valid_utility);
    let oracle_exact =
        (0..tq.len()).filter(|&q| (0..n).any(|m| ts[m].correct[q])).count() as f64 / tq.len().max(1) as f64;
    let mut cluster_types = vec![vec![0usize; cfg.queries.len()]; router.scores.len()];
    for (p, (t, _)) in points.iter().zip(vq) {
        cluster_types[router.clusters.assign(p)][*t] += 1;
    }
    RoutingSeed {
        index: at.index,
        seed: at.seed,
        candidates,
        mixture,
        best_single,
        swarm,
        frontier,
        parity,
        oracle_exact,
        router,
        cluster_types,
        test_types: tq.iter().map(|(t, _)| *t).collect(),
        decisions,
    }
}
