#![doc = include_str!("../README.md")]

pub mod analysis;
pub mod ancestry;
pub mod cli;
pub mod cluster;
pub mod diagnostic;
pub mod exec;
pub mod genome;
pub mod history;
pub mod inner;
pub mod input;
pub mod objective;
pub mod pso;
pub mod repro;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod space;
pub mod stats;
pub mod store;
pub mod swarm;

#[cfg(test)]
mod layering {
    //! Dependency rules the compiler cannot see, checked on the source text so that the
    //! next leak fails CI (ARCHITECTURE.md lists them as invariants): the library never
    //! imports the CLI, and every module imports only its own layer and those below.

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
    const LAYERS: [&str; 20] = [
        "rng",
        "stats",
        "pso",
        "diagnostic",
        "input",
        "exec",
        "space",
        "history",
        "genome",
        "objective",
        "inner",
        "scenario",
        "sim",
        "ancestry",
        "store",
        "analysis",
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
