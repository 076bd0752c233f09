#![doc = include_str!("../README.md")]

pub mod analysis;
pub mod ancestry;
pub mod cli;
pub mod cluster;
pub mod diagnostic;
pub mod driver;
pub mod exec;
pub mod genome;
pub mod history;
pub mod http_server;
pub mod inner;
pub mod input;
pub mod llm;
pub mod lm;
pub mod objective;
pub mod pso_update;
pub mod repro;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod space;
pub mod space_spec;
pub mod stats;
pub mod store;
pub mod swarm;

#[cfg(test)]
mod layering {
    //! Dependency rules the compiler cannot see, checked on the source text so that the
    //! next leak fails CI (ARCHITECTURE.md lists them as invariants): the library never
    //! imports the CLI, every module imports only its own layer and those below, and no
    //! files import each other, directly or through others.

    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The layers, bottom first: a module may import its own layer and those below it,
    /// never one above (ARCHITECTURE.md, "Architecture invariant: layering").
    const LAYERS: [&str; 25] = [
        "rng",
        "stats",
        "pso_update",
        "diagnostic",
        "input",
        "http_server",
        "exec",
        "space",
        "space_spec",
        "history",
        "genome",
        "objective",
        "inner",
        "scenario",
        "sim",
        "ancestry",
        "store",
        "llm",
        "driver",
        "analysis",
        "lm",
        "swarm",
        "cluster",
        "repro",
        "cli",
    ];

