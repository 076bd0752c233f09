//! A byte-level GPT: token and position embeddings, pre-norm blocks (causal multi-head
//! self-attention, GELU MLP), a final layer norm and an untied head.
//!
//! Parameters live in one ordered list (never a `VarMap`, whose `HashMap` iteration
//! order is not stable) and are initialised from the project's seeded generator (candle's
//! CPU generator cannot be seeded). Linear weights are stored `(in + 1, out)` with the bias as
//! the last row, so a layer is one op whose backward pass yields weight and bias
//! gradients together. The forward pass runs either the fused custom ops
//! of [`super::ops`] or their reference twins, chosen by [`OpPath`].

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Result, Tensor, Var};
use rand_distr::{Distribution, StandardNormal};

use super::ops;
use crate::rng::stream;

/// Vocabulary of a byte-level model.
pub const VOCAB: usize = 256;

/// Standard deviation of the initial weights before `init_scale`.
pub const INIT_STD: f64 = 0.02;

/// Shape of the model.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelConfig {
    /// Context length in bytes.
    pub context: usize,
    /// Number of blocks.
    pub depth: usize,
    /// Residual width.
    pub width: usize,
    /// Attention heads (must divide `width`).
    pub heads: usize,
    /// Multiplier on the initial weight standard deviation ([`INIT_STD`]).
    pub init_scale: f64,
}

impl ModelConfig {
    /// Benchmark config A: 2 layers, width 64, 4 heads, context 64.
    pub fn config_a() -> Self {
        ModelConfig { context: 64, depth: 2, width: 64, heads: 4, init_scale: 1.0 }
    }

    /// Benchmark config B: 4 layers, width 128, 4 heads, context 128.
    pub fn config_b() -> Self {
        ModelConfig { context: 128, depth: 4, width: 128, heads: 4, init_scale: 1.0 }
    }

    /// A very small model for tests.
    pub fn tiny() -> Self {
        ModelConfig { context: 16, depth: 2, width: 16, heads: 2, init_scale: 1.0 }
    }

    /// Why this shape cannot be built, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.depth == 0 || self.width == 0 || self.heads == 0 || self.context == 0 {
            return Some("depth, width, heads and context must be positive".into());
        }
        if !self.width.is_multiple_of(self.heads) {
            return Some(format!("width {} is not divisible by {} heads", self.width, self.heads));
        }
        if !(self.init_scale.is_finite() && self.init_scale > 0.0) {
            return Some(format!("init scale {} must be positive", self.init_scale));
        }
        None
    }

    /// Parameters in the matrix multiplies (blocks and head), the `N` of `6N`.
    pub fn matmul_params(&self) -> usize {
        self.depth * 12 * self.width * self.width + self.width * VOCAB
    }

    /// All parameters.
    pub fn param_count(&self) -> usize {
        let c = self.width;
        let block = 12 * c * c + 13 * c;
        VOCAB * c + self.context * c + self.depth * block + 2 * c + c * VOCAB
    }

    /// Training FLOPs per token (forward and backward): `6 N + 12 L T C`, the usual
    /// accounting (attention counted without the causal half).
    pub fn train_flops_per_token(&self) -> f64 {
        6.0 * self.matmul_params() as f64 + 12.0 * (self.depth * self.context * self.width) as f64
    }
}

/// Which implementation of the layer ops the forward pass uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum OpPath {
    /// The fused custom ops with hand-written backward passes (CPU only).
    Fused,
    /// The reference ops built from candle primitives (any device).
    Reference,
}

/// Draws initial values; one stream per parameter so adding one shifts no other.
struct Init {
    seed: u64,
    next: u64,
    device: Device,
    params: Vec<(String, Var)>,
}

impl Init {
    fn var(&mut self, name: String, dims: &[usize], values: Vec<f32>) -> Result<Var> {
        let var = Var::from_tensor(&Tensor::from_vec(values, dims, &self.device)?)?;
        self.params.push((name, var.clone()));
        self.next += 1;
        Ok(var)
    }

    fn normal(&mut self, name: String, dims: &[usize], std: f64) -> Result<Var> {
        let mut rng = stream(self.seed, "gpt-init", &[self.next]);
        let n: usize = dims.iter().product();
        let values = (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                (std * z) as f32
            })
            .collect();
        self.var(name, dims, values)
    }

    /// A `(in + 1, out)` linear weight: normal rows and a zero bias row (drawing from the
    /// same streams as a separate weight and bias would).
    fn linear(&mut self, name: String, dims: (usize, usize), std: f64) -> Result<Var> {
        let mut rng = stream(self.seed, "gpt-init", &[self.next]);
        let mut values: Vec<f32> = (0..dims.0 * dims.1)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                (std * z) as f32
            })
            .collect();
        values.resize((dims.0 + 1) * dims.1, 0.0);
        self.next += 1;
        self.var(name, &[dims.0 + 1, dims.1], values)
    }

    fn constant(&mut self, name: String, dims: &[usize], value: f32) -> Result<Var> {
        let n: usize = dims.iter().product();
        self.var(name, dims, vec![value; n])
    }
}

