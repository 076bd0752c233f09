//! The report as a document: one section per question, each with its table and figure.

use super::doc::{Block, Doc};
use super::plots::{Axes, Band, Series, ancestry_tree, claims_scatter, line_chart_with_bands};
use super::run_data::RunData;
use super::{AnalysisError, AnalysisReport};

/// Ancestors drawn in full; beyond, only the primary path and its other parents.
const MAX_TREE_NODES: usize = 120;

fn f3(x: Option<f64>) -> String {
    x.map(|v| format!("{v:+.3}")).unwrap_or_else(|| "-".into())
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.0}%", 100.0 * v)).unwrap_or_else(|| "-".into())
}

fn multiplier(x: f64) -> String {
    if x.is_finite() { format!("{x:.2}x") } else { "not reached".into() }
}

/// Build the document of an analysis.
pub fn render(report: &AnalysisReport, data: &RunData) -> Result<Doc, AnalysisError> {
    let mut explorer = super::explore::Explorer::new(data, &report.progress);
    explorer.knobs = report.knobs.clone();
    let mut d =
        Doc { title: format!("outerloop analysis: {}", report.run), blocks: vec![], explorer: Some(explorer.json()) };
    d.push(Block::Para(format!(
        "Run {} (seed {}), {} ticks done, tasks {}, inner budget {}, reference {}. Fitness is the mean over episodes of log10(reference regret / mechanism regret): 0 = as good as the reference, +1 = ten times lower regret. Intervals are 95% percentile bootstraps over episodes.",
        report.run,
        report.seed,
        report.ticks_done,
        report.tasks.join(", "),
        report.budget,
        report.reference
    )));
    progress(&mut d, report)?;
    held_out(&mut d, report);
    lineage(&mut d, report, data)?;
    novelty(&mut d, report);
    genes(&mut d, report);
    attribution(&mut d, report);
    scaling(&mut d, report)?;
    Ok(d)
}

fn progress(d: &mut Doc, r: &AnalysisReport) -> Result<(), AnalysisError> {
    d.push(Block::Heading(1, "Progress".into()));
    let ticks = &r.progress.ticks;
    let series = |name: &str, bold: bool, f: &dyn Fn(&super::progress::TickRow) -> Option<f64>| Series {
        name: name.into(),
        points: ticks.iter().filter_map(|t| Some((t.tick as f64, f(t)?))).collect(),
        bold,
    };
    let quartiles = Band {
        series: 1,
        points: ticks.iter().filter_map(|t| Some((t.tick as f64, t.q25_verified?, t.q75_verified?))).collect(),
    };
    let svg = line_chart_with_bands(
        &Axes {
            title: "fitness of the living population per tick",
            x: "tick",
            y: "fitness: log10(reference regret / regret), 0 = reference",
            x_log2: false,
            legend: plotters::prelude::SeriesLabelPosition::LowerRight,
        },
        &[
            series("best verified", true, &|t| t.best_verified),
            series("median verified", false, &|t| t.median_verified),
            series("best claimed", false, &|t| t.best_claimed),
        ],
        &[quartiles],
    )
    .map_err(AnalysisError::Draw)?;
    d.push(Block::Figure {
        file: "progress.svg".into(),
        svg,
        caption: "Best and median verified fitness of the living mechanisms (shaded: their interquartile range), and the best claim, at the end of each tick."
            .into(),
    });
    let last = ticks.last();
    d.push(Block::Para(format!(
        "At the last tick: {} living mechanisms, {} verified; best verified {}, median verified {}, best claim {}.",
        last.map_or(0, |t| t.alive),
        last.map_or(0, |t| t.verified_alive),
        f3(last.and_then(|t| t.best_verified)),
        f3(last.and_then(|t| t.median_verified)),
        f3(last.and_then(|t| t.best_claimed)),
    )));
    let points: Vec<(f64, f64)> = r.progress.checks.iter().map(|c| (c.claimed, c.verified)).collect();
    if !points.is_empty() {
        d.push(Block::Figure {
            file: "claims.svg".into(),
            svg: claims_scatter(&points).map_err(AnalysisError::Draw)?,
            caption: format!(
                "Every verification ({}): claim on the shared claim episodes against fitness on fresh seeds; points below the diagonal were optimistic claims.",
                points.len()
            ),
        });
    }
    Ok(())
}

