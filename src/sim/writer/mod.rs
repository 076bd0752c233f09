//! The language-model proposer ("writer"): a child written by a model that reads the
//! parent, its results and the run's lessons. This module holds what the simulation
//! needs of it: the chat exchange's types, the [`Oracle`] that answers requests (the
//! run folder's record of exchanges, then the endpoint: `crate::llm`, installed by the
//! driver), the prompt ([`prompt`]), the reply's checking and the one repair round
//! ([`reply`]), and [`write_children`], which turns parents into checked genomes or
//! the reason a typed operator must write the child instead.

pub mod prompt;
pub mod reply;

use std::sync::Arc;

use bevy_ecs::prelude::Resource;
use serde::{Deserialize, Serialize};

use crate::genome::{Genome, Limits};
use crate::scenario::llm::LlmSettings;

/// Who speaks in a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The instructions.
    System,
    /// The question.
    User,
    /// The model's earlier answer (in a repair round).
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who speaks.
    pub role: Role,
    /// What is said.
    pub content: String,
}

/// One chat-completions request, exactly as sent (the body's fields in this order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// Model name.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature.
    pub temperature: f64,
    /// Most tokens in the reply.
    pub max_tokens: u32,
    /// Sampling seed (endpoints that honour it answer a request the same way twice).
    pub seed: u64,
}

impl ChatRequest {
    /// The request body (JSON; the same bytes for the same request).
    pub fn body(&self) -> String {
        serde_json::to_string(self).expect("a chat request serializes")
    }

    /// Its content address: xxh3-64 of the body, 16 hex digits. A reply is recorded and
    /// found under it, so the endpoint's location and the key are not part of it.
    pub fn address(&self) -> String {
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(self.body().as_bytes()))
    }
}

/// What the endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The first choice's message content.
    pub content: String,
    /// The model the endpoint says answered.
    pub model: String,
    /// Prompt tokens, as the endpoint counts them (0 when it does not say).
    pub prompt_tokens: u64,
    /// Completion tokens (0 when the endpoint does not say).
    pub completion_tokens: u64,
}

/// How an exchange ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    /// The endpoint replied.
    Replied(Reply),
    /// It did not (unreachable, timed out, an HTTP error, a body that is not a chat
    /// completion): why, in words.
    Failed(String),
}

/// One exchange as recorded: a replay gives back exactly this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// The request's address ([`ChatRequest::address`]).
    pub address: String,
    /// What came back.
    pub answer: Answer,
    /// Wall time of the exchange when it was made, in milliseconds (a replay reports
    /// the recorded time, so outputs do not depend on whether the endpoint was asked).
    pub wall_ms: u64,
}

/// A request no recorded exchange answers, with no endpoint to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingReply(pub String);

/// Answers chat requests: from the record of earlier exchanges, else the endpoint (and
/// records what it answered before returning).
pub trait Oracle: Send + Sync {
    /// One exchange per request, in request order.
    fn ask(&self, requests: &[ChatRequest]) -> Result<Vec<Exchange>, MissingReply>;
}

/// The simulation's access to the model: the oracle the driver installed, and a
/// missing reply that stopped the tick.
#[derive(Resource, Default, Clone)]
pub struct Writer {
    /// Where requests go (`None`: none installed; a scenario with `[proposer.llm]`
    /// cannot tick).
    pub oracle: Option<Arc<dyn Oracle>>,
    /// The reason the tick stopped (taken by `Simulation::tick`).
    pub failure: Option<String>,
}

/// How a model draft ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteResult {
    /// The first reply was a valid genome.
    Valid,
    /// The repair round's reply was.
    Repaired,
    /// Neither: a typed operator wrote the child.
    Fallback,
}

impl WriteResult {
    /// Every result.
    pub const ALL: [WriteResult; 3] = [WriteResult::Valid, WriteResult::Repaired, WriteResult::Fallback];

    /// Its name in logs and summaries.
    pub fn name(self) -> &'static str {
        match self {
            WriteResult::Valid => "valid",
            WriteResult::Repaired => "repaired",
            WriteResult::Fallback => "fallback",
        }
    }
}

/// A model draft's outcome.
#[derive(Debug, Clone)]
pub struct Written {
    /// The child, or why there is none.
    pub genome: Result<Genome, String>,
    /// How it ended.
    pub result: WriteResult,
    /// The exchanges' addresses (first, then the repair's).
    pub exchanges: Vec<String>,
    /// Tokens of every exchange (prompt and completion).
    pub tokens: u64,
    /// Recorded wall time of every exchange, milliseconds.
    pub wall_ms: u64,
    /// The model that answered last, as the endpoint named it.
    pub model: Option<String>,
}

/// One draft the model writes: its conversation and the seeds of its two rounds.
#[derive(Debug, Clone)]
pub struct DraftPrompt {
    /// System and user messages.
    pub messages: Vec<ChatMessage>,
    /// Seed of the first request.
    pub seed: u64,
    /// Seed of the repair request.
    pub repair_seed: u64,
}

