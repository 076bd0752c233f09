//! The primitive set: every operation a genome can use, with its signature.
//!
//! The set is deliberately small and general: each primitive is a piece of a search
//! strategy (a point source, a transform, a statistic, a control rule, a memory query),
//! never a whole named algorithm, so evolution can take strategies apart and recombine
//! them. `if` is the only polymorphic primitive.

use std::fmt;

/// The value types of the mechanism language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    /// A real number.
    Real,
    /// A truth value.
    Bool,
    /// A point of the unit cube.
    Point,
    /// A state change, run in the `update` hook.
    Action,
    /// A surrogate model fitted to the history, queried at the candidate.
    Model,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Real => "real",
            Type::Bool => "bool",
            Type::Point => "point",
            Type::Action => "action",
            Type::Model => "model",
        })
    }
}

/// The argument list a primitive accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Params {
    /// Exactly these argument types.
    Fixed(&'static [Type]),
    /// These leading types, then one or more of the repeated type.
    Variadic(&'static [Type], Type),
    /// `(if cond then else)`: a bool, then two arguments of the result type.
    If,
}

macro_rules! prims {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal : $params:expr => $ret:expr ;)*) => {
        /// A primitive operation of the mechanism language.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Prim {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Prim {
            /// Every primitive, in declaration order.
            pub const ALL: &'static [Prim] = &[$(Prim::$variant),*];

            /// The name used in the text syntax.
            pub fn name(self) -> &'static str {
                match self { $(Prim::$variant => $name,)* }
            }

            /// The accepted arguments.
            pub fn params(self) -> Params {
                match self { $(Prim::$variant => $params,)* }
            }

            /// The result type (`None` for the polymorphic `if`).
            pub fn result(self) -> Option<Type> {
                match self { $(Prim::$variant => $ret,)* }
            }

            /// The documentation of the primitive (its doc comment, one line per line).
            pub fn doc(self) -> &'static str {
                match self { $(Prim::$variant => concat!($($doc, "\n"),*),)* }
            }
        }
    };
}

use Params::{Fixed, Variadic};
use Type::{Action as A, Bool as B, Model as M, Point as P, Real as R};

