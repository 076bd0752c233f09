//! Host `f32` kernels: the arithmetic of every fused GPT op, forward and backward, on
//! plain slices.
//!
//! Every user of this arithmetic calls these functions: the candle custom ops of
//! [`super::ops`] (one graph node per op), the whole-model training step of
//! [`super::fused`] (no graph at all) and the key/value-cached inference of
//! [`super::decode`]. Outputs are written into caller-provided buffers
//! so the training step can reuse its buffers from one step to the next.
//!
//! Matrix multiplies go to the `gemm` crate (AVX-512 kernels through its `x86-v4`
//! feature) on one thread; elementwise loops run inside [`simd`], which compiles them
//! for the best instruction set the CPU has (the crate itself is built for baseline
//! x86-64). Vector width never changes a result: every reduction has a fixed order
//! (eight explicit lanes), and LLVM does not reassociate or contract floating point.

/// Run `f` compiled for the widest SIMD instruction set available at run time (pulp's
/// dispatch: AVX-512, AVX2 + FMA or baseline). `f` and what it calls must be
/// `#[inline(always)]` (closures too: `simd(#[inline(always)] || ...)`), or LLVM keeps
/// them as baseline functions outside the dispatched copy.
#[inline(always)]
pub(super) fn simd<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// Dot product with eight independent accumulators so the compiler can vectorise it.
#[inline(always)]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * y;
    }
    s
}

/// Sum with eight independent accumulators (vectorisable).
#[inline(always)]
fn sum_lanes(a: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let mut it = a.chunks_exact(8);
    for x in &mut it {
        for k in 0..8 {
            acc[k] += x[k];
        }
    }
    let mut s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for x in it.remainder() {
        s += x;
    }
    s
}

/// `sum((a - mean)^2)` with eight independent accumulators (vectorisable).
#[inline(always)]
fn sum_sq_dev(a: &[f32], mean: f32) -> f32 {
    let mut acc = [0f32; 8];
    let mut it = a.chunks_exact(8);
    for x in &mut it {
        for k in 0..8 {
            acc[k] += (x[k] - mean) * (x[k] - mean);
        }
    }
    let mut s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for x in it.remainder() {
        s += (x - mean) * (x - mean);
    }
    s
}

/// `sum(a^2)` in `f64` with eight independent accumulators, compiled for the CPU's
/// widest SIMD (the gradient norm).
pub(super) fn sum_squares_f64(a: &[f32]) -> f64 {
    simd(
        #[inline(always)]
        || {
            let mut acc = [0f64; 8];
            let mut it = a.chunks_exact(8);
            for x in &mut it {
                for k in 0..8 {
                    acc[k] += x[k] as f64 * x[k] as f64;
                }
            }
            let mut s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            for &x in it.remainder() {
                s += x as f64 * x as f64;
            }
            s
        },
    )
}

/// Maximum with eight independent lanes (vectorisable); `-inf` for an empty slice.
#[inline(always)]
fn max_lanes(a: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let mut it = a.chunks_exact(8);
    for x in &mut it {
        for k in 0..8 {
            acc[k] = if x[k] > acc[k] { x[k] } else { acc[k] };
        }
    }
    let mut m = acc.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    for &x in it.remainder() {
        m = m.max(x);
    }
    m
}

/// In place `row = softmax(row)`: exponentials in one vectorisable pass, then the sum.
/// Returns the maximum and the sum of the shifted exponentials.
#[inline(always)]
fn softmax_in_place(row: &mut [f32]) -> (f32, f32) {
    let max = max_lanes(row);
    for x in row.iter_mut() {
        *x = fast_exp(*x - max);
    }
    let sum = sum_lanes(row);
    let inv = 1.0 / sum;
    for x in row.iter_mut() {
        *x *= inv;
    }
    (max, sum)
}

