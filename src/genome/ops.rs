//! Genetic operators that keep genomes well-typed.
//!
//! Every operator works on typed node positions (the type a node must have where it
//! stands), so a replacement or an exchanged subtree always fits. Results that would
//! break a limit are refused (`None`), never returned broken.

use rand::RngExt;

use super::ast::{Expr, Genome, Hook, NodePath, Op, RootId, StateVar};
use super::check::{Limits, check};
use super::prim::{Params, Prim, Type};
use super::simplify::simplify;
use crate::rng::Rng;

/// The mutation operators, by name (used for operator statistics and event logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mutation {
    /// Perturb one numeric constant.
    Constant,
    /// Replace a subtree by a random one of the same type.
    ReplaceSubtree,
    /// Wrap a node in a new node of the same type.
    InsertWrapper,
    /// Replace a node by one of its same-typed children.
    DeleteWrapper,
    /// Swap a node's primitive for another with the same signature, keeping its
    /// arguments (`ei` for `pi`, `mvn-rank-one` for `mvn-csa`, `best` for `pick-top`).
    SwapPrimitive,
}

impl Mutation {
    /// Every mutation operator.
    pub const ALL: [Mutation; 5] = [
        Mutation::Constant,
        Mutation::ReplaceSubtree,
        Mutation::InsertWrapper,
        Mutation::DeleteWrapper,
        Mutation::SwapPrimitive,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Mutation::Constant => "mutate-constant",
            Mutation::ReplaceSubtree => "replace-subtree",
            Mutation::InsertWrapper => "insert-wrapper",
            Mutation::DeleteWrapper => "delete-wrapper",
            Mutation::SwapPrimitive => "swap-primitive",
        }
    }
}

/// Apply one mutation operator. `None` when it has no site or the result breaks a limit.
pub fn mutate(g: &Genome, op: Mutation, rng: &mut Rng, limits: &Limits) -> Option<Genome> {
    let child = match op {
        Mutation::Constant => mutate_constant(g, rng),
        Mutation::ReplaceSubtree => replace_subtree(g, rng),
        Mutation::InsertWrapper => insert_wrapper(g, rng),
        Mutation::DeleteWrapper => delete_wrapper(g, rng),
        Mutation::SwapPrimitive => swap_primitive(g, rng),
    }?;
    accept(child, limits)
}

fn accept(mut g: Genome, limits: &Limits) -> Option<Genome> {
    g.drop_unused_state();
    check(&g, limits).is_empty().then_some(g)
}

/// Every node with the type it must have where it stands, in canonical preorder.
pub fn typed_paths(g: &Genome) -> Vec<(NodePath, Type)> {
    let mut out = Vec::new();
    for (root, e) in g.roots() {
        walk_typed(e, root.hook.ty(), &mut NodePath { root, steps: vec![] }, &mut out);
    }
    out
}

fn walk_typed(e: &Expr, ty: Type, path: &mut NodePath, out: &mut Vec<(NodePath, Type)>) {
    out.push((path.clone(), ty));
    for (i, a) in e.args.iter().enumerate() {
        let at = match &e.op {
            Op::Prim(p) => p.param_type(i, ty),
            Op::Set(_) => Some(Type::Real),
            _ => None,
        };
        if let Some(t) = at {
            path.steps.push(i);
            walk_typed(a, t, path, out);
            path.steps.pop();
        }
    }
}

fn pick<'a, T>(items: &'a [T], rng: &mut Rng) -> Option<&'a T> {
    if items.is_empty() { None } else { Some(&items[rng.random_range(0..items.len())]) }
}

/// Perturb one numeric constant (or the init count): small integers step by one,
/// other values are scaled log-normally, occasionally sign-flipped.
pub fn mutate_constant(g: &Genome, rng: &mut Rng) -> Option<Genome> {
    let sites: Vec<NodePath> =
        g.paths().into_iter().filter(|p| matches!(g.node(p).map(|e| &e.op), Some(Op::Num(_)))).collect();
    let mut child = g.clone();
    if sites.is_empty() || (g.init_count > 0 && rng.random::<f64>() < 0.1) {
        let delta: i64 = if rng.random::<bool>() { 1 } else { -1 };
        let scaled = (g.init_count as f64 * if delta > 0 { 1.5 } else { 0.67 }).round() as i64;
        child.init_count = (scaled.max(g.init_count as i64 + delta)).clamp(0, 200) as u32;
        return (child != *g).then_some(child);
    }
    let path = pick(&sites, rng)?.clone();
    let node = child.node_mut(&path)?;
    let Op::Num(v) = node.op else { return None };
    node.op = Op::Num(perturb_number(v, rng));
    Some(child)
}

