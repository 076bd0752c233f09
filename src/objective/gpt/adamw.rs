//! AdamW over the model's ordered parameter list. On the CPU ([`AdamW`]) it updates each
//! parameter's storage in place (a candle in-place op), so a step copies no parameter;
//! on a GPU ([`DeviceAdamW`]) it is the same update written as tensor ops, so gradients
//! and moments never leave the device.

use std::cell::RefCell;

use candle_core::{CpuStorage, DType, Error, InplaceOp1, Layout, Result, Tensor, Var};

/// Hyperparameters of one update.
#[derive(Debug, Clone, Copy)]
pub struct AdamWStep {
    /// Learning rate of this step.
    pub lr: f64,
    /// Decoupled weight decay (multiplied by `lr`).
    pub weight_decay: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Factor on every gradient (global-norm clipping).
    pub clip: f64,
    /// 1-based step number, for the bias corrections.
    pub t: i32,
}

/// Moment estimates of every parameter.
pub struct AdamW {
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    decay_lens: Vec<usize>,
}

impl AdamW {
    /// Zero moments for parameters of `sizes` elements, of which the first
    /// `decay_lens[i]` take weight decay.
    pub fn new(sizes: &[usize], decay_lens: Vec<usize>) -> Self {
        AdamW {
            m: sizes.iter().map(|&n| vec![0.0; n]).collect(),
            v: sizes.iter().map(|&n| vec![0.0; n]).collect(),
            decay_lens,
        }
    }

    /// Apply one update with gradients `grads` (one per parameter, same order).
    pub fn update(&mut self, params: &[(String, Var)], grads: &[Vec<f32>], h: AdamWStep) -> Result<()> {
        if params.len() != grads.len() || params.len() != self.m.len() {
            return Err(Error::Msg("adamw: parameter, gradient and moment counts differ".into()));
        }
        let bc1 = 1.0 - h.beta1.powi(h.t);
        let bc2 = 1.0 - h.beta2.powi(h.t);
        let consts = Consts {
            step_size: (h.lr / bc1) as f32,
            bc2_sqrt: bc2.sqrt() as f32,
            b1: h.beta1 as f32,
            b2: h.beta2 as f32,
            clip: h.clip as f32,
            decay_rate: (h.lr * h.weight_decay) as f32,
        };
        for (i, (_, var)) in params.iter().enumerate() {
            if grads[i].len() != var.elem_count() {
                return Err(Error::Msg(format!("adamw: gradient {i} has the wrong size")));
            }
            let op = Update {
                consts,
                grad: &grads[i],
                m: RefCell::new(&mut self.m[i]),
                v: RefCell::new(&mut self.v[i]),
                decay_len: self.decay_lens[i],
            };
            var.as_tensor().inplace_op1(&op)?;
        }
        Ok(())
    }
}

/// AdamW as tensor ops on the parameters' own device: the update of [`AdamW`] (same
/// constants, same decay mask, same epsilon), for devices the in-place CPU op cannot
/// reach.
pub struct DeviceAdamW {
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// 1 on the elements that take weight decay, 0 elsewhere (flat, per parameter).
    decay_masks: Vec<Tensor>,
}

impl DeviceAdamW {
    /// Zero moments for `params`, of which the first `decay_lens[i]` elements (in flat
    /// order) take weight decay.
    pub fn new(params: &[(String, Var)], decay_lens: &[usize]) -> Result<Self> {
        if params.len() != decay_lens.len() {
            return Err(Error::Msg("adamw: parameter and decay-length counts differ".into()));
        }
        let mut out = DeviceAdamW { m: Vec::new(), v: Vec::new(), decay_masks: Vec::new() };
        for ((_, var), &decay) in params.iter().zip(decay_lens) {
            let (n, device) = (var.elem_count(), var.device());
            let mask: Vec<f32> = (0..n).map(|i| if i < decay { 1.0 } else { 0.0 }).collect();
            out.decay_masks.push(Tensor::from_vec(mask, var.shape(), device)?);
            out.m.push(Tensor::zeros(var.shape(), DType::F32, device)?);
            out.v.push(Tensor::zeros(var.shape(), DType::F32, device)?);
        }
        Ok(out)
    }

