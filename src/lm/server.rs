//! `outerloop lm serve`: the OpenAI-compatible HTTP server of the model on 127.0.0.1.
//! hyper's HTTP/1 on a one-thread tokio runtime, each connection a task, through
//! [`crate::http_server`] as the live view's server in `cli/live_server.rs` (a cap on
//! open connections, a header size limit and read timeout, a deadline per
//! connection), plus what a POST needs: a cap on the body (413 above it, before any byte is read when
//! `Content-Length` says so) and a time limit on reading it. Generation is CPU-bound and
//! runs on tokio's blocking pool of `threads` threads, so the runtime keeps answering
//! `/health` and queues completions beyond `threads`. Every reply is a pure function of
//! the request's bytes, whatever the concurrency.
//!
//! Routes: `POST /v1/chat/completions` ([`super::chat`]), `GET /v1/models`,
//! `GET /v1/models/{name}`, `GET /health`; errors in OpenAI's shape (400, 404, 405,
//! 413, 500).

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};

use super::chat::{self, ApiError};
use crate::http_server;
use crate::objective::gpt::model::Gpt;

/// The model a server answers with, and the name it answers under.
#[derive(Debug)]
pub struct Served {
    /// The weights.
    pub model: Gpt,
    /// `outerloop-mech-lm-<identity>`.
    pub name: String,
}

/// The served name of the model whose file has identity `identity` (16 hex digits).
pub fn served_name(identity_hex: &str) -> String {
    format!("outerloop-mech-lm-{identity_hex}")
}

/// The bounds every client is held to.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Open connections, request heads and the deadline per connection, as the live
    /// view's server.
    pub http: http_server::Limits,
    /// The longest a client may take to send a request's body.
    pub body_timeout: Duration,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Completions generated at once (threads of the blocking pool).
    pub threads: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            http: http_server::Limits {
                max_connections: 256,
                // Long enough for a queued completion of the largest size.
                connection_deadline: Duration::from_secs(900),
                header_timeout: Duration::from_secs(10),
                max_header_bytes: 16 << 10,
            },
            body_timeout: Duration::from_secs(30),
            max_body_bytes: chat::MAX_BODY_BYTES,
            threads: 1,
        }
    }
}

/// Serve `served` on `listener` until the process is stopped. Runs the runtime on the
/// calling thread and generation on `limits.threads` more.
pub fn serve(listener: std::net::TcpListener, served: Arc<Served>, limits: ServerLimits) -> std::io::Result<()> {
    http_server::serve(listener, limits.http, limits.threads, None, move |request| {
        respond(served.clone(), request, limits)
    })
}

/// Serve one connection until the client closes it, breaks the protocol, exceeds a
/// limit or reaches the deadline.
pub async fn connection<IO>(io: IO, served: Arc<Served>, limits: ServerLimits)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    http_server::connection(io, limits.http, move |request| respond(served.clone(), request, limits)).await;
}

/// The response to one request.
async fn respond(served: Arc<Served>, request: Request<Incoming>, limits: ServerLimits) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let model_path = path.strip_prefix("/v1/models/");
    let allowed = match path.as_str() {
        "/v1/chat/completions" => "POST",
        "/v1/models" | "/health" => "GET, HEAD",
        _ if model_path == Some(served.name.as_str()) => "GET, HEAD",
        _ => return error(&ApiError { status: 404, message: format!("no route `{path}`") }),
    };
    let result = match (allowed, &method) {
        ("POST", &Method::POST) => chat_completion(served, request, limits).await,
        ("GET, HEAD", &Method::GET | &Method::HEAD) => Ok(match path.as_str() {
            "/health" => serde_json::json!({ "status": "ok" }),
            "/v1/models" => chat::models(&served.name),
            _ => chat::model_object(&served.name),
        }),
        _ => {
            let mut response = error(&ApiError { status: 405, message: format!("`{path}` answers {allowed} only") });
            response.headers_mut().insert(ALLOW, HeaderValue::from_static(allowed));
            return response;
        }
    };
    match result {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => error(&e),
    }
}

