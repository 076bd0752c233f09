//! The language-model proposer end to end, over real HTTP: a run whose model is
//! `outerloop lm serve` (a mechanism model trained here in seconds) is reproduced byte
//! for byte without any server, by a rerun (`--llm-replay`) and by a resume from its own
//! record; servers that are down, too slow, answer garbage or invalid genomes, or stop
//! mid-run, leave a finished run whose drafts fell back to typed operators, with every
//! file intact and replayable; a missing reply with no endpoint is exit code 2 and
//! writes no tick.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::lm::{Server, serve, train_tiny};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_outerloop"))
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every file a run writes, by name (the record of exchanges included).
const RUN_FILES: [&str; 8] = [
    "summary.txt",
    "metrics.csv",
    "events.jsonl",
    "ancestry.dot",
    "checkpoint.bin",
    "lessons.bin",
    "genome-base.txt",
    "scenario.toml",
];

fn assert_same_run(a: &Path, b: &Path) {
    for f in RUN_FILES {
        let (x, y) = (fs::read(a.join(f)).unwrap(), fs::read(b.join(f)).unwrap());
        assert!(x == y, "{f} differs between {} and {}", a.display(), b.display());
    }
    let listing = |d: &Path| {
        let mut names: Vec<_> =
            fs::read_dir(d.join("llm")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    };
    assert_eq!(listing(a), listing(b));
    for name in listing(a) {
        assert_eq!(
            fs::read(a.join("llm").join(&name)).unwrap(),
            fs::read(b.join("llm").join(&name)).unwrap(),
            "{name}"
        );
    }
}

/// A seconds-long scenario (BBOB tasks) whose proposer asks `endpoint` for `share` of
/// its children.
fn scenario(endpoint: Option<&str>, share: f64, timeout: f64) -> String {
    let endpoint = endpoint.map(|e| format!("endpoint = \"{e}\"\n")).unwrap_or_default();
    format!(
        "name = \"llm\"\nseed = 3\nticks = 4\nreference = \"lib:greedy-keep-discard\"\n\
         [population]\nsize = 8\nelites = 2\n\
         [inner]\ntasks = [\"bbob-f1-i1-d3\", \"bbob-f15-i2-d3-mixed\"]\nbudget = 30\nseeds = 2\n\
         [seeds]\nlibrary = [\"uniform-random\", \"one-plus-one-es\", \"tabu-search\", \"multiscale-bandit\"]\n\
         [proposer]\nchildren_per_tick = 3\n\
         [proposer.llm]\n{endpoint}share = {share}\ntemperature = 0.9\nmax_tokens = 200\ntimeout = {timeout}\n\
         [verifier]\nseeds = 2\nmax_per_tick = 2\nreport_seeds = 2\n[recombiner]\nchildren_per_tick = 1\n"
    )
}

fn run(dir: &Path, scenario_text: &str, out: &str, extra: &[&str]) -> Output {
    fs::write(dir.join("s.toml"), scenario_text).unwrap();
    bin().current_dir(dir).args(["run", "s.toml", "--out", out]).args(extra).output().unwrap()
}

/// The written events of a run folder, as JSON values.
fn written(dir: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "written")
        .collect()
}

/// How a fault-injecting server misbehaves.
#[derive(Clone, Copy)]
enum Fault {
    /// `200 OK` with a body that is not JSON.
    Garbage,
    /// A well-formed completion whose content is not a valid genome.
    InvalidGenome,
    /// No reply before the client's deadline.
    Slow,
    /// `500 Internal Server Error`.
    ServerError,
}

/// A server on 127.0.0.1 that answers every request with `fault`: its port and the
/// count of connections it has accepted.
fn faulty_server(fault: Fault) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || answer(stream, fault));
        }
    });
    (port, count)
}

