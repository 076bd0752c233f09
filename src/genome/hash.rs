//! Canonical structural hash and structural distance between genomes.
//!
//! Both work on the simplified genome with state variables renamed by declaration
//! order, so cosmetic differences (names, foldable constants, dead branches) do not
//! count as structure.

use std::collections::BTreeMap;

use xxhash_rust::xxh3::xxh3_64;

use super::ast::{Expr, Genome, Op};
use super::simplify::simplify;
use super::syntax::{print, print_expr};

/// The canonical form used for hashing: simplified, name dropped, variables renamed.
pub fn canonical(g: &Genome) -> Genome {
    let mut s = simplify(g);
    s.name = "m".to_string();
    let names: Vec<String> = s.state.iter().map(|v| v.name.clone()).collect();
    let rename = |n: &str| names.iter().position(|x| x == n).map(|i| format!("v{i}")).unwrap_or_else(|| n.to_string());
    for (i, v) in s.state.iter_mut().enumerate() {
        v.name = format!("v{i}");
    }
    for root in [&mut s.init, &mut s.propose, &mut s.filter, &mut s.fidelity].into_iter().chain(s.update.iter_mut()) {
        rename_vars(root, &rename);
    }
    s
}

fn rename_vars(e: &mut Expr, rename: &impl Fn(&str) -> String) {
    if let Op::Get(n) | Op::Set(n) = &mut e.op {
        *n = rename(n);
    }
    for a in &mut e.args {
        rename_vars(a, rename);
    }
}

/// Canonical structural hash: equal for genomes that simplify to the same structure.
pub fn structural_hash(g: &Genome) -> u64 {
    xxh3_64(print(&canonical(g)).as_bytes())
}

/// The multiset of subtree hashes of a genome's canonical form, sorted by hash: the
/// precomputed form of [`structural_distance`] for genomes compared many times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubtreeBag(Vec<(u64, u32)>);

impl SubtreeBag {
    /// The bag of a genome.
    pub fn of(g: &Genome) -> Self {
        SubtreeBag(subtree_bag(g).into_iter().collect())
    }

    /// Weighted Jaccard distance to another bag (equals [`structural_distance`]).
    pub fn distance(&self, other: &SubtreeBag) -> f64 {
        let (a, b) = (&self.0, &other.0);
        let (mut i, mut j, mut inter, mut union) = (0, 0, 0u64, 0u64);
        while i < a.len() || j < b.len() {
            match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    inter += x.1.min(y.1) as u64;
                    union += x.1.max(y.1) as u64;
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x.0 < y.0 => {
                    union += x.1 as u64;
                    i += 1;
                }
                (Some(_), Some(y)) => {
                    union += y.1 as u64;
                    j += 1;
                }
                (Some(x), None) => {
                    union += x.1 as u64;
                    i += 1;
                }
                (None, Some(y)) => {
                    union += y.1 as u64;
                    j += 1;
                }
                (None, None) => break,
            }
        }
        if union == 0 { 0.0 } else { 1.0 - inter as f64 / union as f64 }
    }
}

/// The multiset of subtree hashes of a genome's canonical form, tagged by hook.
fn subtree_bag(g: &Genome) -> BTreeMap<u64, u32> {
    bag_of(&canonical(g))
}

/// The canonical form with every numeric constant, state initial value and the
/// initial-design size (beyond zero or not) blanked: the genome's shape.
pub fn shape(g: &Genome) -> Genome {
    fn blank(e: &mut Expr) {
        if let Op::Num(v) = &mut e.op {
            *v = 0.0;
        }
        for a in &mut e.args {
            blank(a);
        }
    }
    let mut c = canonical(g);
    c.init_count = c.init_count.min(1);
    for v in &mut c.state {
        v.init = 0.0;
    }
    for root in [&mut c.init, &mut c.propose, &mut c.filter, &mut c.fidelity].into_iter().chain(c.update.iter_mut()) {
        blank(root);
    }
    c
}

