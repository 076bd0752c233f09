//! The reproductions document: one summary table (claim | what the source reported |
//! our scenario | our measurement | verdict), then a section per claim with its rule,
//! tables and remarks; and the same numbers as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use super::manifest::ClaimKind;
use super::measure::{ClaimResult, Table};

/// Everything the document shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    /// `full` or `quick`.
    pub variant: String,
    /// The folder the runs were read from.
    pub runs: String,
    /// One result per claim, in set order.
    pub claims: Vec<ClaimResult>,
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn table(out: &mut String, t: &Table) {
    let _ = writeln!(out, "{}\n", t.title);
    let _ = writeln!(out, "| {} |", t.header.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(t.header.len()));
    for r in &t.rows {
        let _ = writeln!(out, "| {} |", r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
    }
    out.push('\n');
}

impl Document {
    /// The Markdown document; `provenance` (how the runs were made: command, commit,
    /// machine, date, wall time) goes verbatim under its own heading.
    pub fn markdown(&self, provenance: Option<&str>) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Reproductions: the field's claims, measured\n");
        let _ = writeln!(
            s,
            "Written by `outerloop reproduce report{}` from the run folders under `{}`. Every number is recomputed from the runs' checkpoints and event logs, with the champions re-run on fresh held-out (and live) episodes whose seeds derive from the set's name, so the same runs give this document byte for byte. Verdicts follow the rule each set states before any run (`scenarios/reproductions/<set>/reproduction.toml`). Intervals are 95%: t intervals over replicate runs unless a table says otherwise.\n",
            if self.variant == "quick" { " --quick" } else { "" },
            self.runs
        );
        if let Some(p) = provenance {
            let _ = writeln!(s, "## How these runs were made\n\n{}\n", p.trim_end());
        }
        let _ = writeln!(s, "## Summary\n");
        let _ = writeln!(s, "| claim | what the source reported | our scenario | our measurement | verdict |");
        let _ = writeln!(s, "| --- | --- | --- | --- | --- |");
        for c in &self.claims {
            let _ = writeln!(
                s,
                "| {} | {} | `{}` | {} | **{}** |",
                cell(&c.title),
                cell(&c.source),
                cell(&c.scenario),
                cell(&c.measurement),
                c.verdict.words()
            );
        }
        s.push('\n');
        for c in &self.claims {
            let _ = writeln!(s, "## {}\n", c.title);
            let runs = match c.claim {
                ClaimKind::Swarm => "one model-swarm run (its seeds are the replicates)".to_string(),
                ClaimKind::Novelty => "no runs of its own (it reads the other sets' champions)".to_string(),
                _ => format!("{} runs", c.runs.len()),
            };
            let _ = writeln!(s, "Set `{}`: {runs}. **Verdict: {}.**\n", c.set, c.verdict.words());
            let _ = writeln!(s, "Source: {}\n", c.source);
            let _ = writeln!(s, "Rule: {}\n", c.rule);
            let _ = writeln!(s, "Measured: {}\n", c.measurement);
            for t in &c.tables {
                table(&mut s, t);
            }
            for n in &c.notes {
                let _ = writeln!(s, "- {n}");
            }
            if !c.notes.is_empty() {
                s.push('\n');
            }
            for (caption, genome) in &c.genomes {
                let _ = writeln!(s, "{caption}\n\n```text\n{}\n```\n", genome.trim_end());
            }
        }
        s
    }

    /// The JSON form (every run record included; compact, one line: it holds every
    /// champion's genome and lineage).
    pub fn json(&self) -> String {
        let mut text = serde_json::to_string(self).unwrap_or_default();
        text.push('\n');
        text
    }
}
