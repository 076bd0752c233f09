//! The whole-model fused training step: loss and every parameter gradient of [`Gpt`]
//! in one hand-written forward and backward pass over host buffers.
//!
//! It runs the same kernels as the fused custom ops (`gpt/kernels.rs`), but without a
//! candle graph: candle's `backward` allocates a zero-filled gradient buffer for every
//! input of every node and adds into it, and every op allocates its output; here every
//! activation, cache and gradient lives in a buffer allocated once per trial and reused
//! by each step. Residual gradients are accumulated in place, weight gradients are
//! written directly into the gradient list the optimiser reads. Each block runs over
//! chunks of whole sequences (about `CHUNK_ROWS` rows), forward and backward, so a
//! chunk's activations are still in the L2 cache when the next op reads them; weight
//! gradients accumulate over the chunks.
//!
//! The reference for this step is candle's autograd over the model's forward pass
//! (either op path); `tests/e2e/gpt_trial.rs` compares the loss and every gradient.

use std::ops::Range;

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
pub(super) const TOKEN: usize = 0;
pub(super) const POSITION: usize = 1;
const FIRST_BLOCK: usize = 2;

/// Where each parameter sits in [`Gpt::params`] (shared with [`super::decode`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Index {
    /// Blocks of the model.
    pub(super) depth: usize,
}

impl Index {
    /// Parameter `part` of block `l`.
    pub(super) fn block(&self, l: usize, part: usize) -> usize {
        FIRST_BLOCK + l * PER_BLOCK + part
    }

    /// The final layer norm's gain.
    pub(super) fn norm_gain(&self) -> usize {
        FIRST_BLOCK + self.depth * PER_BLOCK
    }

    /// The final layer norm's bias.
    pub(super) fn norm_bias(&self) -> usize {
        self.norm_gain() + 1
    }

    /// The output head.
    pub(super) fn head(&self) -> usize {
        self.norm_gain() + 2
    }

    fn count(&self) -> usize {
        self.head() + 1
    }

    /// The parameter names in [`Gpt::params`] order, to check the layout against.
    pub(super) fn names(&self) -> Vec<String> {
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

/// Rows a block processes at a time (rounded to whole sequences, at least one): a
/// chunk's activations stay in the core's L2 cache from one op to the next instead of
/// going to memory between ops. Every op of a block is row-local except attention,
/// which is sequence-local.
const CHUNK_ROWS: usize = 256;

/// Gradient scratch of one chunk, shared by all blocks.
struct Scratch {
    /// Gradient of a layer norm output `(rows, c)`.
    dh: Vec<f32>,
    /// Gradient of the attention output `(rows, c)`.
    da: Vec<f32>,
    /// Gradient of q, k, v `(rows, 3c)`.
    dqkv: Vec<f32>,
    /// Gradient of the MLP activation and pre-activation `(rows, 4c)`.
    dg: Vec<f32>,
    du: Vec<f32>,
    /// One `(t, t)` attention score gradient.
    ds: Vec<f32>,
}

impl Scratch {
    fn new(rows: usize, c: usize, t: usize) -> Self {
        Scratch {
            dh: vec![0.0; rows * c],
            da: vec![0.0; rows * c],
            dqkv: vec![0.0; rows * 3 * c],
            dg: vec![0.0; rows * 4 * c],
            du: vec![0.0; rows * 4 * c],
            ds: vec![0.0; t * t],
        }
    }
}

/// The weights of one block, in [`Gpt::params`] order (shared with [`super::decode`]).
pub(super) struct BlockWeights<'a> {
    /// First layer norm.
    pub(super) norm1_gain: &'a [f32],
    pub(super) norm1_bias: &'a [f32],
    /// Packed q, k, v projection `(c + 1, 3c)`.
    pub(super) qkv: &'a [f32],
    /// Attention output projection `(c + 1, c)`.
    pub(super) out: &'a [f32],
    /// Second layer norm.
    pub(super) norm2_gain: &'a [f32],
    pub(super) norm2_bias: &'a [f32],
    /// MLP up `(c + 1, 4c)` and down `(4c + 1, c)` projections.
    pub(super) fc: &'a [f32],
    pub(super) proj: &'a [f32],
}

impl<'a> BlockWeights<'a> {
    /// The block whose first parameter is `p[first]`.
    pub(super) fn of(p: &[&'a [f32]], first: usize) -> Self {
        BlockWeights {
            norm1_gain: p[first + NORM1_GAIN],
            norm1_bias: p[first + NORM1_BIAS],
            qkv: p[first + QKV],
            out: p[first + OUT],
            norm2_gain: p[first + NORM2_GAIN],
            norm2_bias: p[first + NORM2_BIAS],
            fc: p[first + FC],
            proj: p[first + PROJ],
        }
    }
}

/// Rows `r` of a row-major buffer `width` wide.
fn rows<'b>(buf: &'b [f32], r: &Range<usize>, width: usize) -> &'b [f32] {
    &buf[r.start * width..r.end * width]
}