/// In place softmax of the first `valid` entries of `row`, zeros after them. The whole
/// row is exponentiated (its tail must hold finite values, such as masked scores), so
/// a row padded to a multiple of the vector width needs no scalar remainder loop.
#[inline(always)]
fn softmax_causal(row: &mut [f32], valid: usize) {
    let max = max_lanes(&row[..valid]);
    for x in row.iter_mut() {
        *x = fast_exp(*x - max);
    }
    row[valid..].fill(0.0);
    let inv = 1.0 / sum_lanes(row);
    for x in row.iter_mut() {
        *x *= inv;
    }
}

/// `valid` rounded up to a multiple of 16 (one AVX-512 vector), at most `limit`.
fn padded(valid: usize, limit: usize) -> usize {
    valid.next_multiple_of(16).min(limit)
}

/// `y += x`.
#[inline(always)]
fn add_assign(y: &mut [f32], x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += x;
    }
}

/// Add the rows of a `(rows, cols)` matrix into `out` (`cols` long).
#[inline(always)]
fn col_sum_into(data: &[f32], cols: usize, out: &mut [f32]) {
    for row in data.chunks_exact(cols) {
        add_assign(out, row);
    }
}

/// tanh through a rational approximation (Eigen's `ptanh_float`): vectorisable, within a
/// few ulp of `f32::tanh` on the clamped range.
#[inline(always)]
pub fn fast_tanh(x: f32) -> f32 {
    let x = x.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let p = x2 * -2.760_768_5e-16 + 2.000_188e-13;
    let p = x2 * p + -8.604_672e-11;
    let p = x2 * p + 5.122_297e-8;
    let p = x2 * p + 1.485_722_4e-5;
    let p = x2 * p + 6.372_619_3e-4;
    let p = x2 * p + 4.893_524_6e-3;
    let p = x * p;
    let q = x2 * 1.198_258_4e-6 + 1.185_347e-4;
    let q = x2 * q + 2.268_434_6e-3;
    let q = x2 * q + 4.893_525e-3;
    p / q
}

/// `e^x` through range reduction and a degree-6 polynomial: vectorisable, within about
/// 2 ulp of `f32::exp` on `[-87, 88]` (clamped outside).
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest by the 1.5 * 2^23 trick (`f32::round` is a libm call without SSE4.1).
    let shifted = x * std::f32::consts::LOG2_E + 12_582_912.0;
    let n = shifted - 12_582_912.0;
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    // `shifted`'s low mantissa bits hold `n` as an integer (|n| <= 127), so 2^n is integer
    // arithmetic on its bits: no float-to-int conversion, which Rust's saturating `as`
    // makes slow to vectorise.
    let exponent = shifted.to_bits().wrapping_sub(0x4B40_0000).wrapping_add(127);
    p * f32::from_bits(exponent << 23)
}

/// Epsilon of the layer norm, shared by the fused and the reference path.
pub const LN_EPS: f32 = 1e-5;

const GELU_K: f32 = 0.797_884_6; // sqrt(2 / pi)
const GELU_C: f32 = 0.044_715;

// ---------------------------------------------------------------------------------------
// Matrix multiplies.

/// A strided row-major view of a matrix inside a slice.
#[derive(Clone, Copy)]
pub(super) struct Mat<'a> {
    data: &'a [f32],
    off: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> Mat<'a> {
    /// A dense `(rows, cols)` matrix at the start of `data`.
    pub(super) fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Mat { data, off: 0, rows, cols, rs: cols, cs: 1 }
    }

    /// Rows of `cols` elements starting at `off`, `rs` apart.
    pub(super) fn strided(data: &'a [f32], off: usize, rows: usize, cols: usize, rs: usize) -> Self {
        Mat { data, off, rows, cols, rs, cs: 1 }
    }

    /// The transpose (a view).
    pub(super) fn t(self) -> Self {
        Mat { rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs, ..self }
    }

    /// Whether every element lies inside the slice.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || self.off + (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// Whether [`matmul_into`] overwrites or adds to its destination.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Dst {
    /// `dst = scale * a b`.
    Set,
    /// `dst += scale * a b`.
    Add,
}

