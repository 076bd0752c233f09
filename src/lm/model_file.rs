//! The model file: `MAGIC`, the format version (u32 little-endian), the header's length
//! (u64 LE) and the header (JSON: shape, training seed and steps, optimiser, corpus
//! hash and size, document counts, the document format's version, the final losses),
//! then the weights' length (u64 LE) and the weights as safetensors (f32, tensors in
//! name order). Nothing may follow. Its identity is the xxh3-64 of the whole file.
//!
//! Reading checks the magic, the version, the document format, the lengths and every
//! tensor's shape against the header's model, so a wrong or damaged file is an error
//! that says which, never a model that silently computes something else.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::corpus::DocumentCounts;
use super::document;
use crate::diagnostic::InputError;
use crate::objective::gpt::OptimConfig;
use crate::objective::gpt::model::{Gpt, ModelConfig, OpPath};

/// The first bytes of every model file.
pub const MAGIC: &[u8; 16] = b"outerloop-mechlm";

/// The version of the file layout this build reads and writes.
pub const VERSION: u32 = 1;

/// The largest model file read (a model the trainer accepts is far smaller).
pub const MAX_MODEL_BYTES: u64 = 1 << 30;

/// The largest header read (a real one is under a kilobyte).
const MAX_HEADER_BYTES: u64 = 1 << 20;

/// What a model file says about its model besides the weights.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The model's shape.
    pub model: ModelConfig,
    /// The document format it was trained on ([`document::FORMAT_VERSION`]).
    pub document_format: u32,
    /// The training seed.
    pub seed: u64,
    /// Optimiser steps taken.
    pub steps: usize,
    /// The optimiser.
    pub optim: OptimConfig,
    /// xxh3-64 of the corpus bytes, as 16 hex digits.
    pub corpus_hash: String,
    /// Bytes of the corpus.
    pub corpus_bytes: usize,
    /// Documents of each kind in the corpus.
    pub documents: DocumentCounts,
    /// Training loss (nats per byte) of the last step.
    pub final_loss: f64,
    /// Validation bits per byte at the end.
    pub val_bpb: f64,
}

/// A model read from (or about to be written to) a model file.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// The header.
    pub header: Header,
    /// The weights (fused CPU ops).
    pub model: Gpt,
    /// xxh3-64 of the file's bytes.
    pub identity: u64,
}

/// Why bytes are not a model file.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelFileError {
    /// The magic is missing.
    #[error("not a mechanism language model file (its first bytes are not `outerloop-mechlm`)")]
    NotAModel,
    /// Another layout version.
    #[error("model file version {0}; this build reads version {VERSION}")]
    Version(u32),
    /// The file ends early or has bytes after its end.
    #[error("damaged model file: {0}")]
    Damaged(String),
    /// The header does not parse or describes an impossible model.
    #[error("bad model header: {0}")]
    Header(String),
    /// The weights do not parse or do not fit the header's shape.
    #[error("bad model weights: {0}")]
    Weights(String),
}

/// The identity as printed: 16 hex digits.
pub fn identity_hex(identity: u64) -> String {
    format!("{identity:016x}")
}

/// The file's bytes for `header` and `model`.
pub fn encode(header: &Header, model: &Gpt) -> Result<Vec<u8>, candle_core::Error> {
    let head = serde_json::to_vec(header).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let weights = safetensors_bytes(model)?;
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + 16 + head.len() + weights.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&(weights.len() as u64).to_le_bytes());
    out.extend_from_slice(&weights);
    Ok(out)
}

/// Write the model file atomically (temporary file, fsync, rename); returns its
/// identity.
pub fn write(path: &Path, header: &Header, model: &Gpt) -> Result<u64, super::LmError> {
    let bytes = encode(header, model)?;
    crate::store::atomic::write_atomic(path, &bytes).map_err(|e| {
        InputError::file(path, format!("cannot write the model: {e}"), "choose a writable path (--out FILE)")
    })?;
    Ok(xxhash_rust::xxh3::xxh3_64(&bytes))
}