/// Rows `r` of a row-major buffer `width` wide, mutably.
fn rows_mut<'b>(buf: &'b mut [f32], r: &Range<usize>, width: usize) -> &'b mut [f32] {
    &mut buf[r.start * width..r.end * width]
}

impl Tape {
    /// Forward pass of the block over sequences `seqs`: reads their rows of `x`, writes
    /// their rows of `out` and of the tape.
    fn forward(&mut self, w: &BlockWeights<'_>, x: &[f32], out: &mut [f32], seqs: Range<usize>, shape: AttnShape) {
        let (t, c) = (shape.t, shape.c);
        let r = seqs.start * t..seqs.end * t;
        let chunk = AttnShape { batch: seqs.len(), ..shape };
        let p = seqs.start * t * t * shape.heads..seqs.end * t * t * shape.heads;
        let x = rows(x, &r, c);
        let (h1, xhat1, rstd1) =
            (rows_mut(&mut self.h1, &r, c), rows_mut(&mut self.xhat1, &r, c), &mut self.rstd1[r.clone()]);
        kern::layer_norm_fwd(x, w.norm1_gain, w.norm1_bias, h1, xhat1, rstd1);
        let qkv = rows_mut(&mut self.qkv, &r, 3 * c);
        kern::linear_fwd(h1, c, w.qkv, qkv);
        let att = rows_mut(&mut self.att, &r, c);
        kern::attention_fwd(qkv, chunk, att, &mut self.probs[p]);
        let x1 = rows_mut(&mut self.x1, &r, c);
        kern::linear_residual_fwd(att, c, w.out, x, x1);
        let (h2, xhat2, rstd2) =
            (rows_mut(&mut self.h2, &r, c), rows_mut(&mut self.xhat2, &r, c), &mut self.rstd2[r.clone()]);
        kern::layer_norm_fwd(x1, w.norm2_gain, w.norm2_bias, h2, xhat2, rstd2);
        let (u, th, g) =
            (rows_mut(&mut self.u, &r, 4 * c), rows_mut(&mut self.th, &r, 4 * c), rows_mut(&mut self.g, &r, 4 * c));
        kern::linear_gelu_fwd(h2, c, w.fc, u, th, g);
        kern::linear_residual_fwd(g, 4 * c, w.proj, x1, rows_mut(out, &r, c));
    }

    /// Backward pass of the block over sequences `seqs`: `dx` holds the gradient of the
    /// block output on entry and of its input on return (those rows only); weight
    /// gradients are set (`Dst::Set`) or added to, layer-norm gradients added to.
    #[expect(clippy::too_many_arguments, reason = "one chunk of one block: weights, gradients, buffers, range")]
    fn backward(
        &self,
        w: &BlockWeights<'_>,
        grads: &mut [Vec<f32>],
        dx: &mut [f32],
        s: &mut Scratch,
        seqs: Range<usize>,
        shape: AttnShape,
        mode: Dst,
    ) {
        let [dn1g, dn1b, dqkv_w, dout_w, dn2g, dn2b, dfc_w, dproj_w] = grads else {
            unreachable!("a block has {PER_BLOCK} parameters")
        };
        let (t, c) = (shape.t, shape.c);
        let r = seqs.start * t..seqs.end * t;
        let n = r.len();
        let chunk = AttnShape { batch: seqs.len(), ..shape };
        let p = seqs.start * t * t * shape.heads..seqs.end * t * t * shape.heads;
        let dx = rows_mut(dx, &r, c);
        let (dh, da) = (&mut s.dh[..n * c], &mut s.da[..n * c]);
        let (dqkv, dg, du) = (&mut s.dqkv[..n * 3 * c], &mut s.dg[..n * 4 * c], &mut s.du[..n * 4 * c]);
        // dx: gradient of the block output = x1 + proj(gelu(fc(norm2(x1)))).
        kern::linear_bwd_weight(rows(&self.g, &r, 4 * c), 4 * c, dx, dproj_w, mode);
        kern::linear_bwd_input(dx, w.proj, 4 * c, dg, Dst::Set);
        kern::gelu_bwd(dg, rows(&self.u, &r, 4 * c), rows(&self.th, &r, 4 * c), du);
        kern::linear_bwd_weight(rows(&self.h2, &r, c), c, du, dfc_w, mode);
        kern::linear_bwd_input(du, w.fc, c, dh, Dst::Set);
        let (xhat2, rstd2) = (rows(&self.xhat2, &r, c), &self.rstd2[r.clone()]);
        kern::layer_norm_bwd(dh, xhat2, rstd2, w.norm2_gain, dx, dn2g, dn2b);
        // dx: gradient of x1 = x + out(attention(qkv(norm1(x)))).
        kern::linear_bwd_weight(rows(&self.att, &r, c), c, dx, dout_w, mode);
        kern::linear_bwd_input(dx, w.out, c, da, Dst::Set);
        kern::attention_bwd(rows(&self.qkv, &r, 3 * c), &self.probs[p], da, chunk, dqkv, &mut s.ds);
        kern::linear_bwd_weight(rows(&self.h1, &r, c), c, dqkv, dqkv_w, mode);
        kern::linear_bwd_input(dqkv, w.qkv, c, dh, Dst::Set);
        let (xhat1, rstd1) = (rows(&self.xhat1, &r, c), &self.rstd1[r.clone()]);
        kern::layer_norm_bwd(dh, xhat1, rstd1, w.norm1_gain, dx, dn1g, dn1b);
    }
}

