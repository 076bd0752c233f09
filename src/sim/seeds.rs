//! Episode seeds: the claim, verification and report streams every mechanism shares
//! (`super::evaluator` runs the episodes).

use crate::rng;

/// The three disjoint kinds of episode seeds. Each is one stream shared by every
/// mechanism (common random numbers make comparisons paired), ordered in blocks of one
/// episode per task so that any prefix of whole blocks weighs every task equally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedKind {
    /// Selection: claims and the race that extends them.
    Claim,
    /// Verification of would-be elites; elites and the champion are chosen on these.
    Verify,
    /// The final report of the champion: never used to choose anything.
    Report,
}

impl SeedKind {
    fn purpose(self) -> &'static str {
        match self {
            SeedKind::Claim => "claim",
            SeedKind::Verify => "verify",
            SeedKind::Report => "report",
        }
    }
}

/// Episodes `blocks.start..blocks.end` of a kind: block `k` holds one episode per task.
pub fn episode_blocks(root: u64, kind: SeedKind, tasks: usize, blocks: std::ops::Range<u32>) -> Vec<(usize, u64)> {
    blocks
        .flat_map(|k| (0..tasks).map(move |t| (t, rng::derive(root, kind.purpose(), &[t as u64, k as u64]))))
        .collect()
}

/// The shared claim episodes: `per_task` blocks, the same for every mechanism.
pub fn claim_episodes(root: u64, tasks: usize, per_task: u32) -> Vec<(usize, u64)> {
    episode_blocks(root, SeedKind::Claim, tasks, 0..per_task)
}

/// The report episodes of the final champion.
pub fn report_episodes(root: u64, tasks: usize, per_task: u32) -> Vec<(usize, u64)> {
    episode_blocks(root, SeedKind::Report, tasks, 0..per_task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::choices::Aggregate;

    #[test]
    fn aggregates_weigh_tasks_equally_or_take_the_worst() {
        // Two tasks, block order: task 0 at even positions, task 1 at odd ones.
        let g = [1.0, -1.0, 3.0, -1.0];
        assert_eq!(Aggregate::Mean.fitness(&g, 2), 0.5);
        assert_eq!(Aggregate::WorstTask.fitness(&g, 2), -1.0);
        // Whole blocks: the mean of task means is the mean of the episodes.
        assert_eq!(Aggregate::Mean.fitness(&g, 2), crate::stats::mean(&g));
    }

    #[test]
    fn seed_kinds_are_disjoint_and_blocks_are_prefixes() {
        let claim = claim_episodes(7, 3, 4);
        let verify = episode_blocks(7, SeedKind::Verify, 3, 0..4);
        let report = report_episodes(7, 3, 4);
        for (a, b) in [(&claim, &verify), (&claim, &report), (&verify, &report)] {
            assert!(a.iter().all(|x| !b.contains(x)));
        }
        // Block k holds one episode per task, and more blocks extend the same sequence.
        assert_eq!(claim[..3].iter().map(|e| e.0).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(&claim_episodes(7, 3, 6)[..12], &claim[..]);
        assert_eq!(episode_blocks(7, SeedKind::Claim, 3, 2..4), claim[6..].to_vec());
    }
}
