//! Incremental inference for sampling: a [`Decoder`] keeps each block's packed queries,
//! keys and values for the positions already in its window and computes only the new
//! positions when bytes are appended, `O(width^2 + t * width)` per byte instead of a
//! whole forward pass over the window.
//!
//! The arithmetic is the fused ops' own (`gpt/kernels.rs`): layer norms, linear layers,
//! GELU, the embedding and the causal attention's query blocks are the same functions
//! [`Gpt::forward`] runs, on host copies of the weights, on the calling thread. Appended
//! rows see exactly the rows before them, so the logits equal the last row of
//! [`Gpt::forward`] over the same window up to the order of the matrix multiplies'
//! sums (within 1e-4 of the largest logit, tested). Positions are absolute (learned position
//! embeddings), so the window cannot slide one byte at a time: a full decoder is
//! refilled with a shorter window by [`Decoder::prefill`] (one pass over it).

use candle_core::{Error, Result};

use super::fused::{BlockWeights, Index, POSITION, TOKEN};
use super::kernels::{self as kern, AttnShape, Dst, Mat, QUERY_BLOCK};
use super::model::{Gpt, ModelConfig, VOCAB};

/// A model's weights on the host and the cache of one window.
#[derive(Debug, Clone)]
pub struct Decoder {
    cfg: ModelConfig,
    index: Index,
    /// Host copies of the parameters, in [`Gpt::params`] order.
    params: Vec<Vec<f32>>,
    /// Per block: packed q, k, v `(context, 3 * width)`, the first `len` rows filled.
    qkv: Vec<Vec<f32>>,
    /// Positions in the window.
    len: usize,
    /// Scratch for up to `context` new rows.
    x: Vec<f32>,
    x1: Vec<f32>,
    h: Vec<f32>,
    xhat: Vec<f32>,
    rstd: Vec<f32>,
    att: Vec<f32>,
    u: Vec<f32>,
    th: Vec<f32>,
    g: Vec<f32>,
    probs: Vec<f32>,
    ids: Vec<u32>,
    /// Logits of the byte after the window.
    logits: Vec<f32>,
}

impl Decoder {
    /// An empty decoder for `model` (its weights are copied; later changes to the model
    /// are not seen).
    pub fn new(model: &Gpt) -> Result<Self> {
        let cfg = *model.config();
        let index = Index { depth: cfg.depth };
        let names: Vec<&str> = model.params().iter().map(|(n, _)| n.as_str()).collect();
        if names != index.names() {
            return Err(Error::Msg(format!("decoder: unexpected parameter layout {names:?}")));
        }
        let params =
            model.params().iter().map(|(_, v)| v.as_tensor().flatten_all()?.to_vec1::<f32>()).collect::<Result<_>>()?;
        let (t, c) = (cfg.context, cfg.width);
        Ok(Decoder {
            cfg,
            index,
            params,
            qkv: (0..cfg.depth).map(|_| vec![0.0; t * 3 * c]).collect(),
            len: 0,
            x: vec![0.0; t * c],
            x1: vec![0.0; t * c],
            h: vec![0.0; t * c],
            xhat: vec![0.0; t * c],
            rstd: vec![0.0; t],
            att: vec![0.0; t * c],
            u: vec![0.0; t * 4 * c],
            th: vec![0.0; t * 4 * c],
            g: vec![0.0; t * 4 * c],
            probs: vec![0.0; QUERY_BLOCK.min(t) * t],
            ids: Vec::with_capacity(t),
            logits: vec![0.0; VOCAB],
        })
    }

    /// The model's shape.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Bytes in the window.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the window holds `context` bytes (nothing more can be appended).
    pub fn is_full(&self) -> bool {
        self.len == self.cfg.context
    }

    /// Start over with `window` (1 to `context` bytes) in one pass; the logits of the
    /// byte after it.
    pub fn prefill(&mut self, window: &[u8]) -> Result<&[f32]> {
        self.len = 0;
        self.extend(window)
    }

