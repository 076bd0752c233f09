//! `outerloop watch RUN_DIR`: a live view of a run. Serves the interactive part of the
//! report (the whole ancestry, the optimisation history, progress with its spread) on
//! 127.0.0.1, replayed from the run folder's record; after each checkpoint the page
//! reloads itself. The measured sections of a report (fresh episodes, held-out tasks,
//! scaling) need new inner runs: `outerloop analyze` makes them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::analysis::doc::{Block, Doc};
use crate::analysis::explore::Explorer;
use crate::analysis::progress::progress;
use crate::analysis::run_data::RunData;
use crate::diagnostic::InputError;

/// Flags of `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The run folder (a run in progress or finished).
    pub dir: PathBuf,
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8765)]
    pub port: u16,
    /// Stop after serving this many seconds (for scripts and tests; default: until Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    pub stop_after: Option<u64>,
}

/// What identifies the state of a run folder: the checkpoint's size and modification
/// time (it is replaced atomically once per tick).
fn version(dir: &Path) -> String {
    std::fs::metadata(dir.join("checkpoint.bin"))
        .map(|m| {
            let t = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).unwrap_or_default();
            format!("{}-{}", m.len(), t.as_nanos())
        })
        .unwrap_or_else(|_| "none".into())
}

/// The live page of `dir` at `version`.
pub fn live_page(dir: &Path, version: &str) -> anyhow::Result<String> {
    let data = RunData::load(dir)?;
    let mut explorer = Explorer::new(&data, &progress(&data.events, data.ticks_done));
    explorer.live_version = Some(version.to_string());
    explorer.notes.push(format!(
        "Live view of {}: replayed from the event log at the last checkpoint ({} ticks done); the page reloads after each new checkpoint. The measured sections of a report (fresh episodes, held-out tasks, scaling, parallel coordinates) need new inner runs: outerloop analyze {} makes them.",
        dir.display(),
        data.ticks_done,
        dir.display()
    ));
    let doc = Doc {
        title: format!("outerloop live view: {}", data.scenario.name),
        blocks: vec![Block::Para(format!(
            "Run {} (seed {}), tasks {}, inner budget {}.",
            data.scenario.name,
            data.scenario.seed,
            data.scenario.tasks.join(", "),
            data.scenario.inner_budget
        ))],
        explorer: Some(explorer.json()),
    };
    Ok(doc.html())
}

/// Run `outerloop watch`.
pub fn run(args: WatchArgs) -> anyhow::Result<()> {
    let mut current = version(&args.dir);
    // A folder that is not a run is bad input before anything listens.
    let mut page = live_page(&args.dir, &current)?;
    let server = tiny_http::Server::http(("127.0.0.1", args.port)).map_err(|e| {
        InputError::usage(format!("cannot listen on 127.0.0.1:{}: {e}", args.port), "choose another --port")
    })?;
    // The port actually bound: `--port 0` asks the system for a free one.
    let port = server.server_addr().to_ip().map_or(args.port, |a| a.port());
    println!("watching {}: open http://127.0.0.1:{port}/ (Ctrl-C stops)", args.dir.display());
    let started = std::time::Instant::now();
    loop {
        if args.stop_after.is_some_and(|s| started.elapsed() >= Duration::from_secs(s)) {
            return Ok(());
        }
        let Some(request) = server.recv_timeout(Duration::from_millis(500))? else { continue };
        let now = version(&args.dir);
        if now != current {
            // A checkpoint being replaced can be caught half-way: keep the last page.
            if let Ok(p) = live_page(&args.dir, &now) {
                page = p;
                current = now;
            }
        }
        let header = |v: &str| tiny_http::Header::from_bytes("Content-Type", v).expect("a valid header");
        if !matches!(request.method(), tiny_http::Method::Get | tiny_http::Method::Head) {
            // The live view only reads: any other method is refused, saying what is allowed.
            let allow = tiny_http::Header::from_bytes("Allow", "GET, HEAD").expect("a valid header");
            let _ = request.respond(
                tiny_http::Response::from_string("method not allowed").with_status_code(405).with_header(allow),
            );
            continue;
        }
        let response = match request.url() {
            "/" | "/index.html" => {
                tiny_http::Response::from_string(page.clone()).with_header(header("text/html; charset=utf-8"))
            }
            "/version" => tiny_http::Response::from_string(current.clone()).with_header(header("text/plain")),
            _ => tiny_http::Response::from_string("not found").with_status_code(404),
        };
        // A browser that went away is not an error of the server.
        let _ = request.respond(response);
    }
}