/// `dst (=|+=) scale * a b`, single-threaded. `dst` is `a.rows` rows of `b.cols` at `off`,
/// `rs` apart.
pub(super) fn matmul_into(dst: &mut [f32], off: usize, rs: usize, a: Mat<'_>, b: Mat<'_>, scale: f32, mode: Dst) {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    assert!(b.rows == k && a.in_bounds() && b.in_bounds(), "matmul: bad operand views");
    assert!(rs >= n && (m == 0 || n == 0 || off + (m - 1) * rs + n <= dst.len()), "matmul: bad destination view");
    if m == 0 || n == 0 {
        return;
    }
    let accumulate = mode == Dst::Add;
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[off + r * rs..off + r * rs + n].fill(0.0);
            }
        }
        return;
    }
    let dst = &mut dst[off..];
    let lhs = &a.data[a.off..];
    let rhs = &b.data[b.off..];
    #[expect(unsafe_code, reason = "gemm takes raw strided pointers; the views were bounds-checked above")]
    // SAFETY: every element addressed by the three strided views lies inside its slice
    // (checked by `in_bounds` and the destination assertion); `dst` is a unique borrow
    // whose rows do not overlap (`rs >= n`), so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            rs as isize,
            accumulate,
            lhs.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            rhs.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

// ---------------------------------------------------------------------------------------
// Layer norm over rows of `c`.

/// `y = xhat * g + b` with `xhat = (x - mean) * rstd` per row; keeps `xhat` and `rstd`.
pub(super) fn layer_norm_fwd(x: &[f32], g: &[f32], b: &[f32], y: &mut [f32], xhat: &mut [f32], rstd: &mut [f32]) {
    let c = g.len();
    simd(
        #[inline(always)]
        || {
            for (((xr, yr), hr), rs_out) in
                x.chunks_exact(c).zip(y.chunks_exact_mut(c)).zip(xhat.chunks_exact_mut(c)).zip(rstd.iter_mut())
            {
                let mean = sum_lanes(xr) / c as f32;
                let var = sum_sq_dev(xr, mean) / c as f32;
                let rs = 1.0 / (var + LN_EPS).sqrt();
                *rs_out = rs;
                for k in 0..c {
                    let h = (xr[k] - mean) * rs;
                    hr[k] = h;
                    yr[k] = h * g[k] + b[k];
                }
            }
        },
    )
}

/// Backward of [`layer_norm_fwd`]: adds the input gradient to `dx` and the gain and bias
/// gradients to `dg` and `db`. `dh` is scratch of one row.
pub(super) fn layer_norm_bwd(
    dy: &[f32],
    xhat: &[f32],
    rstd: &[f32],
    g: &[f32],
    dx: &mut [f32],
    dg: &mut [f32],
    db: &mut [f32],
) {
    let c = g.len();
    let mut dh = vec![0f32; c];
    simd(
        #[inline(always)]
        || {
            for (((dyr, hr), &rs), dxr) in
                dy.chunks_exact(c).zip(xhat.chunks_exact(c)).zip(rstd).zip(dx.chunks_exact_mut(c))
            {
                for k in 0..c {
                    dh[k] = dyr[k] * g[k];
                    dg[k] += dyr[k] * hr[k];
                    db[k] += dyr[k];
                }
                let m1 = sum_lanes(&dh) / c as f32;
                let m2 = dot(&dh, hr) / c as f32;
                for k in 0..c {
                    dxr[k] += rs * (dh[k] - m1 - hr[k] * m2);
                }
            }
        },
    )
}

// ---------------------------------------------------------------------------------------
// Linear layers with the bias as the weight's last row, and GELU.

