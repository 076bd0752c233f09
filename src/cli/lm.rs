//! `outerloop lm train` and `outerloop lm serve`: the mechanism language model
//! ([`crate::lm`]) trained on the seed library and run folders, and served as an
//! OpenAI-compatible endpoint on 127.0.0.1 for the LLM proposer.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use crate::analysis::run_data::RunData;
use crate::cli::out::outln;
use crate::diagnostic::InputError;
use crate::lm::LmError;
use crate::lm::corpus::Documents;
use crate::lm::model_file::{self, identity_hex};
use crate::lm::server::{self, Served, ServerLimits};
use crate::lm::train::{TrainOptions, train_timed};
use crate::objective::gpt::OptimConfig;
use crate::objective::gpt::model::ModelConfig;

/// Flags of `lm`.
#[derive(Debug, Args)]
pub struct LmArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: LmCommand,
}

/// The `lm` subcommands.
#[derive(Debug, Subcommand)]
pub enum LmCommand {
    /// Train the model on the seed library, the genomes born in run folders and their
    /// improved (parent, child) pairs; write a model file.
    Train(TrainArgs),
    /// Serve a model file as an OpenAI-compatible chat-completions endpoint on 127.0.0.1.
    Serve(ServeArgs),
}

/// Flags of `lm train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The model file to write (replaced atomically).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Run folders whose births and improvements join the corpus.
    #[arg(long, value_name = "RUN_DIR", num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// Optimiser steps.
    #[arg(long, default_value_t = TrainOptions::DEFAULT_STEPS)]
    pub steps: usize,
    /// Seed of the weights, the batches and the document order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Context length in bytes.
    #[arg(long, default_value_t = TrainOptions::DEFAULT_MODEL.context)]
    pub context: usize,
    /// Transformer blocks.
    #[arg(long, default_value_t = TrainOptions::DEFAULT_MODEL.depth)]
    pub depth: usize,
    /// Residual width.
    #[arg(long, default_value_t = TrainOptions::DEFAULT_MODEL.width)]
    pub width: usize,
    /// Attention heads (must divide the width).
    #[arg(long, default_value_t = TrainOptions::DEFAULT_MODEL.heads)]
    pub heads: usize,
    /// Peak learning rate (default: the trainer's default for this model).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Tokens per optimiser step (whole sequences of the context).
    #[arg(long)]
    pub batch_tokens: Option<usize>,
}

/// Flags of `lm serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The model file (`lm train --out`).
    pub model: PathBuf,
    /// Port on 127.0.0.1 (0: a free port, printed).
    #[arg(long, default_value_t = 8642)]
    pub port: u16,
    /// Completions generated at once; further requests wait.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,
}

/// Run `outerloop lm`.
pub fn run(args: LmArgs) -> anyhow::Result<()> {
    match args.command {
        LmCommand::Train(args) => train(args).map_err(into_anyhow),
        LmCommand::Serve(args) => serve(args).map_err(into_anyhow),
    }
}

/// Keep bad input recognisable to the error report (exit code 2).
fn into_anyhow(e: LmError) -> anyhow::Error {
    match e {
        LmError::Input(e) => e.into(),
        LmError::Run(e) => e.into(),
        other => other.into(),
    }
}

fn train(args: TrainArgs) -> Result<(), LmError> {
    let defaults = TrainOptions::default();
    let options = TrainOptions {
        model: ModelConfig {
            context: args.context,
            depth: args.depth,
            width: args.width,
            heads: args.heads,
            ..TrainOptions::DEFAULT_MODEL
        },
        optim: OptimConfig {
            lr: args.lr.unwrap_or(defaults.optim.lr),
            batch_tokens: args.batch_tokens.unwrap_or(defaults.optim.batch_tokens),
            ..defaults.optim
        },
        steps: args.steps,
        seed: args.seed,
    };
    let mut documents = Documents::library();
    for dir in &args.runs {
        let data = RunData::load(dir)?;
        documents.add_run(&data.events);
    }
    let counts = documents.counts();
    outln!(
        "documents: {} genomes, {} improved pairs ({} pair documents)",
        counts.genomes,
        counts.pairs,
        counts.pair_documents
    );
    let bar = super::progress::bar(options.steps as u64, "steps");
    let (trained, seconds) = train_timed(&documents, &options, |step, total, loss| {
        bar.set_position(step as u64);
        if step % 100 == 0 || step == total {
            super::progress::step_line(|| format!("step {step}/{total}: loss {loss:.4}"));
        }
    })?;
    bar.finish_and_clear();
    let identity = model_file::write(&args.out, &trained.header, &trained.model)?;
    let h = &trained.header;
    outln!("corpus: {} bytes (hash {})", h.corpus_bytes, h.corpus_hash);
    outln!(
        "model: context {}, depth {}, width {}, heads {} ({} parameters)",
        h.model.context,
        h.model.depth,
        h.model.width,
        h.model.heads,
        h.model.param_count()
    );
    outln!("steps: {}", h.steps);
    outln!("final training loss: {:.4} nats/byte", h.final_loss);
    outln!("validation: {:.4} bits/byte", h.val_bpb);
    outln!("wall time: {seconds:.1} s");
    outln!(
        "wrote {} (identity {}, served as {})",
        args.out.display(),
        identity_hex(identity),
        server::served_name(&identity_hex(identity))
    );
    Ok(())
}

fn serve(args: ServeArgs) -> Result<(), LmError> {
    if args.threads == 0 || args.threads > super::MAX_THREADS {
        return Err(InputError::usage(
            format!("--threads must be between 1 and {}", super::MAX_THREADS),
            "one per core is fastest",
        )
        .into());
    }
    let file = model_file::read(&args.model)?;
    let name = server::served_name(&identity_hex(file.identity));
    let listener = std::net::TcpListener::bind(("127.0.0.1", args.port)).map_err(|e| {
        InputError::usage(format!("cannot listen on 127.0.0.1:{}: {e}", args.port), "choose another --port")
    })?;
    let port = listener.local_addr()?.port();
    // Scripts and tests wait for exactly this line: it must not sit in a buffer.
    outln!("listening on http://127.0.0.1:{port}/v1");
    crate::cli::out::flush();
    let limits = ServerLimits { threads: args.threads, ..ServerLimits::default() };
    server::serve(listener, Arc::new(Served { model: file.model, name }), limits)?;
    Ok(())
}