/// Read a model file.
pub fn read(path: &Path) -> Result<ModelFile, InputError> {
    let bytes = crate::input::read_bytes(path, MAX_MODEL_BYTES).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => "check the path (a model is written by `outerloop lm train --out FILE`)",
            _ => "check the path and its permissions",
        };
        InputError::file(path, format!("cannot read the model: {e}"), hint)
    })?;
    decode(&bytes).map_err(|e| {
        InputError::file(path, e.to_string(), "pass a model file written by `outerloop lm train` (train it again)")
    })
}

/// Parse a model file's bytes.
pub fn decode(bytes: &[u8]) -> Result<ModelFile, ModelFileError> {
    let mut rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(ModelFileError::NotAModel)?;
    let version = u32::from_le_bytes(take(&mut rest, 4, "version")?.try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(ModelFileError::Version(version));
    }
    let head_len = take_len(&mut rest, "header length")?;
    if head_len > MAX_HEADER_BYTES {
        return Err(ModelFileError::Damaged(format!("a header of {head_len} bytes")));
    }
    let head = take(&mut rest, head_len as usize, "header")?;
    let header: Header = serde_json::from_slice(head).map_err(|e| ModelFileError::Header(e.to_string()))?;
    if header.document_format != document::FORMAT_VERSION {
        return Err(ModelFileError::Header(format!(
            "trained on document format {}; this build writes format {}",
            header.document_format,
            document::FORMAT_VERSION
        )));
    }
    if let Some(problem) = header.model.problem() {
        return Err(ModelFileError::Header(problem));
    }
    if header.model.param_count() as u64 * 4 > MAX_MODEL_BYTES {
        return Err(ModelFileError::Header(format!(
            "a model of {} parameters is too large",
            header.model.param_count()
        )));
    }
    let weights_len = take_len(&mut rest, "weights length")?;
    let weights = take(&mut rest, usize::try_from(weights_len).unwrap_or(usize::MAX), "weights")?;
    if !rest.is_empty() {
        return Err(ModelFileError::Damaged(format!("{} bytes after the weights", rest.len())));
    }
    let model = load_weights(header.model, weights)?;
    Ok(ModelFile { header, model, identity: xxhash_rust::xxh3::xxh3_64(bytes) })
}

