//! The whole-model fused training step: loss and every parameter gradient of [`Gpt`]
//! in one hand-written forward and backward pass over host buffers.
//!
//! It runs the same kernels as the fused custom ops (`gpt/kernels.rs`), but without a
//! candle graph: candle's `backward` allocates a zero-filled gradient buffer for every
//! input of every node and adds into it, and every op allocates its output; here every
//! activation, cache and gradient lives in a buffer allocated once per trial and reused
//! by each step. Residual gradients are accumulated in place, weight gradients are
//! written directly into the gradient list the optimiser reads.
//!
//! The reference for this step is candle's autograd over the model's forward pass
//! (either op path); `tests/gpt_trial.rs` compares the loss and every gradient.

use candle_core::{Error, Result, Storage};

use super::kernels::{self as kern, AttnShape, Dst, Mat};
use super::model::{Gpt, ModelConfig, VOCAB};

/// Parameters per block, in [`Gpt::params`] order.
const PER_BLOCK: usize = 8;
/// Offsets inside a block's parameters.
const NORM1_GAIN: usize = 0;
const NORM1_BIAS: usize = 1;
const QKV: usize = 2;
const OUT: usize = 3;
const NORM2_GAIN: usize = 4;
const NORM2_BIAS: usize = 5;
const FC: usize = 6;
const PROJ: usize = 7;
/// Leading parameters: token and position embeddings.
const TOKEN: usize = 0;
const POSITION: usize = 1;
const FIRST_BLOCK: usize = 2;

/// Where each parameter sits in [`Gpt::params`].
#[derive(Debug, Clone, Copy)]
struct Index {
    depth: usize,
}

impl Index {
    fn block(&self, l: usize, part: usize) -> usize {
        FIRST_BLOCK + l * PER_BLOCK + part
    }

    fn norm_gain(&self) -> usize {
        FIRST_BLOCK + self.depth * PER_BLOCK
    }

    fn norm_bias(&self) -> usize {
        self.norm_gain() + 1
    }

    fn head(&self) -> usize {
        self.norm_gain() + 2
    }

    fn count(&self) -> usize {
        self.head() + 1
    }

    /// The parameter names in [`Gpt::params`] order, to check the layout against.
    fn names(&self) -> Vec<String> {
        let mut names = vec!["token".to_string(), "position".to_string()];
        for l in 0..self.depth {
            for part in ["norm1.gain", "norm1.bias", "qkv.weight", "out.weight", "norm2.gain", "norm2.bias"] {
                names.push(format!("block{l}.{part}"));
            }
            names.push(format!("block{l}.fc.weight"));
            names.push(format!("block{l}.proj.weight"));
        }
        names.extend(["norm.gain".to_string(), "norm.bias".to_string(), "head".to_string()]);
        names
    }
}

/// What one block keeps from its forward pass for the backward pass.
struct Tape {
    /// First layer norm: output, normalised input, reciprocal standard deviations.
    h1: Vec<f32>,
    xhat1: Vec<f32>,
    rstd1: Vec<f32>,
    /// Packed q, k, v `(n, 3c)`.
    qkv: Vec<f32>,
    /// Attention probabilities `(batch, heads, t, t)`.
    probs: Vec<f32>,
    /// Attention output `(n, c)`.
    att: Vec<f32>,
    /// Residual stream after attention.
    x1: Vec<f32>,
    /// Second layer norm.
    h2: Vec<f32>,
    xhat2: Vec<f32>,
    rstd2: Vec<f32>,
    /// MLP pre-activation, its GELU tanh term and the activation `(n, 4c)`.
    u: Vec<f32>,
    th: Vec<f32>,
    g: Vec<f32>,
}

impl Tape {
    fn new(n: usize, c: usize, shape: AttnShape) -> Self {
        Tape {
            h1: vec![0.0; n * c],
            xhat1: vec![0.0; n * c],
            rstd1: vec![0.0; n],
            qkv: vec![0.0; n * 3 * c],
            probs: vec![0.0; shape.probs_len()],
            att: vec![0.0; n * c],
            x1: vec![0.0; n * c],
            h2: vec![0.0; n * c],
            xhat2: vec![0.0; n * c],
            rstd2: vec![0.0; n],
            u: vec![0.0; n * 4 * c],
            th: vec![0.0; n * 4 * c],
            g: vec![0.0; n * 4 * c],
        }
    }
}