/// Ask the model for one child per draft: every first request in one batch, then one
/// repair round for the replies that were not valid genomes (with the checker's located
/// diagnostics), then the reason for each draft left without a child.
pub fn write_children(
    oracle: &dyn Oracle,
    settings: &LlmSettings,
    drafts: &[DraftPrompt],
    limits: &Limits,
) -> Result<Vec<Written>, MissingReply> {
    let request = |messages: Vec<ChatMessage>, seed| ChatRequest {
        model: settings.model.clone(),
        messages,
        temperature: settings.temperature,
        max_tokens: settings.max_tokens,
        seed,
    };
    let first: Vec<ChatRequest> = drafts.iter().map(|d| request(d.messages.clone(), d.seed)).collect();
    let answers = oracle.ask(&first)?;
    let mut written: Vec<Written> = Vec::with_capacity(drafts.len());
    let mut repairs: Vec<(usize, ChatRequest)> = Vec::new();
    for (i, (exchange, req)) in answers.into_iter().zip(&first).enumerate() {
        let mut w = Written {
            genome: Err(String::new()),
            result: WriteResult::Fallback,
            exchanges: vec![exchange.address.clone()],
            tokens: tokens_of(&exchange),
            wall_ms: exchange.wall_ms,
            model: model_of(&exchange),
        };
        match &exchange.answer {
            Answer::Failed(why) => w.genome = Err(format!("the endpoint failed: {why}")),
            Answer::Replied(r) => match reply::parse(&r.content, limits) {
                Ok(g) => {
                    w.genome = Ok(g);
                    w.result = WriteResult::Valid;
                }
                Err(problem) => {
                    let mut messages = req.messages.clone();
                    messages.push(ChatMessage { role: Role::Assistant, content: r.content.clone() });
                    messages.push(ChatMessage { role: Role::User, content: prompt::repair_message(&problem) });
                    repairs.push((i, request(messages, drafts[i].repair_seed)));
                    w.genome = Err(problem.summary());
                }
            },
        }
        written.push(w);
    }
    if repairs.is_empty() {
        return Ok(written);
    }
    let requests: Vec<ChatRequest> = repairs.iter().map(|(_, r)| r.clone()).collect();
    for ((i, _), exchange) in repairs.iter().zip(oracle.ask(&requests)?) {
        let w = &mut written[*i];
        w.exchanges.push(exchange.address.clone());
        w.tokens += tokens_of(&exchange);
        w.wall_ms += exchange.wall_ms;
        w.model = model_of(&exchange).or(w.model.take());
        match &exchange.answer {
            Answer::Failed(why) => w.genome = Err(format!("the endpoint failed in the repair round: {why}")),
            Answer::Replied(r) => match reply::parse(&r.content, limits) {
                Ok(g) => {
                    w.genome = Ok(g);
                    w.result = WriteResult::Repaired;
                }
                Err(problem) => w.genome = Err(format!("invalid after repair: {}", problem.summary())),
            },
        }
    }
    Ok(written)
}

fn model_of(exchange: &Exchange) -> Option<String> {
    match &exchange.answer {
        Answer::Replied(r) if !r.model.is_empty() => Some(r.model.clone()),
        _ => None,
    }
}

fn tokens_of(exchange: &Exchange) -> u64 {
    match &exchange.answer {
        Answer::Replied(r) => r.prompt_tokens + r.completion_tokens,
        Answer::Failed(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// An oracle that answers from a fixed list of replies, in call order, and keeps
    /// every request it saw.
    struct Scripted {
        replies: Mutex<Vec<Answer>>,
        seen: Mutex<Vec<ChatRequest>>,
    }

    impl Oracle for Scripted {
        fn ask(&self, requests: &[ChatRequest]) -> Result<Vec<Exchange>, MissingReply> {
            let mut replies = self.replies.lock().unwrap();
            self.seen.lock().unwrap().extend(requests.iter().cloned());
            Ok(requests
                .iter()
                .map(|r| Exchange { address: r.address(), answer: replies.remove(0), wall_ms: 5 })
                .collect())
        }
    }

    fn replied(content: &str) -> Answer {
        Answer::Replied(Reply { content: content.into(), model: "m".into(), prompt_tokens: 10, completion_tokens: 2 })
    }

    fn settings() -> LlmSettings {
        LlmSettings {
            endpoint: None,
            model: "m".into(),
            temperature: 0.5,
            max_tokens: 256,
            timeout_s: 1.0,
            api_key_env: None,
            share: 1.0,
        }
    }

    #[test]
    fn a_valid_reply_a_repaired_one_and_a_fallback() {
        let good = "```mechanism\n(mechanism a (propose (uniform)))\n```";
        let oracle = Scripted {
            replies: Mutex::new(vec![
                replied(good),
                replied("(mechanism b (propose (perturb)))"),
                Answer::Failed("connection refused".into()),
                replied("(mechanism c (propose (uniform)))"),
            ]),
            seen: Mutex::new(Vec::new()),
        };
        let draft = |seed| DraftPrompt {
            messages: vec![ChatMessage { role: Role::User, content: format!("draft {seed}") }],
            seed,
            repair_seed: seed + 100,
        };
        let out = write_children(&oracle, &settings(), &[draft(1), draft(2), draft(3)], &Limits::default()).unwrap();
        assert_eq!(
            out.iter().map(|w| w.result).collect::<Vec<_>>(),
            [WriteResult::Valid, WriteResult::Repaired, WriteResult::Fallback]
        );
        assert_eq!(out[0].genome.as_ref().unwrap().name, "a");
        assert_eq!(out[1].genome.as_ref().unwrap().name, "c");
        assert_eq!(out[1].exchanges.len(), 2);
        assert_eq!((out[1].tokens, out[1].wall_ms), (24, 10));
        assert!(out[2].genome.as_ref().unwrap_err().contains("connection refused"));
        // The repair request replays the conversation with the invalid reply and the
        // checker's located diagnostics, under its own seed.
        let seen = oracle.seen.lock().unwrap();
        let repair = &seen[3];
        assert_eq!(repair.seed, 102);
        assert_eq!(repair.messages[1].role, Role::Assistant);
        assert!(repair.messages[2].content.contains("line 1:"), "{}", repair.messages[2].content);
    }

    #[test]
    fn the_address_is_the_request_and_nothing_else() {
        let r = ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage { role: Role::User, content: "hi".into() }],
            temperature: 0.5,
            max_tokens: 16,
            seed: 1,
        };
        assert_eq!(r.address(), r.clone().address());
        assert_ne!(r.address(), ChatRequest { seed: 2, ..r.clone() }.address());
        assert_eq!(r.address().len(), 16);
    }
}

