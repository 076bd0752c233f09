//! Several runs side by side (for example the arms of an ablation): each champion is
//! re-run on common fresh episodes against one reference, with bootstrap intervals and
//! paired permutation tests; when the runs form a 2^k factorial design over scenario
//! keys, main effects, interactions and the synergy of the full combination.

use std::collections::BTreeMap;

use rand::RngExt;
use serde::Serialize;

use super::AnalysisError;
use super::doc::{Block, Doc};
use super::plots::{Axes, Series, line_chart};
use super::progress::progress;
use super::run_data::RunData;
use crate::rng;
use crate::sim::episodes::{Episodes, compile, compile_text};
use crate::stats::{BOOTSTRAP, Interval, bootstrap_mean, holm, mean, quantile_sorted, sign_flip_p};

/// Keys that name or place a run rather than change what it does.
const NOT_FACTORS: [&str; 3] = ["name", "seed", "out"];
/// Largest factorial design analysed.
const MAX_FACTORS: usize = 5;

/// One run's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    /// Folder.
    pub dir: String,
    /// Scenario name.
    pub name: String,
    /// Root seed.
    pub seed: u64,
    /// Champion id.
    pub champion: Option<u64>,
    /// The champion's verified fitness in its own run.
    pub verified: Option<f64>,
    /// The champion's fitness on the common episodes against the common reference.
    pub common: Option<Interval>,
    /// Best verified fitness of the living population per tick.
    pub best_verified: Vec<Option<f64>>,
    /// Inner compute spent by the end of each tick.
    pub compute: Vec<f64>,
}

/// A paired difference of two runs' champions on the common episodes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    /// First run (index).
    pub a: usize,
    /// Second run (index).
    pub b: usize,
    /// Mean of per-episode gain(a) - gain(b), with a bootstrap interval.
    pub difference: Interval,
    /// Sign-flip permutation p-value.
    pub p_value: f64,
}

/// Runs of one scenario that differ only in name, seed or output folder: replicates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// The first run's scenario name.
    pub name: String,
    /// Runs (indices) in the group.
    pub runs: Vec<usize>,
    /// Mean over the runs of each champion's mean gain on the common episodes, with a
    /// two-level bootstrap interval (runs resampled, then episodes): run-to-run variance
    /// is in it. `None` when a run has no champion.
    pub common: Option<Interval>,
    /// Standard deviation of the runs' mean gains (run-to-run spread); `None` below two
    /// runs.
    pub run_sd: Option<f64>,
}

/// The difference of two groups of replicates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupPair {
    /// First group (index).
    pub a: usize,
    /// Second group (index).
    pub b: usize,
    /// Mean gain of group a minus group b, with a two-level bootstrap interval (each
    /// group's runs resampled, then the common episodes, paired).
    pub difference: Interval,
    /// Permutation p-value over run labels (the runs of both groups reassigned in every
    /// way, or 20,000 random ways): the unit of replication is the run, not the episode.
    pub p_value: f64,
    /// The smallest p-value this many runs can give (1 / the number of reassignments;
    /// 2 / that number for groups of equal size, whose mirrored split ties).
    pub min_p: f64,
}

/// A two-level factor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    /// Scenario key (`section.key`).
    pub key: String,
    /// Level coded -1.
    pub low: String,
    /// Level coded +1.
    pub high: String,
}

/// An effect of the factorial design.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effect {
    /// `A`, `A x B`, ... in factor names, `synergy` or `removal synergy`.
    pub name: String,
    /// Estimate with a bootstrap interval (episodes and replicate runs resampled).
    pub estimate: Interval,
    /// Sign-flip permutation p-value over episodes.
    pub p_value: f64,
}

/// The factorial analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factorial {
    /// Factors in key order.
    pub factors: Vec<Factor>,
    /// Runs (indices) per cell; cell bit j set = factor j at its high level.
    pub cells: Vec<Vec<usize>>,
    /// Main effects and interactions (difference between the mean response at +1 and
    /// at -1 of the contrast), then the synergy: (all high - all low) minus the sum of
    /// each factor's effect alone from all low. Synergy > 0: the whole is more than the
    /// sum of its parts. Last the removal synergy: (all high - all low) minus the sum of
    /// removing each factor alone from all high; > 0: removing several together hurts
    /// more than the sum of removing each (components that cover for each other).
    pub effects: Vec<Effect>,
}

