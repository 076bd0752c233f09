//! The mechanism language model trained here: a small byte-level GPT trained with the
//! project's own trainer on genome text (`outerloop lm train`) and served over the
//! OpenAI-compatible chat-completions API on 127.0.0.1 (`outerloop lm serve`).

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