fn answer(mut stream: TcpStream, fault: Fault) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let (status, body) = match fault {
        Fault::Garbage => ("200 OK", "<html>the model is warming up</html>".to_string()),
        Fault::InvalidGenome => (
            "200 OK",
            r#"{"model":"broken","choices":[{"message":{"role":"assistant","content":"```mechanism\n(mechanism x (propose (no-such-piece)))\n```"}}]}"#.to_string(),
        ),
        Fault::Slow => {
            std::thread::sleep(Duration::from_secs(3));
            ("200 OK", "{}".to_string())
        }
        Fault::ServerError => ("500 Internal Server Error", r#"{"error":{"message":"overloaded"}}"#.to_string()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[test]
fn endpoints_that_fail_leave_finished_runs_that_replay_without_them() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let closed = (TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(), Arc::default());
    let cases = [
        ("down", closed, "the endpoint failed: connection refused"),
        ("garbage", faulty_server(Fault::Garbage), "not a chat completion"),
        ("invalid", faulty_server(Fault::InvalidGenome), "invalid after repair"),
        ("slow", faulty_server(Fault::Slow), "no reply within the timeout"),
        ("error", faulty_server(Fault::ServerError), "HTTP 500"),
    ];
    for (name, (port, asked), reason) in cases {
        let text = scenario(Some(&format!("http://127.0.0.1:{port}/v1")), 0.5, 0.5);
        let o = run(d, &text, name, &[]);
        let stdout = ok(&o);
        let events = written(&d.join(name));
        assert!(!events.is_empty(), "{name}: the model was asked for no draft");
        for e in &events {
            assert_eq!(e["result"], "fallback", "{name}: {e}");
            assert!(e["reason"].as_str().unwrap().contains(reason), "{name}: {e}");
        }
        assert!(stdout.contains("fallback to typed operators"), "{name}: {stdout}");
        if name == "down" {
            // Said once, however many drafts failed.
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(stderr.matches("warning: the language-model endpoint").count(), 1, "{stderr}");
        }
        // Typed operators wrote the children: the run evolved all the same.
        assert!(fs::read_to_string(d.join(name).join("events.jsonl")).unwrap().contains("\"born\""));
        // Replayed from its record: the same bytes, and the server is never asked.
        let before = asked.load(Ordering::SeqCst);
        let replay = format!("{name}-replay");
        ok(&run(d, &text, &replay, &["--llm-replay", name]));
        assert_same_run(&d.join(name), &d.join(&replay));
        assert_eq!(asked.load(Ordering::SeqCst), before, "{name}: the replay asked the server");
    }
}

#[test]
fn a_missing_reply_without_an_endpoint_is_exit_2_and_saves_no_tick() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = run(d, &scenario(None, 0.5, 5.0), "r", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stdout));
    let stderr = String::from_utf8_lossy(&o.stderr);
    // Tick 0 evaluates the seeds; tick 1 is the first to propose.
    assert!(stderr.contains("tick 1 was not saved") && stderr.contains("names no endpoint"), "{stderr}");
    assert!(stderr.contains("--llm-replay"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Tick 0 stands; nothing of tick 1 was written.
    let log = fs::read_to_string(d.join("r/events.jsonl")).unwrap();
    assert!(log.contains("\"tick\":0") && !log.contains("\"tick\":1"), "{log}");
    assert!(!d.join("r/summary.txt").exists());
    let bad = run(d, &scenario(None, 0.5, 5.0), "r2", &["--llm-replay", "no-such-folder"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--llm-replay names no folder"));
}

/// `outerloop lm serve` on a model trained here in seconds (killed when dropped).
fn train_and_serve(dir: &Path) -> Server {
    let model = dir.join("mech.lm");
    train_tiny(&model);
    serve(&model)
}

#[test]
fn a_run_with_the_served_model_is_reproduced_without_any_server() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let server = train_and_serve(d);
    let text = scenario(Some(&format!("http://127.0.0.1:{}/v1", server.port)), 0.5, 60.0);
    let full = ok(&run(d, &text, "full", &[]));
    assert!(full.contains("language model:"), "{full}");
    let events = written(&d.join("full"));
    assert!(!events.is_empty());
    // The model's name carries its file's hash into the run's record.
    let model = events.iter().find_map(|e| e["model"].as_str()).expect("an exchange was answered").to_string();
    assert!(model.starts_with("outerloop-mech-lm-"), "{model}");
    ok(&run(d, &text, "stopped", &["--stop-after", "2"]));
    drop(server);

    // A rerun with no server, from the first run's record.
    ok(&run(d, &text, "rerun", &["--llm-replay", "full"]));
    assert_same_run(&d.join("full"), &d.join("rerun"));

    // A resume with no server: the exchanges of the ticks still to run are in the
    // record (as after a kill between recording them and saving the tick). The first
    // part replays the first run too: a run that asked the endpoint itself would have
    // recorded its own wall times.
    ok(&run(d, &text, "part", &["--stop-after", "2", "--llm-replay", "full"]));
    for entry in fs::read_dir(d.join("full/llm")).unwrap() {
        let entry = entry.unwrap();
        let target = d.join("part/llm").join(entry.file_name());
        if !target.exists() {
            fs::copy(entry.path(), target).unwrap();
        }
    }
    ok(&bin().current_dir(d).args(["resume", "part"]).output().unwrap());
    assert_same_run(&d.join("full"), &d.join("part"));

    // The server stopped mid-run: the rest of the run falls back to typed operators,
    // nothing is lost, and the record replays it.
    let o = bin().current_dir(d).args(["resume", "stopped"]).output().unwrap();
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("connection refused"));
    let after: Vec<_> = written(&d.join("stopped")).into_iter().filter(|e| e["tick"].as_u64() >= Some(2)).collect();
    assert!(!after.is_empty() && after.iter().all(|e| e["result"] == "fallback"), "{after:?}");
    ok(&run(d, &text, "stopped-replay", &["--llm-replay", "stopped"]));
    assert_same_run(&d.join("stopped"), &d.join("stopped-replay"));
}