/// The comparison's data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Common tasks.
    pub tasks: Vec<String>,
    /// Common episodes.
    pub episodes: usize,
    /// Common reference (the first run's).
    pub reference: String,
    /// The runs in the order given.
    pub runs: Vec<RunRow>,
    /// Paired differences.
    pub pairs: Vec<Pair>,
    /// The runs grouped by scenario (replicates together), in order of first run.
    pub groups: Vec<Group>,
    /// Differences between groups, when some group has replicates.
    pub group_pairs: Vec<GroupPair>,
    /// Factorial effects, when the runs form a 2^k design.
    pub factorial: Option<Factorial>,
    /// Why there is no factorial analysis, when there is none.
    pub design: String,
}

/// Compare loaded runs on `per_task` common fresh episodes per task, on the runs' own
/// tasks or on `tasks` (held-out tasks: the runs' budget is converted to full-trial
/// equivalents of them).
pub fn compare(
    runs: &[RunData],
    tasks: Option<&[String]>,
    per_task: u32,
    seed: u64,
) -> Result<Comparison, AnalysisError> {
    let first = &runs[0].scenario;
    if let Some(other) = runs.iter().find(|r| r.scenario.tasks != first.tasks) {
        return Err(AnalysisError::Rebuild {
            what: "comparison".into(),
            detail: format!(
                "{} has tasks {:?} but {} has {:?}; compare runs of the same tasks",
                runs[0].dir.display(),
                first.tasks,
                other.dir.display(),
                other.scenario.tasks
            ),
        });
    }
    let root = rng::derive(seed, "compare", &[]);
    let names = tasks.map(<[String]>::to_vec).unwrap_or_else(|| first.tasks.clone());
    // Each run's budget, in the units of the tasks it is scored on.
    let budget_of = |r: &RunData| match tasks {
        Some(t) => crate::objective::registry::budget_in_units_of(r.scenario.inner_budget, &r.scenario.tasks, t)
            .map_err(|detail| AnalysisError::Rebuild { what: "budget".into(), detail }),
        None => Ok(r.scenario.inner_budget),
    };
    let episodes = Episodes::new(&names, root, "compare", per_task)
        .map_err(|detail| AnalysisError::Rebuild { what: "tasks".into(), detail })?;
    let reference_prog = compile(&first.reference.genome)
        .map_err(|detail| AnalysisError::Rebuild { what: "reference".into(), detail })?;
    let reference = episodes.run(&reference_prog, budget_of(&runs[0])?);
    let mut gains: Vec<Option<Vec<f64>>> = Vec::new();
    let mut rows = Vec::new();
    for r in runs {
        let g = match &r.champion {
            Some(c) => {
                let (_, prog) = compile_text(&c.genome)
                    .map_err(|detail| AnalysisError::Rebuild { what: "champion".into(), detail })?;
                Some(episodes.gains(&episodes.run(&prog, budget_of(r)?), &reference))
            }
            None => None,
        };
        rows.push(RunRow {
            dir: r.dir.display().to_string(),
            name: r.scenario.name.clone(),
            seed: r.scenario.seed,
            champion: r.champion.as_ref().map(|c| c.id),
            verified: r.champion.as_ref().and_then(|c| c.verified),
            common: g.as_ref().map(|g| bootstrap_mean(g, root)),
            best_verified: progress(&r.events, r.ticks_done).ticks.iter().map(|t| t.best_verified).collect(),
            compute: r.compute.clone(),
        });
        gains.push(g);
    }
    let mut pairs = Vec::new();
    for a in 0..runs.len() {
        for b in a + 1..runs.len() {
            if runs.len() > 8 && a > 0 {
                break;
            }
            let (Some(ga), Some(gb)) = (&gains[a], &gains[b]) else { continue };
            let diffs: Vec<f64> = ga.iter().zip(gb).map(|(x, y)| x - y).collect();
            let s = rng::derive(root, "pair", &[a as u64, b as u64]);
            pairs.push(Pair { a, b, difference: bootstrap_mean(&diffs, s), p_value: sign_flip_p(&diffs, s) });
        }
    }
    let groups = replicate_groups(runs, &gains, root);
    let group_pairs = if groups.iter().any(|g| g.runs.len() > 1) { group_pairs(&groups, &gains, root) } else { vec![] };
    let (factorial, design) = match design(runs) {
        Ok((factors, cells)) => match gains.iter().cloned().collect::<Option<Vec<Vec<f64>>>>() {
            Some(g) => {
                let effects = effects(&factors, &cells, &g, root);
                let k = factors.len();
                (Some(Factorial { factors, cells, effects }), format!("2^{k} factorial design"))
            }
            None => (None, "a run has no champion, so effects cannot be estimated".into()),
        },
        Err(why) => (None, why),
    };
    Ok(Comparison {
        tasks: names,
        episodes: episodes.jobs.len(),
        reference: first.reference.origin.clone(),
        runs: rows,
        pairs,
        groups,
        group_pairs,
        factorial,
        design,
    })
}

