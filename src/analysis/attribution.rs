//! Attribution, replayed from the event log: which agents and operators produced the
//! verified improvements, how precise the debate was, and how far claims sat above
//! verification.

use crate::sim::resources::DebateStats;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::sim::events::{Event, Verdict};
use crate::sim::writer::WriterTally;
use crate::stats::mean;

/// Credit of one agent and operator family.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Credit {
    /// Agent name.
    pub agent: String,
    /// Operator family (the operator name without its parenthesised details).
    pub operator: String,
    /// Children born.
    pub born: u64,
    /// Children evaluated (claims measured).
    pub evaluated: u64,
    /// Children whose claim beat their first parent's fitness.
    pub claimed_improvements: u64,
    /// Children verified.
    pub verified: u64,
    /// Verified children whose verified fitness beats their first parent's.
    pub verified_improvements: u64,
    /// Sum of those verified improvements (fitness units).
    pub verified_gain: f64,
}

impl Credit {
    /// The yield of the operator: verified improvements per child born (`None` before
    /// any birth). Comparable across operators whatever their share of the slots, e.g.
    /// the recombiner's `constant-swarm` merges beside its `crossover`.
    pub fn wins_per_birth(&self) -> Option<f64> {
        (self.born > 0).then(|| self.verified_improvements as f64 / self.born as f64)
    }
}

/// The debate's record.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Debate {
    /// Proposals debated.
    pub debated: u64,
    /// Verdicts `accept`, `revise`, `reject`.
    pub accepted: u64,
    /// Revised then accepted or rejected (verdict `revise`).
    pub revised: u64,
    /// Rejected.
    pub rejected: u64,
    /// Accepted (debated, not audited) children that were evaluated against a parent.
    pub accepted_evaluated: u64,
    /// Of those, how many beat their parent.
    pub accepted_improved: u64,
    /// `accepted_improved / accepted_evaluated`.
    pub precision: Option<f64>,
    /// Rejected proposals evaluated anyway (audits).
    pub audited: u64,
    /// Audited rejections that would have improved.
    pub audited_improved: u64,
    /// `audited_improved / audited`: how often the panel threw away an improvement.
    pub false_rejection_rate: Option<f64>,
}

/// The verifier's record.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Verifier {
    /// Verifications.
    pub verifications: u64,
    /// Mean of claimed minus verified fitness.
    pub mean_gap: Option<f64>,
    /// Claims above zero whose verification fell to zero or below (wins not reproduced).
    pub wins_not_reproduced: u64,
    /// Claim episodes that did not re-run bit for bit.
    pub integrity_failures: u64,
    /// Mechanisms reported with dead genes.
    pub dead_gene_reports: u64,
}

/// The attribution section's data.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Attribution {
    /// Per agent and operator family, sorted by agent then operator.
    pub credits: Vec<Credit>,
    /// The debate.
    pub debate: Debate,
    /// The verifier.
    pub verifier: Verifier,
    /// The language-model proposer's drafts (`None`: it wrote none).
    #[serde(skip)]
    pub writer: Option<WriterTally>,
}

type Made = BTreeMap<u64, (String, String, Option<u64>)>;

/// The credit row of the agent and operator that made `id` (none for seeds).
fn credit<'a>(credits: &'a mut BTreeMap<(String, String), Credit>, made: &Made, id: u64) -> Option<&'a mut Credit> {
    let (agent, operator, _) = made.get(&id)?;
    if agent == "seed" {
        return None;
    }
    Some(credits.entry((agent.clone(), operator.clone())).or_insert_with(|| Credit {
        agent: agent.clone(),
        operator: operator.clone(),
        ..Credit::default()
    }))
}

