//! Fuzz targets: the genome parser + checker + interpreter, the scenario loader, the
//! checkpoint and lessons decoders, and the event-log reader, each fed inputs made by
//! mutating a seed corpus (the files under `scenarios/`, and a checkpoint, lessons file
//! and event log of a smoke run made here): bit flips, inserted and deleted runs,
//! duplicated spans, truncation, and tokens from a dictionary of the formats' words
//! (primitive names, scenario keys, extreme numbers). Each input must give a result or a
//! clear error: no panic, and no input may take longer than [`SLOW`].
//!
//! The engine is proptest (random mutations, shrinking to a small failing input). A
//! short run (`SHORT_CASES` per target) is part of the test suite; the long run sets
//! `OUTERLOOP_FUZZ_CASES`:
//!
//! ```text
//! OUTERLOOP_FUZZ_CASES=220000 OUTERLOOP_FUZZ_SEED=1 cargo test --release --test e2e fuzz:: -- --test-threads 1 --nocapture
//! ```
//!
//! which prints each target's execution count. A watchdog ends the process if a target
//! makes no progress for [`HANG`] (a hang, reported by name).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use outerloop::ancestry::{Ancestry, export};
use outerloop::driver::{Run, Stops, drive};
use outerloop::exec::Executor;
use outerloop::genome::prim::Prim;
use outerloop::genome::syntax::print;
use outerloop::genome::{Limits, Program, load};
use outerloop::inner::run_inner;
use outerloop::objective::gpt::design::TableSpec;
use outerloop::objective::registry::objective_by_name;
use outerloop::repro::manifest::ReproSet;
use outerloop::scenario::{self, Scenario};
use outerloop::sim::Simulation;
use outerloop::store::checkpoint::{HEADER, MAGIC, decode, frame};
use outerloop::store::event_log::{self, LogMark};
use outerloop::store::run_dir::{LESSONS_TAG, decode_lessons};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Cases per target in the test suite's short run.
const SHORT_CASES: u32 = 4000;
/// The least share of inputs a target must accept (pass validation and reach the code
/// behind it): a mutator or seed corpus that stopped producing valid inputs would
/// otherwise leave a target fuzzing its error path only. The targets accept 9-16% at
/// the default seed.
const MIN_ACCEPTED: f64 = 0.05;
/// The longest one input may take.
const SLOW: Duration = Duration::from_secs(10);
/// No progress for this long is a hang.
const HANG: Duration = Duration::from_secs(60);

fn cases() -> u32 {
    std::env::var("OUTERLOOP_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(SHORT_CASES)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One edit of a seed input; positions are taken modulo the input's length.
#[derive(Debug, Clone)]
enum Edit {
    Flip { at: usize, bit: u8 },
    Insert { at: usize, bytes: Vec<u8> },
    Token { at: usize, token: usize },
    Delete { at: usize, len: usize },
    Duplicate { from: usize, len: usize, to: usize },
    Truncate { at: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Edit::Flip { at, bit }),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(at, bytes)| Edit::Insert { at, bytes }),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(at, token)| Edit::Token { at, token }),
        2 => (any::<usize>(), 1usize..64).prop_map(|(at, len)| Edit::Delete { at, len }),
        1 => (any::<usize>(), 1usize..256, any::<usize>()).prop_map(|(from, len, to)| Edit::Duplicate { from, len, to }),
        1 => any::<usize>().prop_map(|at| Edit::Truncate { at }),
    ]
}

/// Words of the formats: mutations that keep inputs close to valid reach deeper code.
fn dictionary() -> &'static [String] {
    static WORDS: OnceLock<Vec<String>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let mut w: Vec<String> = Prim::ALL.iter().map(|p| format!("({} ", p.name())).collect();
        w.extend(outerloop::scenario::keys::KEYS.iter().map(|k| format!("\n{} = ", k.key.rsplit('.').next().unwrap())));
        for s in [
            "(",
            ")",
            "\"",
            "[",
            "]",
            "{",
            "}",
            "=",
            ",",
            "\n",
            " ",
            "#",
            ";",
            "1e308",
            "-1e308",
            "nan",
            "inf",
            "0",
            "-0",
            "99999999999999999999",
            "-1",
            "0.5",
            "true",
            "false",
            "lib:",
            "(mechanism m ",
            "(state (a 0))",
            "(get a)",
            "(set a ",
            "[inner]\n",
            "[population]\n",
            "[seeds]\n",
            "\"sum\":\"0000000000000000\",",
            "\"event\":\"born\",",
            "\"tick\":4294967295,",
            "\"id\":18446744073709551615,",
            "null",
            "\u{feff}",
            "\u{0}",
            "\r\n",
            "GET ",
            " HTTP/1.1\r\n",
            "Content-Length: ",
            "Transfer-Encoding: chunked\r\n",
            "Connection: keep-alive\r\n",
        ] {
            w.push(s.to_string());
        }
        w
    })
}

