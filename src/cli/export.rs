//! `outerloop export RUN_DIR --format csv|json|graphml|dot`: the mechanisms table, the
//! events table and the ancestry graph for pandas, networkx, Gephi and Graphviz.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::ancestry::{Ancestry, export};
use crate::cli::out::outln;
use crate::driver::Run;
use crate::store::atomic::write_atomic;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// mechanisms.csv, events.csv and ancestry-edges.csv.
    Csv,
    /// mechanisms.json, events.json and ancestry.json (node-link).
    Json,
    /// ancestry.graphml.
    Graphml,
    /// ancestry.dot.
    Dot,
}

/// Flags of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A run folder.
    pub dir: PathBuf,
    /// What to write.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Output folder (default: RUN_DIR/export).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Run `outerloop export`.
pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    // The events up to the checkpoint, verified against it.
    let events = Run::inspect(&args.dir)?.events()?;
    let ancestry = Ancestry::from_events(&events);
    let out = args.out.unwrap_or_else(|| args.dir.join("export"));
    crate::input::output_dir(&out)?;
    let outputs: Vec<(&str, String)> = match args.format {
        Format::Csv => vec![
            ("mechanisms.csv", export::mechanisms_csv(&ancestry, &events)),
            ("events.csv", export::events_csv(&events)),
            ("ancestry-edges.csv", export::edges_csv(&ancestry)),
        ],
        Format::Json => vec![
            ("mechanisms.json", export::mechanisms_json(&ancestry, &events)),
            ("events.json", serde_json::to_string_pretty(&events)? + "\n"),
            ("ancestry.json", export::ancestry_json(&ancestry)),
        ],
        Format::Graphml => vec![("ancestry.graphml", export::graphml(&ancestry))],
        Format::Dot => vec![("ancestry.dot", ancestry.to_dot())],
    };
    for (name, text) in outputs {
        let path = out.join(name);
        write_atomic(&path, text.as_bytes())?;
        outln!("{}", path.display());
    }
    outln!(
        "{} mechanisms, {} ancestry edges, {} events",
        ancestry.graph.node_count(),
        ancestry.graph.edge_count(),
        events.len()
    );
    Ok(())
}
