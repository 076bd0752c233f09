//! One model-swarm run: for each seed, pretrain a base, fine-tune one expert per skill,
//! grow the pool, search it with the swarm, run the baselines on the same
//! utility-evaluation budget, measure everything on the test items, and write
//! checkpoints, lineage graphs and the report.
//!
//! Parallelism: base models, then all experts, then the positions of each swarm
//! iteration and the baseline grids are batches of work (`swarm::work`) run here, one
//! job per thread with single-threaded candle, or on an installed executor (Slurm), with
//! results in job order, so the run is a pure function of the scenario whatever the
//! thread count or executor.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rand::RngExt;

use super::SwarmError;
use super::experts::TrainPlan;
use super::lineage::{ModelLineage, NodeKind};
use super::merge::{add_scaled, interpolate, scale_grid, soup, task_sum, ties_direction};
use super::outputs::Outputs;
use super::pso::Swarm;
use super::record::{Record, SwarmEvent};
use super::report::{MethodResult, SeedResult, SwarmReport};
use super::scenario::SwarmScenario;
use super::tasks::{self, Item};
pub use super::train::{Progress, seeds_of};
use super::train::{mixture_corpus, skill_corpus, train_logged};
use super::utility::Scores;
use super::weights::digest;
use super::work::{ScoringBatch, TrainingBatch, TrainingJob};
use crate::exec::Workers;
use crate::rng::{derive, stream};

/// Run `sc` into the folder `dir` (created; refused if it exists and is not empty) with
/// `workers` (an executor and its local threads). Returns the report, also written as `report.md` and
/// `report.json`.
pub fn run(sc: &SwarmScenario, dir: &Path, workers: &Workers, progress: Progress) -> Result<SwarmReport, SwarmError> {
    run_until(sc, dir, workers, progress, None)
}

/// [`run`], stopping with [`SwarmError::Stopped`] at the first saved step after `stop`
/// is set (Ctrl-C): the folder then resumes like after a kill.
pub fn run_until(
    sc: &SwarmScenario,
    dir: &Path,
    workers: &Workers,
    progress: Progress,
    stop: Option<Arc<AtomicBool>>,
) -> Result<SwarmReport, SwarmError> {
    let mut rec = Record::create(dir, sc)?;
    rec.stop_when(stop);
    drive(sc, rec, dir, workers, progress)
}

/// Resume the stopped run in `dir`: training the log records is loaded from its
/// checkpoints, the rest of the run is done again (deterministically, checked against
/// the log), and the folder ends with the uninterrupted run's bytes.
pub fn resume(dir: &Path, workers: &Workers, progress: Progress) -> Result<(SwarmScenario, SwarmReport), SwarmError> {
    resume_until(dir, workers, progress, None)
}

/// [`resume`], stopping like [`run_until`] when `stop` is set.
pub fn resume_until(
    dir: &Path,
    workers: &Workers,
    progress: Progress,
    stop: Option<Arc<AtomicBool>>,
) -> Result<(SwarmScenario, SwarmReport), SwarmError> {
    // A finished run is replayed from its record too (nothing is appended to its log):
    // that rewrites its derived files, the repair for a damaged or deleted one.
    let (sc, mut rec) = Record::open(dir)?;
    rec.stop_when(stop);
    let report = drive(&sc, rec, dir, workers, progress)?;
    Ok((sc, report))
}

