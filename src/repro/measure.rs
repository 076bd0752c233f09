//! Measuring a reproduction set from its run folders: every champion re-runs on common
//! fresh held-out (and live) episodes, and each claim gets its numbers, its tables and
//! a verdict by the rule its manifest states. Everything is read from the run folders
//! (event logs and checkpoints) or re-run on seeds derived from the set's name, so a
//! document regenerated from the same folders is byte-identical.

use std::path::Path;

use serde::Serialize;

use super::manifest::{ClaimKind, Job, ReproSet};
use super::runner::{ReproError, job_dir};
use crate::analysis::compare::{Factor, design, effects};
use crate::analysis::lineage::lineage;
use crate::analysis::novelty::{Candidate, LibraryEntry, Thresholds, library, novelty};
use crate::analysis::run_data::RunData;
use crate::analysis::scaling::MULTIPLIERS;
use crate::genome::interp::Program;
use crate::inner::FaultPolicy;
use crate::objective::registry::budget_in_units_of;
use crate::objective::registry::expand_tasks;
use crate::rng;
use crate::sim::episode_batch::EpisodeResult;
use crate::sim::episodes::{Episodes, compile, compile_text};
use crate::stats::mean_half_width;
use crate::stats::{Interval, bootstrap, mean};

/// A verdict by the set's stated rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The rule's condition for the claim holds.
    Reproduced,
    /// The rule's condition against the claim holds.
    NotReproduced,
    /// Neither: the intervals are too wide to tell.
    Inconclusive,
}

impl Verdict {
    /// Lower-case words for the document.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Reproduced => "reproduced",
            Verdict::NotReproduced => "not reproduced",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// A table of the document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// Caption.
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

/// How one champion compares with the seed library.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoveltyRecord {
    /// New by the rule: both distances past their thresholds and it beats its nearest
    /// library relative (interval above zero) on the held-out episodes.
    pub is_new: bool,
    /// The nearest library mechanism.
    pub nearest: String,
    /// Smallest structural distance to the library.
    pub structural: f64,
    /// Smallest behavioural distance to the library.
    pub behavioural: f64,
    /// Held-out gain over the nearest relative.
    pub versus_nearest: Interval,
    /// Primitive pairs no library mechanism combines.
    pub new_combinations: Vec<(String, String)>,
    /// The first-parent path from a seed: `#id operator (agent)` per step.
    pub lineage: Vec<String>,
}

/// One run of a set and its champion's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// Arm.
    pub arm: String,
    /// Run seed.
    pub seed: u64,
    /// Run folder.
    pub dir: String,
    /// Champion id (from the run's checkpoint).
    pub champion: Option<u64>,
    /// Champion genome.
    pub genome: Option<String>,
    /// The champion's verified fitness in its run (selection-biased; for reference).
    pub verified: Option<f64>,
    /// Mean held-out gain over the reference (log10 regret ratio).
    pub held_out: Option<f64>,
    /// Mean held-out final score minus the reference's (val bpb on GPT tables).
    pub held_out_score: Option<f64>,
    /// Mean live gain over the reference.
    pub live: Option<f64>,
    /// Mean live final score minus the reference's.
    pub live_score: Option<f64>,
    /// Novelty against the seed library.
    pub novelty: Option<NoveltyRecord>,
    /// Inner compute the run spent (its last checkpoint's metrics), so arms compare at
    /// equal compute and not only at equal ticks.
    pub compute: Option<f64>,
}

/// Everything measured for one claim.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimResult {
    /// Set name.
    pub set: String,
    /// The claim.
    pub claim: ClaimKind,
    /// Title.
    pub title: String,
    /// What the source reported.
    pub source: String,
    /// The verdict rule.
    pub rule: String,
    /// The manifest.
    pub scenario: String,
    /// The headline measurement with its interval.
    pub measurement: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Detail tables.
    pub tables: Vec<Table>,
    /// Remarks computed from the numbers.
    pub notes: Vec<String>,
    /// Genomes worth showing: a caption and the genome text.
    pub genomes: Vec<(String, String)>,
    /// Every run.
    pub runs: Vec<RunRecord>,
}

