//! Structural operators: add a kind of primitive the parent lacks (a memory-based
//! filter, a selector over alternatives, a budget schedule, a fidelity rule, a step-size
//! rule, a surrogate with an acquisition function, a covariance-adapting search
//! distribution, Hyperband's brackets, a learning-curve jump), so evolution creates new
//! combinations, not only new constants.

use rand::RngExt;

use super::ast::{Expr, Genome, Op, Recommend, StateVar};
use super::check::{Limits, check};
use super::prim::Prim;
use crate::rng::Rng;

/// The structural operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Structural {
    /// And a tabu-like memory test (`nearest-dist` to recent points) into `filter`.
    AddMemoryFilter,
    /// Put `propose` under a `choose-ucb` selector with a new alternative.
    AddSelector,
    /// Split `propose` by budget phase or stagnation.
    AddSchedule,
    /// Add a successive-halving promotion rule over fidelities.
    AddFidelityRule,
    /// Drive a perturbation scale by a success-based step-size state variable.
    AddStepRule,
    /// Recommend the config with the best mean over its repeats (`(recommend mean)`)
    /// instead of the luckiest single draw.
    AddMeanRecommendation,
    /// Rank `propose`'s candidates by an acquisition function over a surrogate model:
    /// `(best-of N (ACQ MODEL) own)`.
    AddSurrogate,
    /// Add CMA-ES's search distribution: its samples as a new `choose-ucb` arm and its
    /// generation updates (recentring, rank-one, rank-mu, step-size adaptation).
    AddCovariance,
    /// Start new configs of a fidelity rule at Hyperband's bracket fidelities.
    AddBrackets,
    /// Let a promoted config whose extrapolated learning curve ranks well skip to full
    /// fidelity.
    AddCurveJump,
}

impl Structural {
    /// Every structural operator.
    pub const ALL: [Structural; 10] = [
        Structural::AddMemoryFilter,
        Structural::AddSelector,
        Structural::AddSchedule,
        Structural::AddFidelityRule,
        Structural::AddStepRule,
        Structural::AddMeanRecommendation,
        Structural::AddSurrogate,
        Structural::AddCovariance,
        Structural::AddBrackets,
        Structural::AddCurveJump,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Structural::AddMemoryFilter => "add-memory-filter",
            Structural::AddSelector => "add-selector",
            Structural::AddSchedule => "add-schedule",
            Structural::AddFidelityRule => "add-fidelity-rule",
            Structural::AddStepRule => "add-step-rule",
            Structural::AddMeanRecommendation => "add-mean-recommendation",
            Structural::AddSurrogate => "add-surrogate",
            Structural::AddCovariance => "add-covariance",
            Structural::AddBrackets => "add-brackets",
            Structural::AddCurveJump => "add-curve-jump",
        }
    }
}

fn uses(e: &Expr, p: Prim) -> bool {
    let mut found = false;
    e.walk(&mut |n| found |= n.op == Op::Prim(p));
    found
}

fn genome_uses(g: &Genome, p: Prim) -> bool {
    g.roots().iter().any(|(_, e)| uses(e, p))
}

fn choose<T: Copy>(items: &[T], rng: &mut Rng) -> T {
    items[rng.random_range(0..items.len())]
}

/// A small menu of point sources used as new alternatives.
fn fresh_point(rng: &mut Rng) -> Expr {
    let num = Expr::num;
    match rng.random_range(0..6) {
        0 => Expr::prim(Prim::Uniform, vec![]),
        1 => Expr::prim(
            Prim::Perturb,
            vec![
                Expr::prim(Prim::Best, vec![num(1.0)]),
                num(choose(&[1.0, 2.0, 3.0], rng)),
                num(choose(&[0.01, 0.05, 0.2], rng)),
            ],
        ),
        2 => Expr::prim(Prim::EliteSample, vec![num(choose(&[5.0, 10.0, 20.0], rng)), num(1.0)]),
        3 => Expr::prim(Prim::Latin, vec![num(choose(&[10.0, 50.0], rng))]),
        4 => Expr::prim(
            Prim::Toward,
            vec![
                Expr::prim(Prim::PickTop, vec![num(5.0)]),
                Expr::prim(Prim::Best, vec![num(1.0)]),
                num(choose(&[0.5, 1.5], rng)),
            ],
        ),
        _ => Expr::prim(
            Prim::BestOf,
            vec![
                num(8.0),
                Expr::prim(Prim::DensityRatio, vec![num(0.2)]),
                Expr::prim(Prim::Perturb, vec![Expr::prim(Prim::PickTop, vec![num(8.0)]), num(2.0), num(0.1)]),
            ],
        ),
    }
}