fn drive(
    sc: &SwarmScenario,
    mut rec: Record,
    dir: &Path,
    workers: &Workers,
    progress: Progress,
) -> Result<SwarmReport, SwarmError> {
    let seeds = seeds_of(sc);
    let k = sc.skills.len();
    rec.log(vec![SwarmEvent::Started { seeds: sc.seeds }])?;

    progress(&format!("pretraining {} base model(s), {} steps each", seeds.len(), sc.pretrain_steps));
    let pre = TrainPlan { model: sc.model, optim: sc.pretrain_optim, steps: sc.pretrain_steps };
    let base_names: Vec<(usize, String)> = (0..seeds.len()).map(|i| (i, "base".to_string())).collect();
    let bases = train_logged(&mut rec, dir, sc.model, &base_names, workers, |_| {
        Ok(TrainingBatch {
            plan: pre,
            corpora: seeds.iter().map(|&s| mixture_corpus(sc, s)).collect(),
            inits: Vec::new(),
            jobs: (0..seeds.len())
                .map(|i| TrainingJob { corpus: i, seed: derive(seeds[i], "swarm-pretrain", &[]), init: None })
                .collect(),
        })
    })?;

    progress(&format!("fine-tuning {} expert(s), {} steps each", seeds.len() * k, sc.finetune_steps));
    let ft = TrainPlan { model: sc.model, optim: sc.finetune_optim, steps: sc.finetune_steps };
    let expert_names: Vec<(usize, String)> =
        (0..seeds.len()).flat_map(|i| sc.skills.iter().map(move |s| (i, format!("expert-{}", s.name())))).collect();
    let tuned = train_logged(&mut rec, dir, sc.model, &expert_names, workers, |_| {
        let mut corpora = Vec::with_capacity(seeds.len() * k);
        let mut jobs = Vec::with_capacity(seeds.len() * k);
        for (s, &seed) in seeds.iter().enumerate() {
            for (e, &skill) in sc.skills.iter().enumerate() {
                jobs.push(TrainingJob {
                    corpus: corpora.len(),
                    seed: derive(seed, "swarm-finetune", &[e as u64]),
                    init: Some(s),
                });
                corpora.push(skill_corpus(sc, seed, skill));
            }
        }
        Ok(TrainingBatch { plan: ft, corpora, inits: bases.clone(), jobs })
    })?;
    let mut tuned = tuned.into_iter();

    let mut results = Vec::new();
    for (i, &seed) in seeds.iter().enumerate() {
        let experts: Vec<Vec<f32>> = tuned.by_ref().take(k).collect();
        let sub = dir.join(format!("seed-{i}"));
        let outputs = Outputs::of(&rec);
        if outputs == Outputs::Write {
            std::fs::create_dir_all(&sub).map_err(|e| SwarmError::io(&sub, e))?;
        }
        let ctx = SeedCtx { sc, index: i, seed, workers, dir: sub, progress, outputs };
        let result = ctx.run(&bases[i], &experts)?;
        let swarm = result.methods.iter().find(|m| m.name == super::report::SWARM);
        rec.log(vec![SwarmEvent::Searched {
            seed: i,
            iterations: result.iterations,
            evals: swarm.map_or(0, |m| m.evals),
            best_valid: swarm.map_or(f64::NAN, |m| m.valid),
            best_xxh3: format!("{:016x}", result.best_digest),
        }])?;
        results.push(result);
    }
    let mut report = SwarmReport::new(sc, results);
    if let Some(cfg) = &sc.routing {
        report.routing = Some(super::routing::run(sc, cfg, &mut rec, dir, workers, progress)?);
    }
    let json = report.json();
    write_report(dir, &report, Outputs::of(&rec))?;
    rec.log(vec![SwarmEvent::Finished {
        report_xxh3: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(json.as_bytes())),
    }])?;
    Ok(report)
}

/// Write `report` into `dir` (or check the files there, for `analyze`): `report.md`
/// (figures linked), the figures, `report.html` (self-contained) and `report.json`.
pub fn write_report(dir: &Path, report: &SwarmReport, outputs: Outputs) -> Result<(), SwarmError> {
    let doc = report.doc();
    for (file, svg) in doc.figures() {
        outputs.file(&dir.join(file), svg.as_bytes())?;
    }
    outputs.file(&dir.join("report.md"), doc.markdown().as_bytes())?;
    outputs.file(&dir.join("report.html"), doc.html().as_bytes())?;
    outputs.file(&dir.join("report.json"), report.json().as_bytes())
}

/// Replay the finished run in `dir` without writing to it: the recorded training is
/// loaded, the searches, baselines and routing are redone and checked against the log
/// event by event, and the report comes back (`outerloop analyze` writes it elsewhere).
pub fn analyze(dir: &Path, workers: &Workers, progress: Progress) -> Result<SwarmReport, SwarmError> {
    let (sc, rec) = Record::open_finished(dir)?;
    drive(&sc, rec, dir, workers, progress)
}

