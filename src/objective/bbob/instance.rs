//! The instance generators of the BBOB 2009 legacy code, which COCO still uses to build
//! every `bbob` instance: a seeded uniform generator, Gaussians made from it by Box-Muller,
//! random rotations by Gram-Schmidt, the optimum location `xopt` and the offset `fopt`.
//!
//! These are ports of the reference algorithms (same seeds, same arithmetic order), so the
//! instances are bit-for-bit the ones COCO generates up to libm rounding.

/// A dense square matrix in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Matrix {
    n: usize,
    a: Vec<f64>,
}

impl Matrix {
    /// The `n x n` zero matrix.
    pub(crate) fn zeros(n: usize) -> Self {
        Matrix { n, a: vec![0.0; n * n] }
    }

    /// Entry in row `i`, column `j`.
    pub(crate) fn get(&self, i: usize, j: usize) -> f64 {
        self.a[i * self.n + j]
    }

    /// Set the entry in row `i`, column `j`.
    pub(crate) fn set(&mut self, i: usize, j: usize, v: f64) {
        self.a[i * self.n + j] = v;
    }

    /// Row `i` as a slice.
    pub(crate) fn row(&self, i: usize) -> &[f64] {
        &self.a[i * self.n..(i + 1) * self.n]
    }

    /// `b + M x`, accumulated as COCO's affine transformation does (offset first).
    pub(crate) fn affine(&self, x: &[f64], b: f64) -> Vec<f64> {
        (0..self.n).map(|i| self.row(i).iter().zip(x).fold(b, |acc, (m, xj)| acc + xj * m)).collect()
    }

    /// `M x`.
    pub(crate) fn apply(&self, x: &[f64]) -> Vec<f64> {
        self.affine(x, 0.0)
    }

    /// `R diag(s) Q` with `s_k = base^(k / (n - 1))`: the `R Lambda Q` products of the
    /// rotated functions, summed in the reference order.
    pub(crate) fn conditioned_product(r: &Matrix, base: f64, q: &Matrix) -> Matrix {
        let n = r.n;
        let mut m = Matrix::zeros(n);
        for i in 0..n {
            for j in 0..n {
                let mut acc = 0.0;
                for k in 0..n {
                    let exponent = k as f64 / (n as f64 - 1.0);
                    acc += r.get(i, k) * base.powf(exponent) * q.get(k, j);
                }
                m.set(i, j, acc);
            }
        }
        m
    }
}

/// `n` uniform numbers in `(0, 1]` from the legacy generator seeded with `seed`
/// (a Park-Miller generator behind a 32-slot shuffle table).
pub(crate) fn unif(n: usize, seed: i64) -> Vec<f64> {
    let step = |s: i64| {
        let tmp = (s as f64 / 127_773.0).floor() as i64;
        let next = 16_807 * (s - tmp * 127_773) - 2_836 * tmp;
        if next < 0 { next + 2_147_483_647 } else { next }
    };
    let mut seed = seed.abs().max(1);
    let mut table = [0_i64; 32];
    for i in (0..40).rev() {
        seed = step(seed);
        if i < 32 {
            table[i] = seed;
        }
    }
    let mut current = table[0];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        seed = step(seed);
        let slot = (current as f64 / 67_108_865.0).floor() as usize;
        current = table[slot];
        table[slot] = seed;
        let r = current as f64 / 2.147_483_647e9;
        out.push(if r == 0.0 { 1e-99 } else { r });
    }
    out
}

/// `n` standard Gaussians by Box-Muller from `2n` legacy uniforms.
pub(crate) fn gauss(n: usize, seed: i64) -> Vec<f64> {
    let u = unif(2 * n, seed);
    (0..n)
        .map(|i| {
            let g = (-2.0 * u[i].ln()).sqrt() * (2.0 * std::f64::consts::PI * u[n + i]).cos();
            if g == 0.0 { 1e-99 } else { g }
        })
        .collect()
}

/// A random `n x n` rotation: Gaussian entries (column-major fill), then Gram-Schmidt on
/// the columns.
pub(crate) fn rotation(seed: i64, n: usize) -> Matrix {
    let g = gauss(n * n, seed);
    let mut b = Matrix::zeros(n);
    for i in 0..n {
        for j in 0..n {
            b.set(i, j, g[j * n + i]);
        }
    }
    for i in 0..n {
        for j in 0..i {
            let mut prod = 0.0;
            for k in 0..n {
                prod += b.get(k, i) * b.get(k, j);
            }
            for k in 0..n {
                b.set(k, i, b.get(k, i) - prod * b.get(k, j));
            }
        }
        let mut prod = 0.0;
        for k in 0..n {
            prod += b.get(k, i) * b.get(k, i);
        }
        let norm = prod.sqrt();
        for k in 0..n {
            b.set(k, i, b.get(k, i) / norm);
        }
    }
    b
}

/// The optimum location: uniform on the grid `-4 + 8 k / 10^4`, never exactly zero.
pub(crate) fn xopt(seed: i64, n: usize) -> Vec<f64> {
    unif(n, seed)
        .into_iter()
        .map(|u| {
            let x = 8.0 * (1e4 * u).floor() / 1e4 - 4.0;
            if x == 0.0 { -1e-5 } else { x }
        })
        .collect()
}

/// The optimal value of `function` on `instance`: a rounded Cauchy draw clipped to
/// `[-1000, 1000]`.
pub(crate) fn fopt(function: u8, instance: u32) -> f64 {
    let base = match function {
        4 => 3,
        18 => 17,
        f => i64::from(f),
    };
    let seed = base + 10_000 * i64::from(instance);
    let num = gauss(1, seed)[0];
    let den = gauss(1, seed + 1)[0];
    let rounded = (100.0 * 100.0 * num / den + 0.5).floor() / 100.0;
    rounded.clamp(-1000.0, 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unif_is_in_unit_interval_and_seeded() {
        let a = unif(100, 10_001);
        assert!(a.iter().all(|&u| u > 0.0 && u <= 1.0));
        assert_eq!(a, unif(100, 10_001));
        assert_ne!(a, unif(100, 10_002));
        // Negative and zero seeds fold onto valid ones, as in the reference.
        assert_eq!(unif(5, -7), unif(5, 7));
        assert_eq!(unif(5, 0), unif(5, 1));
    }

    #[test]
    fn rotation_is_orthogonal() {
        for n in [2, 5, 10, 40] {
            let r = rotation(1_010_001, n);
            for i in 0..n {
                for j in 0..n {
                    let dot: f64 = (0..n).map(|k| r.get(k, i) * r.get(k, j)).sum();
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-12, "n={n} ({i},{j}) {dot}");
                }
            }
        }
    }

    #[test]
    fn known_offsets() {
        // Values printed by COCO for f1 i1, f3 i1 (shared by f4) and f17 i1 (shared by f18).
        assert_eq!(fopt(1, 1), 79.48);
        assert_eq!(fopt(3, 1), -462.09);
        assert_eq!(fopt(4, 1), -462.09);
        assert_eq!(fopt(18, 1), fopt(17, 1));
    }

    #[test]
    fn xopt_lies_on_the_grid() {
        let x = xopt(10_001, 5);
        let want = [0.2528, -1.1568, -0.724, 1.9264, -2.6808];
        for (a, b) in x.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{x:?}");
        }
    }
}