prims! {
    /// A uniformly random point.
    Uniform = "uniform": Fixed(&[]) => Some(P);
    /// The next point of a Latin hypercube design of N points (redrawn when used up).
    Latin = "latin": Fixed(&[R]) => Some(P);
    /// The K-th best point evaluated so far (1 = the incumbent).
    Best = "best": Fixed(&[R]) => Some(P);
    /// A uniformly chosen point among the K best.
    PickTop = "pick-top": Fixed(&[R]) => Some(P);
    /// The last evaluated point.
    Last = "last": Fixed(&[]) => Some(P);
    /// The anchor point (a current position moved by `move-anchor`; the incumbent until then).
    Anchor = "anchor": Fixed(&[]) => Some(P);
    /// The candidate under review (in filter, fidelity and best-of scores; else the last point).
    Cand = "cand": Fixed(&[]) => Some(P);
    /// The coordinate-wise mean of the K best points.
    MeanTop = "mean-top": Fixed(&[R]) => Some(P);
    /// Gaussian perturbation of N random coordinates of P with standard deviation S.
    Perturb = "perturb": Fixed(&[P, R, R]) => Some(P);
    /// P + T (Q - P): toward Q for T > 0, away for T < 0.
    Toward = "toward": Fixed(&[P, P, R]) => Some(P);
    /// P + F (Q - R): a difference-vector move.
    DiffAdd = "diff-add": Fixed(&[P, P, P, R]) => Some(P);
    /// Uniform crossover: each coordinate from Q with probability RATE, else from P.
    Crossover = "crossover": Fixed(&[P, P, R]) => Some(P);
    /// A sample from the diagonal Gaussian fitted to the K best points, widened by W.
    EliteSample = "elite-sample": Fixed(&[R, R]) => Some(P);
    /// The best point evaluated at fidelity F and not yet at a higher one.
    RungBest = "rung-best": Fixed(&[R]) => Some(P);
    /// Generate N candidates with the last argument; return the one the score maximises.
    BestOf = "best-of": Fixed(&[R, R, P]) => Some(P);
    /// A UCB bandit over the arm expressions, rewarded when the proposal improves the incumbent.
    ChooseUcb = "choose-ucb": Variadic(&[R], P) => Some(P);
    /// A sample of the multivariate normal search distribution (CMA-ES's), reflected into
    /// the unit cube. The distribution is made on first use: at the incumbent (the
    /// centre of the cube before any trial), step size S, identity covariance. Every
    /// trial joins its current generation (one it did not sample is injected).
    MvnSample = "mvn-sample": Fixed(&[R]) => Some(P);
    /// As `mvn-sample`, but the sample is mapped into the unit cube by pycma's
    /// linear-quadratic boundary transformation instead of reflection: the identity away
    /// from the faces, quadratic within 0.05 of them, so a face can be reached and held
    /// (an optimum on the boundary).
    MvnSampleBox = "mvn-sample-box": Fixed(&[R]) => Some(P);
    /// The search distribution's mean, reflected into the unit cube.
    MvnMean = "mvn-mean": Fixed(&[]) => Some(P);
    /// The rank-weighted mean of the K best points (CMA-ES's log-rank weights).
    WeightedMean = "weighted-mean": Fixed(&[R]) => Some(P);
    /// A uniformly chosen point among the K best run at fidelity F.
    RungPick = "rung-pick": Fixed(&[R, R]) => Some(P);
    /// A Gaussian process (Matérn 5/2, a length scale per dimension, fitted by marginal
    /// likelihood) on the trials run at fidelity F (at most 128: the best 64 and the most
    /// recent).
    Gp = "gp": Fixed(&[R]) => Some(M);
    /// k-nearest-neighbour regression with K neighbours (at most 64) on the trials run at
    /// fidelity F.
    Knn = "knn": Fixed(&[R, R]) => Some(M);
    /// The model's predicted score at the candidate (lower is better).
    Predict = "predict": Fixed(&[M]) => Some(R);
    /// The model's uncertainty (standard deviation) at the candidate.
    Uncertainty = "uncertainty": Fixed(&[M]) => Some(R);
    /// Expected improvement of the candidate over the model's best score.
    Ei = "ei": Fixed(&[M]) => Some(R);
    /// Probability that the candidate improves on the model's best score.
    Pi = "pi": Fixed(&[M]) => Some(R);
    /// Optimistic bound at the candidate: minus (prediction - B uncertainty).
    Ucb = "ucb": Fixed(&[M, R]) => Some(R);
    /// A Thompson draw of the candidate's score from the model, negated (higher is better).
    Thompson = "thompson": Fixed(&[M]) => Some(R);
    /// Log density ratio of the candidate under the best fraction G of the trials run at
    /// fidelity F versus the rest of them (TPE's score within one rung, as BOHB uses it).
    KdeRatio = "kde-ratio": Fixed(&[R, R]) => Some(R);
    /// The highest fidelity with at least N successful trials (the lowest when none has).
    TopRung = "top-rung": Fixed(&[R]) => Some(R);
    /// The candidate's predicted full-fidelity score, extrapolated from the rungs it
    /// reached (a line fitted across configs run at both rungs, else its own curve).
    CurvePred = "curve-pred": Fixed(&[]) => Some(R);
    /// Where the candidate's predicted full-fidelity score ranks among the scores seen at
    /// full fidelity (0 = better than all, 1 = worse than all, 0.5 when there are none).
    CurveRank = "curve-rank": Fixed(&[]) => Some(R);
    /// Spearman rank correlation between the scores at fidelity F and at the next level
    /// up, over configs run at both (0 with fewer than three, 1 at the top level).
    RungCorr = "rung-corr": Fixed(&[R]) => Some(R);
    /// The starting fidelity of the next new config under Hyperband's bracket cycle with
    /// reduction factor ETA (each call takes the next slot of the cycle).
    HbStart = "hb-start": Fixed(&[R]) => Some(R);
    /// The search distribution's largest standard deviation (step size times the root of
    /// the covariance's largest eigenvalue).
    MvnSd = "mvn-sd": Fixed(&[]) => Some(R);
    /// CMA-ES's default population size for the space, 4 + floor(3 ln d).
    Popsize = "popsize": Fixed(&[]) => Some(R);
    /// Number of trials so far.
    Iter = "iter": Fixed(&[]) => Some(R);
    /// Fraction of the compute budget spent, in [0, 1].
    BudgetUsed = "budget-used": Fixed(&[]) => Some(R);
    /// Trials since the incumbent last improved.
    Stagnation = "stagnation": Fixed(&[]) => Some(R);
    /// Fraction of the last K trials that improved the incumbent.
    SuccessRate = "success-rate": Fixed(&[R]) => Some(R);
    /// Number of dimensions of the search space.
    Dims = "dims": Fixed(&[]) => Some(R);
    /// Addition.
    Add = "+": Fixed(&[R, R]) => Some(R);
    /// Subtraction.
    Sub = "-": Fixed(&[R, R]) => Some(R);
    /// Multiplication.
    Mul = "*": Fixed(&[R, R]) => Some(R);
    /// Protected division (x / 0 = 0).
    Div = "/": Fixed(&[R, R]) => Some(R);
    /// Exponential (clamped to avoid overflow).
    Exp = "exp": Fixed(&[R]) => Some(R);
    /// A uniform random real in [A, B].
    Rand = "rand": Fixed(&[R, R]) => Some(R);
    /// Distance from P to the nearest of the last K evaluated points (unit-cube RMS distance).
    NearestDist = "nearest-dist": Fixed(&[P, R]) => Some(R);
    /// Rank quantile of the last trial's score (0 = best so far, 1 = worst).
    LastRank = "last-rank": Fixed(&[]) => Some(R);
    /// Rank quantile of the anchor's score.
    AnchorRank = "anchor-rank": Fixed(&[]) => Some(R);
    /// Log density ratio of the candidate under the best fraction G of trials versus the rest.
    DensityRatio = "density-ratio": Fixed(&[R]) => Some(R);
    /// Number of trials run at fidelity F.
    RungSize = "rung-size": Fixed(&[R]) => Some(R);
    /// Highest fidelity at which the candidate was evaluated (0 when never).
    CandFid = "cand-fid": Fixed(&[]) => Some(R);
    /// A < B.
    Lt = "<": Fixed(&[R, R]) => Some(B);
    /// A > B.
    Gt = ">": Fixed(&[R, R]) => Some(B);
    /// Logical and.
    And = "and": Fixed(&[B, B]) => Some(B);
    /// Logical not.
    Not = "not": Fixed(&[B]) => Some(B);
    /// Whether the last trial improved the incumbent.
    Improved = "improved": Fixed(&[]) => Some(B);
    /// True with probability P.
    Chance = "chance": Fixed(&[R]) => Some(B);
    /// Conditional: `(if cond then else)`, both branches of one type.
    If = "if": Params::If => None;
    /// Move the anchor to the last evaluated point.
    MoveAnchor = "move-anchor": Fixed(&[]) => Some(A);
    /// Close the search distribution's generation once it holds N trials: move the mean
    /// to the weighted mean of its best half and update the evolution paths.
    MvnRecenter = "mvn-recenter": Fixed(&[R]) => Some(A);
    /// Rank-one covariance update from the evolution path, learning rate R times CMA-ES's
    /// (applies only after `mvn-recenter` closed a generation in the same update).
    MvnRankOne = "mvn-rank-one": Fixed(&[R]) => Some(A);
    /// Rank-mu covariance update from the closed generation, learning rate R times CMA-ES's.
    MvnRankMu = "mvn-rank-mu": Fixed(&[R]) => Some(A);
    /// Active covariance update (pycma's default): subtract the worst-ranked steps of the
    /// closed generation with negative weights, learning rate R times CMA-ES's rank-mu
    /// rate (applies only after `mvn-recenter` in the same update).
    MvnActive = "mvn-active": Fixed(&[R]) => Some(A);
    /// Cumulative step-size adaptation, its exponent scaled by R.
    MvnCsa = "mvn-csa": Fixed(&[R]) => Some(A);
    /// Step-size adaptation as pycma runs it: the path's length (not its square) against
    /// its expectation, with pycma's faster path and damping; exponent scaled by R.
    MvnCsaNorm = "mvn-csa-norm": Fixed(&[R]) => Some(A);
    /// Restart the search distribution at point P with step size S (identity covariance).
    MvnRestart = "mvn-restart": Fixed(&[P, R]) => Some(A);
    /// Do nothing.
    Skip = "skip": Fixed(&[]) => Some(A);
}