/// Structural distance between the genomes' shapes ([`shape`]): 0 for genomes that
/// differ only in their constants, so retuning a mechanism is not new structure.
pub fn shape_distance(a: &Genome, b: &Genome) -> f64 {
    let bag = |g: &Genome| {
        let s = shape(g);
        let mut bag = bag_of(&s);
        // Whether there is an initial design at all is structure; its size is not.
        if s.init_count > 0 {
            *bag.entry(xxh3_64(b"init-design")).or_insert(0) += 1;
        }
        bag
    };
    bag_distance(&bag(a), &bag(b))
}

fn bag_of(c: &Genome) -> BTreeMap<u64, u32> {
    let mut bag = BTreeMap::new();
    for (root, e) in c.roots() {
        e.walk(&mut |n| {
            let text = format!("{}:{}", root.hook.name(), print_expr(n));
            *bag.entry(xxh3_64(text.as_bytes())).or_insert(0) += 1;
        });
    }
    bag
}

/// Structural distance in [0, 1]: the weighted Jaccard distance between the two
/// genomes' multisets of subtrees (0 = same structure, 1 = nothing in common).
pub fn structural_distance(a: &Genome, b: &Genome) -> f64 {
    bag_distance(&subtree_bag(a), &subtree_bag(b))
}

fn bag_distance(ba: &BTreeMap<u64, u32>, bb: &BTreeMap<u64, u32>) -> f64 {
    let mut inter = 0u64;
    let mut union = 0u64;
    let keys: std::collections::BTreeSet<&u64> = ba.keys().chain(bb.keys()).collect();
    for k in keys {
        let x = ba.get(k).copied().unwrap_or(0) as u64;
        let y = bb.get(k).copied().unwrap_or(0) as u64;
        inter += x.min(y);
        union += x.max(y);
    }
    if union == 0 { 0.0 } else { 1.0 - inter as f64 / union as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::syntax::parse;

    fn g(text: &str) -> Genome {
        parse(text).genome.unwrap()
    }

    #[test]
    fn shape_distance_ignores_constants_but_not_structure() {
        let a = g("(mechanism a (init 4 (latin 4)) (propose (perturb (best 1) (rand 1 3) 0.15)))");
        let b = g("(mechanism b (init 6 (latin 5)) (propose (perturb (best 1) (rand 3 4) 1.3)) (fidelity 0))");
        assert!(structural_distance(&a, &b) > 0.5);
        assert_eq!(shape_distance(&a, &b), 0.0);
        let c = g(
            "(mechanism c (init 4 (latin 4)) (propose (perturb (best 1) (rand 1 3) 0.15)) (filter (> (nearest-dist (cand) 10) 0.1)))",
        );
        assert!(shape_distance(&a, &c) > 0.1);
        let none = g("(mechanism d (init 0 (latin 4)) (propose (perturb (best 1) (rand 1 3) 0.15)))");
        assert!(shape_distance(&a, &none) > 0.0, "an initial design or none is structure");
    }

    #[test]
    fn hash_ignores_names_and_foldable_structure() {
        let a = g("(mechanism a (state (s 1)) (propose (perturb (best 1) 2 (get s))))");
        let b = g("(mechanism b (state (t 1)) (propose (perturb (best (- 2 1)) 2 (get t))))");
        assert_eq!(structural_hash(&a), structural_hash(&b));
        let c = g("(mechanism c (propose (perturb (best 2) 2 0.1)))");
        assert_ne!(structural_hash(&a), structural_hash(&c));
    }

    #[test]
    fn distance_is_zero_for_equal_and_grows_with_difference() {
        let a = g("(mechanism a (propose (perturb (best 1) 2 0.1)))");
        let b = g("(mechanism b (propose (perturb (best 1) 2 0.2)))");
        let c = g("(mechanism c (propose (elite-sample 10 1)) (filter (> (nearest-dist (cand) 5) 0.1)))");
        assert_eq!(structural_distance(&a, &a), 0.0);
        let ab = structural_distance(&a, &b);
        let ac = structural_distance(&a, &c);
        assert!(ab > 0.0 && ab < ac && ac <= 1.0, "{ab} {ac}");
        assert_eq!(SubtreeBag::of(&a).distance(&SubtreeBag::of(&c)), ac);
        assert_eq!(SubtreeBag::of(&a).distance(&SubtreeBag::of(&b)), ab);
    }
}