/// `y = x w[..k] + w[k]` for `x` `(n, k)` and `w` `(k + 1, m)`; `y` is `(n, m)`.
pub(super) fn linear_fwd(x: &[f32], k: usize, w: &[f32], y: &mut [f32]) {
    let m = w.len() / (k + 1);
    let n = y.len() / m;
    let bias = &w[k * m..(k + 1) * m];
    for row in y.chunks_exact_mut(m) {
        row.copy_from_slice(bias);
    }
    matmul_into(y, 0, m, Mat::new(x, n, k), Mat::new(w, k, m), 1.0, Dst::Add);
}

/// `y = r + x w[..k] + w[k]`: a linear branch added to the residual stream `r`.
pub(super) fn linear_residual_fwd(x: &[f32], k: usize, w: &[f32], r: &[f32], y: &mut [f32]) {
    let m = w.len() / (k + 1);
    let n = y.len() / m;
    let bias = &w[k * m..(k + 1) * m];
    simd(
        #[inline(always)]
        || {
            for (yr, rr) in y.chunks_exact_mut(m).zip(r.chunks_exact(m)) {
                for ((y, r), b) in yr.iter_mut().zip(rr).zip(bias) {
                    *y = r + b;
                }
            }
        },
    );
    matmul_into(y, 0, m, Mat::new(x, n, k), Mat::new(w, k, m), 1.0, Dst::Add);
}

/// `u = x w[..k] + w[k]`, `y = gelu(u)` (tanh approximation), keeping the tanh term for
/// the backward pass; the bias is added in the GELU pass.
pub(super) fn linear_gelu_fwd(x: &[f32], k: usize, w: &[f32], u: &mut [f32], th: &mut [f32], y: &mut [f32]) {
    let m = w.len() / (k + 1);
    let n = y.len() / m;
    let bias = &w[k * m..(k + 1) * m];
    matmul_into(u, 0, m, Mat::new(x, n, k), Mat::new(w, k, m), 1.0, Dst::Set);
    simd(
        #[inline(always)]
        || {
            for ((ur, tr), yr) in u.chunks_exact_mut(m).zip(th.chunks_exact_mut(m)).zip(y.chunks_exact_mut(m)) {
                for (((u, t), y), b) in ur.iter_mut().zip(tr.iter_mut()).zip(yr.iter_mut()).zip(bias) {
                    let v = *u + b;
                    *u = v;
                    *t = fast_tanh(GELU_K * (v + GELU_C * v * v * v));
                    *y = 0.5 * v * (1.0 + *t);
                }
            }
        },
    )
}

/// Weight gradient of [`linear_fwd`]: `dw (=|+=) [x^T dy; colsum dy]`.
pub(super) fn linear_bwd_weight(x: &[f32], k: usize, dy: &[f32], dw: &mut [f32], mode: Dst) {
    let m = dw.len() / (k + 1);
    let n = dy.len() / m;
    matmul_into(dw, 0, m, Mat::new(x, n, k).t(), Mat::new(dy, n, m), 1.0, mode);
    let bias = &mut dw[k * m..];
    if mode == Dst::Set {
        bias.fill(0.0);
    }
    simd(
        #[inline(always)]
        || col_sum_into(dy, m, bias),
    );
}

/// Input gradient of [`linear_fwd`]: `dx (=|+=) dy w[..k]^T`.
pub(super) fn linear_bwd_input(dy: &[f32], w: &[f32], k: usize, dx: &mut [f32], mode: Dst) {
    let m = w.len() / (k + 1);
    let n = dy.len() / m;
    matmul_into(dx, 0, k, Mat::new(dy, n, m), Mat::new(w, k, m).t(), 1.0, mode);
}

/// Backward of the GELU of [`linear_gelu_fwd`]: `du = dy * gelu'(u)`.
pub(super) fn gelu_bwd(dy: &[f32], u: &[f32], th: &[f32], du: &mut [f32]) {
    simd(
        #[inline(always)]
        || {
            for (((d, g), &v), &t) in du.iter_mut().zip(dy).zip(u).zip(th) {
                let dt = (1.0 - t * t) * GELU_K * (1.0 + 3.0 * GELU_C * v * v);
                *d = g * (0.5 * (1.0 + t) + 0.5 * v * dt);
            }
        },
    )
}

