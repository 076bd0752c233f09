//! `outerloop watch RUN_DIR`: a live view of a run. Serves the interactive part of the
//! report (the whole ancestry, the optimisation history, progress with its spread) on
//! 127.0.0.1, replayed from the run folder's record; after each checkpoint the page
//! reloads itself. The measured sections of a report (fresh episodes, held-out tasks,
//! scaling) need new inner runs: `outerloop analyze` makes them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use hyper::StatusCode;
use hyper::body::Bytes;

use crate::analysis::doc::{Block, Doc};
use crate::analysis::explore::Explorer;
use crate::analysis::progress::progress;
use crate::analysis::run_data::RunData;
use crate::cli::live_server::{self, Limits, Reply, Site};
use crate::cli::out::outln;
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

/// The live view of one run folder as a [`Site`]: `/` (or `/index.html`) is the page,
/// `/version` the checkpoint's identity (the page polls it and reloads when it changes).
/// The page is rebuilt when a request finds a new checkpoint.
pub struct LiveSite {
    dir: PathBuf,
    /// The version the page was built at, and the page.
    current: Mutex<(String, Bytes)>,
}

impl LiveSite {
    /// The live view of `dir`; a folder that is not a run is bad input.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        let version = version(dir);
        let page = live_page(dir, &version)?;
        Ok(LiveSite { dir: dir.to_path_buf(), current: Mutex::new((version, Bytes::from(page))) })
    }

    /// The version and page now, rebuilt if the checkpoint changed.
    fn now(&self) -> (String, Bytes) {
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = version(&self.dir);
        if now != current.0 {
            // A checkpoint being replaced can be caught half-way: keep the last page.
            if let Ok(page) = live_page(&self.dir, &now) {
                *current = (now, Bytes::from(page));
            }
        }
        current.clone()
    }
}

impl Site for LiveSite {
    fn reply(&self, path: &str) -> Reply {
        match path {
            "/" | "/index.html" => {
                Reply { status: StatusCode::OK, content_type: "text/html; charset=utf-8", body: self.now().1 }
            }
            "/version" => Reply { status: StatusCode::OK, content_type: "text/plain", body: Bytes::from(self.now().0) },
            _ => Reply::not_found(),
        }
    }
}

/// Run `outerloop watch`.
pub fn run(args: WatchArgs) -> anyhow::Result<()> {
    // A folder that is not a run is bad input before anything listens.
    let site = LiveSite::new(&args.dir)?;
    let listener = std::net::TcpListener::bind(("127.0.0.1", args.port)).map_err(|e| {
        InputError::usage(format!("cannot listen on 127.0.0.1:{}: {e}", args.port), "choose another --port")
    })?;
    // The port actually bound: `--port 0` asks the system for a free one.
    let port = listener.local_addr()?.port();
    outln!("watching {}: open http://127.0.0.1:{port}/ (Ctrl-C stops)", args.dir.display());
    // The line above is what scripts wait for: it must not sit in a buffer.
    crate::cli::out::flush();
    live_server::serve(listener, Arc::new(site), Limits::default(), args.stop_after.map(Duration::from_secs))?;
    Ok(())
}
