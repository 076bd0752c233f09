//! Fused CPU ops with hand-written backward passes, and their reference paths.
//!
//! Every op has one shape: a private struct implementing `CustomOp1/2/3` with `cpu_fwd`
//! and a real `bwd`, a public wrapper that checks shapes, and a `*_slow` twin built from
//! candle tensor primitives that the tests compare against (values and gradients).
//!
//! The fused ops exist for speed: on tiny models candle's time goes to elementwise work,
//! broadcasts and reductions in the backward pass, not to matrix multiplies. Their
//! arithmetic lives in `gpt/kernels.rs`, shared with the whole-model training step of
//! [`super::fused`] (which trains without a candle graph; these ops serve
//! [`super::Gpt::forward`] and `loss`, completion and the per-op tests). Each op
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

use super::kernels::{self as kern, AttnShape};
pub use super::kernels::{LN_EPS, fast_exp, fast_tanh};

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

/// Rows and columns of a tensor seen as `(prod(leading dims), last dim)`.
fn rows_cols(shape: &Shape) -> (usize, usize) {
    let cols = shape.dims().last().copied().unwrap_or(1);
    (shape.elem_count() / cols.max(1), cols)
}

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
        kern::layer_norm_fwd(x, g, b, &mut y, &mut xhat, &mut rstd);
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
            kern::layer_norm_bwd(dy, xhat, rstd, &g, &mut dx, &mut dg, &mut db);
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
// Linear layers on host slices.

/// `x w + b` for `x` `(n, k)` and `w` `(k + 1, m)` whose last row is the bias.
fn linear_fwd(x: &[f32], n: usize, k: usize, w: &[f32], m: usize) -> Vec<f32> {
    let mut y = vec![0f32; n * m];
    kern::linear_fwd(x, k, w, &mut y);
    y
}

/// Gradients of [`linear_fwd`]: `dx = dy w^T`, `dw = [x^T dy; colsum dy]`.
fn linear_bwd(x: &[f32], n: usize, k: usize, w: &[f32], m: usize, dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut dx = vec![0f32; n * k];
    kern::linear_bwd_input(dy, w, k, &mut dx, kern::Dst::Set);
    let mut dw = vec![0f32; (k + 1) * m];
    kern::linear_bwd_weight(x, k, dy, &mut dw, kern::Dst::Set);
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
        let mut u = vec![0f32; n * m];
        let mut th = vec![0f32; n * m];
        let mut y = vec![0f32; n * m];
        kern::linear_gelu_fwd(x, k, w, &mut u, &mut th, &mut y);
        let _ = self.cache.set((u, th));
        Ok((CpuStorage::F32(y), Shape::from((n, m))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (u, th) = self.cache.get().ok_or(Error::Msg("linear gelu: no forward cache".into()))?;
        let (n, k) = x.dims2()?;
        let (_, m) = w.dims2()?;
        let hosts = Hosts::new(&[x, w, dy])?;
        host_slices!(hosts, self.name(), [xs, ws, dys]);
        let mut du = vec![0f32; dys.len()];
        kern::gelu_bwd(dys, u, th, &mut du);
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
        let mut y = vec![0f32; n * m];
        kern::linear_residual_fwd(x, k, w, r, &mut y);
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
        let (_, c) = l1.shape().dims2()?;
        let (batch, t) = l3.shape().dims2()?;
        let mut y = vec![0f32; batch * t * c];
        kern::embed_fwd(token, pos, ids, t, c, &mut y);
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
            kern::embed_bwd(dy, &ids, t, c, &mut dt, &mut dp);
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
    fn shape(&self, shape: &Shape) -> Result<AttnShape> {
        let (n, c3) = shape.dims2()?;
        Ok(AttnShape { batch: self.batch, heads: self.heads, t: n / self.batch, c: c3 / 3 })
    }
}

impl CustomOp1 for AttentionOp {
    fn name(&self) -> &'static str {
        "fused-causal-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = host(s, l, self.name())?;
        let shape = self.shape(l.shape())?;
        let mut y = vec![0f32; shape.batch * shape.t * shape.c];
        let mut probs = vec![0f32; shape.probs_len()];
        kern::attention_fwd(qkv, shape, &mut y, &mut probs);
        let _ = self.probs.set(probs);
        Ok((CpuStorage::F32(y), Shape::from((shape.batch * shape.t, shape.c))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let probs = self.probs.get().ok_or(Error::Msg("attention: no forward cache".into()))?;
        let shape = self.shape(arg.shape())?;
        let hosts = Hosts::new(&[arg, grad_res])?;
        host_slices!(hosts, self.name(), [qkv, dy]);
        let mut dqkv = vec![0f32; arg.elem_count()];
        let mut ds = vec![0f32; shape.t * shape.t];
        kern::attention_bwd(qkv, probs, dy, shape, &mut dqkv, &mut ds);
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
        let total = kern::cross_entropy_fwd(logits, targets, v, &mut probs);
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
        let g = g.first().copied().unwrap_or(0.0);
        let targets = arg2.flatten_all()?.to_vec1::<u32>()?;
        let mut d = vec![0f32; rows * v];
        kern::cross_entropy_bwd(probs, &targets, v, g, &mut d);
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