fn perturb_number(v: f64, rng: &mut Rng) -> f64 {
    if v == v.trunc() && v.abs() <= 20.0 && rng.random::<f64>() < 0.5 {
        return v + if rng.random::<bool>() { 1.0 } else { -1.0 };
    }
    if v == 0.0 {
        return rng.random_range(-1.0..1.0f64);
    }
    let factor = (rng.random_range(-1.0..1.0f64) * 0.7).exp();
    let flipped = if rng.random::<f64>() < 0.05 { -v } else { v };
    round_sig(flipped * factor)
}

/// Round to 4 significant digits so evolved constants stay readable.
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return 0.0;
    }
    let mag = 10f64.powi(3 - v.abs().log10().floor() as i32);
    (v * mag).round() / mag
}

/// Replace a random subtree by a freshly grown one of the same type.
pub fn replace_subtree(g: &Genome, rng: &mut Rng) -> Option<Genome> {
    let sites = typed_paths(g);
    let (path, ty) = pick(&sites, rng)?.clone();
    let vars: Vec<String> = g.state.iter().map(|v| v.name.clone()).collect();
    let depth = rng.random_range(1..=3);
    let mut child = g.clone();
    *child.node_mut(&path)? = grow(ty, depth, &vars, rng);
    Some(child)
}

/// Wrap a random node in a new node of the same type that uses it as an argument.
pub fn insert_wrapper(g: &Genome, rng: &mut Rng) -> Option<Genome> {
    let sites = typed_paths(g);
    let (path, ty) = pick(&sites, rng)?.clone();
    let vars: Vec<String> = g.state.iter().map(|v| v.name.clone()).collect();
    let mut child = g.clone();
    let node = child.node_mut(&path)?;
    let inner = node.clone();
    *node = wrap(inner, ty, &vars, rng);
    Some(child)
}

fn wrap(inner: Expr, ty: Type, vars: &[String], rng: &mut Rng) -> Expr {
    let leaf = |t: Type, rng: &mut Rng| grow(t, 1, vars, rng);
    match ty {
        Type::Point => match rng.random_range(0..6) {
            0 => Expr::prim(Prim::Perturb, vec![inner, Expr::num(1.0), Expr::num(0.05)]),
            1 => Expr::prim(Prim::ChooseUcb, vec![Expr::num(0.5), inner, leaf(Type::Point, rng)]),
            2 => Expr::prim(Prim::If, vec![leaf(Type::Bool, rng), inner, leaf(Type::Point, rng)]),
            3 => Expr::prim(Prim::Toward, vec![inner, leaf(Type::Point, rng), Expr::num(0.3)]),
            4 => Expr::prim(Prim::BestOf, vec![Expr::num(4.0), leaf(Type::Real, rng), inner]),
            // Screen the wrapped source's candidates by a surrogate's expected improvement.
            _ => {
                let acquisition = Expr::prim(Prim::Ei, vec![leaf(Type::Model, rng)]);
                Expr::prim(Prim::BestOf, vec![Expr::num(16.0), acquisition, inner])
            }
        },
        Type::Real => match rng.random_range(0..3) {
            0 => Expr::prim(Prim::Mul, vec![inner, Expr::num(1.5)]),
            1 => Expr::prim(Prim::Add, vec![inner, leaf(Type::Real, rng)]),
            _ => Expr::prim(Prim::If, vec![leaf(Type::Bool, rng), inner, leaf(Type::Real, rng)]),
        },
        Type::Bool => match rng.random_range(0..2) {
            0 => Expr::prim(Prim::Not, vec![inner]),
            _ => Expr::prim(Prim::And, vec![inner, leaf(Type::Bool, rng)]),
        },
        Type::Action => Expr::prim(Prim::If, vec![leaf(Type::Bool, rng), inner, Expr::prim(Prim::Skip, vec![])]),
        Type::Model => Expr::prim(Prim::If, vec![leaf(Type::Bool, rng), inner, leaf(Type::Model, rng)]),
    }
}

