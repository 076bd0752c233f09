#![doc = include_str!("../README.md")]

pub mod analysis;
pub mod ancestry;
pub mod cli;
pub mod diagnostic;
pub mod genome;
pub mod inner;
pub mod input;
pub mod objective;
pub mod repro;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod stats;
pub mod store;
pub mod swarm;

#[cfg(test)]
mod layering {
    //! Dependency rules the compiler cannot see, checked on the source text so that the
    //! next leak fails CI (ARCHITECTURE.md lists them as invariants).

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