/// Gradient scratch shared by all blocks.
struct Scratch {
    /// Gradient of the residual stream `(n, c)`.
    dx: Vec<f32>,
    /// Gradient of a layer norm output `(n, c)`.
    dh: Vec<f32>,
    /// Gradient of the attention output `(n, c)`.
    da: Vec<f32>,
    /// Gradient of q, k, v `(n, 3c)`.
    dqkv: Vec<f32>,
    /// Gradient of the MLP activation and pre-activation `(n, 4c)`.
    dg: Vec<f32>,
    du: Vec<f32>,
    /// Gradient of the logits `(n, 256)`.
    dlogits: Vec<f32>,
    /// One `(t, t)` attention score gradient.
    ds: Vec<f32>,
}

/// Buffers for training steps of one model shape and batch size, reused across steps.
pub struct FusedStep {
    cfg: ModelConfig,
    /// Capacity in sequences (the training batch).
    batch: usize,
    /// Sequences of the last forward pass (0 before the first).
    last_batch: usize,
    index: Index,
    /// Residual stream entering each block, and leaving the last: `depth + 1` of `(n, c)`.
    xs: Vec<Vec<f32>>,
    tapes: Vec<Tape>,
    /// Final layer norm.
    hf: Vec<f32>,
    xhatf: Vec<f32>,
    rstdf: Vec<f32>,
    /// Logits, then softmax probabilities `(n, 256)`.
    logits: Vec<f32>,
    probs: Vec<f32>,
    scratch: Scratch,
}

impl FusedStep {
    /// Buffers for `model` trained on batches of `batch` sequences of its full context
    /// (forward passes alone, e.g. for evaluation, may take fewer).
    pub fn new(model: &Gpt, batch: usize) -> Result<Self> {
        let cfg = *model.config();
        let index = Index { depth: cfg.depth };
        let names: Vec<&str> = model.params().iter().map(|(n, _)| n.as_str()).collect();
        if names != index.names() {
            return Err(Error::Msg(format!("fused step: unexpected parameter layout {names:?}")));
        }
        let (n, c) = (batch * cfg.context, cfg.width);
        let shape = AttnShape { batch, heads: cfg.heads, t: cfg.context, c };
        Ok(FusedStep {
            cfg,
            batch,
            last_batch: 0,
            index,
            xs: (0..=cfg.depth).map(|_| vec![0.0; n * c]).collect(),
            tapes: (0..cfg.depth).map(|_| Tape::new(n, c, shape)).collect(),
            hf: vec![0.0; n * c],
            xhatf: vec![0.0; n * c],
            rstdf: vec![0.0; n],
            logits: vec![0.0; n * VOCAB],
            probs: vec![0.0; n * VOCAB],
            scratch: Scratch {
                dx: vec![0.0; n * c],
                dh: vec![0.0; n * c],
                da: vec![0.0; n * c],
                dqkv: vec![0.0; n * 3 * c],
                dg: vec![0.0; n * 4 * c],
                du: vec![0.0; n * 4 * c],
                dlogits: vec![0.0; n * VOCAB],
                ds: vec![0.0; cfg.context * cfg.context],
            },
        })
    }

    /// Sequences of `ids`, checked against the model and the capacity.
    fn sequences(&self, model: &Gpt, ids: &[u32], targets: &[u32]) -> Result<usize> {
        let t = self.cfg.context;
        let b = ids.len() / t;
        if *model.config() != self.cfg || b == 0 || b > self.batch || ids.len() != b * t || targets.len() != ids.len() {
            return Err(Error::Msg(format!(
                "fused step: built for {:?} x up to {} sequences, given {} ids and {} targets",
                self.cfg,
                self.batch,
                ids.len(),
                targets.len()
            )));
        }
        Ok(b)
    }

    fn attn_shape(&self, batch: usize) -> AttnShape {
        AttnShape { batch, heads: self.cfg.heads, t: self.cfg.context, c: self.cfg.width }
    }

