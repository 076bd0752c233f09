//! Exports of a real run: GraphML that a standard XML parser reads with the same node and
//! edge counts as the ancestry graph, CSV and JSON tables with one row per mechanism.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use outerloop::ancestry::Ancestry;
use outerloop::driver::Run;
use outerloop::sim::events::Event;
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

    // Every format names the same nodes and edges with the same ids.
    let mut graphml_nodes = std::collections::BTreeSet::new();
    let mut graphml_edges = Vec::new();
    let mut reader = quick_xml::Reader::from_str(&xml);
    loop {
        match reader.read_event().expect("well-formed XML") {
            Xml::Start(e) | Xml::Empty(e) if e.name().as_ref() == "node" => {
                let id = e.try_get_attribute("id").unwrap().unwrap().value.to_string();
                graphml_nodes.insert(id.parse::<u64>().expect("integer node ids"));
            }
            Xml::Start(e) | Xml::Empty(e) if e.name().as_ref() == "edge" => {
                let attr = |k: &str| e.try_get_attribute(k).unwrap().unwrap().value.to_string();
                graphml_edges.push((
                    attr("id").parse::<u64>().unwrap(),
                    attr("source").parse::<u64>().unwrap(),
                    attr("target").parse::<u64>().unwrap(),
                ));
            }
            Xml::Eof => break,
            _ => {}
        }
    }
    let json_nodes: std::collections::BTreeSet<u64> =
        graph["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_u64().unwrap()).collect();
    let json_edges: Vec<(u64, u64, u64)> = graph["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["key"].as_u64().unwrap(), l["source"].as_u64().unwrap(), l["target"].as_u64().unwrap()))
        .collect();
    assert_eq!(graph["multigraph"], true, "parallel edges must survive networkx");
    let out = bin().args(["export", run.to_str().unwrap(), "--format", "csv"]).output().unwrap();
    assert!(out.status.success());
    let mut table = csv::Reader::from_path(run.join("export/mechanisms.csv")).unwrap();
    let headers = table.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (id_col, agent_col, op_col) = (column("id"), column("agent"), column("operator"));
    let mut csv_nodes = std::collections::BTreeSet::new();
    for r in table.records() {
        let r = r.unwrap();
        csv_nodes.insert(r[id_col].parse::<u64>().unwrap());
        assert!(["seed", "proposer", "recombiner", "verifier"].contains(&&r[agent_col]), "{:?}", &r[agent_col]);
        assert!(!r[op_col].contains('('), "operator with its parameter: {}", &r[op_col]);
    }
    let csv_edges: Vec<(u64, u64, u64)> = csv::Reader::from_path(run.join("export/ancestry-edges.csv"))
        .unwrap()
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].parse().unwrap(), r[1].parse().unwrap(), r[2].parse().unwrap())
        })
        .collect();
    let table_ids: std::collections::BTreeSet<u64> =
        mechanisms.as_array().unwrap().iter().map(|m| m["id"].as_u64().unwrap()).collect();
    assert_eq!(graphml_nodes, json_nodes);
    assert_eq!(graphml_nodes, csv_nodes);
    assert_eq!(graphml_nodes, table_ids);
    assert_eq!(graphml_edges, json_edges);
    assert_eq!(graphml_edges, csv_edges);
    // DOT: `ID [label=...]` nodes and `SOURCE -> TARGET [id=KEY, ...]` edges, same ids.
    let mut dot_nodes = std::collections::BTreeSet::new();
    let mut dot_edges = Vec::new();
    for line in dot.lines().map(str::trim) {
        if let Some((head, _)) = line.split_once(" [") {
            match head.split_once(" -> ") {
                Some((a, b)) => {
                    let key = line.split("[id=").nth(1).and_then(|r| r.split(',').next()).unwrap();
                    dot_edges.push((key.parse::<u64>().unwrap(), a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap()));
                }
                None if head.parse::<u64>().is_ok() => {
                    dot_nodes.insert(head.parse::<u64>().unwrap());
                }
                None => {}
            }
        }
    }
    assert_eq!(graphml_nodes, dot_nodes);
    assert_eq!(graphml_edges, dot_edges);
    assert_eq!(graphml_edges.len(), ancestry.graph.edge_count());
}