// ---------------------------------------------------------------------------------------
// Causal multi-head self-attention on packed `(batch * t, 3c)` q, k, v.

/// Shape of an attention call.
#[derive(Clone, Copy)]
pub(super) struct AttnShape {
    /// Sequences.
    pub batch: usize,
    /// Heads.
    pub heads: usize,
    /// Sequence length.
    pub t: usize,
    /// Width (all heads).
    pub c: usize,
}

impl AttnShape {
    fn head_dim(&self) -> usize {
        self.c / self.heads
    }

    fn scale(&self) -> f32 {
        1.0 / (self.head_dim() as f32).sqrt()
    }

    /// Elements of the probability cache `(batch, heads, t, t)`.
    pub(super) fn probs_len(&self) -> usize {
        self.batch * self.heads * self.t * self.t
    }
}

/// Query rows per block of the causal attention: a block of queries `[i0, i1)` only
/// needs keys `[0, i1)`, so the matmuls skip most of the masked upper triangle (62.5 %
/// of the full work at context 128).
pub(super) const QUERY_BLOCK: usize = 32;

/// The query blocks `[i0, i1)` of a sequence of `t`.
fn query_blocks(t: usize) -> impl DoubleEndedIterator<Item = (usize, usize)> {
    (0..t.div_ceil(QUERY_BLOCK)).map(move |j| (j * QUERY_BLOCK, ((j + 1) * QUERY_BLOCK).min(t)))
}

/// `y = softmax(mask(q k^T * scale)) v` per sequence and head; `probs` keeps the
/// probabilities (zero above the diagonal). `y` is `(batch * t, c)`.
pub(super) fn attention_fwd(qkv: &[f32], s: AttnShape, y: &mut [f32], probs: &mut [f32]) {
    let (t, c, d, c3) = (s.t, s.c, s.head_dim(), 3 * s.c);
    for b in 0..s.batch {
        for h in 0..s.heads {
            let base = b * t * c3 + h * d;
            let pbase = (b * s.heads + h) * t * t;
            for (i0, i1) in query_blocks(t) {
                let yoff = (b * t + i0) * c + h * d;
                attention_block_fwd(qkv, base, s, (i0, i1), y, yoff, probs, (pbase + i0 * t, t));
            }
        }
    }
}

/// Rows `rows` of [`attention_fwd`]'s output for one sequence (`s.batch == 1`, `s.t`
/// at least `rows.end`): each query `i` attends to the keys and values of rows `0..=i`
/// only, so rows after `rows.end` are never read and a decoder that appends rows to a
/// cached `qkv` computes just the new ones, through the same query blocks (starting
/// at `rows.start`) and arithmetic. `y` is `(rows.len(), c)`; `probs` is scratch of at
/// least `min(rows.len(), QUERY_BLOCK) * rows.end`.
pub(super) fn attention_rows_fwd(
    qkv: &[f32],
    s: AttnShape,
    rows: std::ops::Range<usize>,
    y: &mut [f32],
    probs: &mut [f32],
) {
    let (c, d) = (s.c, s.head_dim());
    assert!(s.batch == 1 && rows.end <= s.t, "attention rows: one sequence, rows inside it");
    for h in 0..s.heads {
        for (i0, i1) in query_blocks(rows.len()) {
            let (i0, i1) = (rows.start + i0, rows.start + i1);
            attention_block_fwd(qkv, h * d, s, (i0, i1), y, (i0 - rows.start) * c + h * d, probs, (0, i1));
        }
    }
}