/// The primitives a node using `p` can switch to: the others with the same argument
/// list and result (never `if`, whose result is its context's).
pub fn swappable(p: Prim) -> Vec<Prim> {
    if p == Prim::If {
        return Vec::new();
    }
    Prim::ALL.iter().copied().filter(|&q| q != p && q.params() == p.params() && q.result() == p.result()).collect()
}

/// Swap one node's primitive for another with the same signature, keeping its arguments.
pub fn swap_primitive(g: &Genome, rng: &mut Rng) -> Option<Genome> {
    let sites: Vec<(NodePath, Vec<Prim>)> = g
        .paths()
        .into_iter()
        .filter_map(|p| match g.node(&p)?.op {
            Op::Prim(prim) => {
                let others = swappable(prim);
                (!others.is_empty()).then_some((p, others))
            }
            _ => None,
        })
        .collect();
    let (path, others) = pick(&sites, rng)?.clone();
    let mut child = g.clone();
    child.node_mut(&path)?.op = Op::Prim(*pick(&others, rng)?);
    Some(child)
}

/// Replace a random node by one of its children that has the same type.
pub fn delete_wrapper(g: &Genome, rng: &mut Rng) -> Option<Genome> {
    let typed = typed_paths(g);
    let mut sites = Vec::new();
    for (path, ty) in &typed {
        for (cpath, cty) in &typed {
            if cty == ty
                && cpath.root == path.root
                && cpath.steps.len() == path.steps.len() + 1
                && cpath.steps.starts_with(&path.steps)
            {
                sites.push((path.clone(), cpath.clone()));
            }
        }
    }
    let (path, cpath) = pick(&sites, rng)?.clone();
    let mut child = g.clone();
    let replacement = child.node(&cpath)?.clone();
    *child.node_mut(&path)? = replacement;
    Some(child)
}

/// Type-compatible subtree crossover: `a` with one of its subtrees replaced by a
/// same-typed subtree of `b` (state declarations the subtree needs come along).
pub fn crossover(a: &Genome, b: &Genome, rng: &mut Rng, limits: &Limits) -> Option<Genome> {
    let sites_a = typed_paths(a);
    let sites_b = typed_paths(b);
    for _ in 0..8 {
        let (pa, ta) = pick(&sites_a, rng)?.clone();
        let compatible: Vec<&NodePath> = sites_b.iter().filter(|(_, t)| *t == ta).map(|(p, _)| p).collect();
        let Some(pb) = pick(&compatible, rng) else { continue };
        let mut child = a.clone();
        *child.node_mut(&pa)? = b.node(pb)?.clone();
        bring_state(&mut child, b);
        if child.init_count == a.init_count && rng.random::<f64>() < 0.25 {
            child.init_count = b.init_count;
            child.init = b.init.clone();
        }
        if let Some(c) = accept(child, limits) {
            return Some(c);
        }
    }
    None
}

/// Graft material from a donor into `recipient`, keeping the recipient's own genes:
/// a donor point source becomes another bandit arm, a donor filter is and-ed in,
/// donor update actions are appended, a donor fidelity rule replaces a default one.
pub fn graft(recipient: &Genome, donor: &Genome, rng: &mut Rng, limits: &Limits) -> Option<Genome> {
    let defaults = Genome::with_propose("d", Expr::prim(Prim::Uniform, vec![]));
    let mut options = vec![0];
    if donor.filter != defaults.filter {
        options.push(1);
    }
    if !donor.update.is_empty() {
        options.push(2);
    }
    if donor.fidelity != defaults.fidelity {
        options.push(3);
    }
    let mut child = recipient.clone();
    match *pick(&options, rng)? {
        0 => {
            let donor_points: Vec<NodePath> = typed_paths(donor)
                .into_iter()
                .filter(|(p, t)| *t == Type::Point && p.root.hook == Hook::Propose)
                .map(|(p, _)| p)
                .collect();
            let from = donor.node(pick(&donor_points, rng)?)?.clone();
            let own = std::mem::replace(&mut child.propose, Expr::num(0.0));
            child.propose = match own.op {
                Op::Prim(Prim::ChooseUcb) => {
                    let mut own = own;
                    own.args.push(from);
                    own
                }
                _ => Expr::prim(Prim::ChooseUcb, vec![Expr::num(0.5), own, from]),
            };
        }
        1 => {
            let own = std::mem::replace(&mut child.filter, Expr::num(0.0));
            child.filter = if own == defaults.filter {
                donor.filter.clone()
            } else {
                Expr::prim(Prim::And, vec![own, donor.filter.clone()])
            };
        }
        2 => child.update.extend(donor.update.iter().cloned()),
        _ => child.fidelity = donor.fidelity.clone(),
    }
    bring_state(&mut child, donor);
    accept(child, limits)
}

