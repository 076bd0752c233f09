//! [`BbobFunction`]: one of the 24 noiseless functions on one instance and dimension,
//! with the instance data (`xopt`, `fopt`, rotations) generated as COCO's `bbob` suite
//! generates it.
//!
//! Notation follows the BBOB function definitions: `R` is the rotation seeded with
//! `rseed + 1000000`, `Q` the one seeded with `rseed`, where
//! `rseed = function + 10000 * instance` (f4 uses the seed of f3, f18 the seed of f17).

use super::BbobError;
use super::gallagher::Gallagher;
use super::instance::{Matrix, fopt, gauss, rotation, unif, xopt};
use super::raw;
use super::transforms::{brs, lambda, penalty, ramp, shifted, tasy, tosz, tosz_vec};

/// Smallest supported dimension (several functions couple neighbouring coordinates).
pub const MIN_DIM: usize = 2;
/// Largest supported dimension (the limit of the legacy generators).
pub const MAX_DIM: usize = 40;

/// Instance data beyond `xopt` and `fopt`, per function family.
#[derive(Debug, Clone, PartialEq)]
enum Data {
    /// f1-f5, f8: nothing beyond the optimum.
    Plain,
    /// One linear map `M` applied to `x - xopt` (f6, f10, f11, f13, f14, f23) or, for f9
    /// and f19, to `x` itself.
    Linear(Matrix),
    /// Two maps: `first` on `x - xopt`, a nonlinear step, then `second` (f12, f15-f18).
    Sandwich { first: Matrix, second: Matrix },
    /// Step ellipsoid f7: `Q` before the rounding and `R` after it.
    Step { r: Matrix, q: Matrix },
    /// Schwefel f20: the signs of the `x_hat` flip and the shifted optimum `|xopt|`.
    Schwefel { signs: Vec<f64>, shift: Vec<f64> },
    /// Gallagher's peaks, f21 and f22.
    Gallagher(Box<Gallagher>),
    /// Lunacek bi-Rastrigin f24: `R` and `Q`.
    Lunacek { r: Matrix, q: Matrix },
}

/// One BBOB function (1..=24) on one instance and dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct BbobFunction {
    function: u8,
    instance: u32,
    dim: usize,
    xopt: Vec<f64>,
    fopt: f64,
    data: Data,
}

/// The scale `max(1, sqrt(D)/8)` of the Rosenbrock-based functions.
fn rosenbrock_scale(dim: usize) -> f64 {
    1.0_f64.max((dim as f64).sqrt() / 8.0)
}

/// The point `x` with `scale R x + 1/2 = 1`, i.e. `R^T 1 / (2 scale)`.
fn rosenbrock_rotated_optimum(r: &Matrix, scale: f64, dim: usize) -> Vec<f64> {
    (0..dim).map(|col| (0..dim).map(|row| r.get(row, col)).sum::<f64>() / (2.0 * scale)).collect()
}

/// `diag(base^(i/(n-1))) Q`: conditioning applied after a rotation (Schaffers).
fn scaled_rows(q: &Matrix, base: f64, dim: usize) -> Matrix {
    let mut m = Matrix::zeros(dim);
    for i in 0..dim {
        for j in 0..dim {
            m.set(i, j, q.get(i, j) * base.powf(ramp(i, dim)));
        }
    }
    m
}

