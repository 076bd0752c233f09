//! Fused CPU ops with hand-written backward passes, and their reference paths.
//!
//! Every op has one shape: a private struct implementing `CustomOp1/2/3` with `cpu_fwd`
//! and a real `bwd`, a public wrapper that checks shapes, and a `*_slow` twin built from
//! candle tensor primitives that the tests compare against (values and gradients).
//!
//! The fused ops exist for speed: on tiny models candle's time goes to elementwise work,
//! broadcasts and reductions in the backward pass, not to matrix multiplies. Each op
//! keeps what its backward pass needs (normalised inputs, attention probabilities) in a
//! `OnceLock` filled by the forward pass; a fresh op value is created per call, so the
//! cache lives exactly as long as the graph node that owns it.
//!
//! The fused ops run on CPU storage only; the model switches to the reference paths on
//! other devices.

use std::sync::OnceLock;

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, D, DType, Error, Layout, Result, Shape, Storage, Tensor,
};

/// Epsilon of the layer norm, shared by the fused and the reference path.
pub const LN_EPS: f32 = 1e-5;

/// Contiguous `f32` view of a CPU storage.
fn host<'a>(s: &'a CpuStorage, l: &Layout, op: &'static str) -> Result<&'a [f32]> {
    let (a, b) = l.contiguous_offsets().ok_or(Error::RequiresContiguous { op })?;
    Ok(&s.as_slice::<f32>()?[a..b])
}

/// Contiguous `f32` view of a tensor's storage (the tensor must be contiguous and on CPU).
fn storage_slice<'a>(s: &'a Storage, l: &Layout, op: &'static str) -> Result<&'a [f32]> {
    match s {
        Storage::Cpu(cpu) => host(cpu, l, op),
        _ => Err(Error::Msg(format!("{op}: fused op backward runs on CPU only"))),
    }
}

/// Run `f` on the contiguous host data of `t`.
fn with_host<R>(t: &Tensor, op: &'static str, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (s, l) = t.storage_and_layout();
    f(storage_slice(&s, l, op)?)
}

fn check_f32(dtype: DType, op: &'static str) -> Result<()> {
    if dtype == DType::F32 { Ok(()) } else { Err(Error::Msg(format!("{op}: only f32 is supported"))) }
}

/// Dot product with eight independent accumulators so the compiler can vectorise it.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
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
#[inline]
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

/// Maximum with eight independent lanes (vectorisable); `-inf` for an empty slice.
#[inline]
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
#[inline]
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