/// Layer norm parameters.
#[derive(Debug, Clone)]
struct Norm {
    gain: Var,
    bias: Var,
}

impl Norm {
    fn load(init: &mut Init, name: &str, width: usize) -> Result<Self> {
        let gain = init.constant(format!("{name}.gain"), &[width], 1.0)?;
        let bias = init.constant(format!("{name}.bias"), &[width], 0.0)?;
        Ok(Norm { gain, bias })
    }

    fn forward(&self, x: &Tensor, path: OpPath) -> Result<Tensor> {
        match path {
            OpPath::Fused => ops::layer_norm(x, self.gain.as_tensor(), self.bias.as_tensor()),
            OpPath::Reference => ops::layer_norm_slow(x, self.gain.as_tensor(), self.bias.as_tensor()),
        }
    }
}

/// A linear layer: weight `(in + 1, out)` whose last row is the bias.
#[derive(Debug, Clone)]
struct Linear {
    weight: Var,
}

impl Linear {
    fn load(init: &mut Init, name: &str, dims: (usize, usize), std: f64) -> Result<Self> {
        Ok(Linear { weight: init.linear(format!("{name}.weight"), dims, std)? })
    }

    /// `x w + b`.
    fn forward(&self, x: &Tensor, path: OpPath) -> Result<Tensor> {
        match path {
            OpPath::Fused => ops::linear(x, self.weight.as_tensor()),
            OpPath::Reference => ops::linear_slow(x, self.weight.as_tensor()),
        }
    }

    /// `gelu(x w + b)`.
    fn forward_gelu(&self, x: &Tensor, path: OpPath) -> Result<Tensor> {
        match path {
            OpPath::Fused => ops::linear_gelu(x, self.weight.as_tensor()),
            OpPath::Reference => ops::linear_gelu_slow(x, self.weight.as_tensor()),
        }
    }

    /// `residual + x w + b`.
    fn forward_residual(&self, residual: &Tensor, x: &Tensor, path: OpPath) -> Result<Tensor> {
        match path {
            OpPath::Fused => ops::linear_residual(residual, x, self.weight.as_tensor()),
            OpPath::Reference => ops::linear_residual_slow(residual, x, self.weight.as_tensor()),
        }
    }
}

/// One pre-norm transformer block.
#[derive(Debug, Clone)]
struct Block {
    norm1: Norm,
    qkv: Linear,
    out: Linear,
    norm2: Norm,
    fc: Linear,
    proj: Linear,
    heads: usize,
}

impl Block {
    fn load(init: &mut Init, i: usize, cfg: &ModelConfig) -> Result<Self> {
        let c = cfg.width;
        let std = INIT_STD * cfg.init_scale;
        let resid_std = std / (2.0 * cfg.depth as f64).sqrt();
        Ok(Block {
            norm1: Norm::load(init, &format!("block{i}.norm1"), c)?,
            qkv: Linear::load(init, &format!("block{i}.qkv"), (c, 3 * c), std)?,
            out: Linear::load(init, &format!("block{i}.out"), (c, c), resid_std)?,
            norm2: Norm::load(init, &format!("block{i}.norm2"), c)?,
            fc: Linear::load(init, &format!("block{i}.fc"), (c, 4 * c), std)?,
            proj: Linear::load(init, &format!("block{i}.proj"), (4 * c, c), resid_std)?,
            heads: cfg.heads,
        })
    }

    /// `x` is `(batch * t, width)`.
    fn forward(&self, x: &Tensor, batch: usize, path: OpPath) -> Result<Tensor> {
        let h = self.norm1.forward(x, path)?;
        let qkv = self.qkv.forward(&h, path)?;
        let a = match path {
            OpPath::Fused => ops::causal_attention(&qkv, self.heads, batch)?,
            OpPath::Reference => ops::causal_attention_slow(&qkv, self.heads, batch)?,
        };
        let x = self.out.forward_residual(x, &a, path)?;
        let h = self.norm2.forward(&x, path)?;
        let h = self.fc.forward_gelu(&h, path)?;
        self.proj.forward_residual(&x, &h, path)
    }
}

/// The model.
#[derive(Debug, Clone)]
pub struct Gpt {
    cfg: ModelConfig,
    path: OpPath,
    token: Var,
    position: Var,
    blocks: Vec<Block>,
    norm: Norm,
    head: Var,
    params: Vec<(String, Var)>,
}

