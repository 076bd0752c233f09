//! The seed library: classic mechanisms written in the language, embedded in the binary.
//!
//! The texts live in `scenarios/mechanisms/*.mech`; each is a few lines. `NAME@lowest`
//! names a mechanism pinned to the lowest fidelity (a trivial baseline).

use std::borrow::Cow;

use super::ast::Expr;
use super::{Genome, Limits, load, syntax};

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
    ("active-cma-es", include_str!("../../scenarios/mechanisms/active-cma-es.mech")),
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

/// The suffix naming a library mechanism pinned to the lowest fidelity
/// (`lib:cma-es@lowest`): a trivial baseline that a multi-fidelity discovery must beat.
pub const AT_LOWEST: &str = "@lowest";

/// `genome` with every trial at the lowest fidelity level (`(fidelity 0)` snaps up to
/// it), renamed `NAME-at-lowest`; everything else as it was.
pub fn pin_to_lowest_fidelity(genome: &Genome) -> Genome {
    let mut pinned = genome.clone();
    pinned.fidelity = Expr::num(0.0);
    pinned.name = format!("{}-at-lowest", genome.name);
    pinned
}

/// The source text of `lib:NAME`: a library mechanism, or for `NAME@lowest` that
/// mechanism pinned to the lowest fidelity ([`pin_to_lowest_fidelity`], printed).
pub fn library_source(name: &str) -> Option<Cow<'static, str>> {
    match name.strip_suffix(AT_LOWEST) {
        Some(base) => {
            let genome = load(library_text(base)?, &Limits::default()).ok()?;
            Some(Cow::Owned(syntax::print(&pin_to_lowest_fidelity(&genome))))
        }
        None => library_text(name).map(Cow::Borrowed),
    }
}

/// Every name `library_source` answers, for error hints.
pub fn library_names_hint() -> String {
    let names: Vec<&str> = LIBRARY.iter().map(|(n, _)| *n).collect();
    format!(
        "library mechanisms: {} (each also as NAME{AT_LOWEST}: every trial at the lowest fidelity)",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_library_mechanism_has_a_lowest_fidelity_twin_that_differs_only_there() {
        for (name, text) in LIBRARY {
            let g = load(text, &Limits::default()).unwrap();
            let twin_text = library_source(&format!("{name}{AT_LOWEST}")).unwrap();
            let twin = load(&twin_text, &Limits::default()).unwrap_or_else(|d| panic!("{name}: {d:?}"));
            assert_eq!(twin.name, format!("{name}-at-lowest"));
            assert_eq!(syntax::print_expr(&twin.fidelity), "0");
            assert_eq!((&twin.propose, &twin.filter, &twin.update), (&g.propose, &g.filter, &g.update), "{name}");
        }
        assert!(library_source("nope@lowest").is_none());
        assert!(library_source("cma-es@lowest@lowest").is_none());
    }

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