fn mutate(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for e in edits {
        let n = b.len().max(1);
        match e {
            Edit::Flip { at, bit } => {
                if !b.is_empty() {
                    b[at % n] ^= 1 << bit;
                }
            }
            Edit::Insert { at, bytes } => {
                let at = at % (b.len() + 1);
                b.splice(at..at, bytes.iter().copied());
            }
            Edit::Token { at, token } => {
                let words = dictionary();
                let at = at % (b.len() + 1);
                b.splice(at..at, words[token % words.len()].bytes());
            }
            Edit::Delete { at, len } => {
                let at = at % n;
                let end = (at + len).min(b.len());
                if at < end {
                    b.drain(at..end);
                }
            }
            Edit::Duplicate { from, len, to } => {
                let from = from % n;
                let end = (from + len).min(b.len());
                let piece = b.get(from..end).map(<[u8]>::to_vec).unwrap_or_default();
                let to = to % (b.len() + 1);
                b.splice(to..to, piece);
            }
            Edit::Truncate { at } => b.truncate(at % (b.len() + 1)),
        }
    }
    b
}

/// Files under `scenarios/` with one of `extensions`.
fn corpus_files(extensions: &[&str]) -> Vec<Vec<u8>> {
    fn walk(dir: &Path, extensions: &[&str], out: &mut Vec<Vec<u8>>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, extensions, out);
            } else if p.extension().is_some_and(|x| extensions.iter().any(|e| x == *e))
                && p.metadata().unwrap().len() < 64 << 10
            {
                out.push(std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("scenarios"), extensions, &mut out);
    assert!(!out.is_empty());
    out
}

/// A finished smoke run made once per test process: the binary seeds.
struct SmokeRun {
    dir: tempfile::TempDir,
    scenario: Scenario,
    checkpoint: Vec<u8>,
    lessons: Vec<u8>,
    events: Vec<u8>,
}

fn smoke_run() -> &'static SmokeRun {
    static RUN: OnceLock<SmokeRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let scenario = scenario::load(&root().join("scenarios/smoke.toml")).unwrap();
        let mut run = Run::start(scenario.clone(), Some(dir.path().join("run")), Executor::local()).unwrap();
        drive(&mut run, Stops::default(), |_| {}).unwrap();
        let read = |f: &str| std::fs::read(dir.path().join("run").join(f)).unwrap();
        SmokeRun {
            checkpoint: read("checkpoint.bin"),
            lessons: read("lessons.bin"),
            events: read("events.jsonl"),
            scenario,
            dir,
        }
    })
}