    /// Mean cross-entropy (nats) of `targets` given `ids` (both `b * context` for
    /// `1 <= b <= batch`, sequence after sequence), keeping what [`FusedStep::backward`]
    /// needs.
    pub fn forward(&mut self, model: &Gpt, ids: &[u32], targets: &[u32]) -> Result<f32> {
        let b = self.sequences(model, ids, targets)?;
        self.last_batch = b;
        let guards: Vec<_> = model.params().iter().map(|(_, v)| v.as_tensor().storage_and_layout()).collect();
        let p: Vec<&[f32]> = guards.iter().map(|(s, l)| cpu_slice(s, l)).collect::<Result<_>>()?;
        let (c, t) = (self.cfg.width, self.cfg.context);
        let n = b * t;
        let (nc, n3c, n4c) = (n * c, n * 3 * c, n * 4 * c);
        let shape = self.attn_shape(b);
        let ix = self.index;
        kern::embed_fwd(p[TOKEN], p[POSITION], ids, t, c, &mut self.xs[0][..nc]);
        for (l, tp) in self.tapes.iter_mut().enumerate() {
            let (done, rest) = self.xs.split_at_mut(l + 1);
            let (x, out) = (&done[l][..nc], &mut rest[0][..nc]);
            let w = |part| p[ix.block(l, part)];
            let (h1, xhat1, rstd1) = (&mut tp.h1[..nc], &mut tp.xhat1[..nc], &mut tp.rstd1[..n]);
            kern::layer_norm_fwd(x, w(NORM1_GAIN), w(NORM1_BIAS), h1, xhat1, rstd1);
            kern::linear_fwd(h1, c, w(QKV), &mut tp.qkv[..n3c]);
            kern::attention_fwd(&tp.qkv[..n3c], shape, &mut tp.att[..nc], &mut tp.probs[..shape.probs_len()]);
            kern::linear_residual_fwd(&tp.att[..nc], c, w(OUT), x, &mut tp.x1[..nc]);
            let (h2, xhat2, rstd2) = (&mut tp.h2[..nc], &mut tp.xhat2[..nc], &mut tp.rstd2[..n]);
            kern::layer_norm_fwd(&tp.x1[..nc], w(NORM2_GAIN), w(NORM2_BIAS), h2, xhat2, rstd2);
            kern::linear_gelu_fwd(h2, c, w(FC), &mut tp.u[..n4c], &mut tp.th[..n4c], &mut tp.g[..n4c]);
            kern::linear_residual_fwd(&tp.g[..n4c], 4 * c, w(PROJ), &tp.x1[..nc], out);
        }
        let last = &self.xs[self.cfg.depth][..nc];
        let (gain, bias) = (p[ix.norm_gain()], p[ix.norm_bias()]);
        kern::layer_norm_fwd(last, gain, bias, &mut self.hf[..nc], &mut self.xhatf[..nc], &mut self.rstdf[..n]);
        let head = Mat::new(p[ix.head()], c, VOCAB);
        let logits = &mut self.logits[..n * VOCAB];
        kern::matmul_into(logits, 0, VOCAB, Mat::new(&self.hf, n, c), head, 1.0, Dst::Set);
        let total = kern::cross_entropy_fwd(logits, targets, VOCAB, &mut self.probs[..n * VOCAB]);
        Ok((total / n.max(1) as f64) as f32)
    }