impl Prim {
    /// Look a primitive up by its text name.
    pub fn from_name(name: &str) -> Option<Prim> {
        Prim::ALL.iter().copied().find(|p| p.name() == name)
    }

    /// Minimum number of arguments.
    pub fn min_arity(self) -> usize {
        match self.params() {
            Params::Fixed(ts) => ts.len(),
            Params::Variadic(lead, _) => lead.len() + 1,
            Params::If => 3,
        }
    }

    /// Expected type of argument `i` given the result type (for `if`), or `None`
    /// when the primitive takes no such argument.
    pub fn param_type(self, i: usize, result: Type) -> Option<Type> {
        match self.params() {
            Params::Fixed(ts) => ts.get(i).copied(),
            Params::Variadic(lead, rest) => Some(lead.get(i).copied().unwrap_or(rest)),
            Params::If => match i {
                0 => Some(Type::Bool),
                1 | 2 => Some(result),
                _ => None,
            },
        }
    }

    /// Whether the primitive draws random numbers (such nodes are never constant-folded).
    pub fn is_random(self) -> bool {
        matches!(
            self,
            Prim::Uniform
                | Prim::Latin
                | Prim::PickTop
                | Prim::Perturb
                | Prim::Crossover
                | Prim::EliteSample
                | Prim::BestOf
                | Prim::ChooseUcb
                | Prim::Rand
                | Prim::Chance
                | Prim::MvnSample
                | Prim::MvnSampleBox
                | Prim::RungPick
                | Prim::Thompson
        )
    }

