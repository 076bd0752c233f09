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
    let p = x2 * -2.760_768_5e-16 + 2.000_187_9e-13;
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
            let mean = xr.iter().sum::<f32>() / c as f32;
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
// Causal multi-head self-attention from packed q, k, v.

struct AttentionOp {
    heads: usize,
    /// Attention probabilities `(batch, heads, t, t)`, zero above the diagonal.
    probs: OnceLock<Vec<f32>>,
}

/// Copy head `h` of part `part` (0 = q, 1 = k, 2 = v) of batch row `b` into `(t, d)`.
fn gather_head(qkv: &[f32], b: usize, h: usize, part: usize, t: usize, c: usize, d: usize, out: &mut [f32]) {
    for i in 0..t {
        let src = (b * t + i) * 3 * c + part * c + h * d;
        out[i * d..(i + 1) * d].copy_from_slice(&qkv[src..src + d]);
    }
}

impl CustomOp1 for AttentionOp {
    fn name(&self) -> &'static str {
        "fused-causal-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = host(s, l, self.name())?;
        let (bsz, t, c3) = l.shape().dims3()?;
        let c = c3 / 3;
        let nh = self.heads;
        let d = c / nh;
        let scale = 1.0 / (d as f32).sqrt();
        let mut y = vec![0f32; bsz * t * c];
        let mut probs = vec![0f32; bsz * nh * t * t];
        let (mut q, mut k, mut v) = (vec![0f32; t * d], vec![0f32; t * d], vec![0f32; t * d]);
        let mut acc = vec![0f32; d];
        for b in 0..bsz {
            for h in 0..nh {
                gather_head(qkv, b, h, 0, t, c, d, &mut q);
                gather_head(qkv, b, h, 1, t, c, d, &mut k);
                gather_head(qkv, b, h, 2, t, c, d, &mut v);
                let pbase = (b * nh + h) * t * t;
                for i in 0..t {
                    let qi = &q[i * d..(i + 1) * d];
                    let row = &mut probs[pbase + i * t..pbase + i * t + i + 1];
                    let mut max = f32::NEG_INFINITY;
                    for (j, p) in row.iter_mut().enumerate() {
                        let s = dot(qi, &k[j * d..(j + 1) * d]) * scale;
                        *p = s;
                        max = max.max(s);
                    }
                    let mut sum = 0f32;
                    for p in row.iter_mut() {
                        *p = (*p - max).exp();
                        sum += *p;
                    }
                    let inv = 1.0 / sum;
                    acc.fill(0.0);
                    for (j, p) in row.iter_mut().enumerate() {
                        *p *= inv;
                        axpy(&mut acc, *p, &v[j * d..(j + 1) * d]);
                    }
                    let dst = (b * t + i) * c + h * d;
                    y[dst..dst + d].copy_from_slice(&acc);
                }
            }
        }
        let _ = self.probs.set(probs);
        Ok((CpuStorage::F32(y), Shape::from((bsz, t, c))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let probs = self.probs.get().ok_or(Error::Msg("attention: no forward cache".into()))?;
        let (bsz, t, c3) = arg.dims3()?;
        let c = c3 / 3;
        let nh = self.heads;
        let d = c / nh;
        let scale = 1.0 / (d as f32).sqrt();
        let arg_c = arg.contiguous()?;
        let (sa, la) = arg_c.storage_and_layout();
        let qkv = storage_slice(&sa, la, self.name())?;
        let dqkv = with_host(grad_res, self.name(), |dy| {
            let mut dqkv = vec![0f32; bsz * t * c3];
            let (mut q, mut k, mut v) = (vec![0f32; t * d], vec![0f32; t * d], vec![0f32; t * d]);
            let (mut dq, mut dk, mut dv) = (vec![0f32; t * d], vec![0f32; t * d], vec![0f32; t * d]);
            let mut dp = vec![0f32; t];
            for b in 0..bsz {
                for h in 0..nh {
                    gather_head(qkv, b, h, 0, t, c, d, &mut q);
                    gather_head(qkv, b, h, 1, t, c, d, &mut k);
                    gather_head(qkv, b, h, 2, t, c, d, &mut v);
                    dk.fill(0.0);
                    dv.fill(0.0);
                    let pbase = (b * nh + h) * t * t;
                    for i in 0..t {
                        let src = (b * t + i) * c + h * d;
                        let dyi = &dy[src..src + d];
                        let row = &probs[pbase + i * t..pbase + i * t + i + 1];
                        let mut pd = 0f32;
                        for (j, p) in row.iter().enumerate() {
                            let g = dot(dyi, &v[j * d..(j + 1) * d]);
                            dp[j] = g;
                            pd += p * g;
                            axpy(&mut dv[j * d..(j + 1) * d], *p, dyi);
                        }
                        let dqi = &mut dq[i * d..(i + 1) * d];
                        dqi.fill(0.0);
                        let qi = &q[i * d..(i + 1) * d];
                        for (j, p) in row.iter().enumerate() {
                            let ds = p * (dp[j] - pd) * scale;
                            axpy(dqi, ds, &k[j * d..(j + 1) * d]);
                            axpy(&mut dk[j * d..(j + 1) * d], ds, qi);
                        }
                    }
                    for i in 0..t {
                        let dst = (b * t + i) * c3 + h * d;
                        dqkv[dst..dst + d].copy_from_slice(&dq[i * d..(i + 1) * d]);
                        dqkv[dst + c..dst + c + d].copy_from_slice(&dk[i * d..(i + 1) * d]);
                        dqkv[dst + 2 * c..dst + 2 * c + d].copy_from_slice(&dv[i * d..(i + 1) * d]);
                    }
                }
            }
            Ok(dqkv)
        })?;
        Ok(Some(Tensor::from_vec(dqkv, arg.shape(), arg.device())?))
    }
}

fn check_attention(qkv: &Tensor, heads: usize) -> Result<(usize, usize, usize)> {
    let (b, t, c3) = qkv.dims3()?;
    if c3 % 3 != 0 || heads == 0 || (c3 / 3) % heads != 0 {
        return Err(Error::Msg(format!("attention: packed width {c3} is not 3 x a multiple of {heads} heads")));
    }
    check_f32(qkv.dtype(), "attention")?;
    Ok((b, t, c3 / 3))
}

/// Causal multi-head self-attention: `qkv` is `(batch, t, 3 * width)` holding q, k and v
/// side by side (each split into `heads` heads); returns `(batch, t, width)`.
pub fn causal_attention(qkv: &Tensor, heads: usize) -> Result<Tensor> {
    check_attention(qkv, heads)?;
    qkv.contiguous()?.apply_op1(AttentionOp { heads, probs: OnceLock::new() })
}

/// Reference causal attention built from tensor primitives (masked softmax, matmuls).
pub fn causal_attention_slow(qkv: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, t, c) = check_attention(qkv, heads)?;
    let d = c / heads;
    let split = |part: usize| -> Result<Tensor> {
        qkv.narrow(2, part * c, c)?.reshape((b, t, heads, d))?.transpose(1, 2)?.contiguous()
    };
    let q = split(0)?;
    let k = split(1)?;
    let v = split(2)?;
    let mask: Vec<f32> =
        (0..t * t).map(|ij| if ij % t > ij / t { f32::NEG_INFINITY } else { 0.0 }).collect();
    let mask = Tensor::from_vec(mask, (t, t), qkv.device())?;
    let scores = (q.matmul(&k.t()?)? * (1.0 / (d as f64).sqrt()))?;
    let scores = scores.broadcast_add(&mask)?;
    let max = scores.max_keepdim(D::Minus1)?.detach();
    let e = scores.broadcast_sub(&max)?.exp()?;
    let p = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
    let y = p.matmul(&v)?;
    y.transpose(1, 2)?.reshape((b, t, c))
}

