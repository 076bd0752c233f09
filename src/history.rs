//! The trial history a mechanism reads: every evaluated point with its score, kept
//! with the indices the language's queries need (score order, rungs, visit counts).

use std::collections::HashMap;

/// Outcome class of one trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum TrialStatus {
    /// The trial ran to its fidelity and produced a finite score.
    Ok,
    /// Training diverged (NaN, Inf or an exploding loss); the score is the objective's
    /// defined failure score.
    Diverged,
    /// The config could not be run (for example a width not divisible by heads).
    Invalid,
    /// The user's program crashed, timed out or printed no result (command objectives).
    Crashed,
}

impl TrialStatus {
    /// Every status, in declaration order.
    pub const ALL: [TrialStatus; 4] =
        [TrialStatus::Ok, TrialStatus::Diverged, TrialStatus::Invalid, TrialStatus::Crashed];

    /// The status named `name` ([`TrialStatus::as_str`]'s inverse).
    pub fn parse(name: &str) -> Option<TrialStatus> {
        TrialStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Lower-case name used in traces and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TrialStatus::Ok => "ok",
            TrialStatus::Diverged => "diverged",
            TrialStatus::Invalid => "invalid",
            TrialStatus::Crashed => "crashed",
        }
    }
}

/// Where a trial's point came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The `init` hook's design.
    Init,
    /// The `propose` hook.
    Propose,
    /// A fallback after a genome error (out of fuel, filter never satisfied, ...).
    Fallback,
}

impl Source {
    /// Lower-case name for traces.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Init => "init",
            Source::Propose => "propose",
            Source::Fallback => "fallback",
        }
    }
}

/// One evaluated trial as the mechanism sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    /// The snapped unit-cube point.
    pub point: Vec<f64>,
    /// Fidelity level index.
    pub level: usize,
    /// Observed score (lower is better; failed trials carry the failure score).
    pub score: f64,
    /// Compute spent.
    pub cost: f64,
    /// Outcome class.
    pub status: TrialStatus,
    /// Whether the trial improved the incumbent.
    pub improved: bool,
    /// Where the point came from.
    pub source: Source,
}

/// The trial history with its indices.
#[derive(Debug, Clone, Default)]
pub struct History {
    trials: Vec<Trial>,
    /// Trial indices sorted by (score, index).
    sorted: Vec<u32>,
    /// Trial indices per fidelity level.
    rungs: Vec<Vec<u32>>,
    /// Trial indices per fidelity level, sorted by (score, index): the rung pieces rank a
    /// rung for every candidate they score, so the order is kept, not re-sorted.
    ranked_rungs: Vec<Vec<u32>>,
    /// Id of each distinct point, by exact identity.
    point_ids: HashMap<Vec<u64>, u32>,
    /// Distinct point id of each trial.
    point_of: Vec<u32>,
    /// Highest level at which each distinct point was evaluated.
    point_level: Vec<usize>,
    /// Index of the last trial that improved the incumbent.
    last_improvement: Option<usize>,
}

/// Key for exact point identity.
pub fn point_key(p: &[f64]) -> Vec<u64> {
    p.iter().map(|x| x.to_bits()).collect()
}

/// Call `f` with the identity key of `p`, without allocating for up to 32 dimensions.
fn with_point_key<R>(p: &[f64], f: impl FnOnce(&[u64]) -> R) -> R {
    const STACK: usize = 32;
    if p.len() <= STACK {
        let mut buf = [0u64; STACK];
        for (b, x) in buf.iter_mut().zip(p) {
            *b = x.to_bits();
        }
        f(&buf[..p.len()])
    } else {
        f(&point_key(p))
    }
}

impl History {
    /// An empty history for objectives with `levels` fidelity levels.
    pub fn new(levels: usize) -> Self {
        let rungs = vec![Vec::new(); levels.max(1)];
        History { ranked_rungs: rungs.clone(), rungs, ..Default::default() }
    }

    /// Record a trial; sets its `improved` flag and returns it.
    pub fn push(&mut self, mut trial: Trial) -> &Trial {
        let idx = self.trials.len();
        trial.improved = trial.status == TrialStatus::Ok && self.best().is_none_or(|b| trial.score < b.score);
        if trial.improved {
            self.last_improvement = Some(idx);
        }
        let pos = self.sorted.partition_point(|&j| {
            let t = &self.trials[j as usize];
            (t.score, j as usize) < (trial.score, idx)
        });
        self.sorted.insert(pos, idx as u32);
        let level = trial.level.min(self.rungs.len() - 1);
        self.rungs[level].push(idx as u32);
        let ranked = &mut self.ranked_rungs[level];
        let pos = ranked.partition_point(|&j| {
            self.trials[j as usize].score.total_cmp(&trial.score).then((j as usize).cmp(&idx)).is_lt()
        });
        ranked.insert(pos, idx as u32);
        let known = with_point_key(&trial.point, |k| self.point_ids.get(k).copied());
        let id = match known {
            Some(id) => {
                let l = &mut self.point_level[id as usize];
                *l = (*l).max(level);
                id
            }
            None => {
                let id = self.point_level.len() as u32;
                self.point_ids.insert(point_key(&trial.point), id);
                self.point_level.push(level);
                id
            }
        };
        self.point_of.push(id);
        self.trials.push(trial);
        &self.trials[idx]
    }

    /// Number of trials.
    pub fn len(&self) -> usize {
        self.trials.len()
    }

    /// Whether no trial has run yet.
    pub fn is_empty(&self) -> bool {
        self.trials.is_empty()
    }

    /// All trials in order.
    pub fn trials(&self) -> &[Trial] {
        &self.trials
    }