/// `y += a * x`.
#[inline]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// Sum the rows of a `(rows, cols)` matrix into `out` (`cols` long).
fn col_sum(data: &[f32], cols: usize, out: &mut [f32]) {
    for row in data.chunks_exact(cols) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// Rows and columns of a tensor seen as `(prod(leading dims), last dim)`.
fn rows_cols(shape: &Shape) -> (usize, usize) {
    let cols = shape.dims().last().copied().unwrap_or(1);
    (shape.elem_count() / cols.max(1), cols)
}

/// tanh through a rational approximation (Eigen's `ptanh_float`): vectorisable, within a
/// few ulp of `f32::tanh` on the clamped range.
#[inline]
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
#[inline]
pub fn fast_exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest by the 1.5 * 2^23 trick (`f32::round` is a libm call without SSE4.1).
    let n = (x * std::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

const GELU_K: f32 = 0.797_884_6; // sqrt(2 / pi)
const GELU_C: f32 = 0.044_715;

// ---------------------------------------------------------------------------------------
// Layer norm over the last dimension.

struct LayerNormOp {
    /// Normalised input and per-row reciprocal standard deviation, for the backward pass.
    cache: OnceLock<(Vec<f32>, Vec<f32>)>,
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "fused-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = host(s1, l1, self.name())?;
        let g = host(s2, l2, self.name())?;
        let b = host(s3, l3, self.name())?;
        let (rows, c) = rows_cols(l1.shape());
        let mut y = vec![0f32; rows * c];
        let mut xhat = vec![0f32; rows * c];
        let mut rstd = vec![0f32; rows];
        for r in 0..rows {
            let xr = &x[r * c..(r + 1) * c];
            let mean = sum_lanes(xr) / c as f32;
            let var = xr.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / c as f32;
            let rs = 1.0 / (var + LN_EPS).sqrt();
            rstd[r] = rs;
            let hr = &mut xhat[r * c..(r + 1) * c];
            let yr = &mut y[r * c..(r + 1) * c];
            for k in 0..c {
                let h = (xr[k] - mean) * rs;
                hr[k] = h;
                yr[k] = h * g[k] + b[k];
            }
        }
        let _ = self.cache.set((xhat, rstd));
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        arg1: &Tensor,
        arg2: &Tensor,
        _arg3: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (xhat, rstd) = self.cache.get().ok_or(Error::Msg("layer norm: no forward cache".into()))?;
        let (rows, c) = rows_cols(arg1.shape());
        let g = arg2.flatten_all()?.to_vec1::<f32>()?;
        let (dx, dg, db) = with_host(grad_res, self.name(), |dy| {
            let mut dx = vec![0f32; rows * c];
            let mut dg = vec![0f32; c];
            let mut db = vec![0f32; c];
            let mut dh = vec![0f32; c];
            for r in 0..rows {
                let dyr = &dy[r * c..(r + 1) * c];
                let hr = &xhat[r * c..(r + 1) * c];
                let mut m1 = 0f32;
                let mut m2 = 0f32;
                for k in 0..c {
                    let d = dyr[k] * g[k];
                    dh[k] = d;
                    m1 += d;
                    m2 += d * hr[k];
                    dg[k] += dyr[k] * hr[k];
                    db[k] += dyr[k];
                }
                m1 /= c as f32;
                m2 /= c as f32;
                let rs = rstd[r];
                let dxr = &mut dx[r * c..(r + 1) * c];
                for k in 0..c {
                    dxr[k] = rs * (dh[k] - m1 - hr[k] * m2);
                }
            }
            Ok((dx, dg, db))
        })?;
        let dev = arg1.device();
        Ok((
            Some(Tensor::from_vec(dx, arg1.shape(), dev)?),
            Some(Tensor::from_vec(dg, arg2.shape(), dev)?),
            Some(Tensor::from_vec(db, arg2.shape(), dev)?),
        ))
    }
}

fn check_norm_shapes(x: &Tensor, gamma: &Tensor, beta: &Tensor) -> Result<()> {
    let c = x.dim(D::Minus1)?;
    if gamma.dims() != [c] || beta.dims() != [c] {
        return Err(Error::Msg(format!(
            "layer norm: gain {:?} and bias {:?} must be [{c}]",
            gamma.dims(),
            beta.dims()
        )));
    }
    check_f32(x.dtype(), "layer norm")
}

/// Layer norm over the last dimension: `(x - mean) / sqrt(var + eps) * gamma + beta`.
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor) -> Result<Tensor> {
    check_norm_shapes(x, gamma, beta)?;
    x.contiguous()?.apply_op3(gamma, beta, LayerNormOp { cache: OnceLock::new() })
}

/// Reference layer norm built from tensor primitives.
pub fn layer_norm_slow(x: &Tensor, gamma: &Tensor, beta: &Tensor) -> Result<Tensor> {
    check_norm_shapes(x, gamma, beta)?;
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xhat = xc.broadcast_div(&(var + LN_EPS as f64)?.sqrt()?)?;
    xhat.broadcast_mul(gamma)?.broadcast_add(beta)
}

// ---------------------------------------------------------------------------------------
// Matrix multiplies on host slices.

/// A strided row-major view of a matrix inside a slice.
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    off: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> Mat<'a> {
    /// A dense `(rows, cols)` matrix at the start of `data`.
    fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Mat { data, off: 0, rows, cols, rs: cols, cs: 1 }
    }

    /// Rows of `cols` elements starting at `off`, `rs` apart.
    fn strided(data: &'a [f32], off: usize, rows: usize, cols: usize, rs: usize) -> Self {
        Mat { data, off, rows, cols, rs, cs: 1 }
    }

    /// The transpose (a view).
    fn t(self) -> Self {
        Mat { rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs, ..self }
    }

    /// Whether every element lies inside the slice.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || self.off + (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `dst = scale * a b` (or `dst += scale * a b` when `accumulate`), single-threaded.