/// Everything one seed's search needs.
struct SeedCtx<'a> {
    sc: &'a SwarmScenario,
    index: usize,
    seed: u64,
    workers: &'a Workers,
    dir: PathBuf,
    progress: Progress<'a>,
    /// Whether files are written, or checked (when `analyze` replays a finished run).
    outputs: Outputs,
}

impl SeedCtx<'_> {
    /// Score many weight sets on `items`, in order.
    fn score_all(&self, weights: &[&[f32]], items: &[Item]) -> Result<Vec<Scores>, SwarmError> {
        let batch = ScoringBatch {
            model: self.sc.model,
            items: items.to_vec(),
            weights: weights.iter().map(|w| w.to_vec()).collect(),
        };
        let scores = self.workers.execute(&batch).map_err(SwarmError::Executor)?;
        scores.into_iter().map(|r| r.map_err(SwarmError::Job)).collect()
    }

    /// Score weights produced by `make(i)` for `i < count`.
    fn score_made(
        &self,
        count: usize,
        items: &[Item],
        make: impl Fn(usize) -> Vec<f32>,
    ) -> Result<Vec<Scores>, SwarmError> {
        let made: Vec<Vec<f32>> = (0..count).map(make).collect();
        let refs: Vec<&[f32]> = made.iter().map(Vec::as_slice).collect();
        self.score_all(&refs, items)
    }

    fn save(&self, lin: &mut ModelLineage, node: u64, file: &str, flat: &[f32]) -> Result<(), SwarmError> {
        self.outputs.weights(self.sc.model, flat, &self.dir.join(file))?;
        lin.set_checkpoint(node, file);
        Ok(())
    }

    /// The experts scored and recorded, then members grown from random pairs of them.
    /// Each position carries its mixture over the experts as k extra coordinates, which
    /// the (linear) swarm update moves exactly like the weights.
    fn grow_pool(
        &self,
        experts: &[Vec<f32>],
        valid: &[Item],
        lin: &mut ModelLineage,
        base_id: u64,
    ) -> Result<Pool, SwarmError> {
        let sc = self.sc;
        let (k, utility) = (experts.len(), sc.utility);
        let n = experts.first().map_or(0, Vec::len);
        let expert_refs: Vec<&[f32]> = experts.iter().map(Vec::as_slice).collect();
        let expert_valid = self.score_all(&expert_refs, valid)?;
        let mut ids = Vec::new();
        for (e, s) in expert_valid.iter().enumerate() {
            let id = lin.add(NodeKind::Expert(sc.skills[e].name().into()), Some(s.loss(utility)));
            lin.link(base_id, id, "fine-tune", 1.0);
            ids.push(id);
        }
        let mut rng = stream(self.seed, "swarm-grow", &[]);
        let mut positions: Vec<Vec<f32>> = (0..k)
            .map(|e| {
                let mut x = experts[e].clone();
                x.extend((0..k).map(|j| if j == e { 1.0 } else { 0.0 }));
                x
            })
            .collect();
        let (lo, hi) = sc.grow_range;
        let mut pairs = Vec::new();
        for _ in 0..sc.grow {
            let a = rng.random_range(0..k);
            let b = (a + rng.random_range(1..k)) % k;
            let t = lo + (hi - lo) * rng.random::<f64>();
            pairs.push((a, b, t));
            positions.push(interpolate(&positions[a], &positions[b], t));
        }
        let grown_refs: Vec<&[f32]> = positions[k..].iter().map(|x| &x[..n]).collect();
        let grown_valid = self.score_all(&grown_refs, valid)?;
        for (&(a, b, t), s) in pairs.iter().zip(&grown_valid) {
            let id = lin.add(NodeKind::Grown, Some(s.loss(utility)));
            lin.link(ids[a], id, "interpolate", 1.0 - t);
            lin.link(ids[b], id, "interpolate", t);
            ids.push(id);
        }
        let losses: Vec<f64> = expert_valid.iter().chain(&grown_valid).map(|s| s.loss(utility)).collect();
        Ok(Pool { positions, losses, ids, expert_valid, evals: k + sc.grow })
    }

    /// The swarm search from the pool, every move recorded in the lineage. Swarm
    /// position ids count evaluated positions; `node_of[id]` is the lineage node of each.
    fn search(&self, pool: Pool, n: usize, valid: &[Item], lin: &mut ModelLineage) -> Result<Searched, SwarmError> {
        let utility = self.sc.utility;
        (self.progress)(&format!("seed {}: swarm of {} particles", self.index + 1, pool.positions.len()));
        let mut node_of = pool.ids.clone();
        let mut evals = pool.evals;
        let mut swarm = Swarm::new(self.sc.pso, pool.positions, &pool.losses, stream(self.seed, "swarm-pso", &[]))?;
        let mut failure = None;
        loop {
            let step = swarm.iterate(|xs| {
                let refs: Vec<&[f32]> = xs.iter().map(|x| &x[..n]).collect();
                match self.score_all(&refs, valid) {
                    Ok(s) => s.iter().map(|s| s.loss(utility)).collect(),
                    Err(e) => {
                        failure = Some(e);
                        Vec::new()
                    }
                }
            });
            if let Some(e) = failure.take() {
                return Err(e);
            }
            let Some(it) = step else { break };
            evals += it.moves.len();
            for (m, &score) in it.moves.iter().zip(&it.scores) {
                let id = lin.add(NodeKind::Particle { particle: m.particle, iteration: it.number }, Some(score));
                debug_assert_eq!(node_of.len() as u64, m.id);
                node_of.push(id);
                let src = |sid: u64| node_of.get(sid as usize).copied().unwrap_or(u64::MAX);
                lin.link(src(m.position.0), id, "position", m.position.1);
                lin.link(src(m.personal_best.0), id, "personal-best", m.personal_best.1);
                lin.link(src(m.global_best.0), id, "global-best", m.global_best.1);
                lin.link(src(m.global_worst.0), id, "global-worst", m.global_worst.1);
                for (sid, c) in m.momentum.into_iter().flatten() {
                    lin.link(src(sid), id, "momentum", c);
                }
            }
            (self.progress)(&format!(
                "seed {}: iteration {} step {:.3} best valid {} {:.4}{}",
                self.index + 1,
                it.number,
                it.step,
                utility.name(),
                swarm.global_best().score,
                if it.restarted.is_empty() { String::new() } else { format!(" (restarted {:?})", it.restarted) }
            ));
        }
        let best = swarm.global_best().clone();
        Ok(Searched {
            weights: best.x[..n].to_vec(),
            mixture: best.x[n..].iter().map(|&a| a as f64).collect(),
            score: best.score,
            node: node_of[best.id as usize],
            evals,
            iterations: swarm.iterations(),
        })
    }

    /// The merge baselines on the swarm's budget of utility evaluations: the uniform
    /// soup, task arithmetic on a scale grid, TIES on a density x scale grid.
    fn baselines(
        &self,
        base: &[f32],
        experts: &[&[f32]],
        budget: usize,
        valid: &[Item],
        lin: &mut ModelLineage,
        ids: &Ids,
    ) -> Result<[Baseline; 3], SwarmError> {
        let sc = self.sc;
        let (k, utility) = (experts.len(), sc.utility);
        let soup_w = soup(experts);
        let soup_valid = self.score_all(&[&soup_w], valid)?.remove(0);
        let soup_node = lin.add(NodeKind::Baseline("soup".into()), Some(soup_valid.loss(utility)));
        for &e in &ids.experts {
            lin.link(e, soup_node, "soup", 1.0 / k as f64);
        }
        let soup = Baseline { weights: soup_w, valid: soup_valid, node: soup_node, evals: 1, detail: String::new() };
        let tsum = task_sum(base, experts);
        let scales = scale_grid(budget, sc.scale_max);
        let mut ta_valid = self.score_made(scales.len(), valid, |i| add_scaled(base, &tsum, scales[i]))?;
        let ta_i = argmin(&ta_valid.iter().map(|s| s.loss(utility)).collect::<Vec<_>>());
        let ta_node = lin.add(NodeKind::Baseline("task-arithmetic".into()), Some(ta_valid[ta_i].loss(utility)));
        lin.link(ids.base, ta_node, "task-arithmetic", 1.0 - k as f64 * scales[ta_i]);
        for &e in &ids.experts {
            lin.link(e, ta_node, "task-arithmetic", scales[ta_i]);
        }
        let arithmetic = Baseline {
            weights: add_scaled(base, &tsum, scales[ta_i]),
            valid: ta_valid.swap_remove(ta_i),
            node: ta_node,
            evals: scales.len(),
            detail: format!("scale {:.3}", scales[ta_i]),
        };
        let per_density = (budget / sc.ties_densities.len()).max(1);
        let ties_scales = scale_grid(per_density, sc.scale_max);
        let directions: Vec<Vec<f32>> = sc.ties_densities.iter().map(|&d| ties_direction(base, experts, d)).collect();
        let grid: Vec<(usize, f64)> =
            (0..directions.len()).flat_map(|d| ties_scales.iter().map(move |&s| (d, s))).collect();
        let mut ties_valid =
            self.score_made(grid.len(), valid, |i| add_scaled(base, &directions[grid[i].0], grid[i].1))?;
        let ties_i = argmin(&ties_valid.iter().map(|s| s.loss(utility)).collect::<Vec<_>>());
        let (ties_d, ties_s) = grid[ties_i];
        let ties_node = lin.add(NodeKind::Baseline("ties".into()), Some(ties_valid[ties_i].loss(utility)));
        lin.link(ids.base, ties_node, "ties", 1.0);
        for &e in &ids.experts {
            lin.link(e, ties_node, "ties", ties_s);
        }
        let ties = Baseline {
            weights: add_scaled(base, &directions[ties_d], ties_s),
            valid: ties_valid.swap_remove(ties_i),
            node: ties_node,
            evals: grid.len(),
            detail: format!("density {} scale {:.3}", sc.ties_densities[ties_d], ties_s),
        };
        Ok([soup, arithmetic, ties])
    }

    /// One seed: the pool, the search, the baselines on the same budget, every method
    /// scored on the test items, checkpoints and the lineage written.
    fn run(&self, base: &[f32], experts: &[Vec<f32>]) -> Result<SeedResult, SwarmError> {
        let sc = self.sc;
        let (k, n) = (experts.len(), base.len());
        let utility = sc.utility;
        let valid = tasks::items(&sc.compose, sc.valid_items, self.seed, 0);
        let test = tasks::items(&sc.compose, sc.test_items, self.seed, 1);
        let mut lin = ModelLineage::default();
        let base_id = lin.add(NodeKind::Base, None);
        let pool = self.grow_pool(experts, &valid, &mut lin, base_id)?;
        let ids = Ids { base: base_id, experts: pool.ids[..k].to_vec() };
        let expert_valid = pool.expert_valid.clone();
        let best = self.search(pool, n, &valid, &mut lin)?;
        let expert_refs: Vec<&[f32]> = experts.iter().map(Vec::as_slice).collect();
        let best_expert = argmin(&expert_valid.iter().map(|s| s.loss(utility)).collect::<Vec<_>>());
        let [soup, arithmetic, ties] = self.baselines(base, &expert_refs, best.evals, &valid, &mut lin, &ids)?;

        // Test scores.
        (self.progress)(&format!("seed {}: test scores", self.index + 1));
        let mut all: Vec<&[f32]> = vec![base];
        all.extend(&expert_refs);
        all.extend([
            soup.weights.as_slice(),
            arithmetic.weights.as_slice(),
            ties.weights.as_slice(),
            best.weights.as_slice(),
        ]);
        let test_scores = self.score_all(&all, &test)?;
        let base_valid = self.score_all(&[base], &valid)?.remove(0);
        lin.set_valid(base_id, base_valid.loss(utility));
        let expert_test = &test_scores[1..=k];
        let all_wrong: Vec<bool> = (0..test.len()).map(|j| expert_test.iter().all(|s| !s.correct[j])).collect();
        let emergent = |s: &Scores| {
            all_wrong.iter().zip(&s.correct).filter(|(w, c)| **w && **c).count() as f64 / test.len() as f64
        };
        let row = |name: &str, detail: String, evals: usize, valid: &Scores, test: &Scores| MethodResult {
            name: name.to_string(),
            detail,
            evals,
            valid: valid.loss(utility),
            test_bpb: test.bpb(),
            test_exact: test.exact_match(),
            emergence: emergent(test),
        };
        let baseline = |name: &str, b: &Baseline, test: &Scores| row(name, b.detail.clone(), b.evals, &b.valid, test);
        let methods = vec![
            row("base (pretrained)", String::new(), 1, &base_valid, &test_scores[0]),
            row(
                "best single expert",
                format!("expert {}", sc.skills[best_expert].name()),
                k,
                &expert_valid[best_expert],
                &expert_test[best_expert],
            ),
            baseline("uniform soup", &soup, &test_scores[k + 1]),
            baseline("task arithmetic", &arithmetic, &test_scores[k + 2]),
            baseline("TIES", &ties, &test_scores[k + 3]),
            MethodResult {
                name: super::report::SWARM.into(),
                detail: format!("{} iterations", best.iterations),
                evals: best.evals,
                valid: best.score,
                test_bpb: test_scores[k + 4].bpb(),
                test_exact: test_scores[k + 4].exact_match(),
                emergence: emergent(&test_scores[k + 4]),
            },
        ];
        let experts_rows: Vec<MethodResult> =
            (0..k).map(|e| row(sc.skills[e].name(), String::new(), 1, &expert_valid[e], &expert_test[e])).collect();

        // Checkpoints and lineage.
        // The base and the experts were saved when they were trained.
        lin.set_checkpoint(base_id, "base.safetensors");
        for (&id, skill) in ids.experts.iter().zip(&sc.skills) {
            lin.set_checkpoint(id, &format!("expert-{}.safetensors", skill.name()));
        }
        self.save(&mut lin, soup.node, "soup.safetensors", &soup.weights)?;
        self.save(&mut lin, arithmetic.node, "task-arithmetic.safetensors", &arithmetic.weights)?;
        self.save(&mut lin, ties.node, "ties.safetensors", &ties.weights)?;
        self.save(&mut lin, best.node, "swarm-best.safetensors", &best.weights)?;
        self.outputs.file(&self.dir.join("lineage.graphml"), lin.to_graphml().as_bytes())?;
        self.outputs.file(&self.dir.join("lineage.dot"), lin.to_dot().as_bytes())?;
        let ancestors = lin.ancestors(best.node);
        let experts_reached = ids.experts.iter().filter(|e| ancestors.contains(e)).count();
        Ok(SeedResult {
            index: self.index,
            seed: self.seed,
            methods,
            experts: experts_rows,
            all_wrong: all_wrong.iter().filter(|&&w| w).count(),
            test_items: test.len(),
            mixture: sc.skills.iter().map(|s| s.name().to_string()).zip(best.mixture).collect(),
            best_digest: digest(&best.weights),
            best_node: best.node,
            iterations: best.iterations,
            experts_reached,
            best_weights: best.weights,
            lineage: lin,
        })
    }
}

/// The starting swarm of one seed: positions (weights and mixture), their validation
/// losses and lineage nodes, the experts' validation scores and the evaluations spent.
struct Pool {
    positions: Vec<Vec<f32>>,
    losses: Vec<f64>,
    ids: Vec<u64>,
    expert_valid: Vec<Scores>,
    evals: usize,
}

/// What the search found: the global best's weights, mixture, validation score and
/// lineage node, the evaluations spent (pool included) and the iterations run.
struct Searched {
    weights: Vec<f32>,
    mixture: Vec<f64>,
    score: f64,
    node: u64,
    evals: usize,
    iterations: usize,
}

/// The lineage nodes the baselines link to: the base and the experts.
struct Ids {
    base: u64,
    experts: Vec<u64>,
}

/// A merge baseline chosen on the validation items: its weights, its validation
/// scores, its lineage node, the utility evaluations it used and what was chosen.
struct Baseline {
    weights: Vec<f32>,
    valid: Scores,
    node: u64,
    evals: usize,
    detail: String,
}

/// Index of the smallest value (the first on ties; NaN never wins).
fn argmin(xs: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x < xs[best] || xs[best].is_nan() && !x.is_nan() {
            best = i;
        }
    }
    best
}
