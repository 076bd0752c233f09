//! The champion's lineage: the first-parent path from a seed to the champion, each step
//! with agent, operator, diagnosis and fitness change, and the whole ancestor set for
//! the drawn tree.

use serde::Serialize;

use crate::ancestry::Ancestry;

/// One step of the path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Mechanism id.
    pub id: u64,
    /// Birth tick.
    pub tick: u32,
    /// Creating agent (`seed` for the start).
    pub agent: String,
    /// Operator (`seed` for the start).
    pub operator: String,
    /// Diagnosis that motivated the operator.
    pub diagnosis: Option<String>,
    /// Verified fitness when known, else the claim.
    pub fitness: Option<f64>,
    /// Whether `fitness` is verified.
    pub verified: bool,
    /// Change from the previous step's fitness.
    pub change: Option<f64>,
}

/// The lineage section's data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChampionLineage {
    /// Champion id.
    pub champion: u64,
    /// Seed first, champion last.
    pub path: Vec<Step>,
    /// Every ancestor of the champion (itself included), by id.
    pub ancestors: Vec<u64>,
}

/// The lineage of `champion`.
pub fn lineage(ancestry: &Ancestry, champion: u64) -> ChampionLineage {
    let mut path: Vec<Step> = Vec::new();
    for (id, edge) in ancestry.first_parent_path(champion) {
        let node = ancestry.mechanism(id);
        let fitness = node.and_then(|n| n.verified.or(n.claimed));
        let previous = path.last().and_then(|s| s.fitness);
        path.push(Step {
            id,
            tick: node.map_or(0, |n| n.tick),
            agent: edge.as_ref().map_or("seed".into(), |e| e.agent.name().to_string()),
            operator: edge.as_ref().map_or("seed".into(), |e| e.operator.clone()),
            diagnosis: edge.and_then(|e| e.diagnosis),
            fitness,
            verified: node.is_some_and(|n| n.verified.is_some()),
            change: fitness.zip(previous).map(|(f, p)| f - p),
        });
    }
    ChampionLineage { champion, path, ancestors: ancestry.ancestors(champion) }
}