/// A surrogate model: a Gaussian process or k-NN regression on the top rung.
fn fresh_model(rng: &mut Rng) -> Expr {
    let num = Expr::num;
    if rng.random::<bool>() {
        Expr::prim(Prim::Gp, vec![num(1.0)])
    } else {
        Expr::prim(Prim::Knn, vec![num(choose(&[3.0, 5.0, 10.0], rng)), num(1.0)])
    }
}

/// An acquisition function over `model`.
fn fresh_acquisition(model: Expr, rng: &mut Rng) -> Expr {
    match rng.random_range(0..4) {
        0 => Expr::prim(Prim::Ei, vec![model]),
        1 => Expr::prim(Prim::Pi, vec![model]),
        2 => Expr::prim(Prim::Ucb, vec![model, Expr::num(choose(&[0.5, 1.0, 2.0], rng))]),
        _ => Expr::prim(Prim::Thompson, vec![model]),
    }
}

/// The pieces that make a search distribution learn: recentring on each generation of
/// the default population size, the two covariance updates and step-size adaptation.
fn covariance_updates() -> Vec<Expr> {
    let one = || Expr::num(1.0);
    vec![
        Expr::prim(Prim::MvnRecenter, vec![Expr::prim(Prim::Popsize, vec![])]),
        Expr::prim(Prim::MvnRankOne, vec![one()]),
        Expr::prim(Prim::MvnRankMu, vec![one()]),
        Expr::prim(Prim::MvnCsa, vec![one()]),
    ]
}