/// Run `target` on `cases()` mutations of `seeds`, under a watchdog; returns the count.
/// `target` says whether the input was accepted (reached the code past validation), so
/// the report shows how deep the mutations reach.
fn fuzz(name: &str, seeds: Vec<Vec<u8>>, target: impl Fn(&[u8]) -> bool) -> u64 {
    let executed = Arc::new(AtomicU64::new(0));
    let accepted = AtomicU64::new(0);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let (executed, done, name) = (executed.clone(), done.clone(), name.to_string());
        std::thread::spawn(move || {
            let (mut last, mut since) = (0, Instant::now());
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let now = executed.load(Ordering::Relaxed);
                if now != last {
                    (last, since) = (now, Instant::now());
                } else if since.elapsed() > HANG {
                    eprintln!("fuzz target {name}: no progress for {HANG:?} after {now} executions: a hang");
                    std::process::abort();
                }
            }
        })
    };
    let config = Config { cases: cases(), failure_persistence: None, max_shrink_iters: 2000, ..Config::default() };
    // A fixed stream by default (the suite's short run is the same every time);
    // OUTERLOOP_FUZZ_SEED=N explores another.
    let seed = std::env::var("OUTERLOOP_FUZZ_SEED").ok().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = proptest::test_runner::TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &seed_bytes);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let strategy = (0..seeds.len(), prop::collection::vec(edit(), 0..10));
    let result = runner.run(&strategy, |(seed, edits)| {
        let input = mutate(&seeds[seed], &edits);
        let started = Instant::now();
        if target(&input) {
            accepted.fetch_add(1, Ordering::Relaxed);
        }
        executed.fetch_add(1, Ordering::Relaxed);
        prop_assert!(started.elapsed() < SLOW, "took {:?}", started.elapsed());
        Ok(())
    });
    done.store(true, Ordering::Relaxed);
    watchdog.join().unwrap();
    let n = executed.load(Ordering::Relaxed);
    let valid = accepted.load(Ordering::Relaxed);
    eprintln!("fuzz target {name}: {n} executions, {valid} accepted");
    if let Err(e) = result {
        panic!("fuzz target {name}: {e}");
    }
    let share = valid as f64 / n.max(1) as f64;
    assert!(share >= MIN_ACCEPTED, "fuzz target {name}: only {valid} of {n} inputs accepted ({share:.3})");
    n
}

#[test]
fn fuzz_genome_parser_checker_and_interpreter() {
    let task = objective_by_name("bbob-f15-i1-d3").unwrap();
    let limits = Limits::default();
    fuzz("genome", corpus_files(&["mech"]), |bytes| {
        let text = String::from_utf8_lossy(bytes);
        match load(&text, &limits) {
            Ok(genome) => {
                // Canonical text re-parses to the same canonical text.
                let printed = print(&genome);
                let again = load(&printed, &limits).expect("canonical text re-parses");
                assert_eq!(print(&again), printed);
                let program = Program::compile(&genome, limits).expect("a loaded genome compiles");
                // 20 trials: past the library's largest initial design (10), so the
                // surrogates, the search distribution and the rung pieces all run.
                let trace = run_inner(&program, task.as_ref(), 3, 20.0);
                assert!(trace.outcome.regret.is_some_and(f64::is_finite));
                true
            }
            Err(diags) => {
                assert!(!diags.is_empty());
                assert!(diags.iter().all(|d| d.span.end <= text.len() && d.span.start <= d.span.end));
                false
            }
        }
    });
}

#[test]
fn fuzz_scenario_loader() {
    let base = root().join("scenarios");
    fuzz("scenario", corpus_files(&["toml"]), |bytes| {
        let text = String::from_utf8_lossy(bytes);
        scenario::parse_in(&base.join("fuzz.toml"), &text, &base).is_ok()
    });
}

#[test]
fn fuzz_checkpoint_decoder_and_restore() {
    let smoke = smoke_run();
    let hash = smoke.scenario.hash;
    fuzz("checkpoint", vec![smoke.checkpoint.clone(), smoke.checkpoint[HEADER..].to_vec()], |bytes| {
        // As found on disk (the header catches almost everything) and re-framed with a
        // correct header (the body reaches the decoder and the simulation's restore).
        let _ = decode(bytes, hash);
        let body = bytes.get(HEADER..).filter(|_| bytes.starts_with(MAGIC)).unwrap_or(bytes);
        match decode(&frame(body, hash), hash) {
            Ok(snapshot) => Simulation::restore(&smoke.scenario, &snapshot, Executor::local()).is_ok(),
            Err(_) => false,
        }
    });
}

#[test]
fn fuzz_lessons_decoder_and_inherit() {
    let smoke = smoke_run();
    // As found on disk (the frame's hash catches almost every change) and, for a bare
    // body, re-framed so that the decoder and the genome checks behind the frame are
    // fuzzed too.
    let seeds = vec![smoke.lessons.clone(), smoke.lessons[HEADER..].to_vec()];
    fuzz("lessons", seeds, |bytes| {
        let framed = if bytes.starts_with(MAGIC) { bytes.to_vec() } else { frame(bytes, LESSONS_TAG) };
        match decode_lessons(Path::new("lessons.bin"), &framed) {
            Ok(lessons) => Simulation::new(&smoke.scenario, Some(&lessons), Executor::local()).is_ok(),
            Err(_) => false,
        }
    });
}