/// `dst` is `rows` rows of `a.rows x b.cols` at `off`, `rs` apart.
fn matmul_into(dst: &mut [f32], off: usize, rs: usize, a: Mat<'_>, b: Mat<'_>, scale: f32, accumulate: bool) {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    assert!(b.rows == k && a.in_bounds() && b.in_bounds(), "matmul: bad operand views");
    assert!(rs >= n && (m == 0 || n == 0 || off + (m - 1) * rs + n <= dst.len()), "matmul: bad destination view");
    if m == 0 || n == 0 {
        return;
    }
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

/// `x w + b` for `x` `(n, k)` and `w` `(k + 1, m)` whose last row is the bias.
fn linear_fwd(x: &[f32], n: usize, k: usize, w: &[f32], m: usize) -> Vec<f32> {
    let bias = &w[k * m..(k + 1) * m];
    let mut y = Vec::with_capacity(n * m);
    for _ in 0..n {
        y.extend_from_slice(bias);
    }
    matmul_into(&mut y, 0, m, Mat::new(x, n, k), Mat::new(w, k, m), 1.0, true);
    y
}

/// Gradients of [`linear_fwd`]: `dx = dy w^T`, `dw = [x^T dy; colsum dy]`.
fn linear_bwd(x: &[f32], n: usize, k: usize, w: &[f32], m: usize, dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut dx = vec![0f32; n * k];
    matmul_into(&mut dx, 0, k, Mat::new(dy, n, m), Mat::new(w, k, m).t(), 1.0, false);
    let mut dw = vec![0f32; (k + 1) * m];
    matmul_into(&mut dw, 0, m, Mat::new(x, n, k).t(), Mat::new(dy, n, m), 1.0, false);
    col_sum(dy, m, &mut dw[k * m..]);
    (dx, dw)
}

fn check_linear(x: &Tensor, w: &Tensor, op: &'static str) -> Result<(usize, usize, usize)> {
    let (n, k) = x.dims2()?;
    let (k1, m) = w.dims2()?;
    if k1 != k + 1 {
        return Err(Error::Msg(format!("{op}: weight {:?} must be [{} + 1 bias row, out]", w.dims(), k)));
    }
    check_f32(x.dtype(), op)?;
    Ok((n, k, m))
}

/// Host slices of several tensors, held for the duration of a backward pass.
struct Hosts(Vec<Tensor>);

impl Hosts {
    fn new(ts: &[&Tensor]) -> Result<Self> {
        Ok(Hosts(ts.iter().map(|t| t.contiguous()).collect::<Result<Vec<_>>>()?))
    }
}

macro_rules! host_slices {
    ($hosts:expr, $op:expr, [$($name:ident),+]) => {
        let mut it = $hosts.0.iter();
        $(
            let $name = it.next().ok_or(Error::Msg(format!("{}: missing input", $op)))?.storage_and_layout();
            let $name = storage_slice(&$name.0, $name.1, $op)?;
        )+
    };
}

// ---------------------------------------------------------------------------------------
// Linear layers: plain, with GELU, and added to a residual stream.

struct LinearOp;

impl CustomOp2 for LinearOp {
    fn name(&self) -> &'static str {
        "fused-linear"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = host(s1, l1, self.name())?;
        let w = host(s2, l2, self.name())?;
        let (n, k) = l1.shape().dims2()?;
        let (_, m) = l2.shape().dims2()?;
        Ok((CpuStorage::F32(linear_fwd(x, n, k, w, m)), Shape::from((n, m))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, k) = x.dims2()?;
        let (_, m) = w.dims2()?;
        let hosts = Hosts::new(&[x, w, dy])?;
        host_slices!(hosts, self.name(), [xs, ws, dys]);
        let (dx, dw) = linear_bwd(xs, n, k, ws, m, dys);
        Ok((Some(Tensor::from_vec(dx, (n, k), x.device())?), Some(Tensor::from_vec(dw, (k + 1, m), w.device())?)))
    }
}

/// `x w[..k] + w[k]`: a linear layer whose weight `(k + 1, out)` carries the bias as its
/// last row, so one op produces the output, the input gradient and the weight and bias
/// gradients.
pub fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    check_linear(x, w, "linear")?;
    x.contiguous()?.apply_op2(&w.contiguous()?, LinearOp)
}

/// Reference linear layer built from tensor primitives.
pub fn linear_slow(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let (_, k, _) = check_linear(x, w, "linear")?;
    x.matmul(&w.narrow(0, 0, k)?)?.broadcast_add(&w.narrow(0, k, 1)?.squeeze(0)?)
}

