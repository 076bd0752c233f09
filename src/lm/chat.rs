//! The OpenAI chat-completions protocol over the model, without the HTTP: a request
//! body in, a reply body out. [`super::server`] carries it over HTTP.
//!
//! What conditions the model: the last fenced code block of the user messages whose
//! content starts with `(mechanism` (fences `mechanism`, `lisp`, `scheme` or none);
//! failing that, the last balanced `(mechanism ...)` form in the user messages; failing
//! that, nothing (an unconditional genome). A parent that parses and checks is
//! re-printed in canonical text, the form the model was trained on. A repair round (the
//! assistant's invalid reply, then a user message of diagnostics without a block)
//! therefore conditions on the parent of the earlier user message again, sampled with
//! the repair request's own seed.

use serde_json::{Value, json};

use super::document;
use super::sample::{self, Finish, SampleSettings};
use crate::genome::{Limits, load, syntax};
use crate::objective::gpt::model::Gpt;

/// The largest request body read.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The largest `max_tokens` (bytes generated) a request may ask for.
pub const MAX_TOKENS_CAP: u64 = 4096;

/// Bytes generated when a request gives no `max_tokens`.
pub const DEFAULT_MAX_TOKENS: u64 = 2048;

/// The most choices (`n`) one request may ask for.
pub const MAX_CHOICES: u64 = 4;

/// A request the server refuses, in OpenAI's error shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// What is wrong.
    pub message: String,
}

impl ApiError {
    /// A 400 saying `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError { status: 400, message: message.into() }
    }

    /// `{"error": {"message": ..., "type": ..., "code": null}}`.
    pub fn body(&self) -> Value {
        let kind = match self.status {
            400 | 413 => "invalid_request_error",
            404 => "not_found_error",
            405 => "method_not_allowed",
            _ => "server_error",
        };
        json!({ "error": { "message": self.message, "type": kind, "param": null, "code": null } })
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `system`, `user`, `assistant`, ...
    pub role: String,
    /// The text (the text parts of a list content, joined).
    pub content: String,
}

/// A validated chat-completions request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The messages, in order.
    pub messages: Vec<Message>,
    /// Sampling temperature (default 1, as OpenAI's).
    pub temperature: f64,
    /// Nucleus cut (default 1: none).
    pub top_p: f64,
    /// Top-k cut (an extension; default none).
    pub top_k: Option<usize>,
    /// Bytes to generate at most.
    pub max_tokens: usize,
    /// Choices to generate.
    pub n: usize,
    /// The sampling seed: the request's `seed`, else the xxh3 of the body.
    pub seed: u64,
}

/// Parse and check a request body. Unknown fields are ignored (`stop` too: generation
/// always stops at the document's end tag).
pub fn parse_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let object = value.as_object().ok_or_else(|| ApiError::bad_request("the body must be a JSON object"))?;
    let messages = match object.get("messages") {
        Some(Value::Array(list)) if !list.is_empty() => list.iter().map(message).collect::<Result<Vec<_>, _>>()?,
        Some(Value::Array(_)) | None => return Err(ApiError::bad_request("`messages` must be a non-empty list")),
        Some(_) => return Err(ApiError::bad_request("`messages` must be a list")),
    };
    let number = |key: &str, default: f64, lo: f64, hi: f64| -> Result<f64, ApiError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => match v.as_f64() {
                Some(x) if (lo..=hi).contains(&x) => Ok(x),
                _ => Err(ApiError::bad_request(format!("`{key}` must be a number in [{lo}, {hi}]"))),
            },
        }
    };
    let integer = |key: &str, lo: u64, hi: u64| -> Result<Option<u64>, ApiError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(x) if (lo..=hi).contains(&x) => Ok(Some(x)),
                _ => Err(ApiError::bad_request(format!("`{key}` must be an integer in [{lo}, {hi}]"))),
            },
        }
    };
    let max_tokens = match integer("max_tokens", 1, MAX_TOKENS_CAP)? {
        Some(n) => n,
        None => integer("max_completion_tokens", 1, MAX_TOKENS_CAP)?.unwrap_or(DEFAULT_MAX_TOKENS),
    };
    let seed = match object.get("seed") {
        None | Some(Value::Null) => xxhash_rust::xxh3::xxh3_64(body),
        // OpenAI's seeds are signed 64-bit integers; the bits are the seed.
        Some(v) => match (v.as_u64(), v.as_i64()) {
            (Some(s), _) => s,
            (None, Some(s)) => s as u64,
            _ => return Err(ApiError::bad_request("`seed` must be an integer")),
        },
    };
    Ok(ChatRequest {
        messages,
        temperature: number("temperature", 1.0, 0.0, 2.0)?,
        top_p: number("top_p", 1.0, 0.0, 1.0)?,
        top_k: integer("top_k", 1, 256)?.map(|k| k as usize),
        max_tokens: max_tokens as usize,
        n: integer("n", 1, MAX_CHOICES)?.unwrap_or(1) as usize,
        seed,
    })
}