    /// `crate::X` paths on the lines of `text` that are not comments, with line numbers.
    fn imports(text: &str) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                out.push((i + 1, name));
            }
        }
        out
    }

    fn upward_imports(src: &Path) -> Vec<String> {
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
        let mut leaks = Vec::new();
        for p in files {
            let rel = p.strip_prefix(src).unwrap();
            let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
            let module = first.trim_end_matches(".rs").to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            let own = rank(&module).unwrap_or_else(|| panic!("module `{module}` is missing from LAYERS"));
            for (line, target) in imports(&std::fs::read_to_string(&p).unwrap()) {
                match rank(&target) {
                    Some(r) if r <= own => {}
                    Some(_) => {
                        leaks.push(format!("{}:{line}: `{module}` imports `{target}`, a layer above it", p.display()))
                    }
                    None => leaks.push(format!("{}:{line}: `crate::{target}` is missing from LAYERS", p.display())),
                }
            }
        }
        leaks
    }

    #[test]
    fn every_module_imports_only_its_own_layer_and_those_below() {
        let leaks = upward_imports(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
        assert!(leaks.is_empty(), "upward imports (see ARCHITECTURE.md, layering):\n{}", leaks.join("\n"));
    }

    #[test]
    fn a_planted_upward_import_is_caught() {
        let tmp = std::env::temp_dir().join(format!("outerloop-layering-{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("genome")).unwrap();
        std::fs::write(tmp.join("genome/mod.rs"), "// crate::sim in a comment is fine\nuse crate::space::Config;\n")
            .unwrap();
        assert!(upward_imports(&tmp).is_empty());
        std::fs::write(tmp.join("genome/ops.rs"), "use crate::sim::Simulation;\n").unwrap();
        let leaks = upward_imports(&tmp);
        std::fs::remove_dir_all(&tmp).unwrap();
        assert_eq!(leaks.len(), 1, "{leaks:?}");
        assert!(leaks[0].contains("ops.rs:1: `genome` imports `sim`"), "{leaks:?}");
    }

    /// A file's module path: `sim/agents/verifier.rs` is `[sim, agents, verifier]`,
    /// `sim/mod.rs` is `[sim]`.
    fn module_path(rel: &Path) -> Vec<String> {
        let mut parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
        if let Some(last) = parts.pop() {
            let stem = last.trim_end_matches(".rs").to_string();
            if stem != "mod" && stem != "lib" && stem != "main" {
                parts.push(stem);
            }
        }
        parts
    }

    /// Module paths a line of code names: `crate::a::b`, `super::a`, `self::a` and the
    /// groups `super::{a, b}` and `crate::m::{a, b}` (first segment of each member).
    fn named_paths(line: &str, me: &[String]) -> Vec<Vec<String>> {
        let ident = |t: &str| -> String {
            t.chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect()
        };
        let mut out = Vec::new();
        for head in ["crate::", "super::", "self::"] {
            let mut rest = line;
            while let Some(at) = rest.find(head) {
                let before = rest[..at].chars().next_back();
                rest = &rest[at + head.len()..];
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    continue; // `my_crate::`, not `crate::`
                }
                let mut base: Vec<String> = match head {
                    "crate::" => Vec::new(),
                    "super::" => me[..me.len().saturating_sub(1)].to_vec(),
                    _ => me.to_vec(),
                };
                let mut tail = rest;
                loop {
                    let name = ident(tail);
                    if name.is_empty() {
                        break;
                    }
                    base.push(name.clone());
                    tail = &tail[name.len()..];
                    match tail.strip_prefix("::") {
                        Some(t) => tail = t,
                        None => break,
                    }
                }
                if let Some(group) = tail.strip_prefix('{') {
                    let group = group.split('}').next().unwrap_or("");
                    for member in group.split(',') {
                        let name = ident(member.trim());
                        if !name.is_empty() {
                            out.push(base.iter().cloned().chain([name]).collect());
                        }
                    }
                }
                out.push(base);
            }
        }
        out
    }

    /// Import circles between the files under `src`: each a list of files (relative),
    /// from the strongly connected components of the graph "file A names a path that
    /// resolves into file B" (test modules left out; `lib.rs` and `main.rs` too).
    fn file_circles(src: &Path) -> Vec<Vec<String>> {
        use petgraph::algo::tarjan_scc;
        use petgraph::graph::DiGraph;
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let rel: Vec<PathBuf> = files.iter().map(|p| p.strip_prefix(src).unwrap().to_path_buf()).collect();
        let known: std::collections::BTreeSet<&PathBuf> = rel.iter().collect();
        // The file a module path lands in: its longest prefix that is a file.
        let file_of = |parts: &[String]| -> Option<PathBuf> {
            (1..=parts.len()).rev().find_map(|k| {
                let base = parts[..k].join("/");
                [PathBuf::from(format!("{base}.rs")), PathBuf::from(format!("{base}/mod.rs"))]
                    .into_iter()
                    .find(|c| known.contains(c))
            })
        };
        let mut graph = DiGraph::<PathBuf, ()>::new();
        let nodes: std::collections::BTreeMap<PathBuf, _> =
            rel.iter().map(|r| (r.clone(), graph.add_node(r.clone()))).collect();
        for (path, r) in files.iter().zip(&rel) {
            if r == Path::new("lib.rs") || r == Path::new("main.rs") {
                continue;
            }
            let me = module_path(r);
            let text = std::fs::read_to_string(path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for target in named_paths(line, &me).iter().filter_map(|p| file_of(p)) {
                    if &target != r {
                        graph.update_edge(nodes[r], nodes[&target], ());
                    }
                }
            }
        }
        let mut circles: Vec<Vec<String>> = tarjan_scc(&graph)
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|c| {
                let mut names: Vec<String> = c.iter().map(|&n| graph[n].display().to_string()).collect();
                names.sort();
                names
            })
            .collect();
        circles.sort();
        circles
    }

    #[test]
    fn no_two_files_import_each_other_even_through_others() {
        let circles = file_circles(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
        assert!(
            circles.is_empty(),
            "import circles between files (move what both need below both; ARCHITECTURE.md, layering):\n{}",
            circles.iter().map(|c| c.join(" <-> ")).collect::<Vec<_>>().join("\n")
        );
    }

    #[test]
    fn a_planted_import_circle_is_caught() {
        let tmp = std::env::temp_dir().join(format!("outerloop-circles-{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("sim/agents")).unwrap();
        std::fs::write(tmp.join("sim/mod.rs"), "pub mod a;\npub mod b;\npub mod agents;\n").unwrap();
        std::fs::write(tmp.join("sim/a.rs"), "use super::b::Thing;\n").unwrap();
        std::fs::write(tmp.join("sim/b.rs"), "// super::a in a comment is fine\nuse crate::sim::agents::Agent;\n")
            .unwrap();
        std::fs::write(tmp.join("sim/agents/mod.rs"), "use crate::rng::Rng;\nuse self::c;\n").unwrap();
        assert!(file_circles(&tmp).is_empty());
        // agents -> a -> b -> agents: one circle of three files.
        std::fs::write(tmp.join("sim/agents/mod.rs"), "use super::{a::Other, c};\nuse crate::sim::a;\n").unwrap();
        std::fs::write(tmp.join("sim/a.rs"), "use super::b::Thing;\n").unwrap();
        let circles = file_circles(&tmp);
        std::fs::remove_dir_all(&tmp).unwrap();
        assert_eq!(circles, vec![vec!["sim/a.rs", "sim/agents/mod.rs", "sim/b.rs"]], "{circles:?}");
    }

    /// Files allowed to open files themselves, and why: the capped reader; folders opened
    /// to fsync them or lock them, never read; the event log, read up to the length its
    /// checksummed checkpoint records.
    const OWN_READERS: [&str; 4] = ["input.rs", "store/atomic.rs", "store/run_dir.rs", "store/event_log.rs"];

    /// Every non-comment line outside tests of the source files not in `skip` (paths
    /// under `src/`) for which `hit` holds, as `file:line: text`.
    fn code_lines_where(skip: &[&str], hit: impl Fn(&str) -> bool) -> Vec<String> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut found = Vec::new();
        for p in files {
            let rel = p.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
            if skip.contains(&rel.as_str()) || rel == "lib.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (i, line) in code.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")) {
                if hit(line) {
                    found.push(format!("{rel}:{}: {}", i + 1, line.trim()));
                }
            }
        }
        found
    }

    #[test]
    fn every_file_is_read_through_the_capped_reader() {
        let leaks = code_lines_where(&OWN_READERS, |line| {
            ["fs::read(", "fs::read_to_string(", "File::open("].iter().any(|call| line.contains(call))
        });
        assert!(leaks.is_empty(), "files read without a size cap (use input::read_bytes):\n{}", leaks.join("\n"));
    }

    /// `println!` panics when standard output fails; `cli::out` ends the command cleanly.
    #[test]
    fn every_write_to_standard_output_goes_through_cli_out() {
        let leaks = code_lines_where(&["cli/out.rs"], |line| {
            ["println!(", "print!(", "io::stdout()"]
                .iter()
                .any(|w| line.match_indices(w).any(|(at, _)| !line[..at].ends_with('e')))
        });
        assert!(
            leaks.is_empty(),
            "writes to standard output outside cli::out (use outln!/out!):\n{}",
            leaks.join("\n")
        );
    }

    #[test]
    fn the_library_never_reaches_up_into_the_cli() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let leaks: Vec<String> = files
            .iter()
            .filter(|p| !p.starts_with(src.join("cli")) && !p.ends_with("main.rs") && !p.ends_with("lib.rs"))
            .flat_map(|p| {
                let text = std::fs::read_to_string(p).unwrap();
                text.lines()
                    .enumerate()
                    .filter(|(_, l)| l.contains("crate::cli"))
                    .map(|(i, l)| format!("{}:{}: {}", p.display(), i + 1, l.trim()))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(leaks.is_empty(), "library modules importing the CLI:\n{}", leaks.join("\n"));
    }
}