/// A run's scenario without the keys that name or place it: replicates share it.
fn scenario_key(r: &RunData) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if let Ok(t) = r.scenario.text.parse::<toml::Table>() {
        flatten("", &t, &mut m);
    }
    for k in NOT_FACTORS {
        m.remove(k);
    }
    // Inheriting is a factor (on or off); which earlier run a replicate inherits from
    // (its own seed's) is not.
    if m.contains_key("inherit") {
        m.insert("inherit".into(), "true".into());
    }
    m
}

/// Mean gain of each run (over the episodes `idx`).
fn run_mean(gains: &[f64], idx: &[usize]) -> f64 {
    idx.iter().map(|&e| gains[e]).sum::<f64>() / idx.len().max(1) as f64
}

/// Group runs by scenario and estimate each group's mean with run-to-run variance.
fn replicate_groups(runs: &[RunData], gains: &[Option<Vec<f64>>], root: u64) -> Vec<Group> {
    let keys: Vec<BTreeMap<String, String>> = runs.iter().map(scenario_key).collect();
    let mut groups: Vec<Group> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        match groups.iter_mut().find(|g| keys[g.runs[0]] == *key) {
            Some(g) => g.runs.push(i),
            None => {
                groups.push(Group { name: runs[i].scenario.name.clone(), runs: vec![i], common: None, run_sd: None })
            }
        }
    }
    for (gi, g) in groups.iter_mut().enumerate() {
        let Some(own) = g.runs.iter().map(|&r| gains[r].as_ref()).collect::<Option<Vec<_>>>() else { continue };
        let n = own[0].len();
        let all: Vec<usize> = (0..n).collect();
        let means: Vec<f64> = own.iter().map(|x| run_mean(x, &all)).collect();
        if means.len() > 1 {
            g.run_sd = Some(crate::stats::mean_sd(&means).1);
        }
        let mut r = rng::stream(root, "group-bootstrap", &[gi as u64]);
        let mut samples: Vec<f64> = (0..BOOTSTRAP)
            .map(|_| {
                let picked: Vec<usize> = (0..own.len()).map(|_| r.random_range(0..own.len())).collect();
                let idx: Vec<usize> = (0..n).map(|_| r.random_range(0..n)).collect();
                picked.iter().map(|&k| run_mean(own[k], &idx)).sum::<f64>() / picked.len() as f64
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        g.common = Some(Interval {
            estimate: mean(&means),
            lo: quantile_sorted(&samples, 0.025),
            hi: quantile_sorted(&samples, 0.975),
        });
    }
    groups
}

/// Most run-label reassignments a group test enumerates before it samples instead.
const MAX_REASSIGNMENTS: usize = 20_000;

/// Every way (or `MAX_REASSIGNMENTS` random ways) to choose `k` of `n` runs for the
/// first group; the identity assignment first.
fn reassignments(n: usize, k: usize, seed: u64) -> Vec<Vec<bool>> {
    let total = (0..k).fold(1f64, |c, i| c * (n - i) as f64 / (i + 1) as f64);
    let identity: Vec<bool> = (0..n).map(|i| i < k).collect();
    let mut out = vec![identity.clone()];
    if total <= MAX_REASSIGNMENTS as f64 {
        // Lexicographic subsets of size k as bit masks (n is small here).
        for mask in 0u64..(1u64 << n) {
            let v: Vec<bool> = (0..n).map(|i| mask >> i & 1 == 1).collect();
            if mask.count_ones() as usize == k && v != identity {
                out.push(v);
            }
        }
    } else {
        let mut r = rng::stream(seed, "group-permutation", &[]);
        for _ in 1..MAX_REASSIGNMENTS {
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                order.swap(i, r.random_range(0..=i));
            }
            let mut v = vec![false; n];
            for &i in &order[..k] {
                v[i] = true;
            }
            out.push(v);
        }
    }
    out
}