/// Whole-model buffers of the backward pass.
struct ModelGrads {
    /// Gradient of the residual stream `(n, c)`.
    dx: Vec<f32>,
    /// Gradient of the final layer norm's output `(n, c)`.
    dh: Vec<f32>,
    /// Gradient of the logits `(n, 256)`.
    dlogits: Vec<f32>,
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
    model_grads: ModelGrads,
    /// Sequences per chunk of a block.
    chunk_seqs: usize,
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
        let chunk_seqs = (CHUNK_ROWS / cfg.context).clamp(1, batch.max(1));
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
            scratch: Scratch::new(chunk_seqs * cfg.context, c, cfg.context),
            model_grads: ModelGrads { dx: vec![0.0; n * c], dh: vec![0.0; n * c], dlogits: vec![0.0; n * VOCAB] },
            chunk_seqs,
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
        let nc = n * c;
        let shape = self.attn_shape(b);
        let ix = self.index;
        kern::embed_fwd(p[TOKEN], p[POSITION], ids, t, c, &mut self.xs[0][..nc]);
        for (l, tape) in self.tapes.iter_mut().enumerate() {
            let (done, rest) = self.xs.split_at_mut(l + 1);
            let w = BlockWeights::of(&p, ix.block(l, 0));
            for s0 in (0..b).step_by(self.chunk_seqs) {
                tape.forward(&w, &done[l], &mut rest[0], s0..(s0 + self.chunk_seqs).min(b), shape);
            }
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
        let g = &mut self.model_grads;

        kern::cross_entropy_bwd(&self.probs[..n * VOCAB], targets, VOCAB, 1.0, &mut g.dlogits);
        let dlogits = Mat::new(&g.dlogits, n, VOCAB);
        kern::matmul_into(&mut grads[ix.head()], 0, VOCAB, Mat::new(&self.hf, n, c).t(), dlogits, 1.0, Dst::Set);
        let head = Mat::new(p[ix.head()], c, VOCAB);
        kern::matmul_into(&mut g.dh, 0, c, dlogits, head.t(), 1.0, Dst::Set);
        g.dx.fill(0.0);
        let (dg, db) = pair_mut(grads, ix.norm_gain(), ix.norm_bias());
        dg.fill(0.0);
        db.fill(0.0);
        kern::layer_norm_bwd(&g.dh, &self.xhatf, &self.rstdf, p[ix.norm_gain()], &mut g.dx, dg, db);

        for (l, tape) in self.tapes.iter().enumerate().rev() {
            let w = BlockWeights::of(&p, ix.block(l, 0));
            let block = &mut grads[ix.block(l, 0)..ix.block(l, 0) + PER_BLOCK];
            for part in [NORM1_GAIN, NORM1_BIAS, NORM2_GAIN, NORM2_BIAS] {
                block[part].fill(0.0);
            }
            for s0 in (0..b).step_by(self.chunk_seqs) {
                let mode = if s0 == 0 { Dst::Set } else { Dst::Add };
                let seqs = s0..(s0 + self.chunk_seqs).min(b);
                tape.backward(&w, block, &mut g.dx, &mut self.scratch, seqs, shape, mode);
            }
        }
        let (dt, dp) = pair_mut(grads, TOKEN, POSITION);
        dt.fill(0.0);
        dp.fill(0.0);
        kern::embed_bwd(&g.dx, ids, t, c, dt, dp);
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
