//! Exports of a real run: GraphML that a standard XML parser reads with the same node and
//! edge counts as the ancestry graph, CSV and JSON tables with one row per mechanism.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use outerloop::ancestry::Ancestry;
use outerloop::sim::events::Event;
use outerloop::store::run_dir::Run;
use quick_xml::events::Event as Xml;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_outerloop"))
}

#[test]
fn exports_agree_with_the_event_log() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml");
    let out = bin().args(["run", scenario.to_str().unwrap(), "--out", run.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for format in ["csv", "json", "graphml", "dot"] {
        let out = bin().args(["export", run.to_str().unwrap(), "--format", format]).output().unwrap();
        assert!(out.status.success(), "{format}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let events = Run::inspect(&run).unwrap().events().unwrap();
    let ancestry = Ancestry::from_events(&events);
    let born = events.iter().filter(|e| matches!(e, Event::Born { .. })).count();
    assert!(ancestry.graph.edge_count() > 0);

    // GraphML through a standard XML parser.
    let xml = fs::read_to_string(run.join("export/ancestry.graphml")).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut nodes, mut edges) = (0, 0);
    loop {
        match reader.read_event().expect("well-formed XML") {
            Xml::Start(e) | Xml::Empty(e) if e.name().as_ref() == "node" => nodes += 1,
            Xml::Start(e) | Xml::Empty(e) if e.name().as_ref() == "edge" => edges += 1,
            Xml::Eof => break,
            _ => {}
        }
    }
    assert_eq!((nodes, edges), (ancestry.graph.node_count(), ancestry.graph.edge_count()));
    assert_eq!(nodes, born);

    // JSON tables parse and have one entry per mechanism / event.
    let mechanisms: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run.join("export/mechanisms.json")).unwrap()).unwrap();
    assert_eq!(mechanisms.as_array().unwrap().len(), born);
    let graph: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run.join("export/ancestry.json")).unwrap()).unwrap();
    assert_eq!(graph["links"].as_array().unwrap().len(), ancestry.graph.edge_count());
    let all: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run.join("export/events.json")).unwrap()).unwrap();
    assert_eq!(all.as_array().unwrap().len(), events.len());

    // CSV: one row per event; the mechanisms table's ids are exactly the born ids.
    let events_csv = fs::read_to_string(run.join("export/events.csv")).unwrap();
    let mut reader_rows = 0;
    let mut in_quotes = false;
    for c in events_csv.chars() {
        match c {
            '"' => in_quotes = !in_quotes,
            '\n' if !in_quotes => reader_rows += 1,
            _ => {}
        }
    }
    assert_eq!(reader_rows, events.len() + 1);
    let dot = fs::read_to_string(run.join("export/ancestry.dot")).unwrap();
    assert_eq!(dot.matches(" -> ").count(), ancestry.graph.edge_count());
}
