//! The untransformed base functions of the BBOB suite, evaluated on an already
//! transformed point `z`. Each takes `z.len() >= 2`.

use std::f64::consts::PI;

use super::transforms::ramp;

/// `sum z_i^2`.
pub(crate) fn sphere(z: &[f64]) -> f64 {
    z.iter().map(|v| v * v).sum()
}

/// `sum 10^(6 i/(n-1)) z_i^2`.
pub(crate) fn ellipsoid(z: &[f64]) -> f64 {
    let n = z.len();
    let mut result = z[0] * z[0];
    for (i, v) in z.iter().enumerate().skip(1) {
        result += 1.0e6_f64.powf(ramp(i, n)) * v * v;
    }
    result
}

/// `10 (n - sum cos 2 pi z_i) + sum z_i^2` (also the Bueche-Rastrigin core).
pub(crate) fn rastrigin(z: &[f64]) -> f64 {
    let mut cosines = 0.0;
    let mut squares = 0.0;
    for v in z {
        cosines += (2.0 * PI * v).cos();
        squares += v * v;
    }
    10.0 * (z.len() as f64 - cosines) + squares
}

/// Rosenbrock: `sum 100 (z_i^2 - z_{i+1})^2 + (z_i - 1)^2`.
pub(crate) fn rosenbrock(z: &[f64]) -> f64 {
    let mut s1 = 0.0;
    let mut s2 = 0.0;
    for w in z.windows(2) {
        let a = w[0] * w[0] - w[1];
        s1 += a * a;
        let b = w[0] - 1.0;
        s2 += b * b;
    }
    100.0 * s1 + s2
}

/// Discus: `10^6 z_1^2 + sum_{i>1} z_i^2`.
pub(crate) fn discus(z: &[f64]) -> f64 {
    let mut result = 1.0e6 * z[0] * z[0];
    for v in &z[1..] {
        result += v * v;
    }
    result
}

/// Bent cigar: `z_1^2 + 10^6 sum_{i>1} z_i^2`.
pub(crate) fn bent_cigar(z: &[f64]) -> f64 {
    let mut result = z[0] * z[0];
    for v in &z[1..] {
        result += 1.0e6 * v * v;
    }
    result
}

/// Sharp ridge: `z_1^2 + 100 sqrt(sum_{i>1} z_i^2)`.
pub(crate) fn sharp_ridge(z: &[f64]) -> f64 {
    let tail: f64 = z[1..].iter().map(|v| v * v).sum();
    100.0 * tail.sqrt() + z[0] * z[0]
}

/// Different powers: `sqrt(sum |z_i|^(2 + 4 i/(n-1)))`.
pub(crate) fn different_powers(z: &[f64]) -> f64 {
    let n = z.len();
    let sum: f64 = z.iter().enumerate().map(|(i, v)| v.abs().powf(2.0 + 4.0 * i as f64 / (n as f64 - 1.0))).sum();
    sum.sqrt()
}

/// Number of terms of the Weierstrass series.
const WEIERSTRASS_TERMS: i32 = 12;

/// Weierstrass: `10 (1/n sum_i sum_k 1/2^k cos(2 pi 3^k (z_i + 1/2)) - f0)^3`.
pub(crate) fn weierstrass(z: &[f64]) -> f64 {
    let terms = || (0..WEIERSTRASS_TERMS).map(|k| (0.5_f64.powi(k), 3.0_f64.powi(k)));
    let f0: f64 = terms().map(|(a, b)| a * (2.0 * PI * b * 0.5).cos()).sum();
    let mut result = 0.0;
    for v in z {
        for (a, b) in terms() {
            result += (2.0 * PI * (v + 0.5) * b).cos() * a;
        }
    }
    10.0 * (result / z.len() as f64 - f0).powi(3)
}

/// Schaffers F7: `(1/(n-1) sum s_i^(1/2) (1 + sin^2(50 s_i^(1/5))))^2`, with
/// `s_i = sqrt(z_i^2 + z_{i+1}^2)` (written with powers of the squared sum).
pub(crate) fn schaffers(z: &[f64]) -> f64 {
    let mut result = 0.0;
    for w in z.windows(2) {
        let t = w[0] * w[0] + w[1] * w[1];
        result += t.powf(0.25) * (1.0 + (50.0 * t.powf(0.1)).sin().powi(2));
    }
    (result / (z.len() as f64 - 1.0)).powi(2)
}

/// Composite Griewank-Rosenbrock F8F2.
pub(crate) fn griewank_rosenbrock(z: &[f64]) -> f64 {
    let mut result = 0.0;
    for w in z.windows(2) {
        let c1 = w[0] * w[0] - w[1];
        let c2 = 1.0 - w[0];
        let t = 100.0 * c1 * c1 + c2 * c2;
        result += t / 4000.0 - t.cos();
    }
    10.0 + 10.0 * result / (z.len() as f64 - 1.0)
}

/// Schwefel `x sin(sqrt|x|)` with its own penalty outside `[-500, 500]^n`.
pub(crate) fn schwefel(z: &[f64]) -> f64 {
    let mut penalty = 0.0;
    for v in z {
        let over = v.abs() - 500.0;
        if over > 0.0 {
            penalty += over * over;
        }
    }
    let sum: f64 = z.iter().map(|v| v * v.abs().sqrt().sin()).sum();
    0.01 * (penalty + 418.982_887_272_433_9 - sum / z.len() as f64)
}

/// Katsuura: `10/n^2 prod (1 + i sum_j |2^j z_i - round(2^j z_i)| / 2^j)^(10/n^1.2) - 10/n^2`.
pub(crate) fn katsuura(z: &[f64]) -> f64 {
    let n = z.len() as f64;
    let mut product = 1.0;
    for (i, v) in z.iter().enumerate() {
        let mut sum = 0.0;
        for j in 1..33 {
            let p = 2.0_f64.powi(j);
            sum += (p * v - round_half_up(p * v)).abs() / p;
        }
        product *= 1.0 + (i as f64 + 1.0) * sum;
    }
    10.0 / n / n * (-1.0 + product.powf(10.0 / n.powf(1.2)))
}

/// Rounding as in the reference code: `floor(x + 0.5)`.
pub(crate) fn round_half_up(x: f64) -> f64 {
    (x + 0.5).floor()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_functions_vanish_at_their_optima() {
        let zero = [0.0; 4];
        let ones = [1.0; 4];
        for f in [sphere, ellipsoid, rastrigin, discus, bent_cigar, sharp_ridge] {
            assert_eq!(f(&zero), 0.0);
        }
        assert_eq!(different_powers(&zero), 0.0);
        assert_eq!(schaffers(&zero), 0.0);
        assert_eq!(katsuura(&zero), 0.0);
        assert!(weierstrass(&zero).abs() < 1e-12);
        assert_eq!(rosenbrock(&ones), 0.0);
        assert!(griewank_rosenbrock(&ones).abs() < 1e-12);
        let schwefel_opt = [420.968_746_33; 4];
        assert!(schwefel(&schwefel_opt).abs() < 1e-7);
    }

    #[test]
    fn rounding_goes_half_up() {
        assert_eq!(round_half_up(0.5), 1.0);
        assert_eq!(round_half_up(-0.5), 0.0);
        assert_eq!(round_half_up(-1.5), -1.0);
    }
}