/// Mean with its 95% t interval over replicate runs (NaN bounds below two runs).
pub fn t_interval(xs: &[f64]) -> Interval {
    let (m, h) = mean_half_width(xs);
    Interval { estimate: m, lo: m - h, hi: m + h }
}

/// `+0.123 [+0.050, +0.190]`, or the estimate alone when the bounds are undefined.
fn show(i: &Interval) -> String {
    if i.lo.is_nan() || i.hi.is_nan() { format!("{:+.3} (one run: no interval)", i.estimate) } else { i.signed() }
}

/// The root seed of a set's evaluation episodes.
fn root(set: &ReproSet) -> u64 {
    rng::derive(0x7e9_2026, &format!("reproduce-{}", set.name), &[])
}

fn rebuild(what: &str) -> impl FnOnce(String) -> ReproError + '_ {
    move |detail| ReproError::Measure(format!("cannot rebuild {what}: {detail}"))
}

/// A loaded run of an arm.
struct ArmRun {
    job: Job,
    data: RunData,
    program: Option<(crate::genome::Genome, Program)>,
}

fn load_runs(set: &ReproSet, out: &Path) -> Result<Vec<ArmRun>, ReproError> {
    let mut runs = Vec::new();
    for job in set.jobs(out)?.into_iter().filter(|j| j.arm != "prior") {
        let dir = job_dir(out, &job);
        if !super::runner::finished(set, &dir) {
            return Err(ReproError::Input(crate::diagnostic::InputError::file(
                &dir,
                "this run of the set is missing or unfinished",
                format!(
                    "run `outerloop reproduce run {}{}` first",
                    set.folder().display(),
                    if set.quick { " --quick" } else { "" }
                ),
            )));
        }
        let data = RunData::load(&dir)?;
        let program = match &data.champion {
            Some(c) => Some(compile_text(&c.genome).map_err(rebuild("a champion"))?),
            None => None,
        };
        runs.push(ArmRun { job, data, program });
    }
    Ok(runs)
}

/// The set's held-out and live episodes, the reference's results on them and the
/// library's (for novelty).
struct Evaluation {
    held: Episodes,
    held_budget: f64,
    reference_held: Vec<EpisodeResult>,
    live: Option<(Episodes, f64, Vec<EpisodeResult>)>,
    lib: Vec<LibraryEntry>,
    lib_held: Vec<Vec<EpisodeResult>>,
}

impl Evaluation {
    fn new(set: &ReproSet, first: &RunData) -> Result<Self, ReproError> {
        let sc = &first.scenario;
        let m = &set.manifest;
        let expand = |names: &[String]| -> Result<Vec<String>, ReproError> {
            let mut out = Vec::new();
            for n in names {
                out.extend(expand_tasks(n).map_err(|e| rebuild("the held-out tasks")(e.to_string()))?);
            }
            Ok(out)
        };
        let names = if m.held_out.is_empty() { sc.tasks.clone() } else { expand(&m.held_out)? };
        let live_names = expand(&m.live)?;
        let held_budget = budget_in_units_of(sc.inner_budget, &sc.tasks, &names).map_err(rebuild("the budget"))?;
        let held = Episodes::new(&names, root(set), "held-out", set.episodes()).map_err(rebuild("held-out tasks"))?;
        let reference = compile(&sc.reference.genome).map_err(rebuild("the reference"))?;
        let reference_held = held.run(&reference, held_budget);
        let live = if live_names.is_empty() || set.live_episodes() == 0 {
            None
        } else {
            let b = budget_in_units_of(sc.inner_budget, &sc.tasks, &live_names).map_err(rebuild("the live budget"))?;
            let e =
                Episodes::new(&live_names, root(set), "live", set.live_episodes()).map_err(rebuild("live tasks"))?;
            let r = e.run(&reference, b);
            Some((e, b, r))
        };
        let lib = library();
        let lib_held = lib.iter().map(|l| held.run(&l.program, held_budget)).collect();
        Ok(Evaluation { held, held_budget, reference_held, live, lib, lib_held })
    }