impl BbobFunction {
    /// Build function `function` (1..=24) on `instance` (>= 1) in `dim` dimensions
    /// (2..=40).
    pub fn new(function: u8, instance: u32, dim: usize) -> Result<Self, BbobError> {
        if !(1..=24).contains(&function) {
            return Err(BbobError::BadFunction(u32::from(function)));
        }
        if instance == 0 {
            return Err(BbobError::BadInstance(0));
        }
        if !(MIN_DIM..=MAX_DIM).contains(&dim) {
            return Err(BbobError::BadDimension(dim));
        }
        let base = match function {
            4 => 3,
            18 => 17,
            f => i64::from(f),
        };
        let seed = base + 10_000 * i64::from(instance);
        let r_seed = seed + 1_000_000;
        let fopt = fopt(function, instance);
        let rot = |s: i64| rotation(s, dim);
        let (xopt, data) = match function {
            1 | 2 | 3 | 8 => {
                let mut x = xopt(seed, dim);
                if function == 8 {
                    x.iter_mut().for_each(|v| *v *= 0.75);
                }
                (x, Data::Plain)
            }
            4 => {
                let mut x = xopt(seed, dim);
                x.iter_mut().step_by(2).for_each(|v| *v = v.abs());
                (x, Data::Plain)
            }
            5 => {
                let x = xopt(seed, dim).into_iter().map(|v| if v < 0.0 { -5.0 } else { 5.0 });
                (x.collect(), Data::Plain)
            }
            6 | 13 => {
                let m = Matrix::conditioned_product(&rot(r_seed), 10.0_f64.sqrt(), &rot(seed));
                (xopt(seed, dim), Data::Linear(m))
            }
            23 => {
                let m = Matrix::conditioned_product(&rot(r_seed), 100.0_f64.sqrt(), &rot(seed));
                (xopt(seed, dim), Data::Linear(m))
            }
            7 => (xopt(seed, dim), Data::Step { r: rot(r_seed), q: rot(seed) }),
            9 | 19 => {
                let r = rot(seed);
                let scale = rosenbrock_scale(dim);
                let x = rosenbrock_rotated_optimum(&r, scale, dim);
                let mut m = Matrix::zeros(dim);
                for i in 0..dim {
                    for j in 0..dim {
                        m.set(i, j, scale * r.get(i, j));
                    }
                }
                (x, Data::Linear(m))
            }
            10 | 11 | 14 => (xopt(seed, dim), Data::Linear(rot(r_seed))),
            12 => {
                let r = rot(r_seed);
                (xopt(r_seed, dim), Data::Sandwich { first: r.clone(), second: r })
            }
            15 | 16 => {
                let r = rot(r_seed);
                let base = if function == 15 { 10.0_f64.sqrt() } else { 1.0 / 100.0_f64.sqrt() };
                let second = Matrix::conditioned_product(&r, base, &rot(seed));
                (xopt(seed, dim), Data::Sandwich { first: r, second })
            }
            17 | 18 => {
                let condition: f64 = if function == 17 { 10.0 } else { 1000.0 };
                let second = scaled_rows(&rot(seed), condition.sqrt(), dim);
                (xopt(seed, dim), Data::Sandwich { first: rot(r_seed), second })
            }
            20 => {
                let signs: Vec<f64> =
                    unif(dim, seed).into_iter().map(|u| if u - 0.5 < 0.0 { -1.0 } else { 1.0 }).collect();
                let shift = vec![0.5 * 4.209_687_463_7; dim];
                let x = signs.iter().map(|s| s * 0.5 * 4.209_687_463_3).collect();
                (x, Data::Schwefel { signs, shift })
            }
            21 | 22 => {
                let g = Gallagher::new(seed, dim, if function == 21 { 101 } else { 21 });
                (g.xopt().to_vec(), Data::Gallagher(Box::new(g)))
            }
            _ => {
                let x = gauss(dim, seed).into_iter().map(|g| if g < 0.0 { -1.25 } else { 1.25 });
                (x.collect(), Data::Lunacek { r: rot(r_seed), q: rot(seed) })
            }
        };
        Ok(BbobFunction { function, instance, dim, xopt, fopt, data })
    }

    /// The function id, 1..=24.
    pub fn function(&self) -> u8 {
        self.function
    }

