//! `outerloop inspect DIR`: the population table and the champion's lineage.

use std::path::PathBuf;

use clap::Args;

use crate::ancestry::Ancestry;
use crate::cli::out::{out, outln};
use crate::driver::Run;

/// Flags of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A run folder.
    pub dir: PathBuf,
    /// Also write the champion's genome to this file (atomically), to run it elsewhere:
    /// `mech run`, `mech serve`, the Python package.
    #[arg(long, value_name = "FILE")]
    pub champion: Option<PathBuf>,
}

/// Run `outerloop inspect`.
pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    let mut run = Run::inspect(&args.dir)?;
    let ticks = run.sim().ticks_done();
    outln!("run {} in {}: {} of {} ticks done", run.scenario().name, args.dir.display(), ticks, run.scenario().ticks);
    outln!(
        "\n{:>6} {:<10} {:>9} {:>9} {:>5} {:>5}  {:<24} parents",
        "id",
        "status",
        "claimed",
        "verified",
        "tick",
        "size",
        "operator"
    );
    let fmt = |x: Option<f64>| x.map(|v| format!("{v:+.3}")).unwrap_or_else(|| "-".into());
    for r in run.sim().population() {
        outln!(
            "{:>6} {:<10} {:>9} {:>9} {:>5} {:>5}  {:<24} {:?}",
            r.id,
            r.status,
            fmt(r.claimed),
            fmt(r.verified),
            r.tick,
            r.size,
            r.operator,
            r.parents
        );
    }
    let events = run.events()?;
    let ancestry = Ancestry::from_events(&events);
    if let Some(c) = run.sim().champion() {
        outln!("\nchampion #{} lineage:", c.id);
        for (id, edge) in ancestry.first_parent_path(c.id) {
            match edge {
                Some(e) => outln!(
                    "  #{id} <- {} by {} at tick {} ({})",
                    e.operator,
                    e.agent.name(),
                    e.tick,
                    e.diagnosis.unwrap_or_default()
                ),
                None => outln!("  #{id} (seed)"),
            }
        }
        out!("{}", c.genome);
        if let Some(path) = &args.champion {
            crate::store::atomic::write_atomic(path, c.genome.as_bytes())?;
            outln!("\nchampion genome written to {}", path.display());
        }
    } else if args.champion.is_some() {
        return Err(crate::diagnostic::InputError::usage(
            "the run has no verified champion yet",
            "resume the run until the verifier confirms one",
        )
        .into());
    }
    Ok(())
}
