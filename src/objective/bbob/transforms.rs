//! The BBOB variable and objective transformations: `T_osz` (oscillation), `T_asy`
//! (asymmetry), `Lambda` (conditioning), the Bueche-Rastrigin scaling `s_i`, and the
//! boundary penalty `f_pen`. Index-dependent exponents use `i / (D - 1)` with 0-based `i`.

/// Exponent `i / (n - 1)` of coordinate `i` in dimension `n`.
pub(crate) fn ramp(i: usize, n: usize) -> f64 {
    i as f64 / (n as f64 - 1.0)
}

/// The scalar oscillation `T_osz`, used both on coordinates and on objective values.
pub(crate) fn tosz(x: f64) -> f64 {
    if x > 0.0 {
        let t = x.ln() / 0.1;
        (t + 0.49 * (t.sin() + (0.79 * t).sin())).exp().powf(0.1)
    } else if x < 0.0 {
        let t = (-x).ln() / 0.1;
        -(t + 0.49 * ((0.55 * t).sin() + (0.31 * t).sin())).exp().powf(0.1)
    } else {
        0.0
    }
}

/// `T_osz` applied coordinate-wise.
pub(crate) fn tosz_vec(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| tosz(v)).collect()
}

/// `T_asy^beta`: positive coordinates `x_i` become `x_i^(1 + beta i/(n-1) sqrt(x_i))`.
pub(crate) fn tasy(x: &[f64], beta: f64) -> Vec<f64> {
    let n = x.len();
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            if v > 0.0 {
                let exponent = 1.0 + beta * i as f64 / (n as f64 - 1.0) * v.sqrt();
                v.powf(exponent)
            } else {
                v
            }
        })
        .collect()
}

/// `Lambda^alpha`: coordinate `i` scaled by `alpha^(0.5 i/(n-1))`.
pub(crate) fn lambda(x: &[f64], alpha: f64) -> Vec<f64> {
    let n = x.len();
    x.iter().enumerate().map(|(i, &v)| alpha.powf(0.5 * ramp(i, n)) * v).collect()
}

/// The Bueche-Rastrigin scaling: `sqrt(10)^(i/(n-1))`, times 10 more for positive
/// coordinates at even (0-based) indices.
pub(crate) fn brs(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let mut factor = 10.0_f64.sqrt().powf(ramp(i, n));
            if v > 0.0 && i % 2 == 0 {
                factor *= 10.0;
            }
            factor * v
        })
        .collect()
}

/// `f_pen`: the squared distance of `x` to the box `[-5, 5]^n`.
pub(crate) fn penalty(x: &[f64]) -> f64 {
    x.iter()
        .map(|&v| {
            let over = v - 5.0;
            let under = -5.0 - v;
            if over > 0.0 {
                over * over
            } else if under > 0.0 {
                under * under
            } else {
                0.0
            }
        })
        .sum()
}

/// `x - shift`, coordinate-wise.
pub(crate) fn shifted(x: &[f64], shift: &[f64]) -> Vec<f64> {
    x.iter().zip(shift).map(|(a, b)| a - b).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tosz_fixes_zero_and_keeps_sign() {
        assert_eq!(tosz(0.0), 0.0);
        assert!(tosz(1.0) > 0.0 && tosz(-1.0) < 0.0);
        // T_osz(1) = exp(0) ^ 0.1 = 1.
        assert!((tosz(1.0) - 1.0).abs() < 1e-15);
        assert!((tosz(-1.0) + 1.0).abs() < 1e-15);
    }

    #[test]
    fn tasy_only_bends_positive_coordinates() {
        let y = tasy(&[-2.0, 4.0, 4.0], 0.5);
        assert_eq!(y[0], -2.0);
        assert!((y[1] - 4.0_f64.powf(1.0 + 0.25 * 2.0)).abs() < 1e-12);
        assert!((y[2] - 4.0_f64.powf(2.0)).abs() < 1e-12);
    }

    #[test]
    fn lambda_and_penalty() {
        let y = lambda(&[1.0, 1.0, 1.0], 100.0);
        assert!((y[0] - 1.0).abs() < 1e-15 && (y[1] - 10.0_f64.sqrt()).abs() < 1e-12);
        assert!((y[2] - 10.0).abs() < 1e-12);
        assert_eq!(penalty(&[0.0, 5.0, -5.0]), 0.0);
        assert_eq!(penalty(&[6.0, -7.0]), 5.0);
    }

    #[test]
    fn brs_scales_even_positive_coordinates() {
        let y = brs(&[1.0, 1.0, -1.0]);
        assert!((y[0] - 10.0).abs() < 1e-12);
        assert!((y[1] - 10.0_f64.powf(0.25)).abs() < 1e-12);
        assert!((y[2] + 10.0_f64.sqrt()).abs() < 1e-12);
    }
}