/// One query block `[i0, i1)` of one sequence and head (its q, k, v columns start at
/// `base` in `qkv`): the scores against keys `[0, i1)` scaled, the causal softmax into
/// the probability rows at `probs.0`, `probs.1` apart (at least `i1`), and their
/// product with the values into `y` at `yoff` (rows `c` apart).
#[expect(clippy::too_many_arguments, reason = "one block: operands, shape, range and two strided destinations")]
#[inline(always)]
fn attention_block_fwd(
    qkv: &[f32],
    base: usize,
    s: AttnShape,
    (i0, i1): (usize, usize),
    y: &mut [f32],
    yoff: usize,
    probs: &mut [f32],
    (poff, prs): (usize, usize),
) {
    let (c, d, c3) = (s.c, s.head_dim(), 3 * s.c);
    let q = Mat::strided(qkv, base + i0 * c3, i1 - i0, d, c3);
    let k = Mat::strided(qkv, base + c, i1, d, c3);
    let v = Mat::strided(qkv, base + 2 * c, i1, d, c3);
    matmul_into(probs, poff, prs, q, k.t(), s.scale(), Dst::Set);
    let rows = &mut probs[poff..poff + (i1 - i0) * prs];
    simd(
        #[inline(always)]
        || {
            for (r, row) in rows.chunks_exact_mut(prs).enumerate() {
                let i = i0 + r;
                let len = padded(i + 1, i1);
                softmax_causal(&mut row[..len], i + 1);
                row[len..].fill(0.0);
            }
        },
    );
    let p = Mat::strided(probs, poff, i1 - i0, i1, prs);
    matmul_into(y, yoff, c, p, v, 1.0, Dst::Set);
}