struct LinearGeluOp {
    /// Pre-activation and its tanh term, for the backward pass.
    cache: OnceLock<(Vec<f32>, Vec<f32>)>,
}

impl CustomOp2 for LinearGeluOp {
    fn name(&self) -> &'static str {
        "fused-linear-gelu"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = host(s1, l1, self.name())?;
        let w = host(s2, l2, self.name())?;
        let (n, k) = l1.shape().dims2()?;
        let (_, m) = l2.shape().dims2()?;
        let u = linear_fwd(x, n, k, w, m);
        let mut th = vec![0f32; u.len()];
        let mut y = vec![0f32; u.len()];
        for ((y, t), &v) in y.iter_mut().zip(th.iter_mut()).zip(&u) {
            *t = fast_tanh(GELU_K * (v + GELU_C * v * v * v));
            *y = 0.5 * v * (1.0 + *t);
        }
        let _ = self.cache.set((u, th));
        Ok((CpuStorage::F32(y), Shape::from((n, m))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (u, th) = self.cache.get().ok_or(Error::Msg("linear gelu: no forward cache".into()))?;
        let (n, k) = x.dims2()?;
        let (_, m) = w.dims2()?;
        let hosts = Hosts::new(&[x, w, dy])?;
        host_slices!(hosts, self.name(), [xs, ws, dys]);
        let du: Vec<f32> = dys
            .iter()
            .zip(u.iter().zip(th))
            .map(|(g, (&v, &t))| {
                let dt = (1.0 - t * t) * GELU_K * (1.0 + 3.0 * GELU_C * v * v);
                g * (0.5 * (1.0 + t) + 0.5 * v * dt)
            })
            .collect();
        let (dx, dw) = linear_bwd(xs, n, k, ws, m, &du);
        Ok((Some(Tensor::from_vec(dx, (n, k), x.device())?), Some(Tensor::from_vec(dw, (k + 1, m), w.device())?)))
    }
}

/// `gelu(x w[..k] + w[k])` with the tanh approximation.
pub fn linear_gelu(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    check_linear(x, w, "linear gelu")?;
    x.contiguous()?.apply_op2(&w.contiguous()?, LinearGeluOp { cache: OnceLock::new() })
}

/// Reference linear GELU (candle's tanh GELU).
pub fn linear_gelu_slow(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    linear_slow(x, w)?.gelu()
}

struct LinearResidualOp;

impl CustomOp3 for LinearResidualOp {
    fn name(&self) -> &'static str {
        "fused-linear-residual"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let r = host(s1, l1, self.name())?;
        let x = host(s2, l2, self.name())?;
        let w = host(s3, l3, self.name())?;
        let (n, k) = l2.shape().dims2()?;
        let (_, m) = l3.shape().dims2()?;
        let bias = &w[k * m..(k + 1) * m];
        let mut y = Vec::with_capacity(n * m);
        for row in r.chunks_exact(m) {
            y.extend(row.iter().zip(bias).map(|(a, b)| a + b));
        }
        matmul_into(&mut y, 0, m, Mat::new(x, n, k), Mat::new(w, k, m), 1.0, true);
        Ok((CpuStorage::F32(y), Shape::from((n, m))))
    }

    fn bwd(
        &self,
        r: &Tensor,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, k) = x.dims2()?;
        let (_, m) = w.dims2()?;
        let hosts = Hosts::new(&[x, w, dy])?;
        host_slices!(hosts, self.name(), [xs, ws, dys]);
        let (dx, dw) = linear_bwd(xs, n, k, ws, m, dys);
        Ok((
            Some(dy.reshape(r.shape())?),
            Some(Tensor::from_vec(dx, (n, k), x.device())?),
            Some(Tensor::from_vec(dw, (k + 1, m), w.device())?),
        ))
    }
}

/// `r + x w[..k] + w[k]`: a linear branch added to the residual stream `r`.
pub fn linear_residual(r: &Tensor, x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let (n, _, m) = check_linear(x, w, "linear residual")?;
    if r.dims() != [n, m] {
        return Err(Error::Msg(format!("linear residual: residual {:?} must be [{n}, {m}]", r.dims())));
    }
    r.contiguous()?.apply_op3(&x.contiguous()?, &w.contiguous()?, LinearResidualOp)
}

/// Reference residual linear layer.
pub fn linear_residual_slow(r: &Tensor, x: &Tensor, w: &Tensor) -> Result<Tensor> {
    r + linear_slow(x, w)?
}