    /// Score a run's champion: held-out and live gains and score differences, novelty.
    /// Also returns the champion's held-out results (run in its arm's executor).
    fn record(&self, set: &ReproSet, run: &ArmRun) -> (RunRecord, Option<Vec<EpisodeResult>>) {
        let c = run.data.champion.as_ref();
        let mut rec = RunRecord {
            arm: run.job.arm.clone(),
            seed: run.job.seed,
            dir: run.data.dir.display().to_string(),
            champion: c.map(|c| c.id),
            genome: c.map(|c| c.genome.clone()),
            verified: c.and_then(|c| c.verified),
            held_out: None,
            held_out_score: None,
            live: None,
            live_score: None,
            novelty: None,
            compute: run.data.compute.last().copied(),
        };
        let Some((genome, program)) = &run.program else { return (rec, None) };
        let execution = run.data.scenario.execution;
        let results = self.held.run_with(program, self.held_budget, execution);
        let gains = self.held.gains(&results, &self.reference_held);
        rec.held_out = Some(mean(&gains));
        rec.held_out_score = Some(score_difference(&results, &self.reference_held));
        if let Some((live, budget, reference)) = &self.live {
            let r = live.run_with(program, *budget, execution);
            rec.live = Some(mean(&live.gains(&r, reference)));
            rec.live_score = Some(score_difference(&r, reference));
        }
        if let Some(champ) = c {
            let cand = Candidate { id: champ.id, verified: champ.verified, genome, program, results: &results };
            let n = novelty(&[cand], &self.lib, &self.lib_held, &self.held, Thresholds::default(), root(set));
            if let Some(row) = n.rows.into_iter().next() {
                let path = lineage(&run.data.ancestry, champ.id)
                    .path
                    .iter()
                    .map(|s| format!("#{} {} ({})", s.id, s.operator, s.agent))
                    .collect();
                rec.novelty = Some(NoveltyRecord {
                    is_new: row.is_new,
                    nearest: row.nearest,
                    structural: row.min_structural,
                    behavioural: row.min_behavioural,
                    versus_nearest: row.versus_nearest,
                    new_combinations: row.new_combinations,
                    lineage: path,
                });
            }
        }
        (rec, Some(results))
    }
}

fn score_difference(results: &[EpisodeResult], reference: &[EpisodeResult]) -> f64 {
    let d: Vec<f64> = results.iter().zip(reference).map(|(r, b)| r.final_score - b.final_score).collect();
    mean(&d)
}

/// Measure one set from its run folders in `out` (`others`: the results of the sets
/// measured before, which the novelty claim reads).
pub fn measure(set: &ReproSet, out: &Path, others: &[ClaimResult]) -> Result<ClaimResult, ReproError> {
    let m = &set.manifest;
    let mut result = ClaimResult {
        set: set.name.clone(),
        claim: m.claim,
        title: m.title.clone(),
        source: m.source.clone(),
        rule: m.rule.clone(),
        scenario: set.path.display().to_string(),
        measurement: String::new(),
        verdict: Verdict::Inconclusive,
        tables: Vec::new(),
        notes: Vec::new(),
        genomes: Vec::new(),
        runs: Vec::new(),
    };
    match m.claim {
        ClaimKind::Bilevel => bilevel(set, out, &mut result)?,
        ClaimKind::Factorial => factorial(set, out, &mut result)?,
        ClaimKind::Scaling => scaling(set, out, &mut result)?,
        ClaimKind::Swarm => swarm(set, out, &mut result)?,
        ClaimKind::Novelty => novelty_claim(others, &mut result),
    }
    Ok(result)
}

/// Per-arm values of a run field, arms in manifest order.
fn by_arm(set: &ReproSet, records: &[RunRecord], f: impl Fn(&RunRecord) -> Option<f64>) -> Vec<(String, Vec<f64>)> {
    set.arms()
        .iter()
        .map(|a| (a.name.clone(), records.iter().filter(|r| r.arm == a.name).filter_map(&f).collect()))
        .collect()
}

/// Paired-by-seed differences of a field between two arms.
fn paired(records: &[RunRecord], a: &str, b: &str, f: impl Fn(&RunRecord) -> Option<f64>) -> Vec<f64> {
    records
        .iter()
        .filter(|r| r.arm == a)
        .filter_map(|r| {
            let other = records.iter().find(|o| o.arm == b && o.seed == r.seed)?;
            Some(f(r)? - f(other)?)
        })
        .collect()
}