    /// The last trial.
    pub fn last(&self) -> Option<&Trial> {
        self.trials.last()
    }

    /// The k-th best trial (0-based), clamped to the history.
    pub fn kth_best(&self, k: usize) -> Option<&Trial> {
        let k = k.min(self.sorted.len().checked_sub(1)?);
        Some(&self.trials[self.sorted[k] as usize])
    }

    /// The best trial.
    pub fn best(&self) -> Option<&Trial> {
        self.kth_best(0)
    }

    /// Trial indices in score order.
    pub fn sorted(&self) -> &[u32] {
        &self.sorted
    }

    /// Rank quantile of a score among the history (0 = at least as good as all, 1 = worst).
    pub fn rank_quantile(&self, score: f64) -> f64 {
        let n = self.sorted.len();
        if n <= 1 {
            return 0.0;
        }
        let better = self.sorted.partition_point(|&j| self.trials[j as usize].score < score);
        better as f64 / (n - 1) as f64
    }

    /// Trials since the last improvement (all trials when none improved).
    pub fn stagnation(&self) -> usize {
        match self.last_improvement {
            Some(i) => self.trials.len() - 1 - i,
            None => self.trials.len(),
        }
    }

    /// Fraction of the last `k` trials that improved the incumbent.
    pub fn success_rate(&self, k: usize) -> f64 {
        let k = k.max(1).min(self.trials.len());
        if k == 0 {
            return 0.0;
        }
        let wins = self.trials[self.trials.len() - k..].iter().filter(|t| t.improved).count();
        wins as f64 / k as f64
    }

    /// Trial indices run at fidelity level `level`.
    pub fn rung(&self, level: usize) -> &[u32] {
        &self.rungs[level.min(self.rungs.len() - 1)]
    }

    /// Trial indices run at fidelity level `level`, best first (ties by index).
    pub fn ranked_rung(&self, level: usize) -> &[u32] {
        &self.ranked_rungs[level.min(self.ranked_rungs.len() - 1)]
    }

    /// Number of fidelity levels.
    pub fn levels(&self) -> usize {
        self.rungs.len()
    }

    /// Highest level at which `point` was evaluated.
    pub fn max_level_of(&self, point: &[f64]) -> Option<usize> {
        with_point_key(point, |k| self.point_ids.get(k)).map(|&id| self.point_level[id as usize])
    }

    /// The distinct-point id of trial `index` (trials of the same point share it).
    pub fn point_id_of_trial(&self, index: usize) -> u32 {
        self.point_of[index]
    }

    /// The distinct-point id of `point`, when it was evaluated.
    pub fn point_id(&self, point: &[f64]) -> Option<u32> {
        with_point_key(point, |k| self.point_ids.get(k).copied())
    }

    /// Number of distinct points evaluated.
    pub fn distinct_points(&self) -> usize {
        self.point_level.len()
    }

    /// Highest level at which the point of trial `index` was evaluated (by this trial or
    /// a later one); the same as `max_level_of(&trials()[index].point)`, without hashing.
    pub fn trial_max_level(&self, index: usize) -> usize {
        self.point_level[self.point_of[index] as usize]
    }
}

/// A successful one-dimensional trial at `x`, for tests.
#[cfg(test)]
pub(crate) fn test_trial(x: f64, score: f64, level: usize) -> Trial {
    Trial { point: vec![x], level, score, cost: 1.0, status: TrialStatus::Ok, improved: false, source: Source::Propose }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(x: f64, score: f64, level: usize) -> Trial {
        test_trial(x, score, level)
    }

    #[test]
    fn ranks_and_improvements() {
        let mut h = History::new(2);
        assert!(h.push(trial(0.1, 5.0, 0)).improved);
        assert!(!h.push(trial(0.2, 6.0, 0)).improved);
        assert!(h.push(trial(0.3, 1.0, 1)).improved);
        assert_eq!(h.best().unwrap().point, vec![0.3]);
        assert_eq!(h.kth_best(1).unwrap().score, 5.0);
        assert_eq!(h.kth_best(99).unwrap().score, 6.0);
        assert_eq!(h.rank_quantile(1.0), 0.0);
        assert_eq!(h.rank_quantile(6.0), 1.0);
        assert_eq!(h.stagnation(), 0);
        assert_eq!(h.rung(0).len(), 2);
        assert_eq!(h.max_level_of(&[0.3]), Some(1));
        assert_eq!(h.max_level_of(&[0.4]), None);
        assert!((h.success_rate(3) - 2.0 / 3.0).abs() < 1e-12);
        // Re-evaluating a point at a higher level raises it for every trial of the point.
        h.push(trial(0.1, 4.0, 1));
        assert_eq!((h.trial_max_level(0), h.trial_max_level(1), h.trial_max_level(3)), (1, 0, 1));
        assert_eq!(h.max_level_of(&[0.1]), Some(1));
    }

    /// The kept rung order equals sorting the rung by (score, index), ties and
    /// repeated scores included.
    #[test]
    fn ranked_rungs_equal_a_sort_of_each_rung() {
        let mut h = History::new(3);
        for i in 0..200u32 {
            let score = f64::from((i * 37) % 23) * 0.5;
            h.push(trial(f64::from(i) / 200.0, score, (i % 3) as usize));
            for level in 0..3 {
                let mut want = h.rung(level).to_vec();
                want.sort_by(|&a, &b| {
                    h.trials()[a as usize].score.total_cmp(&h.trials()[b as usize].score).then(a.cmp(&b))
                });
                assert_eq!(h.ranked_rung(level), want.as_slice());
            }
        }
    }
}