// ---------------------------------------------------------------------------------------
// Token plus position embedding.

struct EmbedOp;

impl CustomOp3 for EmbedOp {
    fn name(&self) -> &'static str {
        "fused-embed"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let token = host(s1, l1, self.name())?;
        let pos = host(s2, l2, self.name())?;
        let (a, b) = l3.contiguous_offsets().ok_or(Error::RequiresContiguous { op: self.name() })?;
        let ids = &s3.as_slice::<u32>()?[a..b];
        let (vocab, c) = l1.shape().dims2()?;
        let (batch, t) = l3.shape().dims2()?;
        let mut y = Vec::with_capacity(batch * t * c);
        for (i, &id) in ids.iter().enumerate() {
            let id = (id as usize).min(vocab - 1);
            let p = i % t;
            y.extend(token[id * c..(id + 1) * c].iter().zip(&pos[p * c..(p + 1) * c]).map(|(a, b)| a + b));
        }
        Ok((CpuStorage::F32(y), Shape::from((batch * t, c))))
    }

    fn bwd(
        &self,
        token: &Tensor,
        pos: &Tensor,
        ids: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (vocab, c) = token.dims2()?;
        let (_, t) = ids.dims2()?;
        let ids = ids.flatten_all()?.to_vec1::<u32>()?;
        let (dt, dp) = with_host(dy, self.name(), |dy| {
            let mut dt = vec![0f32; vocab * c];
            let mut dp = vec![0f32; pos.elem_count()];
            for (i, &id) in ids.iter().enumerate() {
                let id = (id as usize).min(vocab - 1);
                let g = &dy[i * c..(i + 1) * c];
                axpy(&mut dt[id * c..(id + 1) * c], 1.0, g);
                axpy(&mut dp[(i % t) * c..(i % t + 1) * c], 1.0, g);
            }
            Ok((dt, dp))
        })?;
        Ok((
            Some(Tensor::from_vec(dt, token.shape(), token.device())?),
            Some(Tensor::from_vec(dp, pos.shape(), pos.device())?),
            None,
        ))
    }
}

fn check_embed(token: &Tensor, pos: &Tensor, ids: &Tensor) -> Result<()> {
    let (_, c) = token.dims2()?;
    let (ctx, c2) = pos.dims2()?;
    let (_, t) = ids.dims2()?;
    if c != c2 || t > ctx || ids.dtype() != DType::U32 {
        return Err(Error::Msg(format!(
            "embed: token {:?}, position {:?} and u32 ids (batch, t <= context) {:?} {:?} do not fit",
            token.dims(),
            pos.dims(),
            ids.dims(),
            ids.dtype()
        )));
    }
    check_f32(token.dtype(), "embed")
}

/// `token[ids] + position[0..t]` for byte ids `(batch, t)`, as `(batch * t, width)`.
pub fn embed(token: &Tensor, position: &Tensor, ids: &Tensor) -> Result<Tensor> {
    check_embed(token, position, ids)?;
    token.contiguous()?.apply_op3(&position.contiguous()?, &ids.contiguous()?, EmbedOp)
}

/// Reference embedding built from tensor primitives.
pub fn embed_slow(token: &Tensor, position: &Tensor, ids: &Tensor) -> Result<Tensor> {
    check_embed(token, position, ids)?;
    let (batch, t) = ids.dims2()?;
    let c = token.dim(1)?;
    let x = token.index_select(&ids.flatten_all()?, 0)?.reshape((batch, t, c))?;
    x.broadcast_add(&position.narrow(0, 0, t)?)?.reshape((batch * t, c))
}

// ---------------------------------------------------------------------------------------
// Causal multi-head self-attention from packed q, k, v.

struct AttentionOp {
    heads: usize,
    batch: usize,
    /// Attention probabilities `(batch, heads, t, t)`, zero above the diagonal.
    probs: OnceLock<Vec<f32>>,
}

impl AttentionOp {
    fn dims(&self, shape: &Shape) -> Result<(usize, usize, usize, usize)> {
        let (n, c3) = shape.dims2()?;
        let c = c3 / 3;
        Ok((n / self.batch, c, c / self.heads, c3))
    }
}