/// The language-model proposer's record in a run, replayed from its events: what the
/// summary reports and the analysis compares operators with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriterTally {
    /// Drafts the model was asked for.
    pub drafts: usize,
    /// Drafts per result, in [`WriteResult::ALL`] order.
    pub results: [usize; 3],
    /// Fallbacks because the endpoint failed (the rest: replies that were not genomes).
    pub endpoint_failures: usize,
    /// The model's children born (valid, new structure and behaviour).
    pub born: usize,
    /// The model's valid children that duplicated a known mechanism.
    pub duplicates: usize,
    /// The model's children evaluated.
    pub evaluated: usize,
    /// The model's children whose claim beat their parent's.
    pub improved: usize,
    /// Tokens (prompt and completion) over every exchange.
    pub tokens: u64,
    /// Recorded wall time of every exchange, milliseconds.
    pub wall_ms: u64,
    /// The models that answered, with their drafts.
    pub models: std::collections::BTreeMap<String, usize>,
}

impl WriterTally {
    /// Tally a run's events (`None`: the model wrote no draft).
    pub fn of(events: &[crate::sim::events::Event]) -> Option<WriterTally> {
        use crate::sim::events::Event;
        use crate::sim::operators::MadeBy;
        let mut t = WriterTally::default();
        let mut children = std::collections::BTreeSet::new();
        for e in events {
            match e {
                Event::Written { result, reason, tokens, wall_ms, model, .. } => {
                    if let Some(m) = model {
                        *t.models.entry(m.clone()).or_default() += 1;
                    }
                    t.drafts += 1;
                    t.results[*result as usize] += 1;
                    if reason.as_deref().is_some_and(|r| r.starts_with("the endpoint failed")) {
                        t.endpoint_failures += 1;
                    }
                    t.tokens += tokens;
                    t.wall_ms += wall_ms;
                }
                Event::Born { id, operator: MadeBy::Llm, .. } => {
                    t.born += 1;
                    children.insert(*id);
                }
                Event::Duplicate { operator: MadeBy::Llm, .. } => t.duplicates += 1,
                Event::Evaluated { id, improved, .. } if children.contains(id) => {
                    t.evaluated += 1;
                    t.improved += usize::from(*improved == Some(true));
                }
                _ => {}
            }
        }
        (t.drafts > 0).then_some(t)
    }

    /// One paragraph for the summary.
    pub fn describe(&self) -> String {
        let [valid, repaired, fallback] = self.results;
        let share = |n: usize| 100.0 * n as f64 / self.drafts.max(1) as f64;
        let models: Vec<String> = self.models.iter().map(|(m, n)| format!("{m} ({n} drafts)")).collect();
        let answered = match models.is_empty() {
            true => String::new(),
            false => format!("; answered by {}", models.join(", ")),
        };
        format!(
            "language model: {} drafts, valid {valid} ({:.0}%), repaired {repaired} ({:.0}%), fallback to typed \
             operators {fallback} ({:.0}%; {} because the endpoint failed); {} children born, {} duplicates of known \
             mechanisms; {} evaluated, {} beat their parent's claim; {} tokens, {:.1} s of exchanges (as recorded){answered}",
            self.drafts,
            share(valid),
            share(repaired),
            share(fallback),
            self.endpoint_failures,
            self.born,
            self.duplicates,
            self.evaluated,
            self.improved,
            self.tokens,
            self.wall_ms as f64 / 1000.0
        )
    }
}
