//! A genome's numeric constants as a vector, and back: the coordinates of the
//! recombiner's constant swarm.
//!
//! A genome's *structure* is its canonical form ([`canonical`]) with every numeric
//! constant set to zero; its *constants* are, in canonical order, the state variables'
//! initial values (declaration order) and then every numeric literal of the hooks in
//! preorder (`init`, `propose`, `filter`, `fidelity`, each `update` action). Two genomes
//! share a structure when their canonical forms differ only in those numbers. The size
//! of the initial design (`(init N ...)`) is an integer count, so it is structure, not a
//! constant: no constant ever needs snapping, every finite `f64` is a valid literal and
//! the printer writes it back exactly.

use super::ast::{Expr, Genome, Op};
use super::hash::canonical;
use super::syntax::print;

/// A genome split into its structure and its constants.
#[derive(Debug, Clone, PartialEq)]
pub struct Constants {
    /// The canonical form with every constant zero.
    pub structure: Genome,
    /// The constants in canonical order.
    pub values: Vec<f64>,
}

impl Constants {
    /// The structure as text: genomes with equal keys differ only in their constants.
    pub fn key(&self) -> String {
        print(&self.structure)
    }
}

/// The hook roots of a genome in canonical order, mutable.
fn roots_mut(g: &mut Genome) -> impl Iterator<Item = &mut Expr> {
    [&mut g.init, &mut g.propose, &mut g.filter, &mut g.fidelity].into_iter().chain(g.update.iter_mut())
}

fn visit_nums(e: &mut Expr, f: &mut impl FnMut(&mut f64)) {
    if let Op::Num(v) = &mut e.op {
        f(v);
    }
    for a in &mut e.args {
        visit_nums(a, f);
    }
}

/// Visit every constant of `g` in canonical order (state initial values, then literals).
fn visit_constants(g: &mut Genome, mut f: impl FnMut(&mut f64)) {
    for v in &mut g.state {
        f(&mut v.init);
    }
    for root in roots_mut(g) {
        visit_nums(root, &mut f);
    }
}

/// Split a genome that is already canonical into structure and constants (no
/// simplification: `extract(&rebuild(s, v)) == (s, v)` for every structure and vector of
/// the right length).
pub fn extract(g: &Genome) -> Constants {
    let mut structure = g.clone();
    let mut values = Vec::new();
    visit_constants(&mut structure, |v| {
        values.push(*v);
        *v = 0.0;
    });
    Constants { structure, values }
}

/// The structure and constants of any genome: [`extract`] of its canonical form.
pub fn constants(g: &Genome) -> Constants {
    extract(&canonical(g))
}

/// The genome with structure `structure` and constants `values` (`None` when the
/// vector's length is not the structure's number of constants or a value is not
/// finite).
pub fn rebuild(structure: &Genome, values: &[f64]) -> Option<Genome> {
    if values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mut g = structure.clone();
    let mut it = values.iter();
    let mut short = false;
    visit_constants(&mut g, |v| match it.next() {
        Some(x) => *v = *x,
        None => short = true,
    });
    (!short && it.next().is_none()).then_some(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::ops::random_genome;
    use crate::genome::syntax::parse;
    use crate::rng::stream;
    use rand::RngExt;

    fn g(text: &str) -> Genome {
        parse(text).genome.unwrap()
    }

    #[test]
    fn constants_come_in_canonical_order_and_the_design_size_is_structure() {
        let a = g("(mechanism a (state (s 0.2)) (init 4 (latin 4)) (propose (perturb (best 1) 2 (get s))))");
        let c = constants(&a);
        assert_eq!(c.values, vec![0.2, 4.0, 1.0, 2.0, 1.0]);
        let b = g("(mechanism b (state (t 0.7)) (init 4 (latin 3)) (propose (perturb (best 2) 5 (get t))))");
        assert_eq!(constants(&b).key(), c.key(), "names and constants are not structure");
        let other_size = g("(mechanism b (state (t 0.7)) (init 5 (latin 3)) (propose (perturb (best 2) 5 (get t))))");
        assert_ne!(constants(&other_size).key(), c.key());
        assert_eq!(rebuild(&c.structure, &[0.2, 4.0, 1.0]), None, "too short");
        assert_eq!(rebuild(&c.structure, &[0.0; 6]), None, "too long");
        assert_eq!(rebuild(&c.structure, &[f64::NAN, 4.0, 1.0, 2.0, 1.0]), None);
    }

    #[test]
    fn extract_after_rebuild_is_the_identity_on_random_genomes_and_vectors() {
        let mut rng = stream(17, "constants-property", &[]);
        let mut with_constants = 0;
        for case in 0..300 {
            let genome = random_genome(&mut rng, 1 + case % 5);
            let c = constants(&genome);
            // The genome's own constants rebuild its canonical form.
            assert_eq!(rebuild(&c.structure, &c.values).as_ref().map(print), Some(print(&canonical(&genome))));
            // Any vector of the right length comes back unchanged, with the structure.
            let values: Vec<f64> = c.values.iter().map(|_| rng.random_range(-50.0..50.0f64)).collect();
            let rebuilt = rebuild(&c.structure, &values).expect("finite values of the right length");
            let again = extract(&rebuilt);
            assert_eq!(again.values, values);
            assert_eq!(print(&again.structure), print(&c.structure));
            with_constants += usize::from(!values.is_empty());
        }
        assert!(with_constants > 100, "the property saw constants in {with_constants} cases");
    }
}
