//! Ancestry and results analysis of run folders (`outerloop analyze` and
//! `outerloop compare`): progress, champion lineage, novelty against the seed library,
//! live genes, attribution, search-step scaling, and comparisons of runs with
//! factorial effects.
//!
//! Figures replayed from the event log (progress, lineage, attribution) are pure
//! functions of `events.jsonl`; figures that need new inner runs (novelty, live genes,
//! scaling) use fresh seeds derived from the scenario's root seed under the purpose
//! `analysis`, so a report is reproducible byte for byte. `analysis/README.md` explains
//! how to read each section.

pub mod attribution;
pub mod compare;
pub mod doc;
pub mod explore;
pub mod genes;
pub mod held_out;
pub mod lineage;
pub mod novelty;
pub mod plots;
pub mod progress;
pub mod render;
pub mod run_data;
pub mod scaling;

use serde::Serialize;

use self::attribution::Attribution;
use self::genes::Genes;
use self::held_out::{HeldOut, default_held_out};
use self::lineage::ChampionLineage;
use self::novelty::{Candidate, Novelty, Thresholds};
use self::progress::Progress;
use self::run_data::RunData;
use self::scaling::Scaling;
use crate::objective::registry::budget_in_units_of;
use crate::sim::episodes::{Episodes, analysis_root, compile, compile_text};

/// Knobs of an analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Fresh episodes per task for novelty and live genes.
    pub episodes: u32,
    /// Fresh episodes per held-out task and budget for the scaling curves.
    pub scaling_episodes: u32,
    /// Mechanisms in the novelty table (champion included).
    pub top: usize,
    /// Novelty thresholds.
    pub thresholds: Thresholds,
    /// Run the scaling curves (the most expensive section).
    pub scaling: bool,
    /// Held-out tasks (default: [`held_out::default_held_out`] of the run's tasks).
    pub held_out: Option<Vec<String>>,
    /// Live tasks to add to the held-out section.
    pub live: Vec<String>,
    /// Episodes per live task.
    pub live_episodes: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            episodes: 20,
            scaling_episodes: 20,
            top: 5,
            thresholds: Thresholds::default(),
            scaling: true,
            held_out: None,
            live: Vec::new(),
            live_episodes: 3,
        }
    }
}

/// The champion as the report names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChampionInfo {
    /// Mechanism id.
    pub id: u64,
    /// Verified fitness (claim when the verifier is off).
    pub fitness: Option<f64>,
    /// Whether `fitness` is verified.
    pub verified: bool,
    /// Canonical genome text.
    pub genome: String,
}

/// Every number of a report (also written as `report.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalysisReport {
    /// Run name.
    pub run: String,
    /// Root seed.
    pub seed: u64,
    /// Completed ticks.
    pub ticks_done: u32,
    /// Tasks of the run.
    pub tasks: Vec<String>,
    /// Inner budget of the run.
    pub budget: f64,
    /// Reference mechanism.
    pub reference: String,
    /// The champion.
    pub champion: Option<ChampionInfo>,
    /// Progress per tick and claim checks.
    pub progress: Progress,
    /// The champion's fitness against the reference on the analysis's own fresh
    /// episodes of the run's own (training) tasks (a third measurement after the claim
    /// and the verification).
    pub fresh_fitness: Option<crate::stats::Interval>,
    /// The champion on tasks the run never saw.
    pub held_out: Option<HeldOut>,
    /// The champion's lineage.
    pub lineage: Option<ChampionLineage>,
    /// Novelty of the champion and top mechanisms.
    pub novelty: Option<Novelty>,
    /// The champion's live genes.
    pub genes: Option<Genes>,
    /// Agents, operators, debate, verifier.
    pub attribution: Attribution,
    /// Search-step scaling on held-out tasks.
    pub scaling: Option<Scaling>,
    /// The configs the champion's inner loop tried on one fresh episode of the run's
    /// first task (the report's parallel coordinates).
    pub knobs: Option<explore::KnobsView>,
}

/// Analysis failures that are not bad input.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// A task or genome of the run could not be rebuilt.
    #[error("cannot rebuild the run's {what}: {detail}")]
    Rebuild {
        /// What.
        what: String,
        /// Why.
        detail: String,
    },
    /// A figure could not be drawn.
    #[error("{0}")]
    Draw(String),
}

fn rebuild(what: &str) -> impl FnOnce(String) -> AnalysisError + '_ {
    move |detail| AnalysisError::Rebuild { what: what.to_string(), detail }
}