impl CustomOp1 for AttentionOp {
    fn name(&self) -> &'static str {
        "fused-causal-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = host(s, l, self.name())?;
        let (t, c, d, c3) = self.dims(l.shape())?;
        let (bsz, nh) = (self.batch, self.heads);
        let scale = 1.0 / (d as f32).sqrt();
        let mut y = vec![0f32; bsz * t * c];
        let mut probs = vec![0f32; bsz * nh * t * t];
        for b in 0..bsz {
            for h in 0..nh {
                let base = b * t * c3 + h * d;
                let q = Mat::strided(qkv, base, t, d, c3);
                let k = Mat::strided(qkv, base + c, t, d, c3);
                let v = Mat::strided(qkv, base + 2 * c, t, d, c3);
                let pbase = (b * nh + h) * t * t;
                matmul_into(&mut probs, pbase, t, q, k.t(), scale, false);
                let p = &mut probs[pbase..pbase + t * t];
                for i in 0..t {
                    let row = &mut p[i * t..(i + 1) * t];
                    softmax_in_place(&mut row[..=i]);
                    row[i + 1..].fill(0.0);
                }
                let p = Mat::new(&probs[pbase..pbase + t * t], t, t);
                matmul_into(&mut y, b * t * c + h * d, c, p, v, 1.0, false);
            }
        }
        let _ = self.probs.set(probs);
        Ok((CpuStorage::F32(y), Shape::from((bsz * t, c))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let probs = self.probs.get().ok_or(Error::Msg("attention: no forward cache".into()))?;
        let (t, c, d, c3) = self.dims(arg.shape())?;
        let (bsz, nh) = (self.batch, self.heads);
        let scale = 1.0 / (d as f32).sqrt();
        let hosts = Hosts::new(&[arg, grad_res])?;
        host_slices!(hosts, self.name(), [qkv, dy]);
        let mut dqkv = vec![0f32; bsz * t * c3];
        let mut ds = vec![0f32; t * t];
        for b in 0..bsz {
            for h in 0..nh {
                let base = b * t * c3 + h * d;
                let q = Mat::strided(qkv, base, t, d, c3);
                let k = Mat::strided(qkv, base + c, t, d, c3);
                let v = Mat::strided(qkv, base + 2 * c, t, d, c3);
                let g = Mat::strided(dy, b * t * c + h * d, t, d, c);
                let pbase = (b * nh + h) * t * t;
                let p = &probs[pbase..pbase + t * t];
                // dP = dY V^T, then dS = P * (dP - rowsum(P * dP)) * scale.
                matmul_into(&mut ds, 0, t, g, v.t(), 1.0, false);
                for i in 0..t {
                    let pr = &p[i * t..i * t + i + 1];
                    let dr = &mut ds[i * t..(i + 1) * t];
                    let dot_pd = dot(pr, &dr[..=i]);
                    for (x, &pv) in dr[..=i].iter_mut().zip(pr) {
                        *x = pv * (*x - dot_pd) * scale;
                    }
                    dr[i + 1..].fill(0.0);
                }
                let dsm = Mat::new(&ds, t, t);
                matmul_into(&mut dqkv, base, c3, dsm, k, 1.0, false);
                matmul_into(&mut dqkv, base + c, c3, dsm.t(), q, 1.0, false);
                matmul_into(&mut dqkv, base + 2 * c, c3, Mat::new(p, t, t).t(), g, 1.0, false);
            }
        }
        Ok(Some(Tensor::from_vec(dqkv, arg.shape(), arg.device())?))
    }
}

fn check_attention(qkv: &Tensor, heads: usize, batch: usize) -> Result<(usize, usize)> {
    let (n, c3) = qkv.dims2()?;
    if c3 % 3 != 0 || heads == 0 || (c3 / 3) % heads != 0 || batch == 0 || n % batch != 0 {
        return Err(Error::Msg(format!(
            "attention: packed qkv {:?} must be [batch {batch} x t, 3 x a multiple of {heads} heads]",
            qkv.dims()
        )));
    }
    check_f32(qkv.dtype(), "attention")?;
    Ok((n / batch, c3 / 3))
}

/// Causal multi-head self-attention: `qkv` is `(batch * t, 3 * width)` holding q, k and
/// v side by side (each split into `heads` heads); returns `(batch * t, width)`.
pub fn causal_attention(qkv: &Tensor, heads: usize, batch: usize) -> Result<Tensor> {
    check_attention(qkv, heads, batch)?;
    qkv.contiguous()?.apply_op1(AttentionOp { heads, batch, probs: OnceLock::new() })
}

/// Reference causal attention built from tensor primitives (masked softmax, matmuls).
pub fn causal_attention_slow(qkv: &Tensor, heads: usize, batch: usize) -> Result<Tensor> {
    let (t, c) = check_attention(qkv, heads, batch)?;
    let b = batch;
    let d = c / heads;
    let split = |part: usize| -> Result<Tensor> {
        qkv.narrow(1, part * c, c)?.reshape((b, t, heads, d))?.transpose(1, 2)?.contiguous()
    };
    let q = split(0)?;
    let k = split(1)?;
    let v = split(2)?;
    let mask: Vec<f32> = (0..t * t).map(|ij| if ij % t > ij / t { f32::NEG_INFINITY } else { 0.0 }).collect();
    let mask = Tensor::from_vec(mask, (t, t), qkv.device())?;
    let scores = (q.matmul(&k.t()?)? * (1.0 / (d as f64).sqrt()))?;
    let scores = scores.broadcast_add(&mask)?;
    let max = scores.max_keepdim(D::Minus1)?.detach();
    let e = scores.broadcast_sub(&max)?.exp()?;
    let p = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
    let y = p.matmul(&v)?;
    y.transpose(1, 2)?.reshape((b * t, c))
}

// ---------------------------------------------------------------------------------------
// Mean cross-entropy of logits against byte targets.

struct CrossEntropyOp {
    /// Softmax probabilities `(rows, vocab)`, for the backward pass.
    probs: OnceLock<Vec<f32>>,
}

impl CustomOp2 for CrossEntropyOp {
    fn name(&self) -> &'static str {
        "fused-cross-entropy"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let logits = host(s1, l1, self.name())?;
        let (a, b) = l2.contiguous_offsets().ok_or(Error::RequiresContiguous { op: self.name() })?;
        let targets = &s2.as_slice::<u32>()?[a..b];
        let (rows, v) = rows_cols(l1.shape());
        let mut probs = vec![0f32; rows * v];
        let mut total = 0f64;
        for r in 0..rows {
            let lr = &logits[r * v..(r + 1) * v];
            let pr = &mut probs[r * v..(r + 1) * v];
            pr.copy_from_slice(lr);
            let (max, sum) = softmax_in_place(pr);
            let t = (targets[r] as usize).min(v - 1);
            total += (sum.ln() + max - lr[t]) as f64;
        }
        let _ = self.probs.set(probs);
        let mean = (total / rows.max(1) as f64) as f32;
        Ok((CpuStorage::F32(vec![mean]), Shape::from(())))
    }