    /// Whether the value depends only on the arguments (no history, state or randomness).
    pub fn is_pure(self) -> bool {
        matches!(
            self,
            Prim::Add
                | Prim::Sub
                | Prim::Mul
                | Prim::Div
                | Prim::Exp
                | Prim::Lt
                | Prim::Gt
                | Prim::And
                | Prim::Not
                | Prim::If
        )
    }
}

/// Apply a pure real primitive to constant operands (used by the interpreter and
/// by constant folding, so both agree bit for bit).
pub fn apply_real(prim: Prim, a: f64, b: f64) -> f64 {
    let v = match prim {
        Prim::Add => a + b,
        Prim::Sub => a - b,
        Prim::Mul => a * b,
        Prim::Div => {
            if b == 0.0 {
                0.0
            } else {
                a / b
            }
        }
        Prim::Exp => a.clamp(-50.0, 50.0).exp(),
        _ => 0.0,
    };
    sanitize(v)
}

/// Replace NaN by 0 and clamp infinities, so every real in a run is finite.
pub fn sanitize(v: f64) -> f64 {
    if v.is_nan() { 0.0 } else { v.clamp(-1e12, 1e12) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_the_set_is_small() {
        for (i, p) in Prim::ALL.iter().enumerate() {
            assert_eq!(Prim::from_name(p.name()), Some(*p));
            assert!(Prim::ALL[..i].iter().all(|q| q.name() != p.name()));
        }
        // Plus `get`, `set` and literals: pieces, never whole algorithms.
        assert!(Prim::ALL.len() <= 72, "{} primitives", Prim::ALL.len());
        for p in Prim::ALL {
            assert!(!p.doc().trim().is_empty(), "{} has no documentation", p.name());
        }
    }

    #[test]
    fn protected_arithmetic_stays_finite() {
        assert_eq!(apply_real(Prim::Div, 1.0, 0.0), 0.0);
        assert!(apply_real(Prim::Exp, 1e9, 0.0).is_finite());
        assert_eq!(apply_real(Prim::Mul, f64::NAN, 1.0), 0.0);
    }
}
