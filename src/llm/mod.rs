//! The language-model proposer's connection to the world: an OpenAI-compatible
//! chat-completions client ([`client`]) and the run folder's content-addressed record of
//! every exchange ([`record`]), joined in [`RunOracle`], the `sim::writer::Oracle` a
//! run's driver installs: recorded replies first (the run's own record, then any
//! `--llm-replay` folders), the endpoint for the rest, each new exchange recorded before
//! the simulation sees it.

pub mod client;
pub mod record;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use self::client::Client;
use self::record::Record;
use crate::scenario::llm::LlmSettings;
use crate::sim::writer::{Answer, ChatRequest, Exchange, MissingReply, Oracle};

/// Requests sent to the endpoint at once (servers queue the rest; a local one on a
/// small machine answers one at a time anyway).
const IN_FLIGHT: usize = 8;

/// The oracle of one run.
pub struct RunOracle {
    record: Record,
    replay: Vec<Record>,
    client: Option<Client>,
    /// Said once per process (the endpoint failing), taken by [`RunOracle::notices`].
    notices: Mutex<(bool, Vec<String>)>,
}

impl RunOracle {
    /// The oracle of a run folder: its record in `run_dir/llm`, read-only `replay`
    /// records, and the settings' endpoint (whose key is read from its environment
    /// variable now).
    pub fn new(run_dir: &std::path::Path, settings: &LlmSettings, replay: &[PathBuf]) -> RunOracle {
        let api_key = settings.api_key_env.as_ref().and_then(|v| std::env::var(v).ok());
        let timeout = Duration::from_secs_f64(settings.timeout_s);
        RunOracle {
            record: Record::new(run_dir.join(record::FOLDER)),
            replay: replay.iter().map(Record::new).collect(),
            client: settings.endpoint.as_deref().map(|e| Client::new(e, timeout, api_key)),
            notices: Mutex::new((false, Vec::new())),
        }
    }

    /// What the user should hear since the last call (the endpoint failing, once).
    pub fn notices(&self) -> Vec<String> {
        self.notices.lock().map(|mut n| std::mem::take(&mut n.1)).unwrap_or_default()
    }

    /// The recorded exchange of `request`: the run's own record, then the replay
    /// folders (an exchange found there is copied into the run's record, so the run
    /// folder alone replays the run).
    fn recorded(&self, request: &ChatRequest) -> Result<Option<Exchange>, MissingReply> {
        if let Some(e) = self.record.find(request).map_err(MissingReply)? {
            return Ok(Some(e));
        }
        for other in &self.replay {
            if let Some(e) = other.find(request).map_err(MissingReply)? {
                self.keep(request, &e)?;
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    fn keep(&self, request: &ChatRequest, exchange: &Exchange) -> Result<(), MissingReply> {
        self.record
            .keep(request, exchange)
            .map_err(|e| MissingReply(format!("recording an exchange in {}: {e}", self.record.dir().display())))
    }

    /// Ask the endpoint for every request, a few at a time, each exchange timed.
    fn ask_endpoint(client: &Client, requests: &[&ChatRequest]) -> Vec<Exchange> {
        let mut out = Vec::with_capacity(requests.len());
        for chunk in requests.chunks(IN_FLIGHT) {
            let answered: Vec<Exchange> = std::thread::scope(|s| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|r| {
                        s.spawn(move || {
                            let started = Instant::now();
                            let answer = client.complete(r);
                            Exchange { address: r.address(), answer, wall_ms: started.elapsed().as_millis() as u64 }
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .zip(chunk)
                    .map(|(h, r)| {
                        h.join().unwrap_or_else(|_| Exchange {
                            address: r.address(),
                            answer: Answer::Failed("the request's thread panicked".into()),
                            wall_ms: 0,
                        })
                    })
                    .collect()
            });
            out.extend(answered);
        }
        out
    }
}

impl Oracle for RunOracle {
    fn ask(&self, requests: &[ChatRequest]) -> Result<Vec<Exchange>, MissingReply> {
        let mut found: Vec<Option<Exchange>> = Vec::with_capacity(requests.len());
        for r in requests {
            found.push(self.recorded(r)?);
        }
        let missing: Vec<&ChatRequest> =
            requests.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(r, _)| r).collect();
        if missing.is_empty() {
            return Ok(found.into_iter().flatten().collect());
        }
        let Some(client) = &self.client else {
            return Err(MissingReply(format!(
                "{} language-model replies are not in the run's record ({}) and the scenario names no endpoint",
                missing.len(),
                self.record.dir().display()
            )));
        };
        let asked = RunOracle::ask_endpoint(client, &missing);
        // Recorded on this (the driving) thread, in request order, before the
        // simulation sees any of them.
        for (r, e) in missing.iter().zip(&asked) {
            self.keep(r, e)?;
        }
        if let Some(Answer::Failed(why)) = asked.iter().map(|e| &e.answer).find(|a| matches!(a, Answer::Failed(_)))
            && let Ok(mut n) = self.notices.lock()
            && !n.0
        {
            n.0 = true;
            n.1.push(format!(
                "the language-model endpoint {} failed ({why}); typed operators write its children while it fails \
                 (every exchange is recorded in {})",
                client.url(),
                self.record.dir().display()
            ));
        }
        let mut asked = asked.into_iter();
        Ok(found.into_iter().map(|f| f.or_else(|| asked.next()).expect("one answer per missing request")).collect())
    }
}
