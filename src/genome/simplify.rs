//! Simplification: constant folding, dead-branch removal and unused-state removal,
//! applied to a fixpoint. Simplification never changes what a genome computes except
//! through the random stream (a removed random condition no longer draws numbers).

use super::ast::{Expr, Genome, Op};
use super::prim::{Prim, apply_real};

/// Simplify a genome to a fixpoint.
pub fn simplify(g: &Genome) -> Genome {
    let mut cur = g.clone();
    loop {
        let mut next = cur.clone();
        for root in [&mut next.init, &mut next.propose, &mut next.filter, &mut next.fidelity] {
            *root = simplify_expr(root);
        }
        next.update = next.update.iter().map(simplify_expr).filter(|e| !is_skip(e)).collect();
        next.drop_unused_state();
        if next == cur && next.state == cur.state {
            return next;
        }
        cur = next;
    }
}

fn is_skip(e: &Expr) -> bool {
    matches!(e.op, Op::Prim(Prim::Skip))
}

fn num(e: &Expr) -> Option<f64> {
    match e.op {
        Op::Num(v) => Some(v),
        _ => None,
    }
}

fn flag(e: &Expr) -> Option<bool> {
    match e.op {
        Op::Flag(b) => Some(b),
        _ => None,
    }
}

/// Whether evaluating `e` draws no random numbers and changes no state, so it can be
/// dropped without changing anything.
fn is_inert(e: &Expr) -> bool {
    let ok = match &e.op {
        Op::Prim(p) => !p.is_random() && !matches!(p, Prim::MoveAnchor),
        Op::Set(_) => false,
        _ => true,
    };
    ok && e.args.iter().all(is_inert)
}

fn simplify_expr(e: &Expr) -> Expr {
    let args: Vec<Expr> = e.args.iter().map(simplify_expr).collect();
    let rebuilt = Expr { op: e.op.clone(), args, span: e.span.clone() };
    let Op::Prim(p) = rebuilt.op else {
        if let (Op::Set(name), Some(Op::Get(read))) = (&rebuilt.op, rebuilt.args.first().map(|a| &a.op))
            && name == read
        {
            return Expr::prim(Prim::Skip, vec![]);
        }
        return rebuilt;
    };
    let a = &rebuilt.args;
    match p {
        Prim::Add | Prim::Sub | Prim::Mul | Prim::Div => {
            if let (Some(x), Some(y)) = (num(&a[0]), num(&a[1])) {
                return Expr::num(apply_real(p, x, y));
            }
        }
        Prim::Exp => {
            if let Some(x) = num(&a[0]) {
                return Expr::num(apply_real(p, x, 0.0));
            }
        }
        Prim::Lt | Prim::Gt => {
            if let (Some(x), Some(y)) = (num(&a[0]), num(&a[1])) {
                return Expr::new(Op::Flag(if p == Prim::Lt { x < y } else { x > y }), vec![]);
            }
        }
        Prim::Not => {
            if let Some(b) = flag(&a[0]) {
                return Expr::new(Op::Flag(!b), vec![]);
            }
            if let Op::Prim(Prim::Not) = a[0].op {
                return a[0].args[0].clone();
            }
        }
        Prim::And => match (flag(&a[0]), flag(&a[1])) {
            (Some(true), _) => return a[1].clone(),
            (_, Some(true)) => return a[0].clone(),
            (Some(false), _) if is_inert(&a[1]) => return a[0].clone(),
            (_, Some(false)) if is_inert(&a[0]) => return a[1].clone(),
            _ => {}
        },
        Prim::If => {
            if let Some(c) = flag(&a[0]) {
                return a[if c { 1 } else { 2 }].clone();
            }
            if a[1] == a[2] && is_inert(&a[0]) {
                return a[1].clone();
            }
        }
        Prim::ChooseUcb if a.len() == 2 => return a[1].clone(),
        Prim::Chance => {
            if let Some(q) = num(&a[0])
                && (q >= 1.0 || q <= 0.0)
            {
                return Expr::new(Op::Flag(q >= 1.0), vec![]);
            }
        }
        _ => {}
    }
    rebuilt
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::syntax::{parse, print};

    fn simp(text: &str) -> String {
        print(&simplify(&parse(text).genome.unwrap()))
    }

    #[test]
    fn folds_constants_and_dead_branches() {
        let s = simp("(mechanism m (propose (if (< (+ 1 2) 2) (uniform) (perturb (best 1) (* 2 1) 0.1))))");
        assert!(s.contains("(propose (perturb (best 1) 2 0.1))"), "{s}");
    }

    #[test]
    fn removes_unused_state_and_skips() {
        let s = simp(
            "(mechanism m (state (a 1) (b 2)) (propose (perturb (best 1) 1 (get a))) (update (skip) (set b (get b))))",
        );
        assert!(s.contains("(state (a 1))"), "{s}");
        assert!(s.contains("(update))"), "{s}");
    }

    #[test]
    fn keeps_random_conditions() {
        let s = simp("(mechanism m (propose (if (chance 0.5) (uniform) (uniform))))");
        assert!(s.contains("chance"), "{s}");
    }
}
