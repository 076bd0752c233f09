//! A GPT's ordered parameter list as one flat `f32` vector and back, and checkpoints
//! (safetensors through candle, written atomically).

use std::path::Path;

use candle_core::{Device, Tensor};

use super::SwarmError;
use crate::objective::gpt::{Gpt, ModelConfig, OpPath};

/// All parameters of `model` concatenated in [`Gpt::params`] order.
pub fn flatten(model: &Gpt) -> Result<Vec<f32>, SwarmError> {
    let mut out = Vec::with_capacity(model.config().param_count());
    for (_, var) in model.params() {
        out.extend(var.as_tensor().flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(out)
}

/// A fresh model of shape `cfg` holding the weights `flat` (as made by [`flatten`]).
pub fn unflatten(cfg: ModelConfig, flat: &[f32]) -> Result<Gpt, SwarmError> {
    if flat.len() != cfg.param_count() {
        return Err(SwarmError::Shape(format!(
            "{} weights given, the model has {} parameters",
            flat.len(),
            cfg.param_count()
        )));
    }
    let model = Gpt::new(cfg, 0, OpPath::Fused, &Device::Cpu)?;
    let mut at = 0;
    for (_, var) in model.params() {
        let n = var.elem_count();
        var.set(&Tensor::from_slice(&flat[at..at + n], var.shape(), &Device::Cpu)?)?;
        at += n;
    }
    Ok(model)
}

/// Save `flat` as a safetensors checkpoint of a model of shape `cfg`, atomically
/// (a temporary file beside `path`, renamed over it).
pub fn save(cfg: ModelConfig, flat: &[f32], path: &Path) -> Result<(), SwarmError> {
    let model = unflatten(cfg, flat)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = model.save(&tmp).map_err(SwarmError::from).and_then(|()| {
        // The run folder's crash points (tests): a kill before the rename leaves the
        // temporary file, which a resumed run writes again.
        crate::store::crashpoint::step().map_err(|e| SwarmError::io(path, e))?;
        std::fs::rename(&tmp, path).map_err(|e| SwarmError::io(path, e))?;
        Ok(())
    });
    if result.is_err() && !crate::store::crashpoint::crashed() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Load a checkpoint written by [`save`] (or [`Gpt::save`]) as flat weights.
/// A file that is not such a checkpoint (truncated, headerless, another model's) is bad
/// input naming the file.
pub fn load(cfg: ModelConfig, path: &Path) -> Result<Vec<f32>, SwarmError> {
    let model = Gpt::load(cfg, path, OpPath::Fused, &Device::Cpu).map_err(|e| {
        // candle's message repeats its source ("header too small: header too small").
        let text = e.to_string();
        let mut parts: Vec<&str> = text.split(": ").collect();
        parts.dedup();
        SwarmError::Input(crate::diagnostic::InputError::file(
            path,
            format!("cannot be read as model weights of this run's shape ({})", parts.join(": ")),
            "the trained checkpoints are part of the run's record: restore the file from a backup, or start the run again",
        ))
    })?;
    flatten(&model)
}

/// xxh3 of the bits of `flat`, for reports and determinism checks.
pub fn digest(flat: &[f32]) -> u64 {
    let bytes: Vec<u8> = flat.iter().flat_map(|v| v.to_le_bytes()).collect();
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_round_trips_through_a_model_and_a_file() {
        let cfg = ModelConfig::tiny();
        let model = Gpt::new(cfg, 7, OpPath::Fused, &Device::Cpu).unwrap();
        let flat = flatten(&model).unwrap();
        assert_eq!(flat.len(), cfg.param_count());
        assert_eq!(flatten(&unflatten(cfg, &flat).unwrap()).unwrap(), flat);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        save(cfg, &flat, &p).unwrap();
        let back = load(cfg, &p).unwrap();
        assert_eq!(digest(&back), digest(&flat));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
        assert!(unflatten(cfg, &flat[1..]).is_err());
    }
}
