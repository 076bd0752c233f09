//! Live genes of the champion: which genes fired (reached a decision) on fresh episodes
//! and how often, which never did, and what the verifier reported during the run.

use serde::Serialize;

use crate::genome::Genome;
use crate::inner::trace::gene_report;
use crate::sim::episode_batch::EpisodeResult;
use crate::sim::evaluator::sum_live;
use crate::sim::events::Event;

/// One gene (node) of the champion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gene {
    /// Node id in canonical preorder.
    pub node: usize,
    /// Hook.
    pub hook: String,
    /// Depth below the hook's root.
    pub depth: usize,
    /// The gene as text.
    pub text: String,
    /// Times evaluated.
    pub evaluated: u64,
    /// Times its value reached a decision.
    pub reached: u64,
}

/// The live-gene section's data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Genes {
    /// Mechanism id.
    pub id: u64,
    /// Episodes the counts come from.
    pub episodes: usize,
    /// Every gene, in canonical preorder.
    pub genes: Vec<Gene>,
    /// Node ids of genes that never reached a decision.
    pub dead: Vec<usize>,
    /// Dead genes the verifier reported for this mechanism during the run.
    pub reported_in_run: Vec<String>,
}

/// The live-gene report of `genome` over `results`.
pub fn genes(id: u64, genome: &Genome, results: &[EpisodeResult], events: &[Event]) -> Genes {
    let live = sum_live(results);
    let paths = genome.paths();
    let genes: Vec<Gene> = gene_report(genome, &live)
        .into_iter()
        .zip(&paths)
        .map(|(r, p)| Gene {
            node: r.node,
            hook: r.hook.to_string(),
            depth: p.steps.len(),
            text: r.text,
            evaluated: r.evaluated,
            reached: r.reached,
        })
        .collect();
    let dead = genes.iter().filter(|g| g.reached == 0).map(|g| g.node).collect();
    let reported_in_run = events
        .iter()
        .filter_map(|e| match e {
            Event::DeadGenes { id: i, genes, .. } if *i == id => Some(genes.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    Genes { id, episodes: results.len(), genes, dead, reported_in_run }
}