/// Differences between every two groups whose runs all have champions.
fn group_pairs(groups: &[Group], gains: &[Option<Vec<f64>>], root: u64) -> Vec<GroupPair> {
    let mut out = Vec::new();
    for a in 0..groups.len() {
        for b in a + 1..groups.len() {
            let get = |g: &Group| g.runs.iter().map(|&r| gains[r].as_ref()).collect::<Option<Vec<_>>>();
            let (Some(ga), Some(gb)) = (get(&groups[a]), get(&groups[b])) else { continue };
            let n = ga[0].len();
            let all: Vec<usize> = (0..n).collect();
            let seed = rng::derive(root, "group-pair", &[a as u64, b as u64]);
            let mut r = rng::stream(seed, "bootstrap", &[]);
            let group_mean = |runs: &[&Vec<f64>], idx: &[usize]| {
                runs.iter().map(|x| run_mean(x, idx)).sum::<f64>() / runs.len() as f64
            };
            let mut samples: Vec<f64> = (0..BOOTSTRAP)
                .map(|_| {
                    let pa: Vec<&Vec<f64>> = (0..ga.len()).map(|_| ga[r.random_range(0..ga.len())]).collect();
                    let pb: Vec<&Vec<f64>> = (0..gb.len()).map(|_| gb[r.random_range(0..gb.len())]).collect();
                    let idx: Vec<usize> = (0..n).map(|_| r.random_range(0..n)).collect();
                    group_mean(&pa, &idx) - group_mean(&pb, &idx)
                })
                .collect();
            samples.sort_by(f64::total_cmp);
            // Run-level permutation test on the runs' mean gains.
            let means: Vec<f64> = ga.iter().chain(&gb).map(|x| run_mean(x, &all)).collect();
            let stat = |first: &[bool]| {
                let (mut sa, mut na, mut sb, mut nb) = (0.0, 0usize, 0.0, 0usize);
                for (m, &f) in means.iter().zip(first) {
                    if f {
                        (sa, na) = (sa + m, na + 1);
                    } else {
                        (sb, nb) = (sb + m, nb + 1);
                    }
                }
                sa / na as f64 - sb / nb as f64
            };
            let splits = reassignments(means.len(), ga.len(), seed);
            let observed = stat(&splits[0]).abs();
            let extreme = splits.iter().filter(|s| stat(s).abs() >= observed - 1e-12).count();
            out.push(GroupPair {
                a,
                b,
                difference: Interval {
                    estimate: group_mean(&ga, &all) - group_mean(&gb, &all),
                    lo: quantile_sorted(&samples, 0.025),
                    hi: quantile_sorted(&samples, 0.975),
                },
                p_value: extreme as f64 / splits.len() as f64,
                // Equal sizes: the mirrored relabelling ties the observed one.
                min_p: if ga.len() == gb.len() { 2.0 } else { 1.0 } / splits.len() as f64,
            });
        }
    }
    out
}