/// Declare in `g` every state variable `g` uses that `donor` declares.
fn bring_state(g: &mut Genome, donor: &Genome) {
    for v in &donor.state {
        if g.var_index(&v.name).is_none() && g.uses_var(&v.name) {
            g.state.push(StateVar { name: v.name.clone(), init: v.init, span: 0..0 });
        }
    }
}

/// Grow a random well-typed expression of type `ty` with at most `depth` levels.
pub fn grow(ty: Type, depth: usize, vars: &[String], rng: &mut Rng) -> Expr {
    let candidates: Vec<Prim> = Prim::ALL
        .iter()
        .copied()
        .filter(|p| p.result() == Some(ty) || (*p == Prim::If && depth > 1))
        .filter(|p| depth > 1 || p.min_arity() == 0)
        .collect();
    let use_literal = match ty {
        Type::Real => depth <= 1 || rng.random::<f64>() < 0.3,
        Type::Bool => rng.random::<f64>() < 0.15,
        _ => false,
    };
    if use_literal || candidates.is_empty() {
        return match ty {
            Type::Real if !vars.is_empty() && rng.random::<f64>() < 0.25 => {
                Expr::new(Op::Get(pick(vars, rng).cloned().unwrap_or_default()), vec![])
            }
            Type::Real => Expr::num(round_sig(rng.random_range(0.0..4.0f64).powi(2) / 4.0)),
            Type::Bool => Expr::new(Op::Flag(rng.random()), vec![]),
            Type::Point => Expr::prim(Prim::Uniform, vec![]),
            Type::Action => Expr::prim(Prim::Skip, vec![]),
            // The cheapest model on the top rung: a leaf in spirit.
            Type::Model => Expr::prim(Prim::Knn, vec![Expr::num(5.0), Expr::num(1.0)]),
        };
    }
    if ty == Type::Action && !vars.is_empty() && depth > 1 && rng.random::<f64>() < 0.5 {
        let name = pick(vars, rng).cloned().unwrap_or_default();
        return Expr::new(Op::Set(name), vec![grow(Type::Real, depth - 1, vars, rng)]);
    }
    let p = *pick(&candidates, rng).unwrap_or(&Prim::Uniform);
    let n = match p.params() {
        Params::Variadic(lead, _) => lead.len() + rng.random_range(1..=3),
        _ => p.min_arity(),
    };
    let args = (0..n).map(|i| grow(p.param_type(i, ty).unwrap_or(Type::Real), depth - 1, vars, rng)).collect();
    Expr::prim(p, args)
}

/// A random well-typed genome (for property tests and fuzzing the interpreter).
pub fn random_genome(rng: &mut Rng, depth: usize) -> Genome {
    let vars: Vec<String> = (0..rng.random_range(0..3)).map(|i| format!("v{i}")).collect();
    let mut g = Genome::with_propose("random", grow(Type::Point, depth, &vars, rng));
    g.state = vars.iter().map(|n| StateVar { name: n.clone(), init: 0.5, span: 0..0 }).collect();
    g.init_count = rng.random_range(0..5);
    g.init = grow(Type::Point, 2, &vars, rng);
    g.filter = grow(Type::Bool, depth.min(3), &vars, rng);
    g.fidelity = grow(Type::Real, 2, &vars, rng);
    g.update = (0..rng.random_range(0..3)).map(|_| grow(Type::Action, depth.min(3), &vars, rng)).collect();
    g
}

