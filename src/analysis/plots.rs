//! SVG figures drawn with plotters: line charts, the claim-versus-verification scatter
//! and the champion's ancestry tree. Every function returns the SVG text.

use plotters::prelude::*;

use crate::ancestry::{Ancestry, EdgeKind};

/// Series colours, in order.
const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    // Past the ten of tab10: black and a dark teal, which no earlier colour resembles.
    RGBColor(0, 0, 0),
    RGBColor(0, 95, 95),
];

/// A named polyline.
pub struct Series {
    /// Legend name.
    pub name: String,
    /// Points; non-finite coordinates are skipped.
    pub points: Vec<(f64, f64)>,
    /// Drawn thicker (the champion, the best curve).
    pub bold: bool,
}

/// A shaded spread band behind a series: at each x, a lower and an upper value.
pub struct Band {
    /// Index of the series it belongs to (it takes that series' colour).
    pub series: usize,
    /// `(x, lower, upper)` in x order; points with a non-finite coordinate are skipped.
    pub points: Vec<(f64, f64, f64)>,
}

/// Axis labels and title of a chart.
pub struct Axes<'a> {
    /// Title.
    pub title: &'a str,
    /// X axis description.
    pub x: &'a str,
    /// Y axis description.
    pub y: &'a str,
    /// X values are log2 of a multiplier and are labelled as `Nx`.
    pub x_log2: bool,
    /// Where the legend goes (out of the way of the interesting part).
    pub legend: SeriesLabelPosition,
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad, hi + pad)
}

fn err(e: impl std::fmt::Display) -> String {
    format!("drawing failed: {e}")
}

/// A line chart of several series with a legend.
pub fn line_chart(axes: &Axes<'_>, series: &[Series]) -> Result<String, String> {
    line_chart_with_bands(axes, series, &[])
}

/// A line chart whose series may carry shaded spread bands (drawn first, translucent,
/// so the lines stay readable on top).
pub fn line_chart_with_bands(axes: &Axes<'_>, series: &[Series], bands: &[Band]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let finite = |b: &&(f64, f64, f64)| b.0.is_finite() && b.1.is_finite() && b.2.is_finite();
        let band_points = || bands.iter().flat_map(|b| b.points.iter().filter(finite));
        let (x0, x1) =
            range(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).chain(band_points().map(|p| p.0)));
        let (y0, y1) = range(
            series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).chain(band_points().flat_map(|p| [p.1, p.2])),
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(axes.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        let x_log2 = axes.x_log2;
        // Log axes are labelled at whole powers of two only.
        let fmt_x = move |x: &f64| {
            if !x_log2 {
                format!("{x:.0}")
            } else if (x - x.round()).abs() < 1e-6 {
                format!("{}x", 2f64.powf(x.round()))
            } else {
                String::new()
            }
        };
        let x_labels = if x_log2 { ((x1 - x0).round() as usize + 1) * 2 } else { 10 };
        chart
            .configure_mesh()
            .x_labels(x_labels)
            .x_desc(axes.x)
            .y_desc(axes.y)
            .x_label_formatter(&fmt_x)
            .y_label_formatter(&|y| tick(*y))
            .draw()
            .map_err(err)?;
        for b in bands {
            let pts: Vec<&(f64, f64, f64)> = b.points.iter().filter(finite).collect();
            if pts.len() < 2 {
                continue;
            }
            // The band's outline: along the upper values, back along the lower ones.
            let outline: Vec<(f64, f64)> =
                pts.iter().map(|p| (p.0, p.2)).chain(pts.iter().rev().map(|p| (p.0, p.1))).collect();
            let color = PALETTE[b.series % PALETTE.len()];
            chart.draw_series(std::iter::once(Polygon::new(outline, color.mix(0.18).filled()))).map_err(err)?;
        }
        // The zero line: on every fitness axis 0 means "as good as the reference".
        if y0 < 0.0 && y1 > 0.0 {
            chart.draw_series(LineSeries::new(vec![(x0, 0.0), (x1, 0.0)], BLACK.mix(0.6))).map_err(err)?;
        }
        for (i, s) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let style = color.stroke_width(if s.bold { 3 } else { 1 });
            let pts: Vec<(f64, f64)> =
                s.points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), style))
                .map_err(err)?
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 2, color.filled()))).map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(axes.legend.clone())
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 11))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Claimed (x) against verified (y) fitness, with the diagonal: points below it are
/// claims the fresh seeds did not support.
pub fn claims_scatter(points: &[(f64, f64)]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (520, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (lo, hi) = range(points.iter().flat_map(|p| [p.0, p.1]));
        let mut chart = ChartBuilder::on(&root)
            .caption("claimed vs verified fitness", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi, lo..hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("claimed (shared claim episodes)")
            .y_desc("verified (fresh seeds)")
            .x_label_formatter(&|x| tick(*x))
            .y_label_formatter(&|y| tick(*y))
            .draw()
            .map_err(err)?;
        chart.draw_series(LineSeries::new(vec![(lo, lo), (hi, hi)], BLACK.mix(0.5))).map_err(err)?;
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, PALETTE[0].mix(0.7).filled()))).map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A tick label with two decimals that never reads `-0.00`.
fn tick(v: f64) -> String {
    let text = format!("{v:.2}");
    if text == "-0.00" { "0.00".to_string() } else { text }
}