/// The next `n` bytes of `rest`, or a damaged-file error naming `what`.
fn take<'a>(rest: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], ModelFileError> {
    if rest.len() < n {
        return Err(ModelFileError::Damaged(format!("the file ends inside the {what}")));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn take_len(rest: &mut &[u8], what: &str) -> Result<u64, ModelFileError> {
    Ok(u64::from_le_bytes(take(rest, 8, what)?.try_into().expect("8 bytes")))
}

/// The tensor table of a safetensors header.
#[derive(serde::Serialize)]
struct TensorInfo {
    dtype: &'static str,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// The weights as safetensors: an 8-byte header length, the JSON header (tensors in
/// name order, padded with spaces to a multiple of 8 bytes), then the f32 data in the
/// same order. Written here (the format is a page long) so the bytes are the same on
/// every run and no file round trip is needed.
fn safetensors_bytes(model: &Gpt) -> Result<Vec<u8>, candle_core::Error> {
    let mut tensors: Vec<(&str, Vec<usize>, Vec<f32>)> = Vec::new();
    for (name, var) in model.params() {
        let values = var.as_tensor().flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        tensors.push((name.as_str(), var.dims().to_vec(), values));
    }
    tensors.sort_by(|a, b| a.0.cmp(b.0));
    let mut table = BTreeMap::new();
    let mut data = Vec::new();
    for (name, shape, values) in &tensors {
        let start = data.len();
        for v in values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        table.insert(*name, TensorInfo { dtype: "F32", shape: shape.clone(), data_offsets: [start, data.len()] });
    }
    let mut head = serde_json::to_vec(&table).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    head.resize(head.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + head.len() + data.len());
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&data);
    Ok(out)
}

/// A model of shape `cfg` with the weights of `bytes` (safetensors): every tensor the
/// model has must be there with its shape, and nothing else.
fn load_weights(cfg: ModelConfig, bytes: &[u8]) -> Result<Gpt, ModelFileError> {
    let weights = |e: candle_core::Error| ModelFileError::Weights(e.to_string());
    let model = Gpt::new(cfg, 0, OpPath::Fused, &Device::Cpu).map_err(weights)?;
    let mut tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu).map_err(weights)?;
    for (name, var) in model.params() {
        let t: Tensor =
            tensors.remove(name).ok_or_else(|| ModelFileError::Weights(format!("tensor `{name}` is missing")))?;
        if t.dims() != var.dims() || t.dtype() != DType::F32 {
            return Err(ModelFileError::Weights(format!(
                "tensor `{name}` is {:?} {:?}; the header's model wants F32 {:?}",
                t.dtype(),
                t.dims(),
                var.dims()
            )));
        }
        var.set(&t).map_err(weights)?;
    }
    if let Some(extra) = tensors.keys().next() {
        return Err(ModelFileError::Weights(format!("unexpected tensor `{extra}`")));
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(model: ModelConfig) -> Header {
        Header {
            model,
            document_format: document::FORMAT_VERSION,
            seed: 3,
            steps: 10,
            optim: OptimConfig::default(),
            corpus_hash: identity_hex(42),
            corpus_bytes: 1000,
            documents: DocumentCounts { genomes: 17, pairs: 2, pair_documents: 5 },
            final_loss: 1.25,
            val_bpb: 2.5,
        }
    }

    fn weights_of(model: &Gpt) -> Vec<Vec<f32>> {
        model.params().iter().map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap()).collect()
    }

    #[test]
    fn a_model_file_round_trips_byte_for_byte() {
        let cfg = ModelConfig::tiny();
        let model = Gpt::new(cfg, 7, OpPath::Fused, &Device::Cpu).unwrap();
        let bytes = encode(&header(cfg), &model).unwrap();
        let read = decode(&bytes).unwrap();
        assert_eq!(read.header, header(cfg));
        assert_eq!(weights_of(&read.model), weights_of(&model));
        assert_eq!(read.identity, xxhash_rust::xxh3::xxh3_64(&bytes));
        assert_eq!(encode(&read.header, &read.model).unwrap(), bytes);
        // The weights are standard safetensors.
        let weights_at = MAGIC.len() + 4 + 8 + serde_json::to_vec(&header(cfg)).unwrap().len() + 8;
        assert_eq!(
            candle_core::safetensors::load_buffer(&bytes[weights_at..], &Device::Cpu).unwrap().len(),
            model.params().len()
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.lm");
        let identity = write(&path, &header(cfg), &model).unwrap();
        assert_eq!(identity, read.identity);
        assert_eq!(read_model_identity(&path), identity);
    }

    fn read_model_identity(path: &Path) -> u64 {
        read(path).unwrap().identity
    }

    #[test]
    fn wrong_or_damaged_files_are_refused_with_the_reason() {
        let cfg = ModelConfig::tiny();
        let model = Gpt::new(cfg, 7, OpPath::Fused, &Device::Cpu).unwrap();
        let bytes = encode(&header(cfg), &model).unwrap();
        assert_eq!(decode(b"hello").unwrap_err(), ModelFileError::NotAModel);
        let mut version = bytes.clone();
        version[MAGIC.len()] = 9;
        assert_eq!(decode(&version).unwrap_err(), ModelFileError::Version(9));
        for cut in [MAGIC.len() + 2, MAGIC.len() + 10, 60, bytes.len() - 1] {
            assert!(matches!(decode(&bytes[..cut]).unwrap_err(), ModelFileError::Damaged(_)), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(decode(&longer).unwrap_err(), ModelFileError::Damaged(_)));
        // A header whose shape does not match the weights.
        let other = encode(&header(ModelConfig { width: 32, ..cfg }), &model).unwrap();
        assert!(matches!(decode(&other).unwrap_err(), ModelFileError::Weights(_)), "{:?}", decode(&other).err());
        // A flipped byte inside the header's JSON.
        let mut flipped = bytes.clone();
        flipped[MAGIC.len() + 4 + 8 + 2] ^= 0x55;
        assert!(matches!(decode(&flipped).unwrap_err(), ModelFileError::Header(_)));
        let dir = tempfile::tempdir().unwrap();
        let missing = read(&dir.path().join("none.lm")).unwrap_err();
        assert!(missing.to_string().contains("cannot read the model"), "{missing}");
    }
}