// ---------------------------------------------------------------------------------------
// Bias add followed by tanh GELU.

struct BiasGeluOp {
    /// Pre-activation `x + b` and its tanh term, for the backward pass.
    cache: OnceLock<(Vec<f32>, Vec<f32>)>,
}

impl CustomOp2 for BiasGeluOp {
    fn name(&self) -> &'static str {
        "fused-bias-gelu"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = host(s1, l1, self.name())?;
        let b = host(s2, l2, self.name())?;
        let (rows, f) = rows_cols(l1.shape());
        let mut u = vec![0f32; rows * f];
        let mut th = vec![0f32; rows * f];
        let mut y = vec![0f32; rows * f];
        for r in 0..rows {
            let span = r * f..(r + 1) * f;
            let (xr, ur, tr, yr) = (&x[span.clone()], &mut u[span.clone()], &mut th[span.clone()], &mut y[span]);
            for k in 0..f {
                let v = xr[k] + b[k];
                let t = fast_tanh(GELU_K * (v + GELU_C * v * v * v));
                ur[k] = v;
                tr[k] = t;
                yr[k] = 0.5 * v * (1.0 + t);
            }
        }
        let _ = self.cache.set((u, th));
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        arg1: &Tensor,
        arg2: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (u, th) = self.cache.get().ok_or(Error::Msg("bias gelu: no forward cache".into()))?;
        let (_, f) = rows_cols(arg1.shape());
        let (dx, db) = with_host(grad_res, self.name(), |dy| {
            let dx: Vec<f32> = dy
                .iter()
                .zip(u.iter().zip(th))
                .map(|(g, (&v, &t))| {
                    let dt = (1.0 - t * t) * GELU_K * (1.0 + 3.0 * GELU_C * v * v);
                    g * (0.5 * (1.0 + t) + 0.5 * v * dt)
                })
                .collect();
            let mut db = vec![0f32; f];
            col_sum(&dx, f, &mut db);
            Ok((dx, db))
        })?;
        let dev = arg1.device();
        Ok((Some(Tensor::from_vec(dx, arg1.shape(), dev)?), Some(Tensor::from_vec(db, arg2.shape(), dev)?)))
    }
}