/// Read, check and answer a chat completion.
async fn chat_completion(
    served: Arc<Served>,
    request: Request<Incoming>,
    limits: ServerLimits,
) -> Result<Value, ApiError> {
    let too_large = || ApiError {
        status: 413,
        message: format!("the request body is larger than {} bytes", limits.max_body_bytes),
    };
    let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let body = Limited::new(request.into_body(), limits.max_body_bytes);
    let bytes = match tokio::time::timeout(limits.body_timeout, body.collect()).await {
        Err(_) => return Err(ApiError::bad_request("the request body was not sent in time")),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => return Err(too_large()),
        Ok(Err(e)) => return Err(ApiError::bad_request(format!("the request body could not be read: {e}"))),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let parsed = chat::parse_request(&bytes)?;
    let generated = tokio::task::spawn_blocking(move || chat::complete(&served.model, &served.name, &parsed)).await;
    match generated {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(e)) => Err(ApiError { status: 500, message: format!("generation failed: {e}") }),
        Err(_) => Err(ApiError { status: 500, message: "generation failed".into() }),
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error(e: &ApiError) -> Response<Full<Bytes>> {
    json_response(StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), &e.body())
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::objective::gpt::model::{ModelConfig, OpPath};

    /// Send `request` down an in-memory pipe, close it, return everything answered.
    fn exchange(request: &[u8]) -> String {
        let model = Gpt::new(ModelConfig::tiny(), 1, OpPath::Fused, &Device::Cpu).unwrap();
        let served = Arc::new(Served { model, name: served_name("0123456789abcdef") });
        http_server::exchange(request, |io| connection(io, served, ServerLimits::default()))
    }

    fn post(body: &str) -> String {
        exchange(
            format!("POST /v1/chat/completions HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes(),
        )
    }

    #[test]
    fn routes_methods_and_errors() {
        assert!(exchange(b"GET /health HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200"));
        let models = exchange(b"GET /v1/models HTTP/1.1\r\n\r\n");
        assert!(
            models.starts_with("HTTP/1.1 200") && models.contains("outerloop-mech-lm-0123456789abcdef"),
            "{models}"
        );
        assert!(
            exchange(b"GET /v1/models/outerloop-mech-lm-0123456789abcdef HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200")
        );
        let missing = exchange(b"GET /nope HTTP/1.1\r\n\r\n");
        assert!(missing.starts_with("HTTP/1.1 404") && missing.contains(r#""error""#), "{missing}");
        let get = exchange(b"GET /v1/chat/completions HTTP/1.1\r\n\r\n");
        assert!(get.starts_with("HTTP/1.1 405") && get.contains("allow: POST"), "{get}");
        let bad = post("{not json");
        assert!(bad.starts_with("HTTP/1.1 400") && bad.contains("invalid_request_error"), "{bad}");
        let huge = exchange(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n");
        assert!(huge.starts_with("HTTP/1.1 413"), "{huge}");
    }

    #[test]
    fn a_completion_has_the_openai_shape_and_repeats_exactly() {
        let body = r#"{"model":"any","messages":[{"role":"user","content":"```mechanism\n(mechanism p (propose (uniform)))\n```"}],"max_tokens":12,"seed":5}"#;
        let a = post(body);
        assert!(a.starts_with("HTTP/1.1 200"), "{a}");
        let json: Value = serde_json::from_str(&a[a.find("\r\n\r\n").unwrap() + 4..]).unwrap();
        assert_eq!(json["object"], "chat.completion");
        assert_eq!(json["model"], "outerloop-mech-lm-0123456789abcdef");
        assert_eq!(json["choices"][0]["message"]["role"], "assistant");
        assert!(json["choices"][0]["message"]["content"].as_str().unwrap().starts_with("```mechanism\n"));
        assert_eq!(json["choices"][0]["finish_reason"], "length");
        assert_eq!(json["usage"]["completion_tokens"], 12);
        assert_eq!(post(body), a);
    }
}