fn lineage(d: &mut Doc, r: &AnalysisReport, data: &RunData) -> Result<(), AnalysisError> {
    d.push(Block::Heading(1, "Champion lineage".into()));
    let (Some(c), Some(l)) = (&r.champion, &r.lineage) else {
        d.push(Block::Para("No mechanism was verified, so the run has no champion.".into()));
        return Ok(());
    };
    d.push(Block::Para(format!(
        "Champion #{} with {} fitness {} (selection-biased: the best of the run's verifications){}; {} ancestors, {} steps on the first-parent path.",
        c.id,
        if c.verified { "verified" } else { "claimed (NOT verified)" },
        f3(c.fitness),
        r.fresh_fitness
            .map(|i| format!("; on the analysis's own fresh episodes of the run's training tasks: {}", i.signed()))
            .unwrap_or_default(),
        // `ancestors` holds the champion itself too.
        l.ancestors.len().saturating_sub(1),
        l.path.len().saturating_sub(1)
    )));
    d.push(Block::Code(c.genome.clone()));
    d.push(Block::Table {
        header: ["id", "tick", "agent", "operator", "diagnosis", "fitness", "change"].map(String::from).to_vec(),
        rows: l
            .path
            .iter()
            .map(|s| {
                vec![
                    format!("#{}", s.id),
                    s.tick.to_string(),
                    s.agent.clone(),
                    s.operator.clone(),
                    s.diagnosis.clone().unwrap_or_else(|| "-".into()),
                    format!("{}{}", f3(s.fitness), if s.verified || s.fitness.is_none() { "" } else { " (claim)" }),
                    f3(s.change),
                ]
            })
            .collect(),
    });
    let path: Vec<u64> = l.path.iter().map(|s| s.id).collect();
    // Long runs can have hundreds of ancestors; then the tree keeps the primary path and
    // each step's other parents, which is what the lineage question needs.
    let (drawn, caption) = if l.ancestors.len() <= MAX_TREE_NODES {
        (
            l.ancestors.clone(),
            "The champion's ancestry: every ancestor by birth tick; edge colour is the kind of birth.".to_string(),
        )
    } else {
        let mut ids: Vec<u64> = path.iter().flat_map(|&id| data.ancestry.parents(id).into_iter().chain([id])).collect();
        ids.sort_unstable();
        ids.dedup();
        let caption = format!(
            "The champion's primary path and each step's other parents ({} of {} mechanisms: the champion and its ancestors); edge colour is the kind of birth.",
            ids.len(),
            l.ancestors.len()
        );
        (ids, caption)
    };
    d.push(Block::Figure {
        file: "lineage.svg".into(),
        svg: ancestry_tree(&data.ancestry, &drawn, &path).map_err(AnalysisError::Draw)?,
        caption,
    });
    Ok(())
}

fn held_out(d: &mut Doc, r: &AnalysisReport) {
    d.push(Block::Heading(1, "Held-out tasks".into()));
    let Some(h) = &r.held_out else {
        d.push(Block::Para("No champion, no held-out evaluation.".into()));
        return;
    };
    d.push(Block::Para(format!(
        "The champion on tasks the run never saw: {}. Budget {} per episode (the run's budget in full-trial equivalents). Regret is the true regret of the recommended config (its seed mean on a table, a fresh re-evaluation on a live task). Gains are mean log10(other's regret / champion's regret) over paired episodes with 95% bootstrap intervals: above 0 means the champion is better. The library mechanism is the one best on the held-out tables, and the trivial baseline the best library mechanism pinned to the lowest fidelity (`NAME@lowest`), each chosen on these same episodes, which favours them: a champion that a trivial baseline matches has found nothing but the cheap fidelity.",
        h.how, h.budget
    )));
    d.push(Block::Table {
        header: [
            "task",
            "episodes",
            "champion regret",
            "reference regret",
            "gain vs reference",
            "best library",
            "its regret",
            "gain vs best library",
            "best trivial baseline",
            "its regret",
            "gain vs best trivial",
        ]
        .map(String::from)
        .to_vec(),
        rows: h
            .rows
            .iter()
            .map(|row| {
                vec![
                    format!("{}{}", row.task, if row.live { " (live)" } else { "" }),
                    row.episodes.to_string(),
                    format!("{:.4}", row.champion_regret),
                    format!("{:.4}", row.reference_regret),
                    row.champion_vs_reference.signed(),
                    row.best_library.clone(),
                    format!("{:.4}", row.best_library_regret),
                    row.champion_vs_best_library.signed(),
                    row.best_trivial.clone(),
                    format!("{:.4}", row.best_trivial_regret),
                    row.champion_vs_best_trivial.signed(),
                ]
            })
            .collect(),
    });
}