fn check_bias(x: &Tensor, b: &Tensor, op: &'static str) -> Result<()> {
    let f = x.dim(D::Minus1)?;
    if b.dims() != [f] {
        return Err(Error::Msg(format!("{op}: bias {:?} must be [{f}]", b.dims())));
    }
    check_f32(x.dtype(), op)
}

/// `gelu(x + b)` with the tanh approximation; `b` broadcasts over the last dimension.
pub fn bias_gelu(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    check_bias(x, b, "bias gelu")?;
    x.contiguous()?.apply_op2(b, BiasGeluOp { cache: OnceLock::new() })
}

/// Reference bias GELU built from tensor primitives (candle's tanh GELU).
pub fn bias_gelu_slow(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    check_bias(x, b, "bias gelu")?;
    x.broadcast_add(b)?.gelu()
}

// ---------------------------------------------------------------------------------------
// Bias add, with and without a residual; the backward pass sums the bias gradient.

struct AddBiasOp;

fn add_rows(x: &[f32], b: &[f32], f: usize) -> Vec<f32> {
    let mut y = x.to_vec();
    for row in y.chunks_exact_mut(f) {
        for (v, b) in row.iter_mut().zip(b) {
            *v += b;
        }
    }
    y
}

fn bias_grad(grad: &Tensor, b: &Tensor, op: &'static str) -> Result<Tensor> {
    let f = b.elem_count();
    let db = with_host(grad, op, |g| {
        let mut db = vec![0f32; f];
        col_sum(g, f, &mut db);
        Ok(db)
    })?;
    Tensor::from_vec(db, b.shape(), b.device())
}

impl CustomOp2 for AddBiasOp {
    fn name(&self) -> &'static str {
        "fused-add-bias"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = host(s1, l1, self.name())?;
        let b = host(s2, l2, self.name())?;
        Ok((CpuStorage::F32(add_rows(x, b, b.len())), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _arg1: &Tensor,
        arg2: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad_res.clone()), Some(bias_grad(grad_res, arg2, self.name())?)))
    }
}

/// `x + b` with `b` broadcast over the last dimension.
pub fn add_bias(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    check_bias(x, b, "add bias")?;
    x.contiguous()?.apply_op2(b, AddBiasOp)
}

/// Reference bias add.
pub fn add_bias_slow(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    check_bias(x, b, "add bias")?;
    x.broadcast_add(b)
}

struct ResidualBiasOp;

impl CustomOp3 for ResidualBiasOp {
    fn name(&self) -> &'static str {
        "fused-residual-bias"
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
        let y = host(s2, l2, self.name())?;
        let b = host(s3, l3, self.name())?;
        let f = b.len();
        let mut out = vec![0f32; x.len()];
        for ((o, x), y) in out.chunks_exact_mut(f).zip(x.chunks_exact(f)).zip(y.chunks_exact(f)) {
            for k in 0..f {
                o[k] = x[k] + y[k] + b[k];
            }
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _arg1: &Tensor,
        _arg2: &Tensor,
        arg3: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let db = bias_grad(grad_res, arg3, self.name())?;
        Ok((Some(grad_res.clone()), Some(grad_res.clone()), Some(db)))
    }
}

/// `x + y + b`: a residual add with the bias of the branch `y`.
pub fn residual_bias(x: &Tensor, y: &Tensor, b: &Tensor) -> Result<Tensor> {
    check_bias(x, b, "residual bias")?;
    if x.shape() != y.shape() {
        return Err(Error::Msg(format!("residual bias: shapes {:?} and {:?} differ", x.dims(), y.dims())));
    }
    x.contiguous()?.apply_op3(&y.contiguous()?, b, ResidualBiasOp)
}

/// Reference residual bias add.
pub fn residual_bias_slow(x: &Tensor, y: &Tensor, b: &Tensor) -> Result<Tensor> {
    check_bias(x, b, "residual bias")?;
    (x + y)?.broadcast_add(b)
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
            let max = lr.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            let mut sum = 0f32;
            for (p, &x) in pr.iter_mut().zip(lr) {
                *p = (x - max).exp();
                sum += *p;
            }
            let inv = 1.0 / sum;
            for p in pr.iter_mut() {
                *p *= inv;
            }
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
    fn dot_handles_tails() {
        let a: Vec<f32> = (0..13).map(|i| i as f32).collect();
        assert_eq!(dot(&a, &a), (0..13).map(|i| (i * i) as f32).sum::<f32>());
    }
}
