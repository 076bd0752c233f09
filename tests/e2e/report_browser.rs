//! The interactive report in a real browser: headless Chromium loads `report.html` of a
//! small analysed run and the live view `outerloop watch` serves; the page logs nothing
//! to the console (no errors, no exceptions), the lineage has one node per mechanism the
//! event log says was born, and a click on a node (a DOM click event on its element,
//! dispatched by the page's `#select=ID` deep link through the same handler as a mouse
//! click) shows that mechanism's genome and its diff against its primary parent.
//!
//! Needs Chromium (`.ci/run` installs Debian's package and sets
//! `OUTERLOOP_REQUIRE_BROWSER=1`, so a missing browser fails CI); elsewhere the test says
//! why it is skipped and passes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_outerloop"))
}

/// The Chromium binary, if one is installed; panics where CI requires one.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        let ok = Command::new(name).arg("--version").output().is_ok_and(|o| o.status.success());
        ok.then(|| PathBuf::from(name))
    });
    if found.is_none() {
        assert!(
            std::env::var_os("OUTERLOOP_REQUIRE_BROWSER").is_none(),
            "OUTERLOOP_REQUIRE_BROWSER is set but no Chromium runs (install Debian's `chromium`)"
        );
        eprintln!("skipped: no Chromium (apt-get install chromium) for the browser test");
    }
    found
}

/// Load `url` headless; returns the DOM after scripts ran and the console lines.
fn load(browser: &Path, url: &str) -> (String, Vec<String>) {
    let out = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"])
        .args(["--virtual-time-budget=5000", "--dump-dom", url])
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let console =
        String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains(":CONSOLE")).map(String::from).collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

/// The text of the element with `id` in a DOM dump, unescaped.
fn element_text(dom: &str, id: &str) -> Option<String> {
    let start = dom.find(&format!("id=\"{id}\""))?;
    let open = start + dom[start..].find('>')? + 1;
    let close = open + dom[open..].find("</pre>")?;
    let inner = &dom[open..close];
    // Drop the diff's <span> tags, then undo the escaping of the text.
    let mut text = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    Some(text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&"))
}

#[test]
fn the_report_and_the_live_view_work_in_a_real_browser() {
    let Some(browser) = chromium() else { return };
    // The console detector sees planted errors (so the check below can fail).
    let tmp = tempfile::tempdir().unwrap();
    let planted = tmp.path().join("planted.html");
    std::fs::write(&planted, "<html><body><script>undefinedFunction();</script></body></html>").unwrap();
    let (_, console) = load(&browser, &format!("file://{}", planted.display()));
    assert!(console.iter().any(|l| l.contains("Uncaught ReferenceError")), "{console:?}");

    let smoke = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml");
    let run = tmp.path().join("run");
    let o = bin().args(["-q", "run", smoke.to_str().unwrap(), "--out", run.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report = tmp.path().join("report");
    let o = bin()
        .args(["-q", "analyze", run.to_str().unwrap(), "--out", report.to_str().unwrap()])
        .args(["--episodes", "2", "--scaling-episodes", "2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // What the event log says, independently of the report.
    let events: Vec<Value> = std::fs::read_to_string(run.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let born: Vec<&Value> = events.iter().filter(|e| e["event"] == "born").collect();
    let child = born.iter().rev().find(|e| !e["parents"].as_array().unwrap().is_empty()).expect("a child was born");
    let (id, parent) = (child["id"].as_u64().unwrap(), child["parents"][0].as_u64().unwrap());

    let url = format!("file://{}#select={id}", report.join("report.html").display());
    let (dom, console) = load(&browser, &url);
    assert!(console.is_empty(), "the report logged to the console: {console:?}");
    assert_eq!(dom.matches("class=\"lineage-node\"").count(), born.len(), "one lineage node per mechanism");
    let genome = element_text(&dom, "genome").expect("the clicked node's genome is shown");
    assert_eq!(genome.trim(), child["genome"].as_str().unwrap().trim());
    assert!(dom.contains(&format!("Diff against primary parent #{parent}")));
    let diff = element_text(&dom, "genome-diff").expect("the diff is shown");
    assert!(diff.lines().any(|l| l.starts_with('+')) || diff.lines().all(|l| l.starts_with(' ')), "{diff}");
    assert!(dom.contains("id=\"parallel-coordinates\""), "the champion's configs are drawn");

    // The live view: served over HTTP, the same lineage, no console output.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut watch = bin()
        .args(["watch", run.to_str().unwrap(), "--port", &port.to_string(), "--stop-after", "60"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let get = |path: &str| -> Option<String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body)
    };
    let started = std::time::Instant::now();
    let page = loop {
        if let Some(p) = get("/") {
            break p;
        }
        assert!(started.elapsed().as_secs() < 30, "watch did not answer");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(page.contains("200 OK") && page.contains("outerloop live view"), "{}", &page[..page.len().min(300)]);
    assert!(get("/version").unwrap().contains("200 OK"));
    assert!(get("/nope").unwrap().contains("404"));
    let (live, console) = load(&browser, &format!("http://127.0.0.1:{port}/#select={id}"));
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(console.is_empty(), "the live view logged to the console: {console:?}");
    assert_eq!(live.matches("class=\"lineage-node\"").count(), born.len());
    assert_eq!(element_text(&live, "genome").unwrap().trim(), child["genome"].as_str().unwrap().trim());
}

/// `watch --port 0` prints the port the system chose (not `:0`), and the live view
/// answers GET and HEAD only: any other method is 405 with `Allow: GET, HEAD`.
#[test]
fn watch_prints_the_bound_port_and_answers_only_get_and_head() {
    let w = crate::watch_server::watch();
    let ask = |request: &str| {
        crate::watch_server::ask(
            w.port,
            &format!("{request} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"),
            std::time::Duration::from_secs(10),
        )
    };
    let replies = [ask("GET /version"), ask("HEAD /"), ask("POST /"), ask("DELETE /version"), ask("PUT /")];
    assert!(replies[0].starts_with("HTTP/1.0 200") || replies[0].starts_with("HTTP/1.1 200"), "{}", replies[0]);
    assert!(replies[1].contains(" 200 "), "{}", replies[1]);
    for reply in &replies[2..] {
        assert!(reply.contains(" 405 "), "{reply}");
        assert!(reply.to_ascii_lowercase().contains("allow: get, head"), "{reply}");
    }
}

#[test]
fn watch_on_a_folder_that_is_not_a_run_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let o = bin().args(["watch", tmp.path().to_str().unwrap(), "--stop-after", "1"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a run folder"));
}
