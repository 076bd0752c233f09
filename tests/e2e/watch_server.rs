//! `outerloop watch` under hostile clients (loopback only): a huge declared body, a
//! client that declares a body and never sends it, one that pipelines requests and never
//! reads, and hundreds of idle connections neither bring the server down nor stop it
//! answering others, and idle connections cost no threads.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `watch` of a finished smoke run on a port the system chose.
pub(crate) struct Watch {
    /// The server process.
    pub child: Child,
    /// The port it printed.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `watch --port 0` on a fresh finished smoke run; the port is read from its
/// first line.
pub(crate) fn watch() -> Watch {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    crate::run_folder::finished_smoke(&run);
    watch_of(&run, dir)
}

fn watch_of(run: &Path, dir: tempfile::TempDir) -> Watch {
    let mut child = Command::new(env!("CARGO_BIN_EXE_outerloop"))
        .args(["watch", run.to_str().unwrap(), "--port", "0", "--stop-after", "120"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port: u16 = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    assert_ne!(port, 0, "{line}");
    Watch { child, port, _dir: dir }
}

/// Send `request` on a new connection and read the reply until the server closes it
/// (HTTP/1.0), failing if that takes longer than `within`.
pub(crate) fn ask(port: u16, request: &str, within: Duration) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(within)).unwrap();
    write!(s, "{request}").unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap_or_else(|e| panic!("no full reply to {request:?} within {within:?}: {e}"));
    String::from_utf8_lossy(&reply).into_owned()
}

/// A GET of `/version` answered 200 within a few seconds.
fn answers(port: u16) {
    let started = Instant::now();
    let reply = ask(port, "GET /version HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", Duration::from_secs(5));
    assert!(reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn still_running(w: &mut Watch) {
    assert!(w.child.try_wait().unwrap().is_none(), "the server exited");
}

#[test]
fn a_huge_declared_body_does_not_bring_the_server_down() {
    let mut w = watch();
    let _ =
        ask(w.port, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999999999\r\n\r\n", Duration::from_secs(5));
    let _ =
        ask(w.port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999999999\r\n\r\n", Duration::from_secs(5));
    still_running(&mut w);
    answers(w.port);
}

#[test]
fn stalled_bodies_and_unread_pipelines_do_not_stop_others_being_answered() {
    let mut w = watch();
    let mut stalled_post = TcpStream::connect(("127.0.0.1", w.port)).unwrap();
    write!(stalled_post, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\nabc").unwrap();
    let mut stalled_get = TcpStream::connect(("127.0.0.1", w.port)).unwrap();
    write!(stalled_get, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n").unwrap();
    let mut half_head = TcpStream::connect(("127.0.0.1", w.port)).unwrap();
    write!(half_head, "GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    // Page requests pipelined and never read: the replies fill the socket buffers.
    let mut pipeline = TcpStream::connect(("127.0.0.1", w.port)).unwrap();
    pipeline.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    for _ in 0..300 {
        if pipeline.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").is_err() {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    answers(w.port);
    answers(w.port);
    still_running(&mut w);
    drop((stalled_post, stalled_get, half_head, pipeline));
}

#[test]
fn idle_connections_cost_no_threads_and_do_not_lock_others_out() {
    let mut w = watch();
    let idle: Vec<TcpStream> = (0..200).map(|_| TcpStream::connect(("127.0.0.1", w.port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(500));
    answers(w.port);
    let status = std::fs::read_to_string(format!("/proc/{}/status", w.child.id())).unwrap();
    let threads: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a thread count");
    assert!(threads <= 4, "{threads} threads with {} idle connections", idle.len());
    still_running(&mut w);
}