fn edge_color(kind: EdgeKind) -> RGBColor {
    match kind {
        EdgeKind::Mutation => PALETTE[0],
        EdgeKind::Crossover => PALETTE[1],
        EdgeKind::Graft => PALETTE[2],
        EdgeKind::Repair => PALETTE[3],
        EdgeKind::Merge | EdgeKind::FineTune => PALETTE[4],
    }
}

/// The ancestry tree of a mechanism: ancestors placed by birth tick (x) and birth order
/// (y), edges coloured by kind, the first-parent path drawn thick.
pub fn ancestry_tree(ancestry: &Ancestry, ancestors: &[u64], path: &[u64]) -> Result<String, String> {
    let mut nodes: Vec<(u32, u64)> =
        ancestors.iter().filter_map(|id| ancestry.mechanism(*id).map(|m| (m.tick, *id))).collect();
    nodes.sort_unstable();
    let rows = nodes.len().max(1);
    let (width, height) = (900u32, (60 + 24 * rows) as u32);
    let max_tick = nodes.iter().map(|n| n.0).max().unwrap_or(0).max(1);
    let pos = |tick: u32, row: usize| -> (i32, i32) {
        (40 + (tick as f64 / max_tick as f64 * 560.0) as i32, 40 + 24 * row as i32)
    };
    let place: std::collections::BTreeMap<u64, (i32, i32)> =
        nodes.iter().enumerate().map(|(row, &(tick, id))| (id, pos(tick, row))).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        root.draw(&Text::new(
            "ancestry of the champion (x: birth tick; thick: first-parent path)",
            (10, 10),
            ("sans-serif", 14),
        ))
        .map_err(err)?;
        for (label, kind, i) in [
            ("mutation", EdgeKind::Mutation, 0),
            ("crossover", EdgeKind::Crossover, 1),
            ("graft", EdgeKind::Graft, 2),
            ("repair", EdgeKind::Repair, 3),
        ] {
            let x = 500 + 90 * i;
            root.draw(&PathElement::new(vec![(x, 30), (x + 20, 30)], edge_color(kind).stroke_width(2))).map_err(err)?;
            root.draw(&Text::new(label, (x + 24, 25), ("sans-serif", 11))).map_err(err)?;
        }
        for e in petgraph::visit::IntoEdgeReferences::edge_references(&ancestry.graph) {
            use petgraph::visit::EdgeRef;
            let (s, t) = (ancestry.graph[e.source()].id, ancestry.graph[e.target()].id);
            let (Some(&a), Some(&b)) = (place.get(&s), place.get(&t)) else { continue };
            let on_path = path.windows(2).any(|w| w[0] == s && w[1] == t);
            let style = edge_color(e.weight().kind).stroke_width(if on_path { 3 } else { 1 });
            root.draw(&PathElement::new(vec![a, b], style)).map_err(err)?;
        }
        for &(_, id) in &nodes {
            let p = place[&id];
            let Some(n) = ancestry.mechanism(id) else { continue };
            let fill = if path.last() == Some(&id) { PALETTE[3] } else { BLACK };
            root.draw(&Circle::new(p, 4, fill.filled())).map_err(err)?;
            let fitness = match (n.verified, n.claimed) {
                (Some(v), _) => format!("verified {v:+.3}"),
                (None, Some(c)) => format!("claimed {c:+.3}"),
                _ => "not evaluated".into(),
            };
            let name = n.genome.lines().next().unwrap_or("").trim_start_matches("(mechanism ").to_string();
            root.draw(&Text::new(format!("#{id} {name} · {fitness}"), (p.0 + 8, p.1 - 6), ("sans-serif", 11)))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The lineage of a model swarm's global best `best`: every model the graph holds, in
/// columns (base, experts, grown pool members, each swarm iteration, then the baseline
/// merges), the best's ancestors black and the rest grey, its primary-parent `path`
/// thick, the best red. Edges are the fine-tune and merge edges (their coefficients are
/// in the GraphML and DOT files).
pub fn model_lineage(ancestry: &Ancestry, best: u64, path: &[u64]) -> Result<String, String> {
    use crate::ancestry::ModelKind;
    let ancestors: std::collections::BTreeSet<u64> = ancestry.ancestors(best).into_iter().collect();
    let models: Vec<(u64, &ModelKind)> = petgraph::visit::IntoNodeReferences::node_references(&ancestry.graph)
        .filter_map(|(_, n)| n.model().map(|m| (n.id, &m.kind)))
        .collect();
    let last_iteration = models.iter().map(|(_, k)| k.iteration()).max().unwrap_or(0);
    let column = |k: &ModelKind| -> u32 {
        match k {
            ModelKind::Base => 0,
            ModelKind::Expert(_) => 1,
            ModelKind::Grown => 2,
            ModelKind::Particle { iteration, .. } => 3 + *iteration as u32,
            ModelKind::Baseline(_) => 4 + last_iteration,
        }
    };
    let columns = 5 + last_iteration;
    let mut rows = vec![0usize; columns as usize];
    let mut place = std::collections::BTreeMap::new();
    for &(id, k) in &models {
        let c = column(k);
        let r = rows[c as usize];
        rows[c as usize] += 1;
        place.insert(id, (c, r));
    }
    let tallest = rows.iter().copied().max().unwrap_or(1).max(1);
    let (width, height) = (900u32, (70 + 22 * tallest) as u32);
    let xy = |(c, r): (u32, usize)| -> (i32, i32) {
        (50 + (c as f64 / (columns - 1).max(1) as f64 * 800.0) as i32, 55 + 22 * r as i32)
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        root.draw(&Text::new(
            "lineage of the swarm's global best (columns: base, experts, grown, each iteration, baselines; \
             black: its ancestors; thick: primary parents)",
            (10, 10),
            ("sans-serif", 13),
        ))
        .map_err(err)?;
        for (label, c) in [("base", 0), ("experts", 1), ("grown", 2), ("baselines", columns - 1)] {
            root.draw(&Text::new(label, (xy((c, 0)).0 - 14, 30), ("sans-serif", 11))).map_err(err)?;
        }
        let grey = RGBColor(200, 200, 200);
        for e in petgraph::visit::IntoEdgeReferences::edge_references(&ancestry.graph) {
            use petgraph::visit::EdgeRef;
            let (s, t) = (ancestry.graph[e.source()].id, ancestry.graph[e.target()].id);
            let (Some(&a), Some(&b)) = (place.get(&s), place.get(&t)) else { continue };
            let on_path = path.windows(2).any(|w| w[0] == s && w[1] == t);
            let color = if ancestors.contains(&t) { BLACK.mix(0.35) } else { grey.mix(0.5) };
            let style = if on_path { PALETTE[4].stroke_width(3) } else { color.stroke_width(1) };
            root.draw(&PathElement::new(vec![xy(a), xy(b)], style)).map_err(err)?;
        }
        for &(id, k) in &models {
            let p = xy(place[&id]);
            let fill = if id == best {
                PALETTE[3]
            } else if ancestors.contains(&id) {
                BLACK
            } else {
                grey
            };
            root.draw(&Circle::new(p, 3, fill.filled())).map_err(err)?;
            if !matches!(k, ModelKind::Particle { .. }) || id == best {
                root.draw(&Text::new(k.label(), (p.0 + 6, p.1 - 5), ("sans-serif", 10))).map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_never_read_negative_zero() {
        assert_eq!(tick(-0.001), "0.00");
        assert_eq!(tick(-0.006), "-0.01");
        assert_eq!(tick(0.25), "0.25");
    }
}