    /// Apply one update with gradients `grads` (one per parameter, same order and shape).
    pub fn update(&mut self, params: &[(String, Var)], grads: &[Tensor], h: AdamWStep) -> Result<()> {
        if params.len() != grads.len() || params.len() != self.m.len() {
            return Err(Error::Msg("adamw: parameter, gradient and moment counts differ".into()));
        }
        let bc1 = 1.0 - h.beta1.powi(h.t);
        let bc2_sqrt = (1.0 - h.beta2.powi(h.t)).sqrt();
        let step_size = h.lr / bc1;
        let decay_rate = h.lr * h.weight_decay;
        for (i, (_, var)) in params.iter().enumerate() {
            let g = grads[i].affine(h.clip, 0.0)?;
            let m = (self.m[i].affine(h.beta1, 0.0)? + g.affine(1.0 - h.beta1, 0.0)?)?;
            let v = (self.v[i].affine(h.beta2, 0.0)? + g.sqr()?.affine(1.0 - h.beta2, 0.0)?)?;
            let denom = v.sqrt()?.affine(1.0 / bc2_sqrt, 1e-8)?;
            let p = var.as_tensor();
            let decay = (p * &self.decay_masks[i])?.affine(decay_rate, 0.0)?;
            let next = ((p - (m.affine(step_size, 0.0)? / denom)?)? - decay)?;
            var.set(&next)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Consts {
    step_size: f32,
    bc2_sqrt: f32,
    b1: f32,
    b2: f32,
    clip: f32,
    decay_rate: f32,
}

/// The update of one parameter, applied to its storage in place.
struct Update<'a> {
    consts: Consts,
    grad: &'a [f32],
    m: RefCell<&'a mut Vec<f32>>,
    v: RefCell<&'a mut Vec<f32>>,
    decay_len: usize,
}

impl InplaceOp1 for Update<'_> {
    fn name(&self) -> &'static str {
        "adamw-update"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let (a, b) = layout.contiguous_offsets().ok_or(Error::RequiresContiguous { op: self.name() })?;
        let CpuStorage::F32(data) = storage else {
            return Err(Error::Msg("adamw: parameters must be f32".into()));
        };
        let p = &mut data[a..b];
        let (mut m, mut v) = (self.m.borrow_mut(), self.v.borrow_mut());
        let c = self.consts;
        let n = p.len().min(self.grad.len()).min(m.len()).min(v.len());
        let decay_len = self.decay_len.min(n);
        let (p, g, m, v) = (&mut p[..n], &self.grad[..n], &mut m[..n], &mut v[..n]);
        let (pd, pn) = p.split_at_mut(decay_len);
        let (gd, gn) = g.split_at(decay_len);
        let (md, mn) = m.split_at_mut(decay_len);
        let (vd, vn) = v.split_at_mut(decay_len);
        super::kernels::simd(
            #[inline(always)]
            || {
                adamw_lane(pd, gd, md, vd, c, c.decay_rate);
                adamw_lane(pn, gn, mn, vn, c, 0.0);
            },
        );
        Ok(())
    }
}

/// `p -= step_size * m / (sqrt(v) / sqrt(bc2) + eps) + decay * p` after the moment updates.
#[inline(always)]
fn adamw_lane(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: Consts, decay: f32) {
    for (((p, g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = g * c.clip;
        *m = c.b1 * *m + (1.0 - c.b1) * g;
        *v = c.b2 * *v + (1.0 - c.b2) * g * g;
        let denom = v.sqrt() / c.bc2_sqrt + 1e-8;
        *p -= c.step_size * *m / denom + decay * *p;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn params(values: &[&[f32]]) -> Vec<(String, Var)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("p{i}"), Var::from_tensor(&Tensor::new(*v, &Device::Cpu).unwrap()).unwrap()))
            .collect()
    }

    #[test]
    fn the_tensor_update_matches_the_in_place_update() {
        let start: [&[f32]; 2] = [&[0.5, -1.0, 2.0, 0.25], &[1.5, -0.5, 0.0]];
        let (host, dev) = (params(&start), params(&start));
        let decay = vec![3, 0];
        let mut a = AdamW::new(&[4, 3], decay.clone());
        let mut b = DeviceAdamW::new(&dev, &decay).unwrap();
        for t in 1..=5 {
            let grads: Vec<Vec<f32>> = vec![vec![0.1 * t as f32, -0.3, 0.7, 0.05], vec![-0.2, 0.4 / t as f32, 1.0]];
            let h = AdamWStep { lr: 0.01, weight_decay: 0.1, beta1: 0.9, beta2: 0.99, clip: 0.8, t };
            a.update(&host, &grads, h).unwrap();
            let tensors: Vec<Tensor> = grads.iter().map(|g| Tensor::new(g.as_slice(), &Device::Cpu).unwrap()).collect();
            b.update(&dev, &tensors, h).unwrap();
        }
        for ((_, x), (_, y)) in host.iter().zip(&dev) {
            let (x, y) = (x.as_tensor().to_vec1::<f32>().unwrap(), y.as_tensor().to_vec1::<f32>().unwrap());
            for (p, q) in x.iter().zip(&y) {
                assert!((p - q).abs() <= 1e-6 * p.abs().max(1.0), "{x:?} vs {y:?}");
            }
        }
    }
}