    /// Gradients of the mean loss of the last [`FusedStep::forward`] (same model, ids and
    /// targets, a full batch) with respect to every parameter, written into `grads` (one buffer per
    /// parameter in [`Gpt::params`] order, each the parameter's size).
    pub fn backward(&mut self, model: &Gpt, ids: &[u32], targets: &[u32], grads: &mut [Vec<f32>]) -> Result<()> {
        let b = self.sequences(model, ids, targets)?;
        if b != self.batch || self.last_batch != self.batch {
            return Err(Error::Msg("fused step: backward needs a full batch, after its forward".into()));
        }
        let sizes_ok = grads.len() == self.index.count()
            && grads.iter().zip(model.params()).all(|(g, (_, v))| g.len() == v.elem_count());
        if !sizes_ok {
            return Err(Error::Msg("fused step: gradient buffers do not match the parameters".into()));
        }
        let guards: Vec<_> = model.params().iter().map(|(_, v)| v.as_tensor().storage_and_layout()).collect();
        let p: Vec<&[f32]> = guards.iter().map(|(s, l)| cpu_slice(s, l)).collect::<Result<_>>()?;
        let (c, t) = (self.cfg.width, self.cfg.context);
        let n = b * t;
        let shape = self.attn_shape(b);
        let ix = self.index;
        let s = &mut self.scratch;

        kern::cross_entropy_bwd(&self.probs, targets, VOCAB, 1.0, &mut s.dlogits);
        let dlogits = Mat::new(&s.dlogits, n, VOCAB);
        kern::matmul_into(&mut grads[ix.head()], 0, VOCAB, Mat::new(&self.hf, n, c).t(), dlogits, 1.0, Dst::Set);
        let head = Mat::new(p[ix.head()], c, VOCAB);
        kern::matmul_into(&mut s.dh, 0, c, dlogits, head.t(), 1.0, Dst::Set);
        s.dx.fill(0.0);
        let (dg, db) = pair_mut(grads, ix.norm_gain(), ix.norm_bias());
        dg.fill(0.0);
        db.fill(0.0);
        kern::layer_norm_bwd(&s.dh, &self.xhatf, &self.rstdf, p[ix.norm_gain()], &mut s.dx, dg, db);

        for (l, tp) in self.tapes.iter().enumerate().rev() {
            let w = |part| p[ix.block(l, part)];
            // s.dx: gradient of this block's output = x1 + proj(gelu(fc(norm2(x1)))).
            kern::linear_bwd_weight(&tp.g, 4 * c, &s.dx, &mut grads[ix.block(l, PROJ)]);
            kern::linear_bwd_input(&s.dx, w(PROJ), 4 * c, &mut s.dg, Dst::Set);
            kern::gelu_bwd(&s.dg, &tp.u, &tp.th, &mut s.du);
            kern::linear_bwd_weight(&tp.h2, c, &s.du, &mut grads[ix.block(l, FC)]);
            kern::linear_bwd_input(&s.du, w(FC), c, &mut s.dh, Dst::Set);
            let (dg, db) = pair_mut(grads, ix.block(l, NORM2_GAIN), ix.block(l, NORM2_BIAS));
            dg.fill(0.0);
            db.fill(0.0);
            kern::layer_norm_bwd(&s.dh, &tp.xhat2, &tp.rstd2, w(NORM2_GAIN), &mut s.dx, dg, db);
            // s.dx: gradient of x1 = x + out(attention(qkv(norm1(x)))).
            kern::linear_bwd_weight(&tp.att, c, &s.dx, &mut grads[ix.block(l, OUT)]);
            kern::linear_bwd_input(&s.dx, w(OUT), c, &mut s.da, Dst::Set);
            kern::attention_bwd(&tp.qkv, &tp.probs, &s.da, shape, &mut s.dqkv, &mut s.ds);
            kern::linear_bwd_weight(&tp.h1, c, &s.dqkv, &mut grads[ix.block(l, QKV)]);
            kern::linear_bwd_input(&s.dqkv, w(QKV), c, &mut s.dh, Dst::Set);
            let (dg, db) = pair_mut(grads, ix.block(l, NORM1_GAIN), ix.block(l, NORM1_BIAS));
            dg.fill(0.0);
            db.fill(0.0);
            kern::layer_norm_bwd(&s.dh, &tp.xhat1, &tp.rstd1, w(NORM1_GAIN), &mut s.dx, dg, db);
        }
        let (dt, dp) = pair_mut(grads, TOKEN, POSITION);
        dt.fill(0.0);
        dp.fill(0.0);
        kern::embed_bwd(&s.dx, ids, t, c, dt, dp);
        Ok(())
    }
}

/// Two distinct gradient buffers, mutably (`i < j`).
fn pair_mut(grads: &mut [Vec<f32>], i: usize, j: usize) -> (&mut [f32], &mut [f32]) {
    let (lo, hi) = grads.split_at_mut(j);
    (&mut lo[i], &mut hi[0])
}

/// The contiguous `f32` host data of a CPU tensor storage.
fn cpu_slice<'a>(s: &'a Storage, l: &candle_core::Layout) -> Result<&'a [f32]> {
    let Storage::Cpu(cpu) = s else {
        return Err(Error::Msg("fused step: parameters must be on the CPU".into()));
    };
    let (a, b) = l.contiguous_offsets().ok_or(Error::RequiresContiguous { op: "fused step" })?;
    Ok(&cpu.as_slice::<f32>()?[a..b])
}
