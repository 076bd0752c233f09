//! The seed library: classic mechanisms written in the language, embedded in the binary.
//!
//! The texts live in `scenarios/mechanisms/*.mech`; each is a few lines.

/// `(name, text)` of every library mechanism, in a fixed order.
pub const LIBRARY: &[(&str, &str)] = &[
    ("uniform-random", include_str!("../../scenarios/mechanisms/uniform-random.mech")),
    ("greedy-keep-discard", include_str!("../../scenarios/mechanisms/greedy-keep-discard.mech")),
    ("latin-hypercube", include_str!("../../scenarios/mechanisms/latin-hypercube.mech")),
    ("tabu-search", include_str!("../../scenarios/mechanisms/tabu-search.mech")),
    ("multiscale-bandit", include_str!("../../scenarios/mechanisms/multiscale-bandit.mech")),
    ("simulated-annealing", include_str!("../../scenarios/mechanisms/simulated-annealing.mech")),
    ("one-plus-one-es", include_str!("../../scenarios/mechanisms/one-plus-one-es.mech")),
    ("differential-evolution", include_str!("../../scenarios/mechanisms/differential-evolution.mech")),
    ("tpe-density-ratio", include_str!("../../scenarios/mechanisms/tpe-density-ratio.mech")),
    ("successive-halving", include_str!("../../scenarios/mechanisms/successive-halving.mech")),
    ("cross-entropy", include_str!("../../scenarios/mechanisms/cross-entropy.mech")),
    ("cma-es", include_str!("../../scenarios/mechanisms/cma-es.mech")),
    ("gp-ei", include_str!("../../scenarios/mechanisms/gp-ei.mech")),
    ("knn-ei", include_str!("../../scenarios/mechanisms/knn-ei.mech")),
    ("bohb", include_str!("../../scenarios/mechanisms/bohb.mech")),
    ("dehb", include_str!("../../scenarios/mechanisms/dehb.mech")),
    ("asha-curve", include_str!("../../scenarios/mechanisms/asha-curve.mech")),
];

/// The text of a library mechanism by name.
pub fn library_text(name: &str) -> Option<&'static str> {
    LIBRARY.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::{Limits, load, syntax};

    #[test]
    fn every_library_mechanism_parses_checks_and_round_trips() {
        for (name, text) in LIBRARY {
            let g = load(text, &Limits::default()).unwrap_or_else(|d| panic!("{name}: {d:?}"));
            assert_eq!(&g.name, name);
            let printed = syntax::print(&g);
            assert_eq!(syntax::parse(&printed).genome.as_ref(), Some(&g), "{name}");
            assert_eq!(syntax::print(&syntax::parse(&printed).genome.unwrap()), printed);
        }
    }
}
