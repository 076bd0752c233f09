//! The record of a run's exchanges with the language model, content-addressed: one file
//! per exchange, `llm/<address>.json` in the run folder, holding the request and what
//! came back. A run reads its replies from here before it asks the endpoint, so a rerun,
//! a resume, `analyze` and CI reproduce the run without the endpoint. Files are written
//! atomically (through the run folder's crash points) and never rewritten; a file whose
//! request is not the one asked for is reported, never used.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sim::writer::{Answer, ChatRequest, Exchange};
use crate::store::atomic::write_atomic;
use crate::store::crashpoint;

/// The folder of a run's record, within the run folder.
pub const FOLDER: &str = "llm";

/// The most bytes one recorded exchange may have (a prompt of a few thousand tokens and
/// a reply; the client reads at most 4 MiB of reply).
const MAX_FILE: u64 = 16 << 20;

/// One recorded exchange, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// What was asked.
    pub request: ChatRequest,
    /// What came back.
    pub answer: Answer,
    /// Wall time of the exchange, milliseconds.
    pub wall_ms: u64,
}

/// A folder of recorded exchanges.
#[derive(Debug, Clone)]
pub struct Record {
    dir: PathBuf,
}

impl Record {
    /// The record in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Record {
        Record { dir: dir.into() }
    }

    /// Its folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, address: &str) -> PathBuf {
        self.dir.join(format!("{address}.json"))
    }

    /// The recorded exchange of `request`, if any; an unreadable or foreign file is an
    /// error naming it.
    pub fn find(&self, request: &ChatRequest) -> Result<Option<Exchange>, String> {
        let address = request.address();
        let path = self.path(&address);
        if !path.is_file() {
            return Ok(None);
        }
        let bytes = crate::input::read_bytes(&path, MAX_FILE).map_err(|e| format!("{}: {e}", path.display()))?;
        let recorded: Recorded = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a recorded exchange ({e}); delete it to ask again", path.display()))?;
        if recorded.request != *request {
            return Err(format!(
                "{} records another request than the one it is named for; delete it to ask again",
                path.display()
            ));
        }
        Ok(Some(Exchange { address, answer: recorded.answer, wall_ms: recorded.wall_ms }))
    }

    /// Record `exchange` of `request` (atomically; an existing file is kept: a request
    /// has one answer).
    pub fn keep(&self, request: &ChatRequest, exchange: &Exchange) -> io::Result<()> {
        let path = self.path(&exchange.address);
        if path.is_file() {
            return Ok(());
        }
        if !self.dir.is_dir() {
            crashpoint::step()?;
            fs::create_dir_all(&self.dir)?;
        }
        let recorded =
            Recorded { request: request.clone(), answer: exchange.answer.clone(), wall_ms: exchange.wall_ms };
        let mut text = serde_json::to_string_pretty(&recorded).map_err(io::Error::other)?;
        text.push('\n');
        write_atomic(&path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::writer::{ChatMessage, Reply, Role};

    #[test]
    fn an_exchange_is_kept_once_and_found_by_its_request() {
        let dir = tempfile::tempdir().unwrap();
        let record = Record::new(dir.path().join(FOLDER));
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage { role: Role::User, content: "write".into() }],
            temperature: 0.7,
            max_tokens: 64,
            seed: 3,
        };
        assert_eq!(record.find(&request), Ok(None));
        let reply = Reply {
            content: "(mechanism a (propose (uniform)))".into(),
            model: "m".into(),
            prompt_tokens: 3,
            completion_tokens: 9,
        };
        let exchange = Exchange { address: request.address(), answer: Answer::Replied(reply), wall_ms: 40 };
        record.keep(&request, &exchange).unwrap();
        assert_eq!(record.find(&request), Ok(Some(exchange.clone())));
        // A second answer to the same request does not replace the first.
        record.keep(&request, &Exchange { answer: Answer::Failed("late".into()), ..exchange.clone() }).unwrap();
        assert_eq!(record.find(&request), Ok(Some(exchange.clone())));
        // A file under the address of another request is refused, not used.
        let other = ChatRequest { seed: 4, ..request.clone() };
        fs::copy(record.path(&request.address()), record.path(&other.address())).unwrap();
        assert!(record.find(&other).unwrap_err().contains("another request"));
        fs::write(record.path(&request.address()), "{").unwrap();
        assert!(record.find(&request).unwrap_err().contains("not a recorded exchange"));
    }
}