/// Apply a structural operator; `None` when the parent already has that kind of piece
/// or the result breaks a limit.
pub fn apply_structural(g: &Genome, op: Structural, rng: &mut Rng, limits: &Limits) -> Option<Genome> {
    let mut child = g.clone();
    let num = Expr::num;
    match op {
        Structural::AddMeanRecommendation => {
            if g.recommend == Recommend::Mean {
                return None;
            }
            child.recommend = Recommend::Mean;
        }
        Structural::AddMemoryFilter => {
            if uses(&g.filter, Prim::NearestDist) {
                return None;
            }
            let test = Expr::prim(
                Prim::Gt,
                vec![
                    Expr::prim(
                        Prim::NearestDist,
                        vec![Expr::prim(Prim::Cand, vec![]), num(choose(&[10.0, 25.0, 50.0], rng))],
                    ),
                    num(choose(&[0.005, 0.02, 0.05], rng)),
                ],
            );
            child.filter =
                if g.filter.op == Op::Flag(true) { test } else { Expr::prim(Prim::And, vec![g.filter.clone(), test]) };
        }
        Structural::AddSelector => {
            let own = std::mem::replace(&mut child.propose, num(0.0));
            child.propose = match own.op {
                Op::Prim(Prim::ChooseUcb) => {
                    let mut own = own;
                    own.args.push(fresh_point(rng));
                    own
                }
                _ => Expr::prim(Prim::ChooseUcb, vec![num(0.5), own, fresh_point(rng)]),
            };
        }
        Structural::AddSchedule => {
            let own = std::mem::replace(&mut child.propose, num(0.0));
            let cond = if rng.random::<bool>() {
                Expr::prim(Prim::Lt, vec![Expr::prim(Prim::BudgetUsed, vec![]), num(choose(&[0.1, 0.2, 0.3], rng))])
            } else {
                Expr::prim(Prim::Gt, vec![Expr::prim(Prim::Stagnation, vec![]), num(choose(&[20.0, 50.0, 100.0], rng))])
            };
            child.propose = Expr::prim(Prim::If, vec![cond, fresh_point(rng), own]);
        }
        Structural::AddFidelityRule => {
            if genome_uses(g, Prim::CandFid) {
                return None;
            }
            let own = std::mem::replace(&mut child.propose, num(0.0));
            let promote = |lo: f64, hi: f64, otherwise: Expr| {
                let ratio = Expr::prim(
                    Prim::Mul,
                    vec![num(3.0), Expr::prim(Prim::Add, vec![Expr::prim(Prim::RungSize, vec![num(hi)]), num(1.0)])],
                );
                Expr::prim(
                    Prim::If,
                    vec![
                        Expr::prim(Prim::Gt, vec![Expr::prim(Prim::RungSize, vec![num(lo)]), ratio]),
                        Expr::prim(Prim::RungBest, vec![num(lo)]),
                        otherwise,
                    ],
                )
            };
            child.propose = promote(0.25, 0.5, promote(0.5, 1.0, own));
            child.fidelity = Expr::prim(
                Prim::Add,
                vec![num(0.25), Expr::prim(Prim::Mul, vec![num(2.0), Expr::prim(Prim::CandFid, vec![])])],
            );
        }
        Structural::AddSurrogate => {
            let models = [Prim::Gp, Prim::Knn];
            if models.iter().any(|&m| uses(&g.propose, m)) {
                return None;
            }
            let own = std::mem::replace(&mut child.propose, num(0.0));
            let acquisition = fresh_acquisition(fresh_model(rng), rng);
            child.propose = Expr::prim(Prim::BestOf, vec![num(choose(&[16.0, 32.0, 64.0], rng)), acquisition, own]);
        }
        Structural::AddCovariance => {
            if genome_uses(g, Prim::MvnSample) {
                return None;
            }
            let own = std::mem::replace(&mut child.propose, num(0.0));
            let sample = Expr::prim(Prim::MvnSample, vec![num(choose(&[0.1, 0.2, 0.3], rng))]);
            child.propose = match own.op {
                Op::Prim(Prim::ChooseUcb) => {
                    let mut own = own;
                    own.args.push(sample);
                    own
                }
                _ => Expr::prim(Prim::ChooseUcb, vec![num(0.5), own, sample]),
            };
            if !genome_uses(g, Prim::MvnRecenter) {
                child.update.extend(covariance_updates());
            }
        }
        Structural::AddBrackets => {
            if !uses(&g.fidelity, Prim::CandFid) || uses(&g.fidelity, Prim::HbStart) {
                return None;
            }
            let own = std::mem::replace(&mut child.fidelity, num(0.0));
            let fresh = Expr::prim(Prim::Lt, vec![Expr::prim(Prim::CandFid, vec![]), num(0.1)]);
            let start = Expr::prim(Prim::HbStart, vec![num(choose(&[2.0, 3.0], rng))]);
            child.fidelity = Expr::prim(Prim::If, vec![fresh, start, own]);
        }
        Structural::AddCurveJump => {
            if !uses(&g.fidelity, Prim::CandFid) || uses(&g.fidelity, Prim::CurveRank) {
                return None;
            }
            let own = std::mem::replace(&mut child.fidelity, num(0.0));
            let promising =
                Expr::prim(Prim::Lt, vec![Expr::prim(Prim::CurveRank, vec![]), num(choose(&[0.1, 0.2, 0.3], rng))]);
            child.fidelity = Expr::prim(Prim::If, vec![promising, num(1.0), own]);
        }
        Structural::AddStepRule => {
            let name = (0..).map(|i| format!("step{i}")).find(|n| g.var_index(n).is_none())?;
            let mut scales = Vec::new();
            for (i, p) in child.paths().iter().enumerate() {
                if let Some(e) = child.node(p)
                    && e.op == Op::Prim(Prim::Perturb)
                    && matches!(e.args[2].op, Op::Num(_))
                {
                    scales.push((i, p.clone()));
                }
            }
            if scales.is_empty() {
                return None;
            }
            let (_, path) = scales[rng.random_range(0..scales.len())].clone();
            let node = child.node_mut(&path)?;
            let Op::Num(init) = node.args[2].op else { return None };
            node.args[2] = Expr::new(Op::Get(name.clone()), vec![]);
            child.state.push(StateVar { name: name.clone(), init, span: 0..0 });
            let grow = choose(&[1.3, 1.5, 2.0], rng);
            let shrink = choose(&[0.8, 0.9, 0.95], rng);
            let get = || Expr::new(Op::Get(name.clone()), vec![]);
            child.update.push(Expr::new(
                Op::Set(name.clone()),
                vec![Expr::prim(
                    Prim::If,
                    vec![
                        Expr::prim(Prim::Improved, vec![]),
                        Expr::prim(Prim::Mul, vec![get(), num(grow)]),
                        Expr::prim(Prim::Mul, vec![get(), num(shrink)]),
                    ],
                )],
            ));
        }
    }
    check(&child, limits).is_empty().then_some(child)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::library::LIBRARY;
    use crate::genome::load;
    use rand::SeedableRng;

    #[test]
    fn structural_operators_keep_library_genomes_well_typed_and_add_pieces() {
        let limits = Limits::default();
        let mut rng = Rng::seed_from_u64(9);
        let mut applied = 0;
        for (_, text) in LIBRARY {
            let g = load(text, &limits).unwrap();
            for op in Structural::ALL {
                if let Some(c) = apply_structural(&g, op, &mut rng, &limits) {
                    assert!(check(&c, &limits).is_empty());
                    if op == Structural::AddMeanRecommendation {
                        assert_eq!((g.recommend, c.recommend), (Recommend::Best, Recommend::Mean));
                    } else {
                        assert!(c.size() > g.size(), "{op:?} must add material");
                    }
                    applied += 1;
                }
            }
        }
        assert!(applied > 30, "{applied}");
    }
}