    fn bwd(
        &self,
        arg1: &Tensor,
        arg2: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let probs = self.probs.get().ok_or(Error::Msg("cross entropy: no forward cache".into()))?;
        let (rows, v) = rows_cols(arg1.shape());
        let g = grad_res.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let g = g.first().copied().unwrap_or(0.0) / rows.max(1) as f32;
        let targets = arg2.flatten_all()?.to_vec1::<u32>()?;
        let mut d: Vec<f32> = probs.iter().map(|p| p * g).collect();
        for (r, &t) in targets.iter().enumerate() {
            d[r * v + (t as usize).min(v - 1)] -= g;
        }
        Ok((Some(Tensor::from_vec(d, arg1.shape(), arg1.device())?), None))
    }
}

fn check_ce(logits: &Tensor, targets: &Tensor) -> Result<()> {
    let (rows, _) = logits.dims2()?;
    if targets.dims() != [rows] || targets.dtype() != DType::U32 {
        return Err(Error::Msg(format!(
            "cross entropy: targets {:?} {:?} must be u32 [{rows}]",
            targets.dims(),
            targets.dtype()
        )));
    }
    check_f32(logits.dtype(), "cross entropy")
}

/// Mean cross-entropy in nats of `logits` `(rows, vocab)` against `targets` `(rows)`
/// (u32), as a scalar.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    check_ce(logits, targets)?;
    logits.contiguous()?.apply_op2(&targets.contiguous()?, CrossEntropyOp { probs: OnceLock::new() })
}

/// Reference cross-entropy built from tensor primitives.
pub fn cross_entropy_slow(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    check_ce(logits, targets)?;
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let picked = shifted.gather(&targets.unsqueeze(1)?, 1)?;
    (lse - picked)?.mean_all()
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