#[test]
fn fuzz_event_log_reader_and_its_consumers() {
    let smoke = smoke_run();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    // Seeds: the log as written, and a few lines of it (short inputs mutate faster).
    let text = String::from_utf8(smoke.events.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut seeds = vec![smoke.events.clone()];
    for chunk in lines.chunks(12).take(8) {
        seeds.push((chunk.join("\n") + "\n").into_bytes());
    }
    fuzz("event-log", seeds, |bytes| {
        // As found on disk: checksums catch the damage.
        std::fs::write(&path, bytes).unwrap();
        let _ = event_log::read::<outerloop::sim::events::Event>(&path, LogMark { len: bytes.len() as u64, sum: 0 });
        // Re-summed: each line's event JSON (checksum field removed) gets a correct
        // chained sum, so mutated events reach the JSON decoder and the consumers.
        let mut resummed = Vec::new();
        let mut sum = 0u64;
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let json = strip_sum(line);
            if json.first() != Some(&b'{') {
                continue;
            }
            sum = xxhash_rust::xxh3::xxh3_64_with_seed(&json, sum);
            resummed.extend_from_slice(format!("{{\"sum\":\"{sum:016x}\",").as_bytes());
            resummed.extend_from_slice(&json[1..]);
            resummed.push(b'\n');
        }
        std::fs::write(&path, &resummed).unwrap();
        match event_log::read(&path, LogMark { len: resummed.len() as u64, sum }) {
            Ok(events) => {
                let ancestry = Ancestry::from_events(&events);
                let _ = export::graphml(&ancestry);
                let _ = export::mechanisms_csv(&ancestry, &events);
                let _ = export::ancestry_json(&ancestry);
                let _ = ancestry.to_dot();
                true
            }
            Err(_) => false,
        }
    });
}

/// A log line's event JSON: the line without its `"sum":"…",` field when it has one.
fn strip_sum(line: &[u8]) -> Vec<u8> {
    let prefix = b"{\"sum\":\"";
    if line.starts_with(prefix)
        && line.len() >= prefix.len() + 18
        && &line[prefix.len() + 16..prefix.len() + 18] == b"\","
    {
        let mut json = b"{".to_vec();
        json.extend_from_slice(&line[prefix.len() + 18..]);
        json
    } else {
        line.to_vec()
    }
}

/// Files named `name` (or, with `name` empty, every file with extension `ext`) in the
/// folder `sub` of `scenarios/` and below.
fn corpus_under(sub: &str, name: &str, ext: &str) -> Vec<Vec<u8>> {
    fn walk(dir: &Path, name: &str, ext: &str, out: &mut Vec<Vec<u8>>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, name, ext, out);
            } else if (name.is_empty() && p.extension().is_some_and(|x| x == ext))
                || p.file_name().is_some_and(|f| f == name)
            {
                out.push(std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("scenarios").join(sub), name, ext, &mut out);
    assert!(!out.is_empty(), "no seeds under scenarios/{sub}");
    out
}

#[test]
fn fuzz_table_spec_parser() {
    fuzz("table spec", corpus_under("tables", "", "toml"), |bytes| {
        let text = String::from_utf8_lossy(bytes);
        match TableSpec::parse(Path::new("fuzz.toml"), &text) {
            Ok(spec) => {
                // What parses is within the caps a build relies on.
                assert!(spec.configs.len() <= outerloop::objective::gpt::limits::MAX_CONFIGS);
                assert!(spec.seeds.is_none_or(|s| s <= outerloop::objective::gpt::limits::MAX_SEEDS));
                true
            }
            Err(e) => {
                assert!(!e.message.is_empty());
                false
            }
        }
    });
}

#[test]
fn fuzz_reproduction_manifest_loader() {
    fuzz("reproduction manifest", corpus_under("reproductions", "reproduction.toml", ""), |bytes| {
        let text = String::from_utf8_lossy(bytes);
        match ReproSet::parse(Path::new("sets/fuzz/reproduction.toml"), &text, false) {
            Ok(set) => {
                // Every run folder it would write is a plain name under the root.
                let arms = set.arms();
                assert!(arms.iter().all(|a| !a.name.contains(['/', '\\', '\0']) && !a.name.starts_with('.')));
                assert!(set.run_seeds() <= outerloop::repro::manifest::MAX_RUN_SEEDS);
                true
            }
            Err(_) => false,
        }
    });
}