fn novelty(d: &mut Doc, r: &AnalysisReport) {
    d.push(Block::Heading(1, "Novelty".into()));
    let Some(n) = &r.novelty else {
        d.push(Block::Para("No champion, no novelty analysis.".into()));
        return;
    };
    d.push(Block::Para(format!(
        "A mechanism counts as new only when its structural distance to every library mechanism is at least {} and its behavioural distance at least {}, and it beats its nearest library relative on {} fresh paired episodes (the interval of log10(relative's regret / its regret) lies above 0). The last column holds it to a stricter bar: the library mechanism with the lowest regret on the same episodes.",
        n.thresholds.structural, n.thresholds.behavioural, n.episodes
    )));
    d.push(Block::Table {
        header: [
            "id",
            "verified",
            "nearest library",
            "struct. dist",
            "behav. dist",
            "min struct.",
            "min behav.",
            "vs nearest",
            "p",
            "new?",
            "vs best library",
        ]
        .map(String::from)
        .to_vec(),
        rows: n
            .rows
            .iter()
            .map(|x| {
                vec![
                    format!("#{}", x.id),
                    f3(x.verified),
                    x.nearest.clone(),
                    format!("{:.3}", x.structural),
                    format!("{:.3}", x.behavioural),
                    format!("{:.3}", x.min_structural),
                    format!("{:.3}", x.min_behavioural),
                    x.versus_nearest.signed(),
                    format!("{:.4}", x.p_value),
                    if x.is_new { "NEW".into() } else { "no".into() },
                    format!("{} ({})", x.versus_best_library.signed(), x.best_library),
                ]
            })
            .collect(),
    });
    let items: Vec<String> = n
        .rows
        .iter()
        .map(|x| {
            let mut pairs: Vec<String> =
                x.new_combinations.iter().take(12).map(|(a, b)| format!("{a} + {b}")).collect();
            if x.new_combinations.len() > 12 {
                pairs.push(format!("and {} more (report.json)", x.new_combinations.len() - 12));
            }
            format!(
                "#{}: {}{}",
                x.id,
                if pairs.is_empty() { "no primitive pair that the library lacks".into() } else { pairs.join(", ") },
                if x.new_primitives.is_empty() {
                    String::new()
                } else {
                    format!("; primitives no library mechanism uses: {}", x.new_primitives.join(", "))
                }
            )
        })
        .collect();
    d.push(Block::Para("Primitive pairs each mechanism uses together that no library mechanism combines:".into()));
    d.push(Block::List(items));
}

fn genes(d: &mut Doc, r: &AnalysisReport) {
    d.push(Block::Heading(1, "Live genes".into()));
    let Some(g) = &r.genes else {
        d.push(Block::Para("No champion, no live-gene report.".into()));
        return;
    };
    d.push(Block::Para(format!(
        "Genes of champion #{} on {} fresh episodes: how often each node was evaluated and how often its value reached a decision. {}",
        g.id,
        g.episodes,
        if g.dead.is_empty() {
            "Every gene fired.".to_string()
        } else {
            format!("DEAD GENES (never reached a decision): nodes {:?}.", g.dead)
        }
    )));
    d.push(Block::Table {
        header: ["node", "hook", "gene", "evaluated", "reached", "live"].map(String::from).to_vec(),
        rows: g
            .genes
            .iter()
            .map(|x| {
                let mut text = x.text.clone();
                if text.len() > 70 {
                    text.truncate(67);
                    text.push_str("...");
                }
                vec![
                    x.node.to_string(),
                    x.hook.clone(),
                    format!("{}{}", "· ".repeat(x.depth), text),
                    x.evaluated.to_string(),
                    x.reached.to_string(),
                    if x.reached > 0 { "yes".into() } else { "DEAD".into() },
                ]
            })
            .collect(),
    });
    if !g.reported_in_run.is_empty() {
        d.push(Block::Para(format!(
            "The verifier reported dead genes of this mechanism during the run: {}.",
            g.reported_in_run.join("; ")
        )));
    }
}

