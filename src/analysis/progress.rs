//! Progress per tick, replayed from the event log: best, median and interquartile range of
//! the verified fitness of the living population, best claim, and every claim next to
//! its verification.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::sim::events::Event;
use crate::stats::{median, quantile_sorted};

/// The population at the end of one tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TickRow {
    /// Tick.
    pub tick: u32,
    /// Living mechanisms.
    pub alive: usize,
    /// Living mechanisms with a verified fitness.
    pub verified_alive: usize,
    /// Best verified fitness among the living.
    pub best_verified: Option<f64>,
    /// Median verified fitness among the living.
    pub median_verified: Option<f64>,
    /// Lower quartile of the living's verified fitness (linear interpolation): with
    /// `q75_verified`, the spread band around the median.
    pub q25_verified: Option<f64>,
    /// Upper quartile of the living's verified fitness.
    pub q75_verified: Option<f64>,
    /// Worst verified fitness among the living (the interactive band's lower edge).
    pub worst_verified: Option<f64>,
    /// Best claimed fitness among the living.
    pub best_claimed: Option<f64>,
}

/// One verification: the claim and what fresh seeds said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimCheck {
    /// Tick.
    pub tick: u32,
    /// Mechanism id.
    pub id: u64,
    /// Claimed fitness.
    pub claimed: f64,
    /// Verified fitness.
    pub verified: f64,
    /// Whether a claim episode re-ran bit for bit.
    pub integrity: bool,
}

/// The progress section's data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    /// One row per completed tick.
    pub ticks: Vec<TickRow>,
    /// Every verification in log order.
    pub checks: Vec<ClaimCheck>,
}

#[derive(Default)]
struct Living {
    claimed: Option<f64>,
    verified: Option<f64>,
}

/// Replay the event log tick by tick.
pub fn progress(events: &[Event], ticks_done: u32) -> Progress {
    let mut alive: BTreeMap<u64, Living> = BTreeMap::new();
    let mut ticks = Vec::new();
    let mut checks = Vec::new();
    let mut next = events.iter().peekable();
    for tick in 0..ticks_done {
        while let Some(e) = next.next_if(|e| e.tick() <= tick) {
            match e {
                Event::Born { id, .. } => {
                    alive.insert(*id, Living::default());
                }
                Event::Evaluated { id, claimed, .. } => {
                    if let Some(m) = alive.get_mut(id) {
                        m.claimed = Some(*claimed);
                    }
                }
                Event::Verified { tick, id, claimed, verified, integrity, .. } => {
                    if let Some(m) = alive.get_mut(id) {
                        m.verified = Some(*verified);
                    }
                    checks.push(ClaimCheck {
                        tick: *tick,
                        id: *id,
                        claimed: *claimed,
                        verified: *verified,
                        integrity: *integrity,
                    });
                }
                Event::Retired { id, .. } => {
                    alive.remove(id);
                }
                _ => {}
            }
        }
        let mut verified: Vec<f64> = alive.values().filter_map(|m| m.verified).collect();
        verified.sort_by(f64::total_cmp);
        let quartile = |q: f64| (!verified.is_empty()).then(|| quantile_sorted(&verified, q));
        let max =
            |xs: &mut dyn Iterator<Item = f64>| xs.fold(None, |b: Option<f64>, x| Some(b.map_or(x, |b| b.max(x))));
        ticks.push(TickRow {
            tick,
            alive: alive.len(),
            verified_alive: verified.len(),
            best_verified: max(&mut verified.iter().copied()),
            median_verified: (!verified.is_empty()).then(|| median(&verified)),
            q25_verified: quartile(0.25),
            q75_verified: quartile(0.75),
            worst_verified: verified.first().copied(),
            best_claimed: max(&mut alive.values().filter_map(|m| m.claimed)),
        });
    }
    Progress { ticks, checks }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::components::AgentKind;
    use crate::sim::events::RetireReason;

    fn born(tick: u32, id: u64) -> Event {
        Event::Born {
            tick,
            id,
            parents: vec![],
            agent: AgentKind::Seed,
            operator: "seed".parse().unwrap(),
            diagnosis: None,
            hash: String::new(),
            genome: String::new(),
            coefficients: vec![],
        }
    }

    fn verified(tick: u32, id: u64, v: f64) -> Event {
        Event::Verified { tick, id, claimed: v, verified: v, spread: 0.0, gap: 0.0, integrity: true }
    }

    #[test]
    fn the_worst_follows_the_living_and_their_latest_verification() {
        let events = vec![
            born(0, 1),
            born(0, 2),
            verified(0, 1, 0.5),
            verified(0, 2, -0.2),
            verified(1, 2, 0.1),
            Event::Retired { tick: 2, id: 2, reason: RetireReason::AgedOut },
        ];
        let worst: Vec<Option<f64>> = progress(&events, 3).ticks.iter().map(|t| t.worst_verified).collect();
        assert_eq!(worst[0], Some(-0.2));
        assert_eq!(worst[1], Some(0.1), "the latest verification counts");
        assert_eq!(worst[2], Some(0.5), "the retired no longer count");
    }
}