/// Remove genes that never fired: an `if` whose taken branch is known keeps only
/// that branch, update actions never evaluated are dropped, then the genome is
/// simplified. `evaluated` holds per-node evaluation counts in canonical preorder.
pub fn prune_dead(g: &Genome, evaluated: &[u64]) -> Genome {
    let paths = g.paths();
    let count = |p: &NodePath| paths.iter().position(|q| q == p).and_then(|i| evaluated.get(i).copied()).unwrap_or(0);
    let mut child = g.clone();
    // Deepest first, so indices of shallower paths stay valid.
    let mut ifs: Vec<&NodePath> =
        paths.iter().filter(|p| matches!(g.node(p).map(|e| &e.op), Some(Op::Prim(Prim::If)))).collect();
    ifs.sort_by_key(|p| std::cmp::Reverse(p.steps.len()));
    for p in ifs {
        if count(p) == 0 {
            continue;
        }
        let mut then_p = p.clone();
        then_p.steps.push(1);
        let mut else_p = p.clone();
        else_p.steps.push(2);
        let keep = match (count(&then_p), count(&else_p)) {
            (0, n) if n > 0 => Some(2),
            (n, 0) if n > 0 => Some(1),
            _ => None,
        };
        if let (Some(k), Some(node)) = (keep, child.node_mut(p)) {
            let branch = node.args[k].clone();
            *node = branch;
        }
    }
    let keep_updates: Vec<bool> = (0..g.update.len())
        .map(|i| count(&NodePath { root: RootId { hook: Hook::Update, index: i }, steps: vec![] }) > 0)
        .collect();
    let mut i = 0;
    child.update.retain(|_| {
        let k = keep_updates[i];
        i += 1;
        k
    });
    simplify(&child)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::syntax::parse;
    use rand::SeedableRng;

    fn genome(text: &str) -> Genome {
        parse(text).genome.unwrap()
    }

    #[test]
    fn every_operator_keeps_the_genome_well_typed() {
        let g = genome(
            "(mechanism m (state (s 0.2)) (init 3 (latin 3)) (propose (perturb (best 1) 2 (get s))) (update (set s (* (get s) 0.9))))",
        );
        let limits = Limits::default();
        let mut rng = Rng::seed_from_u64(1);
        for _ in 0..200 {
            for op in Mutation::ALL {
                if let Some(c) = mutate(&g, op, &mut rng, &limits) {
                    assert!(check(&c, &limits).is_empty(), "{op:?}");
                }
            }
        }
    }

    #[test]
    fn swap_primitive_keeps_arguments_and_signature() {
        let g = genome("(mechanism m (propose (best-of 8 (ei (gp 1)) (uniform))))");
        let mut rng = Rng::seed_from_u64(5);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let c = mutate(&g, Mutation::SwapPrimitive, &mut rng, &Limits::default()).unwrap();
            assert_eq!(c.size(), g.size());
            seen.insert(crate::genome::syntax::print_expr(&c.propose));
        }
        // `ei` can become `pi`, `thompson`, `predict` or `uncertainty`; `gp` and
        // `uniform` have their own partners (`top-rung` is real, not a model: never).
        assert!(seen.iter().any(|t| t.contains("(pi (gp 1))")), "{seen:?}");
        assert!(seen.iter().all(|t| !t.contains("top-rung")));
        assert!(swappable(Prim::If).is_empty());
        assert!(swappable(Prim::MvnRankOne).contains(&Prim::MvnCsa));
    }

    #[test]
    fn graft_adds_a_bandit_arm_or_filter() {
        let a = genome("(mechanism a (propose (best 1)))");
        let b = genome("(mechanism b (propose (uniform)) (filter (> (nearest-dist (cand) 10) 0.1)))");
        let mut rng = Rng::seed_from_u64(3);
        let mut saw_filter = false;
        for _ in 0..20 {
            let c = graft(&a, &b, &mut rng, &Limits::default()).unwrap();
            saw_filter |= c.filter == b.filter;
            assert!(c.size() > a.size() || c.filter == b.filter);
        }
        assert!(saw_filter);
    }

    #[test]
    fn prune_dead_removes_the_branch_that_never_ran() {
        let g = genome("(mechanism m (propose (if (< 1 0) (uniform) (best 1))))");
        // Preorder: init(uniform)=0, if=1, <=2, 1=3, 0=4, uniform=5, best=6, 1=7, filter=8, fidelity=9
        let evaluated = [0, 5, 5, 5, 5, 0, 5, 5, 5, 5];
        let pruned = prune_dead(&g, &evaluated);
        assert_eq!(pruned.propose, genome("(mechanism m (propose (best 1)))").propose);
    }
}