/// Analyse a loaded run.
pub fn analyze(data: &RunData, opts: &Options) -> Result<AnalysisReport, AnalysisError> {
    let sc = &data.scenario;
    let root = analysis_root(sc);
    let progress = progress::progress(&data.events, data.ticks_done);
    let attribution = attribution::attribution(&data.events);
    let champion = data.champion.as_ref().map(|c| ChampionInfo {
        id: c.id,
        fitness: c.verified.or(c.claimed),
        verified: c.verified.is_some(),
        genome: c.genome.clone(),
    });
    let mut report = AnalysisReport {
        run: sc.name.clone(),
        seed: sc.seed,
        ticks_done: data.ticks_done,
        tasks: sc.tasks.clone(),
        budget: sc.inner_budget,
        reference: sc.reference.origin.clone(),
        champion: champion.clone(),
        progress,
        fresh_fitness: None,
        held_out: None,
        lineage: None,
        novelty: None,
        genes: None,
        attribution,
        scaling: None,
        knobs: None,
    };
    let Some(champ) = champion else { return Ok(report) };
    report.lineage = Some(lineage::lineage(&data.ancestry, champ.id));

    let (champ_genome, champ_prog) = compile_text(&champ.genome).map_err(rebuild("champion genome"))?;
    let fresh = Episodes::new(&sc.tasks, root, "novelty", opts.episodes).map_err(rebuild("tasks"))?;
    let reference_prog = compile(&sc.reference.genome).map_err(rebuild("reference genome"))?;
    let reference = fresh.run(&reference_prog, sc.inner_budget);
    let champ_results = fresh.run(&champ_prog, sc.inner_budget);
    report.genes = Some(genes::genes(champ.id, &champ_genome, &champ_results, &data.events));
    report.fresh_fitness = Some(crate::stats::bootstrap_mean(&fresh.gains(&champ_results, &reference), root));
    report.knobs = sc.tasks.first().and_then(|t| explore::champion_knobs(&champ_prog, t, sc.inner_budget, root));

    // Everything below is measured on tasks the run never saw.
    let (held_names, how) = match &opts.held_out {
        Some(names) => (names.clone(), "chosen with --held-out".to_string()),
        None => default_held_out(&sc.tasks),
    };
    let held_budget =
        budget_in_units_of(sc.inner_budget, &sc.tasks, &held_names).map_err(rebuild("held-out budget"))?;
    let held = Episodes::new(&held_names, root, "held-out", opts.episodes).map_err(rebuild("held-out tasks"))?;
    let live = if opts.live.is_empty() {
        None
    } else {
        Some(Episodes::new(&opts.live, root, "live", opts.live_episodes).map_err(rebuild("live tasks"))?)
    };
    let lib = novelty::library();
    // The champion and the library run once on the held-out episodes; the held-out and
    // novelty sections both read these results.
    let champ_held = held.run(&champ_prog, held_budget);
    let lib_held: Vec<_> = lib.iter().map(|l| held.run(&l.program, held_budget)).collect();
    report.held_out = Some(held_out::held_out(
        (&champ_prog, &champ_held),
        &reference_prog,
        &lib,
        &lib_held,
        &held,
        live.as_ref(),
        held_budget,
        how.clone(),
        root,
    ));

    // The other top mechanisms: living, verified, best first.
    let mut others: Vec<(u64, f64, &str)> = data
        .ancestry
        .graph
        .node_weights()
        .filter_map(|n| Some((n.id, n.mechanism()?)))
        .filter(|(id, m)| m.retired.is_none() && *id != champ.id)
        .filter_map(|(id, m)| Some((id, m.verified?, m.genome.as_str())))
        .collect();
    others.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    others.truncate(opts.top.saturating_sub(1));
    let compiled: Vec<(u64, Option<f64>, crate::genome::Genome, crate::genome::interp::Program)> = others
        .iter()
        .map(|&(id, v, text)| compile_text(text).map(|(g, p)| (id, Some(v), g, p)))
        .collect::<Result<_, _>>()
        .map_err(rebuild("top mechanisms"))?;
    let other_results: Vec<_> = compiled.iter().map(|c| held.run(&c.3, held_budget)).collect();
    let mut candidates = vec![Candidate {
        id: champ.id,
        verified: champ.fitness,
        genome: &champ_genome,
        program: &champ_prog,
        results: &champ_held,
    }];
    for (c, r) in compiled.iter().zip(&other_results) {
        candidates.push(Candidate { id: c.0, verified: c.1, genome: &c.2, program: &c.3, results: r });
    }
    report.novelty = Some(novelty::novelty(&candidates, &lib, &lib_held, &held, opts.thresholds, root));

    if opts.scaling {
        let held_out =
            Episodes::new(&held_names, root, "scaling", opts.scaling_episodes).map_err(rebuild("held-out tasks"))?;
        let name = format!("champion #{}", champ.id);
        let how = vec![how; held_names.len()];
        report.scaling = Some(scaling::scaling((&name, &champ_prog), &lib, &held_out, how, held_budget, root));
    }
    Ok(report)
}