/// Backward of [`attention_fwd`]: `dqkv` (overwritten) from the output gradient `dy`.
/// `ds` is scratch of `t * t`.
pub(super) fn attention_bwd(qkv: &[f32], probs: &[f32], dy: &[f32], s: AttnShape, dqkv: &mut [f32], ds: &mut [f32]) {
    let (t, c, d, c3) = (s.t, s.c, s.head_dim(), 3 * s.c);
    let scale = s.scale();
    for b in 0..s.batch {
        for h in 0..s.heads {
            let base = b * t * c3 + h * d;
            let pbase = (b * s.heads + h) * t * t;
            // Last block first: it spans every key, so it sets dK and dV; the others add.
            for (i0, i1) in query_blocks(t).rev() {
                let mode = if i1 == t { Dst::Set } else { Dst::Add };
                let q = Mat::strided(qkv, base + i0 * c3, i1 - i0, d, c3);
                let k = Mat::strided(qkv, base + c, i1, d, c3);
                let v = Mat::strided(qkv, base + 2 * c, i1, d, c3);
                let g = Mat::strided(dy, (b * t + i0) * c + h * d, i1 - i0, d, c);
                let p = Mat::strided(probs, pbase + i0 * t, i1 - i0, i1, t);
                // dP = dY V^T, then dS = P * (dP - rowsum(P * dP)) * scale.
                matmul_into(ds, i0 * t, t, g, v.t(), 1.0, Dst::Set);
                let rows = &mut ds[i0 * t..i1 * t];
                let prow = &probs[pbase + i0 * t..pbase + i1 * t];
                simd(
                    #[inline(always)]
                    || {
                        for (r, (dr, pr)) in rows.chunks_exact_mut(t).zip(prow.chunks_exact(t)).enumerate() {
                            let i = i0 + r;
                            // Probabilities past the diagonal are 0, so the padded
                            // tail of the row contributes 0 and comes out 0.
                            let len = padded(i + 1, i1);
                            let (dr, pr) = (&mut dr[..i1], &pr[..len]);
                            let dot_pd = dot(pr, &dr[..len]);
                            for (x, &pv) in dr.iter_mut().zip(pr) {
                                *x = pv * (*x - dot_pd) * scale;
                            }
                            dr[len..].fill(0.0);
                        }
                    },
                );
                let dsm = Mat::strided(ds, i0 * t, i1 - i0, i1, t);
                matmul_into(dqkv, base + i0 * c3, c3, dsm, k, 1.0, Dst::Set);
                matmul_into(dqkv, base + c, c3, dsm.t(), q, 1.0, mode);
                matmul_into(dqkv, base + 2 * c, c3, p.t(), g, 1.0, mode);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Embedding and cross-entropy.

/// `y[i] = token[ids[i]] + position[i % t]`, rows of `c` (ids past the vocabulary are
/// clamped to its last entry).
pub(super) fn embed_fwd(token: &[f32], position: &[f32], ids: &[u32], t: usize, c: usize, y: &mut [f32]) {
    let vocab = token.len() / c;
    simd(
        #[inline(always)]
        || {
            for (i, (&id, yr)) in ids.iter().zip(y.chunks_exact_mut(c)).enumerate() {
                let id = (id as usize).min(vocab - 1);
                let p = i % t;
                for ((y, a), b) in yr.iter_mut().zip(&token[id * c..(id + 1) * c]).zip(&position[p * c..(p + 1) * c]) {
                    *y = a + b;
                }
            }
        },
    )
}

/// Backward of [`embed_fwd`]: adds `dy` rows into `dtoken` and `dposition`.
pub(super) fn embed_bwd(dy: &[f32], ids: &[u32], t: usize, c: usize, dtoken: &mut [f32], dposition: &mut [f32]) {
    let vocab = dtoken.len() / c;
    simd(
        #[inline(always)]
        || {
            for (i, (&id, g)) in ids.iter().zip(dy.chunks_exact(c)).enumerate() {
                let id = (id as usize).min(vocab - 1);
                add_assign(&mut dtoken[id * c..(id + 1) * c], g);
                add_assign(&mut dposition[(i % t) * c..(i % t + 1) * c], g);
            }
        },
    )
}

/// Summed cross-entropy (nats, in `f64`) of `logits` rows of `v` against `targets`;
/// `probs` keeps the softmax probabilities.
pub(super) fn cross_entropy_fwd(logits: &[f32], targets: &[u32], v: usize, probs: &mut [f32]) -> f64 {
    probs.copy_from_slice(logits);
    simd(
        #[inline(always)]
        || {
            let mut total = 0f64;
            for ((lr, pr), &t) in logits.chunks_exact(v).zip(probs.chunks_exact_mut(v)).zip(targets) {
                let (max, sum) = softmax_in_place(pr);
                let t = (t as usize).min(v - 1);
                total += (sum.ln() + max - lr[t]) as f64;
            }
            total
        },
    )
}

/// Backward of the mean of [`cross_entropy_fwd`] scaled by `g`: `d = (p - onehot) * g / rows`.
pub(super) fn cross_entropy_bwd(probs: &[f32], targets: &[u32], v: usize, g: f32, d: &mut [f32]) {
    let g = g / targets.len().max(1) as f32;
    simd(
        #[inline(always)]
        || {
            for (d, p) in d.iter_mut().zip(probs) {
                *d = p * g;
            }
        },
    );
    for (r, &t) in targets.iter().enumerate() {
        d[r * v + (t as usize).min(v - 1)] -= g;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_tanh_matches_libm() {
        let mut worst = 0f32;
        for i in -2000..=2000 {
            let x = i as f32 * 0.01;
            worst = worst.max((fast_tanh(x) - x.tanh()).abs());
        }
        assert!(worst < 2e-6, "worst error {worst}");
    }

    #[test]
    fn fast_exp_matches_libm() {
        for i in -8000..=800 {
            let x = i as f32 * 0.01;
            let rel = ((fast_exp(x) - x.exp()) / x.exp()).abs();
            assert!(rel < 1e-6, "x {x} rel {rel}");
        }
    }

    #[test]
    fn dot_handles_tails() {
        let a: Vec<f32> = (0..13).map(|i| i as f32).collect();
        assert_eq!(dot(&a, &a), (0..13).map(|i| (i * i) as f32).sum::<f32>());
    }
}