    /// Append `bytes` (at least one, the window staying within `context`), computing
    /// only their positions; the logits of the byte after them.
    pub fn extend(&mut self, bytes: &[u8]) -> Result<&[f32]> {
        let (t0, n) = (self.len, bytes.len());
        if n == 0 || t0 + n > self.cfg.context {
            return Err(Error::Msg(format!(
                "decoder: cannot append {n} bytes to a window of {t0} (context {})",
                self.cfg.context
            )));
        }
        let t1 = t0 + n;
        let (c, ix) = (self.cfg.width, self.index);
        let Decoder { params, qkv, x, x1, h, xhat, rstd, att, u, th, g, probs, ids, logits, .. } = self;
        let p: Vec<&[f32]> = params.iter().map(Vec::as_slice).collect();
        let (x, x1, h, xhat, rstd) =
            (&mut x[..n * c], &mut x1[..n * c], &mut h[..n * c], &mut xhat[..n * c], &mut rstd[..n]);
        let (att, u, th, g) = (&mut att[..n * c], &mut u[..n * 4 * c], &mut th[..n * 4 * c], &mut g[..n * 4 * c]);
        ids.clear();
        ids.extend(bytes.iter().map(|&b| u32::from(b)));
        // Rows `i` of `ids` sit at positions `t0 + i` (`i % n == i`).
        kern::embed_fwd(p[TOKEN], &p[POSITION][t0 * c..], ids, n, c, x);
        let shape = AttnShape { batch: 1, heads: self.cfg.heads, t: t1, c };
        for (l, cache) in qkv.iter_mut().enumerate() {
            let w = BlockWeights::of(&p, ix.block(l, 0));
            kern::layer_norm_fwd(x, w.norm1_gain, w.norm1_bias, h, xhat, rstd);
            kern::linear_fwd(h, c, w.qkv, &mut cache[t0 * 3 * c..t1 * 3 * c]);
            kern::attention_rows_fwd(&cache[..t1 * 3 * c], shape, t0..t1, att, probs);
            kern::linear_residual_fwd(att, c, w.out, x, x1);
            kern::layer_norm_fwd(x1, w.norm2_gain, w.norm2_bias, h, xhat, rstd);
            kern::linear_gelu_fwd(h, c, w.fc, u, th, g);
            kern::linear_residual_fwd(g, 4 * c, w.proj, x1, x);
        }
        // The final norm and the head, for the last row only.
        let last = (n - 1) * c..n * c;
        let (gain, bias) = (p[ix.norm_gain()], p[ix.norm_bias()]);
        kern::layer_norm_fwd(
            &x[last.clone()],
            gain,
            bias,
            &mut h[last.clone()],
            &mut xhat[last.clone()],
            &mut rstd[n - 1..],
        );
        let head = Mat::new(p[ix.head()], c, VOCAB);
        kern::matmul_into(logits, 0, VOCAB, Mat::new(&h[last], 1, c), head, 1.0, Dst::Set);
        self.len = t1;
        Ok(&self.logits)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;
    use crate::objective::gpt::model::OpPath;

    /// The last row of [`Gpt::forward`] over `window`.
    fn full_forward(model: &Gpt, window: &[u8]) -> Vec<f32> {
        let ids: Vec<u32> = window.iter().map(|&b| u32::from(b)).collect();
        let t = ids.len();
        let logits = model.forward(&Tensor::from_vec(ids, (1, t), &Device::Cpu).unwrap()).unwrap();
        logits.get(t - 1).unwrap().to_vec1::<f32>().unwrap()
    }

    /// Largest difference relative to the largest logit.
    fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    fn text(n: usize) -> Vec<u8> {
        b"<parent>\n(mechanism a\n  (propose (uniform)))\n<child>\n(mechanism b\n  (propose (best 0.5))\n  (keep 3))\n"
            .iter()
            .copied()
            .cycle()
            .take(n)
            .collect()
    }

    #[test]
    fn cached_logits_equal_the_full_forward_on_the_same_window() {
        // Context past two query blocks, so appended rows and refills span several.
        let cfg = ModelConfig { context: 80, depth: 3, width: 32, heads: 4, init_scale: 5.0 };
        for path in [OpPath::Fused, OpPath::Reference] {
            let model = Gpt::new(cfg, 11, path, &Device::Cpu).unwrap();
            let text = text(2 * cfg.context);
            let mut decoder = Decoder::new(&model).unwrap();
            // Byte by byte over the whole context.
            for i in 0..cfg.context {
                let logits = if i == 0 { decoder.prefill(&text[..1]) } else { decoder.extend(&text[i..=i]) }.unwrap();
                let d = rel_diff(logits, &full_forward(&model, &text[..=i]));
                assert!(d < 1e-4, "{path:?}: prefix of {} bytes differs by {d}", i + 1);
            }
            assert!(decoder.is_full());
            assert!(decoder.extend(b"x").is_err(), "a full window takes no more bytes");
            // Refills of several lengths, then a few appended bytes and a multi-byte append.
            for (start, len) in [(0, 1), (3, 33), (7, 40), (0, 64), (10, 70)] {
                let window = &text[start..start + len];
                let d = rel_diff(decoder.prefill(window).unwrap(), &full_forward(&model, window));
                assert!(d < 1e-4, "{path:?}: window {start}+{len} differs by {d}");
                let more = &text[start..start + (len + 5).min(cfg.context)];
                let logits = decoder.extend(&more[len..]).unwrap();
                let d = rel_diff(logits, &full_forward(&model, more));
                assert!(d < 1e-4, "{path:?}: window {start}+{len} and more differs by {d}");
                assert_eq!(decoder.len(), more.len());
            }
        }
    }
}
