//! `outerloop lm`: a tiny model trained by `lm train`, served by `lm serve --port 0`,
//! and asked over real HTTP (hand-written HTTP/1.1 on a `TcpStream`): the OpenAI shape,
//! the same request twice gives the same reply, bad JSON is a 400 in OpenAI's error
//! shape, `/v1/models` lists the model; bad input to either command is exit code 2.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn outerloop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outerloop")).args(args).output().unwrap()
}

/// Train the tiny model into `out`; its stdout.
pub fn train_tiny(out: &Path) -> String {
    let o = outerloop(&[
        "lm",
        "train",
        "--out",
        out.to_str().unwrap(),
        "--steps",
        "10",
        "--batch-tokens",
        "128",
        "--context",
        "64",
        "--depth",
        "1",
        "--width",
        "32",
        "--heads",
        "2",
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// A server process, killed when dropped.
pub struct Server {
    child: Child,
    /// The port it listens on.
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(model: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_outerloop"))
        .args(["lm", "serve", model.to_str().unwrap(), "--port", "0", "--threads", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line
        .strip_prefix("listening on http://127.0.0.1:")
        .and_then(|rest| rest.trim_end().strip_suffix("/v1"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("not the listening line: {line:?}"));
    Server { child, port }
}

/// One request on its own connection (`Connection: close`): status and body.
fn request(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let status = reply.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("{reply}"));
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn a_trained_model_is_served_over_the_openai_chat_completions_api() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.lm");
    let printed = train_tiny(&model);
    for what in ["documents: 18 genomes", "validation:", "wall time:", "identity "] {
        assert!(printed.contains(what), "{what} missing from:\n{printed}");
    }
    // Training is deterministic: the same flags write the same bytes.
    let again = dir.path().join("again.lm");
    train_tiny(&again);
    assert_eq!(std::fs::read(&model).unwrap(), std::fs::read(&again).unwrap());
    let identity = printed.split("identity ").nth(1).unwrap()[..16].to_string();

    let server = serve(&model);
    let port = server.port;
    let (status, health) = request(port, "GET", "/health", "");
    assert_eq!(status, 200, "{health}");
    let (status, models) = request(port, "GET", "/v1/models", "");
    assert_eq!(status, 200);
    let name = format!("outerloop-mech-lm-{identity}");
    assert_eq!(json(&models)["data"][0]["id"], name.as_str());

    let chat = serde_json::json!({
        "model": "whatever",
        "messages": [
            {"role": "system", "content": "You write search mechanisms."},
            {"role": "user", "content": "Improve this mechanism:\n```mechanism\n(mechanism uniform-random\n  (propose (uniform)))\n```"}
        ],
        "temperature": 0.8,
        "max_tokens": 48,
        "seed": 7
    })
    .to_string();
    let (status, first) = request(port, "POST", "/v1/chat/completions", &chat);
    assert_eq!(status, 200, "{first}");
    let reply = json(&first);
    assert_eq!(reply["object"], "chat.completion");
    assert_eq!(reply["model"], name.as_str());
    let choice = &reply["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    let content = choice["message"]["content"].as_str().unwrap();
    assert!(content.starts_with("```mechanism\n") && content.ends_with("\n```"), "{content}");
    assert!(["stop", "length"].contains(&choice["finish_reason"].as_str().unwrap()));
    let usage = &reply["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
    assert!(usage["completion_tokens"].as_u64().unwrap() <= 48);
    // The same request gives the same reply; another seed is another sample.
    assert_eq!(request(port, "POST", "/v1/chat/completions", &chat), (200, first.clone()));

    let (status, bad) = request(port, "POST", "/v1/chat/completions", "{\"messages\": [");
    assert_eq!(status, 400);
    assert_eq!(json(&bad)["error"]["type"], "invalid_request_error");
    let (status, _) = request(port, "GET", "/v1/nothing", "");
    assert_eq!(status, 404);
    drop(server);
}

#[test]
fn bad_input_is_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.lm");
    let missing = dir.path().join("no-such-run");
    let o = outerloop(&["lm", "train", "--out", out.to_str().unwrap(), "--runs", missing.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    let o = outerloop(&["lm", "train", "--out", out.to_str().unwrap(), "--heads", "3", "--steps", "1", "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.exists());

    let damaged = dir.path().join("damaged.lm");
    std::fs::write(&damaged, b"outerloop-mechlm\x01\x00\x00\x00garbage").unwrap();
    let o = outerloop(&["lm", "serve", damaged.to_str().unwrap(), "--port", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("damaged model file"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = outerloop(&["lm", "serve", missing.to_str().unwrap(), "--port", "0"]);
    assert_eq!(o.status.code(), Some(2));
}
