//! The Model Swarms update rule, once: the model swarm (`swarm::pso`, `f32` weights)
//! and the recombiner's constant swarm (`sim::agents::recombiner`, `f64` genome
//! constants) both move particles with these functions.
//!
//! One move of particle `x` with velocity `v`, personal best `p`, global best `g` and
//! global worst `w`: draw four fresh uniform factors ([`draw`]), weight the four
//! configured coefficients by them and normalise the weighted coefficients to sum to one
//! ([`coefficients`]), then ([`step`])
//!
//! ```text
//! v = a v + b (p - x) + c (g - x) + d (x - w)
//! x = x + step * v
//! ```
//!
//! The update is linear, so when the velocity is a scaled difference of two known
//! positions `v = k (m1 - m2)` the new position is an exact affine combination of
//! `x, p, g, w, m1, m2` whose coefficients ([`terms`]) sum to one.

use std::ops::{Add, Mul, Sub};

use rand::RngExt;

use crate::rng::Rng;

/// The four weights of a move before the random factors: inertia (previous velocity),
/// cognitive (pull to the personal best), social (pull to the global best), repel (push
/// away from the global worst).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// Weight of the previous velocity.
    pub inertia: f64,
    /// Weight of the pull toward the particle's personal best.
    pub cognitive: f64,
    /// Weight of the pull toward the global best.
    pub social: f64,
    /// Weight of the push away from the global worst.
    pub repel: f64,
}

/// Four fresh uniform factors in `[0, 1)`, one per weight, in the order inertia,
/// cognitive, social, repel.
pub fn draw(rng: &mut Rng) -> [f64; 4] {
    std::array::from_fn(|_| rng.random::<f64>())
}

/// The normalised coefficients `[a, b, c, d]` of a move: each weight times its random
/// factor, divided by their sum (all zero when the sum is not positive).
pub fn coefficients(w: &Weights, r: [f64; 4]) -> [f64; 4] {
    let w = [w.inertia * r[0], w.cognitive * r[1], w.social * r[2], w.repel * r[3]];
    let total: f64 = w.iter().sum();
    if total > 0.0 { w.map(|t| t / total) } else { [0.0; 4] }
}

/// A number type a particle's coordinates can have (`f32` model weights, `f64` genome
/// constants). Coefficients are computed in `f64` and converted once per move.
pub trait Coordinate: Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> {
    /// The coordinate nearest to an `f64` coefficient.
    fn of(c: f64) -> Self;
}

impl Coordinate for f32 {
    fn of(c: f64) -> Self {
        c as f32
    }
}

impl Coordinate for f64 {
    fn of(c: f64) -> Self {
        c
    }
}

/// Move one particle in place: `v = a v + b (p - x) + c (g - x) + d (x - w)`, then
/// `x = x + step v`, coordinate by coordinate (all slices have `x`'s length).
pub fn step<T: Coordinate>(coef: [f64; 4], step: f64, x: &mut [T], v: &mut [T], p: &[T], g: &[T], w: &[T]) {
    let [a, b, c, d] = coef;
    let (af, bf, cf, df, sf) = (T::of(a), T::of(b), T::of(c), T::of(d), T::of(step));
    for j in 0..x.len() {
        let xj = x[j];
        let nv = af * v[j] + bf * (p[j] - xj) + cf * (g[j] - xj) + df * (xj - w[j]);
        v[j] = nv;
        x[j] = xj + sf * nv;
    }
}

/// The coefficients each source enters the new position with, for a velocity
/// `k (m1 - m2)`:
///
/// ```text
/// x' = position x + personal_best p + global_best g + global_worst w + momentum k (m1 - m2)
/// ```
///
/// and `position + personal_best + global_best + global_worst = 1` (the momentum terms
/// cancel).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Terms {
    /// Coefficient of the particle's current position: `1 - step (b + c - d)`.
    pub position: f64,
    /// Coefficient of the personal best: `step b`.
    pub personal_best: f64,
    /// Coefficient of the global best: `step c`.
    pub global_best: f64,
    /// Coefficient of the global worst: `-step d` (repulsion).
    pub global_worst: f64,
    /// Coefficient of the velocity: `step a` (times the velocity's own scale `k`).
    pub momentum: f64,
}

/// The [`Terms`] of a move with normalised coefficients `coef` and step length `s`.
pub fn terms(coef: [f64; 4], s: f64) -> Terms {
    let [a, b, c, d] = coef;
    Terms {
        position: 1.0 - s * (b + c - d),
        personal_best: s * b,
        global_best: s * c,
        global_worst: -s * d,
        momentum: s * a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn coefficients_sum_to_one_and_follow_the_weights() {
        let w = Weights { inertia: 0.4, cognitive: 0.3, social: 0.5, repel: 0.1 };
        let mut rng = stream(3, "pso-unit", &[]);
        for _ in 0..100 {
            let c = coefficients(&w, draw(&mut rng));
            assert!((c.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{c:?}");
            assert!(c.iter().all(|&x| x >= 0.0));
        }
        assert_eq!(coefficients(&w, [1.0, 0.0, 0.0, 0.0]), [1.0, 0.0, 0.0, 0.0]);
        assert_eq!(coefficients(&w, [0.0; 4]), [0.0; 4]);
        let only_repel = Weights { inertia: 0.0, cognitive: 0.0, social: 0.0, repel: 2.0 };
        assert_eq!(coefficients(&only_repel, [0.5, 0.5, 0.5, 0.5]), [0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn the_terms_rebuild_the_stepped_position_in_both_precisions() {
        let (x0, m2) = ([1.0f64, -2.0, 0.5], [0.0f64, 1.0, 3.0]);
        let (p, g, w) = ([2.0f64, 0.0, 1.0], [3.0f64, 1.0, -1.0], [-4.0f64, 2.0, 0.0]);
        let k = 0.5;
        let coef = [0.1, 0.2, 0.3, 0.4];
        let s = 0.8;
        let mut x = x0;
        let mut v: Vec<f64> = x0.iter().zip(&m2).map(|(a, b)| k * (a - b)).collect();
        step(coef, s, &mut x, &mut v, &p, &g, &w);
        let t = terms(coef, s);
        assert!((t.position + t.personal_best + t.global_best + t.global_worst - 1.0).abs() < 1e-15);
        for j in 0..3 {
            // Here m1 is x0 itself: its momentum coefficient adds to the position's.
            let rebuilt = (t.position + t.momentum * k) * x0[j]
                + t.personal_best * p[j]
                + t.global_best * g[j]
                + t.global_worst * w[j]
                - t.momentum * k * m2[j];
            assert!((rebuilt - x[j]).abs() < 1e-12, "{j}: {rebuilt} vs {}", x[j]);
        }
        let mut xf: Vec<f32> = x0.iter().map(|&a| a as f32).collect();
        let mut vf: Vec<f32> = v.iter().map(|_| 0.0).collect();
        let f = |a: &[f64; 3]| a.map(|c| c as f32);
        step(coef, s, &mut xf, &mut vf, &f(&p), &f(&g), &f(&w));
        let t0 = terms(coef, s);
        for j in 0..3 {
            let rebuilt =
                t0.position * x0[j] + t0.personal_best * p[j] + t0.global_best * g[j] + t0.global_worst * w[j];
            assert!((rebuilt - xf[j] as f64).abs() < 1e-5);
        }
    }
}