    /// The instance number.
    pub fn instance(&self) -> u32 {
        self.instance
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The optimal value.
    pub fn fopt(&self) -> f64 {
        self.fopt
    }

    /// The location of the optimum (as COCO reports it; for f20 this is the reference's
    /// rounded location, whose value matches `fopt` to about 1e-12).
    pub fn xopt(&self) -> &[f64] {
        &self.xopt
    }

    /// Evaluate at `x` (coordinates in `[-5, 5]`; outside, the functions that have a
    /// boundary penalty apply it). Panics if `x.len() != self.dim()`.
    pub fn eval(&self, x: &[f64]) -> f64 {
        assert_eq!(x.len(), self.dim, "point has the wrong dimension");
        let f = self.fopt;
        match (&self.data, self.function) {
            (Data::Plain, 1) => raw::sphere(&shifted(x, &self.xopt)) + f,
            (Data::Plain, 2) => raw::ellipsoid(&tosz_vec(&shifted(x, &self.xopt))) + f,
            (Data::Plain, 3) => {
                let z = lambda(&tasy(&tosz_vec(&shifted(x, &self.xopt)), 0.2), 10.0);
                raw::rastrigin(&z) + f
            }
            (Data::Plain, 4) => {
                let z = brs(&tosz_vec(&shifted(x, &self.xopt)));
                raw::rastrigin(&z) + f + 100.0 * penalty(x)
            }
            (Data::Plain, 5) => self.linear_slope(x) + f,
            (Data::Plain, _) => {
                let scale = rosenbrock_scale(self.dim);
                let z: Vec<f64> = shifted(x, &self.xopt).iter().map(|v| scale * v + 1.0).collect();
                raw::rosenbrock(&z) + f
            }
            (Data::Linear(m), 9) => raw::rosenbrock(&m.affine(x, 0.5)) + f,
            (Data::Linear(m), 19) => {
                let z: Vec<f64> = m.apply(x).iter().map(|v| v + 0.5).collect();
                raw::griewank_rosenbrock(&z) + f
            }
            (Data::Linear(m), function) => {
                let z = m.apply(&shifted(x, &self.xopt));
                match function {
                    6 => self.attractive_sector(&z).powf(0.9) + f,
                    10 => raw::ellipsoid(&tosz_vec(&z)) + f,
                    11 => raw::discus(&tosz_vec(&z)) + f,
                    13 => raw::sharp_ridge(&z) + f,
                    14 => raw::different_powers(&z) + f,
                    _ => raw::katsuura(&z) + f + penalty(x),
                }
            }
            (Data::Sandwich { first, second }, function) => {
                let y = first.apply(&shifted(x, &self.xopt));
                match function {
                    12 => raw::bent_cigar(&second.apply(&tasy(&y, 0.5))) + f,
                    15 => raw::rastrigin(&second.apply(&tasy(&tosz_vec(&y), 0.2))) + f,
                    16 => raw::weierstrass(&second.apply(&tosz_vec(&y))) + f + 10.0 / self.dim as f64 * penalty(x),
                    _ => raw::schaffers(&second.apply(&tasy(&y, 0.5))) + f + 10.0 * penalty(x),
                }
            }
            (Data::Step { r, q }, _) => self.step_ellipsoid(x, r, q),
            (Data::Schwefel { signs, shift }, _) => self.schwefel(x, signs, shift),
            (Data::Gallagher(g), _) => g.eval(x) + f,
            (Data::Lunacek { r, q }, _) => self.lunacek(x, r, q) + f,
        }
    }

    /// f5: `sum 5 |s_i| - s_i x_i` with `s_i = sign(xopt_i) 10^(i/(D-1))`.
    fn linear_slope(&self, x: &[f64]) -> f64 {
        let base = 100.0_f64.sqrt();
        let mut result = 0.0;
        for (i, (xi, opt)) in x.iter().zip(&self.xopt).enumerate() {
            let magnitude = base.powf(ramp(i, self.dim));
            let s = if *opt > 0.0 { magnitude } else { -magnitude };
            result += 5.0 * s.abs() - s * xi;
        }
        result
    }

    /// f6 before its power: `T_osz(sum (s_i z_i)^2)`, `s_i = 100` where `z_i xopt_i > 0`.
    fn attractive_sector(&self, z: &[f64]) -> f64 {
        let mut result = 0.0;
        for (zi, opt) in z.iter().zip(&self.xopt) {
            if opt * zi > 0.0 {
                result += 100.0 * 100.0 * zi * zi;
            } else {
                result += zi * zi;
            }
        }
        tosz(result)
    }

    /// f7: rounding between the rotations `Q` (with `Lambda^10`) and `R`.
    fn step_ellipsoid(&self, x: &[f64], r: &Matrix, q: &Matrix) -> f64 {
        let n = self.dim;
        let condition: f64 = 100.0;
        let mut z_hat = vec![0.0; n];
        for (i, zi) in z_hat.iter_mut().enumerate() {
            let c = (condition / 10.0).powf(ramp(i, n)).sqrt();
            for ((qij, xj), oj) in q.row(i).iter().zip(x).zip(&self.xopt) {
                *zi += c * qij * (xj - oj);
            }
        }
        let first = z_hat[0];
        let rounded: Vec<f64> = z_hat
            .iter()
            .map(|&v| if v.abs() > 0.5 { raw::round_half_up(v) } else { raw::round_half_up(10.0 * v) / 10.0 })
            .collect();
        let z = r.apply(&rounded);
        let mut sum = 0.0;
        for (i, v) in z.iter().enumerate() {
            sum += condition.powf(ramp(i, n)) * v * v;
        }
        0.1 * (first.abs() * 1.0e-4).max(sum) + penalty(x) + self.fopt
    }

    /// f20: `x_hat = 2 sign(xopt) x`, the `z_hat` coupling, `Lambda^10`, scaled by 100.
    fn schwefel(&self, x: &[f64], signs: &[f64], shift: &[f64]) -> f64 {
        let n = self.dim;
        let x_hat: Vec<f64> = x.iter().zip(signs).map(|(v, s)| 2.0 * (s * v)).collect();
        let mut z_hat = vec![x_hat[0]; n];
        for i in 1..n {
            z_hat[i] = x_hat[i] + 0.25 * (x_hat[i - 1] - 2.0 * shift[i - 1].abs());
        }
        let two_abs: Vec<f64> = shift.iter().map(|v| 2.0 * v.abs()).collect();
        let centred = shifted(&z_hat, &two_abs);
        let conditioned = lambda(&centred, 10.0);
        let z: Vec<f64> = conditioned.iter().zip(&two_abs).map(|(v, t)| 100.0 * (v + t)).collect();
        raw::schwefel(&z) + self.fopt
    }

    /// f24 without `fopt`.
    fn lunacek(&self, x: &[f64], r: &Matrix, q: &Matrix) -> f64 {
        let n = self.dim;
        let nf = n as f64;
        let condition: f64 = 100.0;
        let mu0 = 2.5;
        let d = 1.0;
        let s = 1.0 - 0.5 / ((nf + 20.0).sqrt() - 4.1);
        let mu1 = -((mu0 * mu0 - d) / s).sqrt();
        let x_hat: Vec<f64> =
            x.iter().zip(&self.xopt).map(|(v, opt)| if *opt < 0.0 { -(2.0 * v) } else { 2.0 * v }).collect();
        let mut tmp = vec![0.0; n];
        for (i, ti) in tmp.iter_mut().enumerate() {
            let c = condition.sqrt().powf(ramp(i, n));
            for (qij, xj) in q.row(i).iter().zip(&x_hat) {
                *ti += c * qij * (xj - mu0);
            }
        }
        let z = r.apply(&tmp);
        let (mut s1, mut s2, mut s3) = (0.0, 0.0, 0.0);
        for (xh, zi) in x_hat.iter().zip(&z) {
            s1 += (xh - mu0) * (xh - mu0);
            s2 += (xh - mu1) * (xh - mu1);
            s3 += (2.0 * std::f64::consts::PI * zi).cos();
        }
        s1.min(d * nf + s * s2) + 10.0 * (nf - s3) + 1e4 * penalty(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_attains_fopt_at_xopt() {
        for function in 1..=24 {
            for dim in [2, 3, 5, 10, 20, 40] {
                let f = BbobFunction::new(function, 1, dim).unwrap();
                let at = f.eval(f.xopt());
                let tol = 1e-8 * f.fopt().abs().max(1.0);
                assert!((at - f.fopt()).abs() <= tol, "f{function} d{dim}: {at} vs {}", f.fopt());
            }
        }
    }

    #[test]
    fn the_optimum_is_the_minimum_nearby() {
        for function in 1..=24 {
            let f = BbobFunction::new(function, 3, 5).unwrap();
            for k in 0..5 {
                let mut x = f.xopt().to_vec();
                x[k] = (x[k] + 0.3).min(5.0);
                if x[k] == f.xopt()[k] {
                    x[k] -= 0.3;
                }
                assert!(f.eval(&x) >= f.fopt() - 1e-9, "f{function} moved coordinate {k}");
            }
        }
    }

    #[test]
    fn instances_differ() {
        for function in 1..=24 {
            let a = BbobFunction::new(function, 1, 5).unwrap();
            let b = BbobFunction::new(function, 2, 5).unwrap();
            assert!(a.fopt() != b.fopt() || a.xopt() != b.xopt(), "f{function}");
            let x = [1.0, -2.0, 0.5, 3.0, -4.0];
            assert_ne!(a.eval(&x), b.eval(&x), "f{function}");
        }
    }

    #[test]
    fn bad_ids_and_dims_are_rejected() {
        assert_eq!(BbobFunction::new(0, 1, 5), Err(BbobError::BadFunction(0)));
        assert_eq!(BbobFunction::new(25, 1, 5), Err(BbobError::BadFunction(25)));
        assert_eq!(BbobFunction::new(1, 0, 5), Err(BbobError::BadInstance(0)));
        assert_eq!(BbobFunction::new(1, 1, 1), Err(BbobError::BadDimension(1)));
        assert_eq!(BbobFunction::new(1, 1, 41), Err(BbobError::BadDimension(41)));
    }

    #[test]
    fn shared_seeds_follow_the_reference() {
        // f18 is f17 with a worse conditioning: same optimum and offset.
        let f17 = BbobFunction::new(17, 4, 10).unwrap();
        let f18 = BbobFunction::new(18, 4, 10).unwrap();
        assert_eq!(f17.xopt(), f18.xopt());
        assert_eq!(f17.fopt(), f18.fopt());
        // f4 shares the offset of f3 and the optimum, up to the sign of even coordinates.
        let f3 = BbobFunction::new(3, 4, 10).unwrap();
        let f4 = BbobFunction::new(4, 4, 10).unwrap();
        assert_eq!(f3.fopt(), f4.fopt());
        for (i, (a, b)) in f3.xopt().iter().zip(f4.xopt()).enumerate() {
            if i % 2 == 0 { assert_eq!(a.abs(), *b) } else { assert_eq!(a, b) }
        }
    }
}
