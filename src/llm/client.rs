//! A client of OpenAI-compatible chat-completions endpoints (llama.cpp's
//! `llama-server`, vLLM, Ollama, hosted APIs, `outerloop lm serve`): one blocking `POST
//! {endpoint}/chat/completions` per request, with a deadline, the key from an
//! environment variable, and every way it can go wrong turned into a failed
//! [`Answer`] with the reason in words, never a panic.

use std::time::Duration;

use serde::Deserialize;

use crate::sim::writer::{Answer, ChatRequest, Reply};

/// The most bytes of a response body read (a chat completion is a few KB; a bigger one
/// is not a mechanism).
const MAX_BODY: u64 = 4 << 20;

/// The most characters of an error body quoted in a reason.
const QUOTED: usize = 200;

/// An endpoint.
pub struct Client {
    agent: ureq::Agent,
    url: String,
    api_key: Option<String>,
}

impl Client {
    /// A client of `endpoint` (the API's base URL) waiting at most `timeout` for a
    /// reply, authenticated with `api_key` when given.
    pub fn new(endpoint: &str, timeout: Duration, api_key: Option<String>) -> Client {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // Read error bodies too: they say why (a wrong model name, a full queue).
            .http_status_as_error(false)
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            url: format!("{}/chat/completions", endpoint.trim_end_matches('/')),
            api_key,
        }
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Send one request and read its answer.
    pub fn complete(&self, request: &ChatRequest) -> Answer {
        let mut call = self.agent.post(&self.url).content_type("application/json");
        if let Some(key) = &self.api_key {
            call = call.header("Authorization", format!("Bearer {key}"));
        }
        let response = match call.send(request.body()) {
            Ok(r) => r,
            Err(e) => return Answer::Failed(describe(&e)),
        };
        let status = response.status().as_u16();
        let body = match response.into_body().with_config().limit(MAX_BODY).read_to_string() {
            Ok(b) => b,
            Err(e) => return Answer::Failed(format!("reading the reply: {}", describe(&e))),
        };
        if !(200..300).contains(&status) {
            return Answer::Failed(format!("HTTP {status}: {}", quote(&body)));
        }
        match parse_completion(&body) {
            Ok(reply) => Answer::Replied(reply),
            Err(why) => Answer::Failed(why),
        }
    }
}

/// The first choice of a chat-completion body.
pub fn parse_completion(body: &str) -> Result<Reply, String> {
    #[derive(Deserialize)]
    struct Completion {
        #[serde(default)]
        model: String,
        choices: Vec<Choice>,
        #[serde(default)]
        usage: Option<Usage>,
    }
    #[derive(Deserialize)]
    struct Choice {
        message: Message,
    }
    #[derive(Deserialize)]
    struct Message {
        #[serde(default)]
        content: Option<String>,
    }
    #[derive(Deserialize)]
    struct Usage {
        #[serde(default)]
        prompt_tokens: u64,
        #[serde(default)]
        completion_tokens: u64,
    }
    let c: Completion =
        serde_json::from_str(body).map_err(|e| format!("the reply is not a chat completion ({e}): {}", quote(body)))?;
    let Some(first) = c.choices.into_iter().next() else {
        return Err("the reply has no choices".into());
    };
    let usage = c.usage.unwrap_or(Usage { prompt_tokens: 0, completion_tokens: 0 });
    Ok(Reply {
        content: first.message.content.unwrap_or_default(),
        model: c.model,
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
    })
}

/// A transport error in words (timeouts and refused connections named as such).
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "no reply within the timeout".into(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        other => other.to_string(),
    }
}

/// The start of a body, on one line.
fn quote(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(QUOTED) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completion_is_read_and_anything_else_is_a_reason() {
        let body = r#"{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,
            "message":{"role":"assistant","content":"(mechanism a (propose (uniform)))"},
            "finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}"#;
        let r = parse_completion(body).unwrap();
        assert_eq!((r.model.as_str(), r.prompt_tokens, r.completion_tokens), ("m", 12, 7));
        assert!(r.content.starts_with("(mechanism"));
        assert!(parse_completion("<html>busy</html>").unwrap_err().contains("not a chat completion"));
        assert!(parse_completion(r#"{"choices":[]}"#).unwrap_err().contains("no choices"));
        let null_content = r#"{"choices":[{"message":{"content":null}}]}"#;
        assert_eq!(parse_completion(null_content).unwrap().content, "");
    }

    #[test]
    fn a_closed_port_is_a_refused_connection() {
        // Bind then drop: the port is closed when the request is sent.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client = Client::new(&format!("http://127.0.0.1:{port}/v1"), Duration::from_secs(5), None);
        let request = ChatRequest { model: "m".into(), messages: vec![], temperature: 0.0, max_tokens: 16, seed: 0 };
        assert_eq!(client.complete(&request), Answer::Failed("connection refused".into()));
    }
}