impl Gpt {
    /// Build a freshly initialised model; the same `(cfg, seed)` gives the same weights.
    pub fn new(cfg: ModelConfig, seed: u64, path: OpPath, device: &Device) -> Result<Self> {
        if let Some(problem) = cfg.problem() {
            return Err(candle_core::Error::Msg(problem));
        }
        let mut init = Init { seed, next: 0, device: device.clone(), params: Vec::new() };
        let std = INIT_STD * cfg.init_scale;
        let token = init.normal("token".into(), &[VOCAB, cfg.width], std)?;
        let position = init.normal("position".into(), &[cfg.context, cfg.width], std)?;
        let blocks = (0..cfg.depth).map(|i| Block::load(&mut init, i, &cfg)).collect::<Result<Vec<_>>>()?;
        let norm = Norm::load(&mut init, "norm", cfg.width)?;
        let head = init.normal("head".into(), &[cfg.width, VOCAB], std)?;
        Ok(Gpt { cfg, path, token, position, blocks, norm, head, params: init.params })
    }

    /// The shape.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The op implementation in use.
    pub fn path(&self) -> OpPath {
        self.path
    }

    /// Switch the op implementation (the weights are shared).
    pub fn with_path(mut self, path: OpPath) -> Self {
        self.path = path;
        self
    }

    /// All parameters with their names, in a fixed order.
    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    /// How many leading elements of each parameter (in [`Gpt::params`] order) take
    /// weight decay: matrices and embeddings do, a linear weight's bias row and the
    /// layer norms do not.
    pub fn decay_lens(&self) -> Vec<usize> {
        self.params
            .iter()
            .map(|(name, var)| match var.dims() {
                [rows, cols] if name.ends_with(".weight") => (rows - 1) * cols,
                [rows, cols] => rows * cols,
                _ => 0,
            })
            .collect()
    }

    /// Logits `(batch * t, 256)` for byte ids `(batch, t)` (u32), `t <= context`.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (batch, _) = ids.dims2()?;
        let (token, position) = (self.token.as_tensor(), self.position.as_tensor());
        let mut x = match self.path {
            OpPath::Fused => ops::embed(token, position, ids)?,
            OpPath::Reference => ops::embed_slow(token, position, ids)?,
        };
        for block in &self.blocks {
            x = block.forward(&x, batch, self.path)?;
        }
        let x = self.norm.forward(&x, self.path)?;
        x.matmul(self.head.as_tensor())
    }

    /// Mean cross-entropy (nats) of the next-byte predictions.
    pub fn loss(&self, ids: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let logits = self.forward(ids)?;
        let targets = targets.flatten_all()?;
        match self.path {
            OpPath::Fused => ops::cross_entropy(&logits, &targets),
            OpPath::Reference => ops::cross_entropy_slow(&logits, &targets),
        }
    }

    /// Greedy completion: append the most likely byte to `prompt` (keeping the last
    /// `context` bytes as input) until `stop` or `max_new` bytes.
    pub fn complete(&self, prompt: &[u8], max_new: usize, stop: u8) -> Result<Vec<u8>> {
        let mut text = prompt.to_vec();
        let mut out = Vec::new();
        let device = self.token.device().clone();
        while out.len() < max_new {
            let start = text.len().saturating_sub(self.cfg.context);
            let ids: Vec<u32> = text[start..].iter().map(|&b| b as u32).collect();
            let t = ids.len();
            let logits = self.forward(&Tensor::from_vec(ids, (1, t), &device)?)?;
            let last = logits.get(t - 1)?.to_vec1::<f32>()?;
            let next = last.iter().enumerate().fold(0, |best, (i, &v)| if v > last[best] { i } else { best }) as u8;
            if next == stop {
                break;
            }
            out.push(next);
            text.push(next);
        }
        Ok(out)
    }

    /// Fraction of `examples` whose greedy completion up to the newline equals the answer.
    pub fn exact_match(&self, examples: &[super::data::Example]) -> Result<f64> {
        let mut hits = 0;
        for ex in examples {
            let got = self.complete(ex.prompt.as_bytes(), ex.answer.len() + 1, b'\n')?;
            hits += usize::from(got == ex.answer.as_bytes());
        }
        Ok(hits as f64 / examples.len().max(1) as f64)
    }

    /// Save the weights as safetensors.
    pub fn save(&self, path: &Path) -> Result<()> {
        let map: HashMap<String, Tensor> =
            self.params.iter().map(|(n, v)| (n.clone(), v.as_tensor().clone())).collect();
        candle_core::safetensors::save(&map, path)
    }

    /// Load weights saved by [`Gpt::save`] into a model of shape `cfg`.
    pub fn load(cfg: ModelConfig, path: &Path, op_path: OpPath, device: &Device) -> Result<Self> {
        let model = Gpt::new(cfg, 0, op_path, device)?;
        let mut tensors = candle_core::safetensors::load(path, device)?;
        for (name, var) in &model.params {
            let t = tensors
                .remove(name)
                .ok_or_else(|| candle_core::Error::Msg(format!("weights file lacks tensor `{name}`")))?;
            if t.dims() != var.dims() {
                return Err(candle_core::Error::Msg(format!(
                    "tensor `{name}` has shape {:?}, the model wants {:?}",
                    t.dims(),
                    var.dims()
                )));
            }
            var.set(&t.to_dtype(DType::F32)?)?;
        }
        Ok(model)
    }
}