/// The live view's HTTP server (`outerloop watch`) on the smoke run, fed request bytes
/// through an in-memory pipe: every connection ends (the client's end of input closes
/// it) with well-formed replies only; accepted = at least one 200.
#[test]
fn fuzz_live_view_server() {
    use outerloop::cli::live_server::{Limits, Site, connection};
    use outerloop::cli::watch::LiveSite;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let site: Arc<dyn Site> = Arc::new(LiveSite::new(&smoke_run().dir.path().join("run")).unwrap());
    let limits = Limits { connection_deadline: Duration::from_secs(5), ..Limits::default() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let seeds = [
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n",
        "HEAD /index.html HTTP/1.0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        "GET /version HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET /version HTTP/1.1\r\n\r\nHEAD / HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n",
        "GET /version?x=1 HTTP/1.1\r\nContent-Length: 999999999999999999\r\n\r\n",
    ];
    fuzz("live-view server", seeds.iter().map(|s| s.as_bytes().to_vec()).collect(), |bytes| {
        let reply = runtime.block_on(async {
            let (client, server) = tokio::io::duplex(1 << 16);
            let served = tokio::spawn(connection(server, site.clone(), limits));
            let (mut from_server, mut to_server) = tokio::io::split(client);
            let input = bytes.to_vec();
            let writer = tokio::spawn(async move {
                // The server may close first (a malformed head): that is its right.
                let _ = to_server.write_all(&input).await;
                let _ = to_server.shutdown().await;
            });
            let mut reply = Vec::new();
            from_server.read_to_end(&mut reply).await.unwrap();
            writer.await.unwrap();
            served.await.unwrap();
            reply
        });
        assert!(
            reply.is_empty() || reply.starts_with(b"HTTP/1."),
            "{:?}",
            String::from_utf8_lossy(&reply[..reply.len().min(200)])
        );
        reply.starts_with(b"HTTP/1.1 200") || reply.starts_with(b"HTTP/1.0 200")
    });
}

/// A finished tiny model-swarm run, made once per test process.
fn swarm_run() -> &'static tempfile::TempDir {
    static RUN: OnceLock<tempfile::TempDir> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let sc = outerloop::swarm::scenario::parse(Path::new("tiny.toml"), crate::swarm::TINY).unwrap();
        let workers = outerloop::exec::Workers { executor: Executor::local(), threads: 1 };
        outerloop::swarm::run::run(&sc, &dir.path().join("run"), &workers, &|_| {}).unwrap();
        dir
    })
}

/// A model-swarm run folder's record (its scenario copy, checkpoint and event log), one
/// file mutated at a time in a scratch copy of a finished run, read as `analyze` and
/// `resume` read it (`read_events`, then `Record::open_finished`): a result or a clear
/// error, and an accepted folder's events are the run's.
#[test]
fn fuzz_swarm_folder_record() {
    use outerloop::swarm::record::{Record, read_events};
    let run = swarm_run().path().join("run");
    let names = ["scenario.toml", "checkpoint.bin", "events.jsonl"];
    let clean: Vec<Vec<u8>> = names.iter().map(|n| std::fs::read(run.join(n)).unwrap()).collect();
    let events = read_events(&run).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    // Each seed is one file of the record with a one-byte tag naming which (the tag is
    // not mutated away often enough to matter: a missing tag picks the first file).
    let seeds: Vec<Vec<u8>> = clean
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let mut s = vec![i as u8];
            s.extend(bytes);
            s
        })
        .collect();
    fuzz("swarm folder record", seeds, |bytes| {
        let (which, body) = match bytes.split_first() {
            Some((&w, rest)) => ((w as usize) % names.len(), rest),
            None => (0, &[][..]),
        };
        for (i, name) in names.iter().enumerate() {
            std::fs::write(dir.join(name), if i == which { body } else { &clean[i] }).unwrap();
        }
        match read_events(&dir) {
            Ok(read) => {
                // What verifies is a prefix of the run's log (a checkpoint may mark less).
                assert!(read.len() <= events.len() && read[..] == events[..read.len()], "a changed record was read");
                let opened = Record::open_finished(&dir);
                if let Err(e) = &opened {
                    assert!(!e.to_string().is_empty());
                }
                opened.is_ok()
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                false
            }
        }
    });
}