/// One message of the list: `role` and `content` (a string, a list of parts whose
/// `text`s are joined, or null).
fn message(value: &Value) -> Result<Message, ApiError> {
    let bad = || ApiError::bad_request("each message must be an object with a string `role` and a `content`");
    let role = value.get("role").and_then(Value::as_str).ok_or_else(bad)?.to_string();
    let content = match value.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect(),
        Some(Value::Null) | None => String::new(),
        Some(_) => return Err(bad()),
    };
    Ok(Message { role, content })
}

/// The info strings of a fence whose block may hold the parent.
const FENCES: [&str; 4] = ["mechanism", "lisp", "scheme", ""];

/// The contents of the fenced code blocks of `text` with an accepted info string, in order.
fn fenced_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut open: Option<(bool, Vec<&str>)> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some((FENCES.contains(&info.trim()), Vec::new()));
                }
            }
            Some((accepted, lines)) => {
                if trimmed == "```" {
                    if *accepted {
                        blocks.push(lines.join("\n"));
                    }
                    open = None;
                } else {
                    lines.push(line);
                }
            }
        }
    }
    blocks
}

/// The last balanced `(mechanism ...)` form of `text` (the one closing last), `;`
/// comments skipped inside forms. One pass with a stack of open parentheses, so no
/// text, however many unclosed forms it holds, costs more than its length.
fn last_mechanism_form(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    // Each open parenthesis: where it is and whether it opens a mechanism form.
    let mut open: Vec<(usize, bool)> = Vec::new();
    let mut inside = 0usize;
    let mut found = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b';' if inside > 0 => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'(' => {
                let mechanism = text[i..].starts_with("(mechanism");
                inside += usize::from(mechanism);
                open.push((i, mechanism));
            }
            b')' => {
                if let Some((start, mechanism)) = open.pop()
                    && mechanism
                {
                    inside -= 1;
                    found = Some(&text[start..=i]);
                }
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// The parent genome the messages name (see the module doc), canonical when it checks.
pub fn conditioning(messages: &[Message]) -> Option<String> {
    let users: Vec<&str> = messages.iter().filter(|m| m.role == "user").map(|m| m.content.as_str()).collect();
    let fenced =
        users.iter().flat_map(|text| fenced_blocks(text)).rfind(|block| block.trim_start().starts_with("(mechanism"));
    let raw = fenced.or_else(|| users.iter().rev().find_map(|text| last_mechanism_form(text)).map(str::to_string))?;
    Some(match load(&raw, &Limits::default()) {
        Ok(genome) => syntax::print(&genome),
        Err(_) => raw.trim().to_string(),
    })
}

/// Generate the reply to `request` with `model`, served under `model_name`.
pub fn complete(model: &Gpt, model_name: &str, request: &ChatRequest) -> Result<Value, candle_core::Error> {
    let parent = conditioning(&request.messages);
    let prompt = document::prompt(parent.as_deref());
    let mut choices = Vec::new();
    let mut generated = 0;
    for index in 0..request.n {
        // Choice 0 uses the request's seed, so `n` does not change the first answer.
        let seed =
            if index == 0 { request.seed } else { crate::rng::derive(request.seed, "lm-choice", &[index as u64]) };
        let settings = SampleSettings {
            temperature: request.temperature,
            top_k: request.top_k,
            top_p: request.top_p,
            max_bytes: request.max_tokens,
            seed,
        };
        let sample = sample::generate(model, prompt.as_bytes(), &settings)?;
        generated += sample.bytes.len();
        let finish = match sample.finish {
            Finish::Stop => "stop",
            Finish::Length => "length",
        };
        choices.push(json!({
            "index": index,
            "message": { "role": "assistant", "content": format!("```mechanism\n{}\n```", sample.text().trim_end()) },
            "finish_reason": finish,
        }));
    }
    let prompt_bytes: usize = request.messages.iter().map(|m| m.content.len()).sum();
    let id = xxhash_rust::xxh3::xxh3_64(format!("{}|{:?}", request.seed, request.messages).as_bytes());
    Ok(json!({
        "id": format!("chatcmpl-{id:016x}"),
        "object": "chat.completion",
        "created": 0,
        "model": model_name,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_bytes,
            "completion_tokens": generated,
            "total_tokens": prompt_bytes + generated,
        },
    }))
}

/// The body of `GET /v1/models`.
pub fn models(model_name: &str) -> Value {
    json!({ "object": "list", "data": [model_object(model_name)] })
}

/// The one model as a model object.
pub fn model_object(model_name: &str) -> Value {
    json!({ "id": model_name, "object": "model", "created": 0, "owned_by": "outerloop" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(content: &str) -> Message {
        Message { role: "user".into(), content: content.into() }
    }

    #[test]
    fn the_last_fenced_mechanism_block_of_the_user_messages_conditions_the_model() {
        let parent = "(mechanism p (propose (uniform)))";
        let first = user(&format!(
            "Improve this.\n```mechanism\n{parent}\n```\nReference:\n```\n(foo)\n```\n```python\n(mechanism py)\n```"
        ));
        let reply = Message { role: "assistant".into(), content: "```mechanism\n(mechanism broken\n```".into() };
        let repair = user("error: unknown primitive `frob` at 3:5; fix it");
        let got = conditioning(&[first.clone(), reply, repair]).unwrap();
        let canonical = syntax::print(&load(parent, &Limits::default()).unwrap());
        assert_eq!(got, canonical);
        // A later block wins; a lisp fence counts.
        let later = user("```lisp\n(mechanism q (propose (uniform)))\n```");
        assert!(conditioning(&[first.clone(), later]).unwrap().starts_with("(mechanism q"));
        // A block that does not check is passed as written.
        let odd = user("```\n(mechanism z (frob))\n```");
        assert_eq!(conditioning(&[odd]).unwrap(), "(mechanism z (frob))");
    }

    #[test]
    fn without_a_block_the_last_balanced_form_or_nothing() {
        let text = "parent: (mechanism a (propose (uniform))) ; and (mechanism b (propose ; ) comment\n (frob))) then (mechanism c";
        assert_eq!(conditioning(&[user(text)]).unwrap(), "(mechanism b (propose ; ) comment\n (frob)))");
        assert_eq!(conditioning(&[user("write me a new search mechanism")]), None);
        // Many unclosed forms cost one pass.
        let unclosed = "(mechanism ".repeat(100_000);
        assert_eq!(last_mechanism_form(&unclosed), None);
        let system = Message { role: "system".into(), content: "(mechanism s (propose (uniform)))".into() };
        assert_eq!(conditioning(&[system, user("go")]), None);
    }

    #[test]
    fn requests_are_checked_and_unknown_fields_ignored() {
        let ok = br#"{"model":"x","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"max_tokens":10,"seed":-1,"stop":["```"],"foo":{}}"#;
        let r = parse_request(ok).unwrap();
        assert_eq!((r.temperature, r.max_tokens, r.seed, r.n), (0.5, 10, u64::MAX, 1));
        let parts =
            br#"{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}"#;
        let r = parse_request(parts).unwrap();
        assert_eq!(r.messages[0].content, "ab");
        assert_eq!(r.seed, xxhash_rust::xxh3::xxh3_64(parts));
        assert_eq!(r.max_tokens, DEFAULT_MAX_TOKENS as usize);
        for bad in [
            &b"{"[..],
            b"[]",
            br#"{"messages":[]}"#,
            br#"{"messages":"hi"}"#,
            br#"{"messages":[{"content":"hi"}]}"#,
            br#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}"#,
            br#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":5000}"#,
            br#"{"messages":[{"role":"user","content":"hi"}],"temperature":-1}"#,
            br#"{"messages":[{"role":"user","content":"hi"}],"seed":"x"}"#,
            br#"{"messages":[{"role":"user","content":"hi"}],"n":9}"#,
        ] {
            let err = parse_request(bad).unwrap_err();
            assert_eq!(err.status, 400, "{}", String::from_utf8_lossy(bad));
            assert_eq!(err.body()["error"]["type"], "invalid_request_error");
        }
    }
}