/// Replay the log.
pub fn attribution(events: &[Event]) -> Attribution {
    // The last verified value of each mechanism, and who made each mechanism from what.
    let mut verified: BTreeMap<u64, f64> = BTreeMap::new();
    let mut made: Made = BTreeMap::new();
    for e in events {
        match e {
            Event::Verified { id, verified: v, .. } => {
                verified.insert(*id, *v);
            }
            Event::Born { id, parents, agent, operator, .. } => {
                let agent = agent.name().to_string();
                made.insert(*id, (agent, operator.name().to_string(), parents.first().copied()));
            }
            _ => {}
        }
    }
    let mut credits: BTreeMap<(String, String), Credit> = BTreeMap::new();
    let mut debate = Debate::default();
    let mut tally = DebateStats::default();
    let mut gaps = Vec::new();
    let mut ver = Verifier::default();
    let mut seen_verified: BTreeMap<u64, ()> = BTreeMap::new();
    let mut debated: std::collections::BTreeSet<u64> = std::collections::BTreeSet::new();
    for e in events {
        match e {
            Event::Born { id, .. } => {
                if let Some(c) = credit(&mut credits, &made, *id) {
                    c.born += 1;
                }
            }
            Event::Debated { id, verdict, .. } => {
                debated.insert(*id);
                debate.debated += 1;
                match verdict {
                    Verdict::Accept => debate.accepted += 1,
                    Verdict::Revise => debate.revised += 1,
                    Verdict::Reject => debate.rejected += 1,
                }
            }
            Event::Evaluated { id, audited, improved, .. } => {
                if let Some(c) = credit(&mut credits, &made, *id) {
                    c.evaluated += 1;
                    c.claimed_improvements += u64::from(*improved == Some(true));
                }
                // The debate's own rule, as the simulation's credit step applies it.
                if let Some(better) = improved
                    && debated.contains(id)
                {
                    tally.record_outcome(*audited, *better);
                }
            }
            Event::Verified { id, claimed, verified: v, gap, integrity, .. } => {
                ver.verifications += 1;
                gaps.push(*gap);
                ver.wins_not_reproduced += u64::from(*claimed > 0.0 && *v <= 0.0);
                ver.integrity_failures += u64::from(!integrity);
                // Credit counts each mechanism once, with its final verified value.
                if seen_verified.insert(*id, ()).is_none() {
                    let parent = made.get(id).and_then(|m| m.2).and_then(|p| verified.get(&p).copied());
                    let child = verified.get(id).copied();
                    if let Some(c) = credit(&mut credits, &made, *id) {
                        c.verified += 1;
                        if let (Some(child), Some(parent)) = (child, parent)
                            && child > parent
                        {
                            c.verified_improvements += 1;
                            c.verified_gain += child - parent;
                        }
                    }
                }
            }
            Event::DeadGenes { .. } => ver.dead_gene_reports += 1,
            _ => {}
        }
    }
    debate.accepted_evaluated = tally.accepted;
    debate.accepted_improved = tally.accepted_improved;
    debate.audited = tally.audited;
    debate.audited_improved = tally.audited_improved;
    debate.precision = tally.precision();
    debate.false_rejection_rate = tally.false_rejection_rate();
    ver.mean_gap = (!gaps.is_empty()).then(|| mean(&gaps));
    Attribution { credits: credits.into_values().collect(), debate, verifier: ver, writer: WriterTally::of(events) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::components::AgentKind;

    fn born(id: u64, parents: Vec<u64>, agent: AgentKind, operator: &str, coefficients: Vec<f64>) -> Event {
        let (hash, genome) = (String::new(), String::new());
        Event::Born {
            tick: 1,
            id,
            parents,
            agent,
            operator: operator.parse().unwrap(),
            diagnosis: None,
            hash,
            genome,
            coefficients,
        }
    }

    fn verified(id: u64, v: f64) -> Event {
        Event::Verified { tick: 1, id, claimed: v, verified: v, spread: 0.0, gap: 0.0, integrity: true }
    }

    #[test]
    fn constant_swarm_merges_have_their_own_row_beside_crossover() {
        let events = vec![
            born(1, vec![], AgentKind::Seed, "seed", vec![]),
            born(2, vec![], AgentKind::Seed, "seed", vec![]),
            verified(1, 0.1),
            verified(2, 0.2),
            born(3, vec![1, 2], AgentKind::Recombiner, "crossover(d=0.50)", vec![]),
            born(4, vec![1, 2], AgentKind::Recombiner, "constant-swarm", vec![1.5, -0.5]),
            born(5, vec![2, 1], AgentKind::Recombiner, "constant-swarm", vec![0.75, 0.25]),
            verified(3, 0.0),
            verified(4, 0.3),
            verified(5, 0.25),
        ];
        let a = attribution(&events);
        let row = |op: &str| a.credits.iter().find(|c| c.agent == "recombiner" && c.operator == op).unwrap().clone();
        let (cross, swarm) = (row("crossover"), row("constant-swarm"));
        assert_eq!((cross.born, cross.verified, cross.verified_improvements), (1, 1, 0));
        assert_eq!((swarm.born, swarm.verified, swarm.verified_improvements), (2, 2, 2));
        assert_eq!(swarm.wins_per_birth(), Some(1.0));
        assert_eq!(cross.wins_per_birth(), Some(0.0));
        assert!((swarm.verified_gain - (0.2 + 0.05)).abs() < 1e-12, "judged against the primary parent");
        assert_eq!(Credit::default().wins_per_birth(), None);
    }

    #[test]
    fn operator_families_drop_details() {}
}