fn attribution(d: &mut Doc, r: &AnalysisReport) {
    let a = &r.attribution;
    d.push(Block::Heading(1, "Attribution".into()));
    d.push(Block::Para(
        "Who produced the improvements: per agent and operator family, children born, evaluated, claimed improvements (claim above the first parent's fitness), verified, and verified improvements (verified fitness above the first parent's verified fitness) with their summed gain and their number per child born (the recombiner's `constant-swarm` merges beside its `crossover`).".into(),
    ));
    d.push(Block::Table {
        header: [
            "agent",
            "operator",
            "born",
            "evaluated",
            "claimed impr.",
            "verified",
            "verified impr.",
            "verified gain",
            "verified impr. / born",
        ]
        .map(String::from)
        .to_vec(),
        rows: a
            .credits
            .iter()
            .map(|c| {
                vec![
                    c.agent.clone(),
                    c.operator.clone(),
                    c.born.to_string(),
                    c.evaluated.to_string(),
                    c.claimed_improvements.to_string(),
                    c.verified.to_string(),
                    c.verified_improvements.to_string(),
                    format!("{:+.3}", c.verified_gain),
                    c.wins_per_birth().map_or_else(|| "-".to_string(), |y| format!("{y:.3}")),
                ]
            })
            .collect(),
    });
    let db = &a.debate;
    let v = &a.verifier;
    d.push(Block::List(vec![
        format!(
            "Debate: {} proposals debated ({} accepted, {} revised, {} rejected). Precision {} ({} of {} accepted children beat their parent); audited rejections that would have improved: {} ({} of {}).",
            db.debated,
            db.accepted,
            db.revised,
            db.rejected,
            pct(db.precision),
            db.accepted_improved,
            db.accepted_evaluated,
            pct(db.false_rejection_rate),
            db.audited_improved,
            db.audited
        ),
        format!(
            "Verifier: {} verifications, mean claimed-minus-verified gap {}, {} claimed wins not reproduced on fresh seeds, {} integrity failures, {} dead-gene reports.",
            v.verifications,
            f3(v.mean_gap),
            v.wins_not_reproduced,
            v.integrity_failures,
            v.dead_gene_reports
        ),
    ]));
    if let Some(w) = &a.writer {
        d.push(Block::Para(format!("The {} (its children are the `llm` rows above).", w.describe())));
    }
}

fn scaling(d: &mut Doc, r: &AnalysisReport) -> Result<(), AnalysisError> {
    d.push(Block::Heading(1, "Search-step scaling".into()));
    let Some(s) = &r.scaling else {
        d.push(Block::Para("Not computed (no champion, or --no-scaling).".into()));
        return Ok(());
    };
    let held: Vec<String> = s.tasks.iter().zip(&s.held_out).map(|(t, h)| format!("{t} ({h})")).collect();
    // A task the run evolved on, scored on fresh seeds, is not held out: say which.
    let own = s.tasks.iter().any(|t| r.tasks.contains(t));
    d.push(Block::Para(format!(
        "{}: {}; {} episodes per point, the same seeds for every mechanism. Score: mean log10 regret (lower is better) at multiples of the run's inner budget ({}).",
        if own { "Tasks (the run's own, on fresh seeds: not held out)" } else { "Held-out tasks" },
        held.join(", "),
        s.episodes,
        s.budget
    )));
    let series: Vec<Series> = s
        .curves
        .iter()
        .enumerate()
        .map(|(i, c)| Series {
            name: c.name.clone(),
            points: s.multipliers.iter().zip(&c.mean_log_regret).map(|(m, y)| (m.log2(), *y)).collect(),
            bold: i == 0,
        })
        .collect();
    // Bands for the two curves the budget multiplier compares; more would hide the lines.
    let best = s.curves.iter().position(|c| c.name == s.best_library);
    let bands: Vec<Band> = [Some(0), best]
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let c = s.curves.get(i)?;
            let points = s
                .multipliers
                .iter()
                .zip(c.mean_log_regret.iter().zip(&c.half_width))
                .map(|(m, (y, h))| (m.log2(), y - h, y + h))
                .collect();
            Some(Band { series: i, points })
        })
        .collect();
    d.push(Block::Figure {
        file: "scaling.svg".into(),
        svg: line_chart_with_bands(
            &Axes {
                title: if own {
                    "best score against inner budget (the run's own tasks, fresh seeds)"
                } else {
                    "best score against inner budget (held-out tasks)"
                },
                x: "inner budget",
                y: "mean log10 regret",
                x_log2: true,
                legend: plotters::prelude::SeriesLabelPosition::LowerLeft,
            },
            &series,
            &bands,
        )
        .map_err(AnalysisError::Draw)?,
        caption: "Mean log10 regret against inner budget for the champion (thick) and every library mechanism; shaded: the 95% interval of the mean over episodes for the champion and the best library mechanism.".into(),
    });
    let mut header = vec!["mechanism".to_string()];
    header.extend(s.multipliers.iter().map(|m| format!("{m}x")));
    d.push(Block::Table {
        header,
        rows: s
            .curves
            .iter()
            .map(|c| {
                let mut row = vec![c.name.clone()];
                row.extend(c.mean_log_regret.iter().map(|y| format!("{y:.3}")));
                row
            })
            .collect(),
    });
    let m = s.budget_multiplier;
    d.push(Block::Para(format!(
        "Budget multiplier: the best library mechanism at 1x, {}, needs {} of the run's budget to match the champion at 1x (95% bootstrap interval {} to {}; 'not reached' = not within {}x).",
        s.best_library,
        multiplier(m.estimate),
        multiplier(m.lo),
        multiplier(m.hi),
        s.multipliers.last().copied().unwrap_or(1.0)
    )));
    Ok(())
}