/// Flatten a TOML table to `section.key = value` text.
fn flatten(prefix: &str, t: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (k, v) in t {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

/// Order two levels: `false` before `true`, numbers by value, else text.
fn level_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

/// Detect a 2^k design: keys that differ between runs, each with two levels, every
/// combination present. Returns the factors and the runs of each cell.
pub fn design<R: std::borrow::Borrow<RunData>>(runs: &[R]) -> Result<(Vec<Factor>, Vec<Vec<usize>>), String> {
    let maps: Vec<BTreeMap<String, String>> = runs.iter().map(|r| scenario_key(r.borrow())).collect();
    let mut keys: Vec<&String> = maps.iter().flat_map(|m| m.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut factors = Vec::new();
    for key in keys {
        let mut levels: Vec<String> =
            maps.iter().map(|m| m.get(key).cloned().unwrap_or_else(|| "(default)".into())).collect();
        levels.sort_by(|a, b| level_order(a, b));
        levels.dedup();
        match levels.len() {
            1 => {}
            2 => factors.push(Factor { key: key.clone(), low: levels[0].clone(), high: levels[1].clone() }),
            n => return Err(format!("`{key}` takes {n} values; a factorial design needs two levels per factor")),
        }
    }
    if factors.is_empty() {
        return Err("the runs differ only in name or seed (replicates): no factors".into());
    }
    if factors.len() > MAX_FACTORS {
        return Err(format!("{} keys differ; at most {MAX_FACTORS} factors are analysed", factors.len()));
    }
    let mut cells = vec![Vec::new(); 1 << factors.len()];
    for (i, m) in maps.iter().enumerate() {
        let cell = factors.iter().enumerate().fold(0usize, |acc, (j, f)| {
            let v = m.get(&f.key).map_or("(default)", |s| s.as_str());
            acc | (usize::from(v == f.high) << j)
        });
        cells[cell].push(i);
    }
    if let Some(missing) = cells.iter().position(|c| c.is_empty()) {
        let combo: Vec<String> = factors
            .iter()
            .enumerate()
            .map(|(j, f)| format!("{}={}", f.key, if missing >> j & 1 == 1 { &f.high } else { &f.low }))
            .collect();
        return Err(format!("no run has {}: not a full factorial design", combo.join(", ")));
    }
    Ok((factors, cells))
}

/// Per-episode value of every effect given per-cell run choices.
fn effect_values(k: usize, cells: &[Vec<usize>], gains: &[Vec<f64>], e: usize) -> Vec<f64> {
    let y: Vec<f64> =
        cells.iter().map(|runs| runs.iter().map(|&r| gains[r][e]).sum::<f64>() / runs.len() as f64).collect();
    let mut out = Vec::new();
    for subset in 1..(1usize << k) {
        let c: f64 = (0..y.len())
            .map(|cell| {
                let sign = if (cell & subset).count_ones() % 2 == subset.count_ones() % 2 { 1.0 } else { -1.0 };
                sign * y[cell]
            })
            .sum();
        out.push(c / (1usize << (k - 1)) as f64);
    }
    let all = (1usize << k) - 1;
    let alone: f64 = (0..k).map(|j| y[1 << j] - y[0]).sum();
    out.push(y[all] - y[0] - alone);
    // Removing every factor from the full combination against the sum of removing each
    // alone: > 0 when removing several together hurts more than the parts (redundant
    // components that cover for each other).
    let removed_alone: f64 = (0..k).map(|j| y[all] - y[all & !(1 << j)]).sum();
    out.push(y[all] - y[0] - removed_alone);
    out
}

/// Main effects, interactions, the synergy and the removal synergy of a 2^k design,
/// with two-level bootstrap intervals.
pub fn effects(factors: &[Factor], cells: &[Vec<usize>], gains: &[Vec<f64>], root: u64) -> Vec<Effect> {
    let k = factors.len();
    let n = gains[0].len();
    let per_episode: Vec<Vec<f64>> = (0..n).map(|e| effect_values(k, cells, gains, e)).collect();
    let m = per_episode[0].len();
    let mut names: Vec<String> = (1..(1usize << k))
        .map(|s| (0..k).filter(|j| s >> j & 1 == 1).map(|j| factors[j].key.clone()).collect::<Vec<_>>().join(" x "))
        .collect();
    names.push("synergy".into());
    names.push("removal synergy".into());
    // Two-level bootstrap: replicate runs within cells, then episodes.
    let mut r = rng::stream(root, "factorial-bootstrap", &[]);
    let mut samples = vec![Vec::with_capacity(BOOTSTRAP); m];
    for _ in 0..BOOTSTRAP {
        let resampled: Vec<Vec<usize>> =
            cells.iter().map(|c| (0..c.len()).map(|_| c[r.random_range(0..c.len())]).collect()).collect();
        let idx: Vec<usize> = (0..n).map(|_| r.random_range(0..n)).collect();
        let mut sums = vec![0.0; m];
        for &e in &idx {
            for (s, v) in sums.iter_mut().zip(effect_values(k, &resampled, gains, e)) {
                *s += v;
            }
        }
        for (j, s) in sums.into_iter().enumerate() {
            samples[j].push(s / n as f64);
        }
    }
    (0..m)
        .map(|j| {
            let column: Vec<f64> = per_episode.iter().map(|v| v[j]).collect();
            samples[j].sort_by(f64::total_cmp);
            Effect {
                name: names[j].clone(),
                estimate: Interval {
                    estimate: mean(&column),
                    lo: quantile_sorted(&samples[j], 0.025),
                    hi: quantile_sorted(&samples[j], 0.975),
                },
                p_value: sign_flip_p(&column, rng::derive(root, "effect", &[j as u64])),
            }
        })
        .collect()
}

fn f3(x: Option<f64>) -> String {
    x.map(|v| format!("{v:+.3}")).unwrap_or_else(|| "-".into())
}

/// The replicate groups and their differences.
fn render_groups(d: &mut Doc, c: &Comparison) {
    d.push(Block::Heading(1, "Scenarios with replicates".into()));
    d.push(Block::Para(
        "Runs of the same scenario that differ only in name, seed or output folder are replicates. A group's interval resamples its runs, then the common episodes, so the run-to-run variance (how much the outer loop's own luck moves the champion) is in it, unlike the per-run intervals above. Group differences are tested by permuting run labels: the run is the unit of replication, so with few runs the smallest possible p-value is large, and the table says how small it could be. p-values are Holm-adjusted over the group pairs.".into(),
    ));
    d.push(Block::Table {
        header: ["scenario", "runs", "mean over runs [95% CI, runs and episodes]", "run-to-run sd"]
            .map(String::from)
            .to_vec(),
        rows: c
            .groups
            .iter()
            .map(|g| {
                vec![
                    g.name.clone(),
                    g.runs.iter().map(|r| format!("#{r}")).collect::<Vec<_>>().join(" "),
                    g.common.map_or("-".into(), |i| i.signed()),
                    g.run_sd.map_or("- (one run)".into(), |s| format!("{s:.3}")),
                ]
            })
            .collect(),
    });
    let adjusted = holm(&c.group_pairs.iter().map(|p| p.p_value).collect::<Vec<_>>());
    d.push(Block::Table {
        header: ["a", "b", "a - b [95% CI]", "p (runs)", "smallest possible p", "p (Holm)"].map(String::from).to_vec(),
        rows: c
            .group_pairs
            .iter()
            .zip(&adjusted)
            .map(|(p, adj)| {
                vec![
                    c.groups[p.a].name.clone(),
                    c.groups[p.b].name.clone(),
                    p.difference.signed(),
                    format!("{:.4}", p.p_value),
                    format!("{:.4}", p.min_p),
                    format!("{adj:.4}"),
                ]
            })
            .collect(),
    });
}

/// The comparison as a document.
pub fn render(c: &Comparison) -> Result<Doc, AnalysisError> {
    let mut d = Doc { title: format!("outerloop comparison of {} runs", c.runs.len()), ..Doc::default() };
    d.push(Block::Para(format!(
        "Every champion re-runs on the same {} fresh episodes (tasks {}) against the reference {}; fitness is the mean log10(reference regret / champion regret). Intervals are 95% bootstraps over episodes; p-values are two-sided sign-flip permutation tests of paired per-episode differences, shown raw and Holm-adjusted within each table (the pairwise differences are one family of tests, the factorial effects another): read the adjusted column when several tests are looked at together.",
        c.episodes,
        c.tasks.join(", "),
        c.reference
    )));
    d.push(Block::Heading(1, "Runs".into()));
    d.push(Block::Table {
        header: ["#", "run", "seed", "champion", "verified in run", "common episodes"].map(String::from).to_vec(),
        rows: c
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                vec![
                    i.to_string(),
                    format!("{} ({})", r.name, r.dir),
                    r.seed.to_string(),
                    r.champion.map_or("-".into(), |id| format!("#{id}")),
                    f3(r.verified),
                    r.common.map_or("-".into(), |i| i.signed()),
                ]
            })
            .collect(),
    });
    let series: Vec<Series> = c
        .runs
        .iter()
        .map(|r| Series {
            name: r.name.clone(),
            // Against the compute spent, not ticks: arms that spend more per tick are
            // not credited with progress they paid for.
            points: r.best_verified.iter().zip(&r.compute).filter_map(|(v, c)| Some((*c, (*v)?))).collect(),
            bold: false,
        })
        .collect();
    d.push(Block::Figure {
        file: "progress.svg".into(),
        svg: line_chart(
            &Axes {
                title: "best verified fitness against inner compute spent",
                x: "inner compute spent (the tasks' units)",
                y: "fitness: log10(reference regret / regret), 0 = reference",
                x_log2: false,
                legend: plotters::prelude::SeriesLabelPosition::LowerRight,
            },
            &series,
        )
        .map_err(AnalysisError::Draw)?,
        caption: "Best verified fitness of each run's living population at the end of each tick, against the inner compute the run had spent by then (each against its own reference): runs that spend more per tick are compared at equal cost."
            .into(),
    });
    d.push(Block::Heading(1, "Paired differences".into()));
    if c.groups.iter().any(|g| g.runs.len() > 1) {
        d.push(Block::Para(
            "These intervals and p-values treat each run's champion as fixed: they leave out run-to-run variance. For claims about scenarios, read the replicate groups below.".into(),
        ));
    }
    let pair_holm = holm(&c.pairs.iter().map(|p| p.p_value).collect::<Vec<_>>());
    d.push(Block::Table {
        header: ["a", "b", "a - b", "p", "p (Holm)"].map(String::from).to_vec(),
        rows: c
            .pairs
            .iter()
            .zip(&pair_holm)
            .map(|(p, adjusted)| {
                vec![
                    c.runs[p.a].name.clone(),
                    c.runs[p.b].name.clone(),
                    p.difference.signed(),
                    format!("{:.4}", p.p_value),
                    format!("{adjusted:.4}"),
                ]
            })
            .collect(),
    });
    if !c.group_pairs.is_empty() {
        render_groups(&mut d, c);
    }
    d.push(Block::Heading(1, "Factorial effects".into()));
    match &c.factorial {
        None => d.push(Block::Para(format!("No factorial analysis: {}.", c.design))),
        Some(f) => {
            d.push(Block::Para(format!("{} over these factors (the effect of a factor is the mean response at its high level minus at its low level):", c.design)));
            d.push(Block::Table {
                header: ["factor", "low (-1)", "high (+1)"].map(String::from).to_vec(),
                rows: f.factors.iter().map(|x| vec![x.key.clone(), x.low.clone(), x.high.clone()]).collect(),
            });
            let effect_holm = holm(&f.effects.iter().map(|e| e.p_value).collect::<Vec<_>>());
            d.push(Block::Table {
                header: ["effect", "estimate [95% CI]", "p", "p (Holm)"].map(String::from).to_vec(),
                rows: f
                    .effects
                    .iter()
                    .zip(&effect_holm)
                    .map(|(e, adjusted)| {
                        vec![e.name.clone(), e.estimate.signed(), format!("{:.4}", e.p_value), format!("{adjusted:.4}")]
                    })
                    .collect(),
            });
            if let Some(s) = f.effects.iter().find(|e| e.name == "synergy") {
                let verdict = if s.estimate.lo > 0.0 {
                    "the whole is more than the sum of its parts"
                } else if s.estimate.hi < 0.0 {
                    "the whole is less than the sum of its parts"
                } else {
                    "no evidence that the whole differs from the sum of its parts"
                };
                d.push(Block::Para(format!(
                    "Synergy (all factors high minus all low, minus the sum of each factor's effect alone): {}; {verdict}.",
                    s.estimate.signed()
                )));
            }
            if let Some(r) = f.effects.iter().find(|e| e.name == "removal synergy") {
                d.push(Block::Para(format!(
                    "Removal synergy (all high minus all low, minus the sum of what removing each factor alone from all high costs): {}; above zero, removing several together hurts more than the sum of removing each.",
                    r.estimate.signed()
                )));
            }
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassignments_enumerate_every_split_once_with_the_observed_first() {
        let all = reassignments(6, 3, 1);
        assert_eq!(all.len(), 20);
        assert_eq!(all[0], vec![true, true, true, false, false, false]);
        let mut distinct = all.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 20);
        assert!(all.iter().all(|v| v.iter().filter(|&&b| b).count() == 3));
        // Too many to enumerate: sampled, the observed split still first.
        let sampled = reassignments(40, 20, 1);
        assert_eq!(sampled.len(), MAX_REASSIGNMENTS);
        assert!(sampled[0][..20].iter().all(|&b| b));
    }

    #[test]
    fn run_to_run_spread_widens_a_group_difference_and_the_run_test_knows_its_limit() {
        // Two groups of three runs; within each group the runs differ a lot (run luck),
        // the episodes little. The group interval must cover that spread.
        let ep = |level: f64| (0..50).map(|e| level + 0.01 * (e % 5) as f64).collect::<Vec<f64>>();
        let gains: Vec<Option<Vec<f64>>> = [0.0, 0.6, 1.2, 0.2, 0.8, 1.4].iter().map(|&l| Some(ep(l))).collect();
        let groups = vec![
            Group { name: "a".into(), runs: vec![0, 1, 2], common: None, run_sd: None },
            Group { name: "b".into(), runs: vec![3, 4, 5], common: None, run_sd: None },
        ];
        let p = &group_pairs(&groups, &gains, 9)[0];
        assert!((p.difference.estimate + 0.2).abs() < 1e-12);
        assert!(p.difference.lo < -0.6 && p.difference.hi > 0.2, "{:?}", p.difference);
        assert!((p.min_p - 0.1).abs() < 1e-12, "3 against 3: 2 of 20 splits are as extreme");
        assert!(p.p_value > 0.5, "a shift far inside the run spread is not significant: {}", p.p_value);
        // Well separated groups reach the smallest possible p.
        let far: Vec<Option<Vec<f64>>> = [0.0, 0.1, 0.2, 5.0, 5.1, 5.2].iter().map(|&l| Some(ep(l))).collect();
        let q = &group_pairs(&groups, &far, 9)[0];
        assert!((q.p_value - q.min_p).abs() < 1e-12, "both extreme splits: {}", q.p_value);
    }

    #[test]
    fn effects_of_an_additive_two_factor_design_have_no_interaction() {
        // y = 1 + 2a + 3b (a, b in {0, 1}), four cells, one run each, three episodes.
        let cells = vec![vec![0], vec![1], vec![2], vec![3]];
        let gains: Vec<Vec<f64>> = [1.0, 3.0, 4.0, 6.0].iter().map(|&y| vec![y, y, y]).collect();
        let v = effect_values(2, &cells, &gains, 0);
        assert_eq!(v, vec![2.0, 3.0, 0.0, 0.0, 0.0]);
        // With an interaction: y11 = 9 instead of 6.
        let gains: Vec<Vec<f64>> = [1.0, 3.0, 4.0, 9.0].iter().map(|&y| vec![y, y, y]).collect();
        let v = effect_values(2, &cells, &gains, 0);
        // Removal synergy: (9 - 1) - ((9 - 4) + (9 - 3)) = -3: the factors reinforce each
        // other, so removing both costs less than the sum of removing each.
        assert_eq!(v, vec![3.5, 4.5, 1.5, 3.0, -3.0]);
    }
}
