//! `outerloop reproduce run [SET...]` and `outerloop reproduce report`: the field's
//! claims as scenario sets, run resumably and summarised in one document.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};

use crate::cli::out::outln;
use crate::diagnostic::InputError;
use crate::repro::{self, JobOutcome, ReproError, ReproSet};

/// Flags of `reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ReproduceCommand,
}

/// The `reproduce` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReproduceCommand {
    /// Run reproduction sets (default: every set in scenarios/reproductions), skipping
    /// finished runs and resuming interrupted ones.
    Run(RunSetArgs),
    /// Write REPRODUCTIONS.md and REPRODUCTIONS.json from the sets' run folders.
    Report(ReportArgs),
}

/// Flags shared by both subcommands.
#[derive(Debug, Args)]
pub struct Variant {
    /// The quick variant (few seeds and ticks; what the tests run).
    #[arg(long)]
    pub quick: bool,
    /// Folder of the runs (default populations/reproductions, or
    /// populations/reproductions-quick with --quick).
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Folder of the sets (default scenarios/reproductions).
    #[arg(long, default_value = repro::SETS)]
    pub sets: PathBuf,
}

/// Flags of `reproduce run`.
#[derive(Debug, Args)]
pub struct RunSetArgs {
    /// Set folders or names (default: every set).
    pub set: Vec<String>,
    /// Which variant and where.
    #[command(flatten)]
    pub variant: Variant,
    /// Worker threads.
    #[command(flatten)]
    pub threads: super::Threads,
}

/// Flags of `reproduce report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Which variant and where.
    #[command(flatten)]
    pub variant: Variant,
    /// Output folder of REPRODUCTIONS.md/.json (default: analysis/ for the full
    /// variant, the runs folder for --quick).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A file included verbatim as "How these runs were made" (command, commit,
    /// machine, date, wall time).
    #[arg(long)]
    pub provenance: Option<PathBuf>,
}

/// Run `outerloop reproduce`.
pub fn run(args: ReproduceArgs) -> anyhow::Result<()> {
    match args.command {
        ReproduceCommand::Run(a) => run_sets(a),
        ReproduceCommand::Report(a) => report(a),
    }
}

fn load_sets(v: &Variant, names: &[String]) -> Result<Vec<ReproSet>, InputError> {
    let paths: Vec<PathBuf> = if names.is_empty() {
        repro::sets_in(&v.sets)
    } else {
        names
            .iter()
            .map(|n| {
                let p = PathBuf::from(n);
                if p.exists() { p } else { v.sets.join(n) }
            })
            .collect()
    };
    if paths.is_empty() {
        return Err(InputError::usage(
            format!("no reproduction sets in {}", v.sets.display()),
            "a set is a folder with a reproduction.toml",
        ));
    }
    paths.iter().map(|p| ReproSet::load(p, v.quick)).collect()
}

fn root(v: &Variant) -> PathBuf {
    v.root.clone().unwrap_or_else(|| repro::default_root(v.quick))
}

fn input_first(e: ReproError) -> anyhow::Error {
    match e {
        ReproError::Input(i) => i.into(),
        ReproError::Run(crate::store::run_dir::RunError::Input(i)) => i.into(),
        other => other.into(),
    }
}

fn run_sets(args: RunSetArgs) -> anyhow::Result<()> {
    args.threads.configure_pool()?;
    let sets = load_sets(&args.variant, &args.set)?;
    let root = root(&args.variant);
    let threads = args.threads.count()?;
    let started = Instant::now();
    for set in &sets {
        let out = root.join(&set.name);
        let progress = |i: usize, n: usize, job: &repro::manifest::Job, outcome: JobOutcome| {
            let what = match outcome {
                JobOutcome::Skipped => "finished, skipped",
                JobOutcome::Resumed => "resuming",
                JobOutcome::Ran => "running",
            };
            eprintln!(
                "[{:>7.1} s] {} {}/{}: {} ({what})",
                started.elapsed().as_secs_f64(),
                set.name,
                i + 1,
                n,
                job.dir
            );
        };
        repro::run_set(set, &out, threads, &progress).map_err(input_first)?;
    }
    outln!("runs in {}; finished in {:.1} s", root.display(), started.elapsed().as_secs_f64());
    outln!(
        "document: outerloop reproduce report{}{}",
        if args.variant.quick { " --quick" } else { "" },
        args.variant.root.as_ref().map_or(String::new(), |r| format!(" --root {}", r.display()))
    );
    Ok(())
}

fn report(args: ReportArgs) -> anyhow::Result<()> {
    let sets = load_sets(&args.variant, &[])?;
    let root = root(&args.variant);
    let provenance = match &args.provenance {
        Some(p) => Some(crate::input::read_text(p)?),
        None => None,
    };
    let doc = repro::document(&sets, &root, args.variant.quick).map_err(input_first)?;
    let out = args.out.unwrap_or_else(|| if args.variant.quick { root.clone() } else { PathBuf::from("analysis") });
    crate::input::output_dir(&out)?;
    let write = |name: &str, text: &str| -> anyhow::Result<PathBuf> {
        let p = Path::new(&out).join(name);
        crate::store::atomic::write_atomic(&p, text.as_bytes())?;
        Ok(p)
    };
    let md = write("REPRODUCTIONS.md", &doc.markdown(provenance.as_deref()))?;
    write("REPRODUCTIONS.json", &doc.json())?;
    for c in &doc.claims {
        outln!("{:<12} {:<16} {}", c.set, c.verdict.words(), c.measurement);
    }
    outln!("wrote {} and REPRODUCTIONS.json", md.display());
    Ok(())
}
