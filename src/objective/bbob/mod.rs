//! The 24 noiseless BBOB functions of the COCO suite, with instance transformations.
//!
//! [`BbobFunction`] is a faithful port of COCO's `bbob` suite: the instance generators of
//! the BBOB 2009 legacy code (`xopt`, `fopt`, the rotations `R` and `Q`), the
//! transformations `T_osz`, `T_asy`, `Lambda`, the penalty `f_pen`, and the 24 functions
//! composed as the reference composes them. `tests/e2e/bbob_reference.rs` checks it against
//! values computed by COCO itself (`tests/fixtures/gen_bbob_reference.py`) to 1e-8.
//!
//! [`BbobObjective`] wraps a function as an [`Objective`](crate::objective::Objective)
//! over a search space (all continuous, or mixed knob types), with cheap biased low
//! fidelities and optional seeded observation noise. Its multi-fidelity model:
//!
//! - The fidelity levels are `[0.125, 0.25, 0.5, 1.0]`; a trial at level `phi` costs
//!   `phi` budget units, a full trial costs 1.
//! - The score at level `phi` is `f(x) + (1 - phi) b(x)` with the deterministic bias
//!   `b(x) = 0.5 |f(x) - fopt| + |x - p|^2 / d`, where `p` is a second point of
//!   `[-4, 4]^d` seeded by the function, instance and dimension. `b >= 0`, so a low
//!   fidelity is never better than the full one; it is rank-correlated with `f` (the
//!   first term) but also pulls towards `p` (the second), so it is informative but
//!   imperfect, and the bias shrinks linearly to zero at full fidelity.
//! - With `noise = sigma > 0`, `f(x)` is first observed as
//!   `fopt + (f(x) - fopt) max(0, 1 + sigma g1) + 1e-6 sigma |g2|` with standard
//!   Gaussians `g1, g2` drawn from a stream derived from the trial seed alone; the same
//!   draw is used at every level, so the learning curve stays ordered. A noisy
//!   observation is never below `fopt`. `sigma = 0` gives exact values.

mod functions;
mod gallagher;
mod instance;
mod objective;
mod raw;
mod transforms;

pub use functions::{BbobFunction, MAX_DIM, MIN_DIM};
pub use objective::{BbobObjective, FAILURE_SCORE, FIDELITY_LEVELS, SpaceKind};

/// Errors in choosing a BBOB problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BbobError {
    /// The function id is not in `1..=24`.
    #[error("function id {0} is not a BBOB function (expected 1..=24)")]
    BadFunction(u32),
    /// The instance is not a positive number.
    #[error("instance {0} is not valid (expected an instance number >= 1)")]
    BadInstance(u64),
    /// The dimension is not supported.
    #[error("dimension {0} is not supported (expected {MIN_DIM}..={MAX_DIM})")]
    BadDimension(usize),
    /// The noise level is negative or not finite.
    #[error("noise level {0} is not valid (expected a finite value >= 0)")]
    BadNoise(f64),
    /// A task name could not be parsed.
    #[error(
        "bad BBOB task name `{name}`: {problem}; expected \
         bbob-f<1..24>-i<instance>-d<{MIN_DIM}..{MAX_DIM}>[-mixed][-noise<sigma>], \
         e.g. bbob-f8-i1-d5 or bbob-f21-i3-d10-mixed-noise0.05"
    )]
    BadName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// The five standard groups of the noiseless BBOB functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FunctionGroup {
    /// f1-f5: separable functions.
    Separable,
    /// f6-f9: functions with low or moderate conditioning.
    Moderate,
    /// f10-f14: unimodal functions with high conditioning.
    IllConditioned,
    /// f15-f19: multimodal functions with adequate global structure.
    Multimodal,
    /// f20-f24: multimodal functions with weak global structure.
    WeakStructure,
}

impl FunctionGroup {
    /// All groups in function order.
    pub const ALL: [FunctionGroup; 5] = [
        FunctionGroup::Separable,
        FunctionGroup::Moderate,
        FunctionGroup::IllConditioned,
        FunctionGroup::Multimodal,
        FunctionGroup::WeakStructure,
    ];

    /// Short name used in reports: `separable`, `moderate`, `ill-conditioned`,
    /// `multimodal`, `weak-structure`.
    pub fn name(self) -> &'static str {
        match self {
            FunctionGroup::Separable => "separable",
            FunctionGroup::Moderate => "moderate",
            FunctionGroup::IllConditioned => "ill-conditioned",
            FunctionGroup::Multimodal => "multimodal",
            FunctionGroup::WeakStructure => "weak-structure",
        }
    }

    /// The function ids in the group.
    pub fn functions(self) -> std::ops::RangeInclusive<u8> {
        match self {
            FunctionGroup::Separable => 1..=5,
            FunctionGroup::Moderate => 6..=9,
            FunctionGroup::IllConditioned => 10..=14,
            FunctionGroup::Multimodal => 15..=19,
            FunctionGroup::WeakStructure => 20..=24,
        }
    }
}

/// The group of BBOB function `function`. Ids outside `1..=24` saturate: 0 counts as
/// separable, anything above 24 as weak-structure.
pub fn group_of(function: u8) -> FunctionGroup {
    match function {
        0..=5 => FunctionGroup::Separable,
        6..=9 => FunctionGroup::Moderate,
        10..=14 => FunctionGroup::IllConditioned,
        15..=19 => FunctionGroup::Multimodal,
        _ => FunctionGroup::WeakStructure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_partition_the_suite() {
        assert_eq!(group_of(1), FunctionGroup::Separable);
        assert_eq!(group_of(5), FunctionGroup::Separable);
        assert_eq!(group_of(6), FunctionGroup::Moderate);
        assert_eq!(group_of(9), FunctionGroup::Moderate);
        assert_eq!(group_of(10), FunctionGroup::IllConditioned);
        assert_eq!(group_of(14), FunctionGroup::IllConditioned);
        assert_eq!(group_of(15), FunctionGroup::Multimodal);
        assert_eq!(group_of(19), FunctionGroup::Multimodal);
        assert_eq!(group_of(20), FunctionGroup::WeakStructure);
        assert_eq!(group_of(24), FunctionGroup::WeakStructure);
        let mut covered = Vec::new();
        for g in FunctionGroup::ALL {
            for f in g.functions() {
                assert_eq!(group_of(f), g);
                covered.push(f);
            }
        }
        assert_eq!(covered, (1..=24).collect::<Vec<u8>>());
        let names: Vec<_> = FunctionGroup::ALL.iter().map(|g| g.name()).collect();
        assert_eq!(names, ["separable", "moderate", "ill-conditioned", "multimodal", "weak-structure"]);
    }
}
