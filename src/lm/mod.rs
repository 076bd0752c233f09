//! The mechanism language model trained here: a small byte-level GPT trained with the
//! project's own trainer on genome text (`outerloop lm train`) and served over the
//! OpenAI-compatible chat-completions API on 127.0.0.1 (`outerloop lm serve`), so the
//! LLM proposer runs offline and is tested against a real model.
//!
//! **Documents** ([`document`]). An unconditional genome is `<child>\n{genome}\n<end>\n`;
//! a pair is `<parent>\n{parent genome}\n<child>\n{child genome}\n<end>\n`, genomes in
//! canonical text (the library's re-printed, comments dropped). The model writes after
//! `<child>\n` and stops at `\n<end>`.
//!
//! **Corpus** ([`corpus`]). Every library genome, every genome born in the `--runs`
//! folders (the tuned text where the evaluator tuned it), distinct by text, and each
//! verified (parent → improved child) pair: the child's last verified fitness beats its
//! primary parent's best known fitness (verified, else claimed), repeated
//! `1 + min(7, floor(gain / 0.05))` times. Documents are shuffled by a stream of the
//! seed and concatenated; the trainer holds out the last tenth for validation bits per
//! byte.
//!
//! **Training** ([`train`]). The GPT trainer's fused CPU path for exactly `--steps`
//! steps (AdamW, warmup, cosine decay); the default shape (context 256, 4 blocks of
//! width 128, 4 heads, 0.9 M parameters, 1,500 steps of 2,048 bytes) takes six to seven
//! minutes on one core of a two-core machine (measured: the library alone, 4.4 KB,
//! validation 2.09 bits/byte, memorised; with four run folders, 320 KB, 0.20
//! bits/byte, and 9 of 17 children of library parents sampled at temperature 0.3 check
//! as valid genomes). Same documents, flags and seed: the same model file, byte for
//! byte.
//!
//! **Model file** ([`model_file`]). Magic `outerloop-mechlm`, version, a JSON header
//! (shape, seed, steps, optimiser, corpus hash and size, document counts, document
//! format version, final losses), the safetensors weights; written atomically; its
//! identity is the xxh3-64 of the file, and the server answers as
//! `outerloop-mech-lm-<identity>`.
//!
//! **Sampling** ([`sample`]). Temperature (0 = greedy), optional top-k and top-p, one
//! draw per byte from a ChaCha stream of the seed. The model reads the text through a
//! key/value-cached decoder ([`crate::objective::gpt::decode`]), computing only the new
//! position per byte; the window slides by half its length when full (it is the last
//! `context / 2` to `context` bytes, recomputed in one pass when it slides). Speed on
//! the default shape, one thread of a two-core AMD EPYC VM, through `lm serve`
//! (temperature 1, children of 240 to 490 bytes): about 6,000 bytes/s (measured 5,600
//! to 6,200; a 400-byte child in about 70 ms), against 50 to 65 bytes/s when every byte
//! re-ran the whole window (6 to 8 s per child).
//!
//! **Server** ([`server`], [`chat`]). `POST /v1/chat/completions` (OpenAI's request and
//! reply shapes; the reply's content is the genome in a ```` ```mechanism ```` block),
//! `GET /v1/models`, `GET /health`. The model is conditioned on the last fenced block of
//! the user messages that starts with `(mechanism`, else the last balanced
//! `(mechanism ...)` form there, else nothing; the seed is the request's `seed`, else the
//! xxh3 of the body, so the same request always gets the same reply. Errors are
//! OpenAI's `{"error": {...}}` with 400, 404, 405 or 413.

pub mod chat;
pub mod corpus;
pub mod document;
pub mod model_file;
pub mod sample;
pub mod server;
pub mod train;

use crate::diagnostic::InputError;
use crate::store::run_dir::RunError;

/// What can stop training or serving.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    /// Bad input: a flag, a model file, a run folder's contents (exit code 2).
    #[error(transparent)]
    Input(#[from] InputError),
    /// A run folder could not be opened.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The trainer failed.
    #[error(transparent)]
    Train(#[from] crate::objective::gpt::train::TrainError),
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The loss became non-finite or exploded.
    #[error("training diverged at step {0} (lower --lr)")]
    Diverged(usize),
    /// The server's socket or runtime failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}