/// The arm's mean inner compute per run, in the tasks' units ("-" when no run recorded it).
fn show_compute(runs: &[&RunRecord]) -> String {
    let spent: Vec<f64> = runs.iter().filter_map(|r| r.compute).collect();
    if spent.is_empty() { "-".into() } else { format!("{:.0}", spent.iter().sum::<f64>() / spent.len() as f64) }
}

fn bilevel(set: &ReproSet, out: &Path, result: &mut ClaimResult) -> Result<(), ReproError> {
    let runs = load_runs(set, out)?;
    let Some(first) = runs.first() else { return Ok(()) };
    let eval = Evaluation::new(set, &first.data)?;
    result.runs = runs.iter().map(|r| eval.record(set, r).0).collect();
    let recs = &result.runs;
    let arms = set.arms();
    let mut rows = Vec::new();
    for a in &arms {
        let rs: Vec<&RunRecord> = recs.iter().filter(|r| r.arm == a.name).collect();
        let col =
            |f: &dyn Fn(&RunRecord) -> Option<f64>| t_interval(&rs.iter().filter_map(|r| f(r)).collect::<Vec<_>>());
        let held = col(&|r| r.held_out);
        let new = rs.iter().filter(|r| r.novelty.as_ref().is_some_and(|n| n.is_new)).count();
        rows.push(vec![
            a.name.clone(),
            a.label.clone(),
            rs.len().to_string(),
            show(&held),
            format!("{:.2}x", 10f64.powf(held.estimate)),
            show(&col(&|r| r.held_out_score)),
            if eval.live.is_some() { show(&col(&|r| r.live)) } else { "-".into() },
            if eval.live.is_some() { show(&col(&|r| r.live_score)) } else { "-".into() },
            format!("{new} of {}", rs.len()),
            show_compute(&rs),
        ]);
    }
    result.tables.push(Table {
        title: format!(
            "Each arm's champions against the plain loop ({}) on {} held-out episodes{}; mean over run seeds with a 95% t interval over runs",
            eval_reference(&first.data),
            eval.held.jobs.len(),
            eval.live.as_ref().map_or(String::new(), |(l, _, _)| format!(" and {} live episodes", l.jobs.len()))
        ),
        header: [
            "arm",
            "group",
            "runs",
            "held-out gain (log10 regret ratio)",
            "regret ratio",
            "held-out Δ score (val bpb)",
            "live gain",
            "live Δ score (val bpb)",
            "new by the rule",
            "inner compute (mean per run)",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    });
    // The claim: the subject arm against each baseline arm, paired by run seed.
    let m = &set.manifest;
    let subject = m.arms.last().map(|a| a.name.clone()).unwrap_or_default();
    let mut verdicts = Vec::new();
    let mut rows = Vec::new();
    let mut headline = Vec::new();
    for base in arms.iter().filter(|a| a.name != subject) {
        let d = t_interval(&paired(recs, &subject, &base.name, |r| r.held_out));
        let live = t_interval(&paired(recs, &subject, &base.name, |r| r.live));
        let score = t_interval(&paired(recs, &subject, &base.name, |r| r.held_out_score));
        rows.push(vec![
            format!("{subject} - {}", base.name),
            show(&d),
            show(&score),
            if eval.live.is_some() { show(&live) } else { "-".into() },
        ]);
        verdicts.push(d);
        headline.push(format!("{subject} - {}: {}", base.name, show(&d)));
    }
    result.tables.push(Table {
        title: "The subject arm minus each other arm, paired by run seed (95% t interval over runs)".into(),
        header: ["difference", "held-out gain", "held-out Δ score", "live gain"].map(String::from).to_vec(),
        rows,
    });
    // The rule: the subject beats the first arm (the plain loop) and the second (tuning only).
    let needed: Vec<&Interval> = verdicts.iter().take(2).collect();
    result.verdict = if needed.iter().all(|i| i.lo > 0.0) {
        Verdict::Reproduced
    } else if needed.iter().any(|i| i.hi <= 0.0) {
        Verdict::NotReproduced
    } else {
        Verdict::Inconclusive
    };
    result.measurement = format!("held-out gain, {}", headline.join("; "));
    let base_score = by_arm(set, recs, |r| r.held_out_score);
    if let Some((_, first)) = base_score.first() {
        result.notes.push(format!(
            "The first arm's champion is the reference itself in every run (mean held-out Δ score {:+.4}), so each gain is an improvement over the plain loop.",
            mean(first)
        ));
    }
    Ok(())
}

fn eval_reference(d: &RunData) -> String {
    d.scenario.reference.origin.clone()
}

fn factorial(set: &ReproSet, out: &Path, result: &mut ClaimResult) -> Result<(), ReproError> {
    let runs = load_runs(set, out)?;
    let Some(first) = runs.first() else { return Ok(()) };
    let eval = Evaluation::new(set, &first.data)?;
    let mut gains = Vec::new();
    for r in &runs {
        let (rec, results) = eval.record(set, r);
        result.runs.push(rec);
        gains.push(results.map(|res| eval.held.gains(&res, &eval.reference_held)));
    }
    let data: Vec<&RunData> = runs.iter().map(|r| &r.data).collect();
    let (factors, cells) = design(&data).map_err(|e| ReproError::Measure(format!("not a factorial design: {e}")))?;
    let Some(gains) = gains.into_iter().collect::<Option<Vec<Vec<f64>>>>() else {
        result.notes.push("a run has no champion; effects cannot be estimated".into());
        return Ok(());
    };
    let effects = effects(&factors, &cells, &gains, root(set));
    let arm_rows = by_arm(set, &result.runs, |r| r.held_out)
        .into_iter()
        .map(|(a, v)| vec![a, v.len().to_string(), show(&t_interval(&v))])
        .collect();
    result.tables.push(Table {
        title: format!(
            "Held-out gain of each arm's champions over {} on {} episodes (mean over runs, 95% t interval over runs)",
            eval_reference(&first.data),
            eval.held.jobs.len()
        ),
        header: ["arm", "runs", "held-out gain"].map(String::from).to_vec(),
        rows: arm_rows,
    });
    result.tables.push(Table {
        title: "Factorial effects (two-level bootstrap: replicate runs within cells, then episodes)".into(),
        header: ["effect", "estimate [95% CI]", "p (sign flip)"].map(String::from).to_vec(),
        rows: effects
            .iter()
            .map(|e| vec![effect_name(set, &e.name, &factors), e.estimate.signed(), format!("{:.3}", e.p_value)])
            .collect(),
    });
    let find = |n: &str| effects.iter().find(|e| e.name == n).map(|e| e.estimate);
    let mains: Vec<Interval> = factors.iter().filter_map(|f| find(&f.key)).collect();
    let removal = find("removal synergy");
    result.verdict = match removal {
        Some(r) if r.lo > 0.0 && mains.iter().all(|m| m.lo > 0.0) => Verdict::Reproduced,
        Some(r) if r.hi <= 0.0 || mains.iter().any(|m| m.hi <= 0.0) => Verdict::NotReproduced,
        _ => Verdict::Inconclusive,
    };
    result.measurement = format!(
        "removal synergy {}; main effects {}",
        removal.map_or("-".into(), |r| r.signed()),
        factors
            .iter()
            .zip(&mains)
            .map(|(f, m)| format!("{} {}", short(set, &f.key), m.signed()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// The manifest's short name of a factor key.
fn short(set: &ReproSet, key: &str) -> String {
    set.manifest.factors.iter().find(|f| f.key == key).map_or_else(|| key.to_string(), |f| f.name.clone())
}

fn effect_name(set: &ReproSet, name: &str, factors: &[Factor]) -> String {
    if name.contains("synergy") {
        return name.to_string();
    }
    let part = |k: &str| factors.iter().find(|f| f.key == k).map_or_else(|| k.to_string(), |f| short(set, &f.key));
    name.split(" x ").map(part).collect::<Vec<_>>().join(" x ")
}

/// Least-squares line `y = a + b x`: (intercept, slope, R²).
pub fn fit_line(xs: &[f64], ys: &[f64]) -> (f64, f64, f64) {
    let (mx, my) = (mean(xs), mean(ys));
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let syy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
    let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let r2 = if syy > 0.0 { (sxy * sxy) / (sxx * syy) } else { 1.0 };
    (my - b * mx, b, r2)
}

/// Per multiplier, per episode log10 regret of a program run under `execution`; the
/// results at 1x are passed in (already run for the held-out and novelty numbers).
fn curve(
    ep: &Episodes,
    prog: &Program,
    budget: f64,
    execution: FaultPolicy,
    at_one: &[EpisodeResult],
) -> Vec<Vec<f64>> {
    MULTIPLIERS
        .iter()
        .map(
            |&m| {
                if m == 1.0 {
                    ep.log_regrets(at_one)
                } else {
                    ep.log_regrets(&ep.run_with(prog, budget * m, execution))
                }
            },
        )
        .collect()
}

fn mean_curve(per: &[Vec<f64>], idx: &[usize]) -> Vec<f64> {
    per.iter().map(|v| idx.iter().map(|&i| v[i]).sum::<f64>() / idx.len() as f64).collect()
}

fn scaling(set: &ReproSet, out: &Path, result: &mut ClaimResult) -> Result<(), ReproError> {
    let runs = load_runs(set, out)?;
    let Some(first) = runs.first() else { return Ok(()) };
    let eval = Evaluation::new(set, &first.data)?;
    let xs: Vec<f64> = MULTIPLIERS.iter().map(|m| (m * eval.held_budget).log10()).collect();
    let all: Vec<usize> = (0..eval.held.jobs.len()).collect();
    let lib_best = eval.held.lowest_mean_log_regret(&eval.lib_held);
    let lib_curve = curve(
        &eval.held,
        &eval.lib[lib_best].program,
        eval.held_budget,
        FaultPolicy::SelfHealing,
        &eval.lib_held[lib_best],
    );
    let (lib_a, lib_b, lib_r2) = fit_line(&xs, &mean_curve(&lib_curve, &all));
    let lib_slope = bootstrap(all.len(), root(set), |idx| fit_line(&xs, &mean_curve(&lib_curve, idx)).1);
    let mut rows = Vec::new();
    let (mut slopes, mut d_slope, mut d_level, mut r2s) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let at_one = MULTIPLIERS.iter().position(|&m| m == 1.0).unwrap_or(0);
    for r in &runs {
        let (rec, held_results) = eval.record(set, r);
        if let (Some((_, prog)), Some(held_results)) = (&r.program, &held_results) {
            let c = curve(&eval.held, prog, eval.held_budget, r.data.scenario.execution, held_results);
            let mc = mean_curve(&c, &all);
            let (a, b, r2) = fit_line(&xs, &mc);
            slopes.push(b);
            r2s.push(r2);
            d_slope.push(b - lib_b);
            d_level.push((a + b * xs[at_one]) - (lib_a + lib_b * xs[at_one]));
            let mut row = vec![format!("champion {} s{} #{}", r.job.arm, r.job.seed, rec.champion.unwrap_or(0))];
            row.extend(mc.iter().map(|v| format!("{v:.3}")));
            row.extend([format!("{b:+.3}"), format!("{r2:.3}")]);
            rows.push(row);
        }
        result.runs.push(rec);
    }
    let mut row = vec![format!("library best: {}", eval.lib[lib_best].name)];
    row.extend(mean_curve(&lib_curve, &all).iter().map(|v| format!("{v:.3}")));
    row.extend([lib_slope.signed(), format!("{lib_r2:.3}")]);
    rows.push(row);
    let mut header = vec!["curve".to_string()];
    header.extend(MULTIPLIERS.iter().map(|m| format!("{m}x")));
    header.extend(["exponent b (regret ∝ budget^b)".to_string(), "R²".to_string()]);
    result.tables.push(Table {
        title: format!(
            "Mean log10 regret on {} held-out episodes against inner budget (multiples of {} full trials), and the fitted power law",
            eval.held.jobs.len(),
            eval.held_budget
        ),
        header,
        rows,
    });
    let champ = t_interval(&slopes);
    let (ds, dl) = (t_interval(&d_slope), t_interval(&d_level));
    result.tables.push(Table {
        title: "Champions minus the best library mechanism (95% t interval over runs)".into(),
        header: ["quantity", "estimate"].map(String::from).to_vec(),
        rows: vec![
            vec!["champion exponent b".into(), show(&champ)],
            vec!["library exponent b (bootstrap over episodes)".into(), lib_slope.signed()],
            vec!["Δ exponent (slope)".into(), show(&ds)],
            vec!["Δ log10 regret at 1x (shift)".into(), show(&dl)],
        ],
    });
    let fits = r2s.iter().all(|&r| r >= 0.9) && lib_r2 >= 0.9;
    result.verdict = if champ.hi < 0.0 && lib_slope.hi < 0.0 && fits {
        Verdict::Reproduced
    } else if champ.lo >= 0.0 || lib_slope.lo >= 0.0 {
        Verdict::NotReproduced
    } else {
        Verdict::Inconclusive
    };
    let moves = match (dl.hi < 0.0 || dl.lo > 0.0, ds.hi < 0.0 || ds.lo > 0.0) {
        (true, false) => "the champion shifts the curve (lower regret at every budget) without changing its slope",
        (false, true) => "the champion changes the slope, not the level at the run's budget",
        (true, true) => "the champion both shifts the curve and changes its slope",
        (false, false) => "neither the shift nor the slope differs detectably from the best library mechanism",
    };
    result.notes.push(format!(
        "R² of the log-log fits: champions {:.3} to {:.3}, library {lib_r2:.3}; {moves}.",
        r2s.iter().copied().fold(f64::INFINITY, f64::min),
        r2s.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    ));
    result.measurement =
        format!("exponent b: champions {}, best library {}; Δ slope {}", show(&champ), lib_slope.signed(), show(&ds));
    Ok(())
}

fn swarm(set: &ReproSet, out: &Path, result: &mut ClaimResult) -> Result<(), ReproError> {
    let jobs = set.jobs(out)?;
    let Some(job) = jobs.first() else { return Ok(()) };
    let path = job_dir(out, job).join("report.json");
    let text = crate::input::read_text(&path).map_err(|_| {
        ReproError::Input(crate::diagnostic::InputError::file(
            &path,
            "the swarm run of the set is missing or unfinished",
            format!("run `outerloop reproduce run {}` first", set.folder().display()),
        ))
    })?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ReproError::Measure(format!("{}: {e}", path.display())))?;
    let numbers = |x: &serde_json::Value| -> Vec<f64> {
        x.as_array().map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect()).unwrap_or_default()
    };
    let mut rows = Vec::new();
    let mut bpb = Vec::new();
    for p in v["swarm_minus"].as_array().into_iter().flatten() {
        let name = p["versus"].as_str().unwrap_or("?").to_string();
        let d = t_interval(&numbers(&p["test_bpb_diff"]));
        let e = t_interval(&numbers(&p["test_exact_diff"]));
        rows.push(vec![name.clone(), show(&d), show(&e)]);
        if name != "base (pretrained)" {
            bpb.push((name, d));
        }
    }
    let seeds = v["seeds"].as_array().cloned().unwrap_or_default();
    let emergence: Vec<f64> = seeds
        .iter()
        .filter_map(|s| s["methods"].as_array()?.iter().find(|m| m["name"] == "model swarm")?["emergence"].as_f64())
        .collect();
    let emerge = t_interval(&emergence);
    result.tables.push(Table {
        title: format!("Model swarm minus each method, paired by seed over {} seeds (95% t interval)", seeds.len()),
        header: ["versus", "Δ test bpb", "Δ test exact match"].map(String::from).to_vec(),
        rows,
    });
    result.tables.push(Table {
        title: "Correctness emergence: test items every expert gets wrong that the swarm's model gets right".into(),
        header: ["quantity", "mean [95% t CI over seeds]"].map(String::from).to_vec(),
        rows: vec![vec!["emergence rate".into(), show(&emerge)]],
    });
    result.verdict = if bpb.iter().all(|(_, d)| d.hi < 0.0) && emerge.lo > 0.0 {
        Verdict::Reproduced
    } else if bpb.iter().any(|(_, d)| d.lo > 0.0) || emerge.hi <= 0.0 {
        Verdict::NotReproduced
    } else {
        Verdict::Inconclusive
    };
    result.measurement = format!(
        "Δ test bpb {}; emergence {}",
        bpb.iter().map(|(n, d)| format!("vs {n} {}", show(d))).collect::<Vec<_>>().join(", "),
        show(&emerge)
    );
    Ok(())
}

fn novelty_claim(others: &[ClaimResult], result: &mut ClaimResult) {
    let champions: Vec<(&ClaimResult, &RunRecord)> =
        others.iter().flat_map(|c| c.runs.iter().map(move |r| (c, r))).filter(|(_, r)| r.novelty.is_some()).collect();
    let new: Vec<&(&ClaimResult, &RunRecord)> =
        champions.iter().filter(|(_, r)| r.novelty.as_ref().is_some_and(|n| n.is_new)).collect();
    let mut rows = Vec::new();
    for c in others.iter().filter(|c| c.runs.iter().any(|r| r.novelty.is_some())) {
        let mut arms: Vec<&str> = c.runs.iter().map(|r| r.arm.as_str()).collect();
        arms.dedup();
        for arm in arms {
            let rs: Vec<&RunRecord> = c.runs.iter().filter(|r| r.arm == arm && r.novelty.is_some()).collect();
            let k = rs.iter().filter(|r| r.novelty.as_ref().is_some_and(|n| n.is_new)).count();
            let structural = mean(&rs.iter().filter_map(|r| Some(r.novelty.as_ref()?.structural)).collect::<Vec<_>>());
            rows.push(vec![c.set.clone(), arm.to_string(), format!("{k} of {}", rs.len()), format!("{structural:.3}")]);
        }
    }
    result.tables.push(Table {
        title: "Champions new by the rule (structure, behaviour, and beating the nearest library relative on held-out episodes)".into(),
        header: ["set", "arm", "new", "mean structural distance"].map(String::from).to_vec(),
        rows,
    });
    let mut pairs: std::collections::BTreeMap<(String, String), usize> = std::collections::BTreeMap::new();
    for (_, r) in &new {
        for p in &r.novelty.as_ref().map(|n| n.new_combinations.clone()).unwrap_or_default() {
            *pairs.entry(p.clone()).or_default() += 1;
        }
    }
    let mut shared: Vec<((String, String), usize)> = pairs.into_iter().collect();
    shared.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    shared.truncate(8);
    result.tables.push(Table {
        title: "Primitive pairs no library mechanism combines, by how many new champions share them".into(),
        header: ["pair", "new champions"].map(String::from).to_vec(),
        rows: shared.iter().map(|((a, b), n)| vec![format!("{a} + {b}"), n.to_string()]).collect(),
    });
    // The most interesting: new champions that beat their nearest relative by the most.
    let mut ranked: Vec<&&(&ClaimResult, &RunRecord)> = new.iter().collect();
    ranked.sort_by(|a, b| {
        let g = |x: &&&(&ClaimResult, &RunRecord)| x.1.novelty.as_ref().map_or(0.0, |n| n.versus_nearest.estimate);
        g(b).total_cmp(&g(a)).then(a.1.dir.cmp(&b.1.dir))
    });
    for (c, r) in ranked.iter().take(3).map(|x| **x) {
        let Some(n) = r.novelty.as_ref() else { continue };
        let caption = format!(
            "{} {} run seed {}, champion #{}: beats its nearest library relative {} by {} on held-out episodes (structural distance {:.3}, behavioural {:.3}; picked as one of the {} largest of {} new champions on these same episodes, so the margin is selection-biased upward). Lineage: {}.",
            c.set,
            r.arm,
            r.seed,
            r.champion.unwrap_or(0),
            n.nearest,
            n.versus_nearest.signed(),
            n.structural,
            n.behavioural,
            ranked.len().min(3),
            ranked.len(),
            n.lineage.join(" -> ")
        );
        result.genomes.push((caption, r.genome.clone().unwrap_or_default()));
    }
    let (k, n) = (new.len() as u64, champions.len() as u64);
    let (lo, hi) = crate::stats::wilson(k, n);
    result.measurement = format!(
        "{k} of {n} champions new by the rule ({:.0}% [{:.0}%, {:.0}%] Wilson)",
        100.0 * k as f64 / n.max(1) as f64,
        100.0 * lo,
        100.0 * hi
    );
    result.verdict = if lo > 0.0 && k > 0 {
        Verdict::Reproduced
    } else if n > 0 && k == 0 {
        Verdict::NotReproduced
    } else {
        Verdict::Inconclusive
    };
}
