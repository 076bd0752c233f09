//! Corpora: an embedded synthetic multi-skill generator and text files, as bytes.
//!
//! A [`Corpus`] is a byte string split into a training prefix and a held-out suffix
//! (the last tenth). Its hash keys the trial cache. The synthetic corpus is a
//! deterministic function of `(skills, length, seed)`; every skill line has the form
//! `prompt answer\n` (the prompt ends in `>`, or `|` for brackets), and
//! [`Skill::eval_examples`] gives such lines as exact-match prompts for evaluation
//! ([`super::model::Gpt::exact_match`]).

use std::path::{Path, PathBuf};

use rand::RngExt;

use crate::rng::{Rng, stream};

/// Fraction of a corpus held out for validation (its tail).
pub const VAL_FRACTION: f64 = 0.1;

/// Bytes of the default synthetic corpus.
pub const SYNTHETIC_LEN: usize = 200_000;

/// Errors in loading a corpus.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The file could not be read.
    #[error("cannot read corpus {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The corpus is too short for the context length.
    #[error("corpus `{name}` has {len} bytes; it needs at least {needed} (train and validation)")]
    TooShort {
        /// The corpus name.
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The minimum length.
        needed: usize,
    },
}

/// A corpus as it travels in a batch file: its name and bytes (a node needs no path to
/// the file the coordinator read).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CorpusData {
    /// The corpus name (reports, cache keys).
    pub name: String,
    /// All bytes; the split and hash are recomputed from them.
    pub bytes: Vec<u8>,
}

impl CorpusData {
    /// The travelling form of `corpus`.
    pub fn of(corpus: &Corpus) -> Self {
        CorpusData { name: corpus.name().to_string(), bytes: corpus.bytes().to_vec() }
    }

    /// The corpus again (byte-identical, same split and hash).
    pub fn corpus(&self) -> Corpus {
        Corpus::from_bytes(&self.name, self.bytes.clone())
    }
}

/// A byte corpus with a train/validation split.
#[derive(Debug, Clone, PartialEq)]
pub struct Corpus {
    name: String,
    bytes: Vec<u8>,
    split: usize,
    hash: u64,
}

impl Corpus {
    /// Wrap bytes, holding out the last [`VAL_FRACTION`] for validation.
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Self {
        let split = bytes.len() - (bytes.len() as f64 * VAL_FRACTION).round() as usize;
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        Corpus { name: name.to_string(), bytes, split, hash }
    }

    /// Read a text (or any) file.
    pub fn from_file(path: &Path) -> Result<Self, CorpusError> {
        let bytes = crate::input::read_bytes(path, crate::input::MAX_CORPUS_BYTES)
            .map_err(|source| CorpusError::Read { path: path.to_path_buf(), source })?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
        Ok(Corpus::from_bytes(&name, bytes))
    }

    /// The default synthetic corpus: all skills, [`SYNTHETIC_LEN`] bytes, seed 0.
    pub fn synthetic_default() -> Self {
        Corpus::synthetic(Skill::ALL, SYNTHETIC_LEN, 0)
    }

    /// A synthetic corpus of about `len` bytes mixing `skills` uniformly.
    pub fn synthetic(skills: &[Skill], len: usize, seed: u64) -> Self {
        let bytes = synthetic_bytes(skills, len, seed);
        let names: Vec<&str> = skills.iter().map(|s| s.name()).collect();
        Corpus::from_bytes(&format!("synthetic[{}]", names.join(",")), bytes)
    }

    /// Short name for reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// xxh3 of the bytes.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// All bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The training part.
    pub fn train(&self) -> &[u8] {
        &self.bytes[..self.split]
    }

    /// The held-out validation part.
    pub fn val(&self) -> &[u8] {
        &self.bytes[self.split..]
    }

    /// Check both parts can hold a window of `context + 1` bytes.
    pub fn check_context(&self, context: usize) -> Result<(), CorpusError> {
        if self.train().len() <= context + 1 || self.val().len() <= context + 1 {
            let needed = (context + 2) * 10 + 1;
            return Err(CorpusError::TooShort { name: self.name.clone(), len: self.bytes.len(), needed });
        }
        Ok(())
    }
}

/// How large a skill's examples are: the one generator serves the synthetic corpora and
/// the model swarm's small experts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkillSizes {
    /// Letters of a copy/reverse word (inclusive range).
    pub word: (usize, usize),
    /// Operands of an addition lie below this.
    pub add_below: u32,
    /// Brackets opened (inclusive range).
    pub brackets: (usize, usize),
    /// Key-value pairs of a recall line (inclusive range).
    pub recall: (usize, usize),
}

impl SkillSizes {
    /// The synthetic corpora's sizes.
    pub const CORPUS: SkillSizes = SkillSizes { word: (3, 10), add_below: 1000, brackets: (2, 8), recall: (2, 5) };
    /// The model swarm's smaller examples (tiny experts learn them in few steps).
    pub const SMALL: SkillSizes = SkillSizes { word: (2, 5), add_below: 50, brackets: (1, 4), recall: (2, 3) };
}

/// One synthetic skill. Each line is `prompt answer\n`; the prompt ends in `>` (`|` for
/// brackets, where `>` is itself a bracket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skill {
    /// `c hello>hello`
    Copy,
    /// `r hello>olleh`
    Reverse,
    /// `a 12+345>357`
    Add,
    /// `b ([<{|}>])`: close the open brackets in order.
    Brackets,
    /// `k a3 x7 q1 x>7`: recall the value of a key.
    Recall,
}

/// A prompt and its exact expected answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The prompt, ending in `>` (or `|`).
    pub prompt: String,
    /// The expected continuation before the newline.
    pub answer: String,
}

impl Skill {
    /// All skills, in a fixed order.
    pub const ALL: &'static [Skill] = &[Skill::Copy, Skill::Reverse, Skill::Add, Skill::Brackets, Skill::Recall];

    /// Name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Skill::Copy => "copy",
            Skill::Reverse => "reverse",
            Skill::Add => "add",
            Skill::Brackets => "brackets",
            Skill::Recall => "recall",
        }
    }

    /// Parse a name.
    pub fn from_name(name: &str) -> Option<Skill> {
        Skill::ALL.iter().copied().find(|s| s.name() == name)
    }

    /// Draw one example.
    pub fn example(self, rng: &mut Rng) -> Example {
        self.example_sized(&SkillSizes::CORPUS, rng)
    }

    /// One example with the sizes `sizes` (the model swarm uses smaller ones).
    pub fn example_sized(self, sizes: &SkillSizes, rng: &mut Rng) -> Example {
        let word = |rng: &mut Rng| -> String {
            let n = rng.random_range(sizes.word.0..=sizes.word.1);
            (0..n).map(|_| (b'a' + rng.random_range(0..26u8)) as char).collect()
        };
        match self {
            Skill::Copy => {
                let w = word(rng);
                Example { prompt: format!("c {w}>"), answer: w }
            }
            Skill::Reverse => {
                let w = word(rng);
                Example { prompt: format!("r {w}>"), answer: w.chars().rev().collect() }
            }
            Skill::Add => {
                let a: u32 = rng.random_range(0..sizes.add_below);
                let b: u32 = rng.random_range(0..sizes.add_below);
                Example { prompt: format!("a {a}+{b}>"), answer: (a + b).to_string() }
            }
            Skill::Brackets => {
                let pairs = [('(', ')'), ('[', ']'), ('{', '}'), ('<', '>')];
                let n = rng.random_range(sizes.brackets.0..=sizes.brackets.1);
                let opened: Vec<usize> = (0..n).map(|_| rng.random_range(0..pairs.len())).collect();
                let prompt: String = opened.iter().map(|&i| pairs[i].0).collect();
                let answer: String = opened.iter().rev().map(|&i| pairs[i].1).collect();
                Example { prompt: format!("b {prompt}|"), answer }
            }
            Skill::Recall => {
                let n = rng.random_range(sizes.recall.0..=sizes.recall.1);
                let mut keys: Vec<char> = Vec::new();
                while keys.len() < n {
                    let k = (b'a' + rng.random_range(0..26u8)) as char;
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                let vals: Vec<u8> = (0..n).map(|_| rng.random_range(0..10u8)).collect();
                let pairs: Vec<String> = keys.iter().zip(&vals).map(|(k, v)| format!("{k}{v}")).collect();
                let q = rng.random_range(0..n);
                Example { prompt: format!("k {} {}>", pairs.join(" "), keys[q]), answer: vals[q].to_string() }
            }
        }
    }

    /// `count` deterministic evaluation examples (a stream separate from the corpus).
    pub fn eval_examples(self, count: usize, seed: u64) -> Vec<Example> {
        let mut rng = stream(seed, "gpt-skill-eval", &[self as u64]);
        (0..count).map(|_| self.example(&mut rng)).collect()
    }
}

/// Bytes of a synthetic corpus: lines drawn from `skills` uniformly until `len` bytes.
pub fn synthetic_bytes(skills: &[Skill], len: usize, seed: u64) -> Vec<u8> {
    let skills = if skills.is_empty() { Skill::ALL } else { skills };
    let mut rng = stream(seed, "gpt-synthetic-corpus", &[]);
    let mut out = Vec::with_capacity(len + 64);
    while out.len() < len {
        let skill = skills[rng.random_range(0..skills.len())];
        let ex = skill.example(&mut rng);
        out.extend_from_slice(ex.prompt.as_bytes());
        out.extend_from_slice(ex.answer.as_bytes());
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn corpus_data_rebuilds_the_same_corpus() {
        let c = Corpus::synthetic(&[Skill::Add], 5000, 2);
        let back = CorpusData::of(&c).corpus();
        assert_eq!(back, c);
        assert_eq!(back.hash(), c.hash());
    }

    use super::*;

    #[test]
    fn synthetic_is_deterministic_and_split() {
        let a = Corpus::synthetic(Skill::ALL, 5000, 3);
        let b = Corpus::synthetic(Skill::ALL, 5000, 3);
        assert_eq!(a, b);
        assert_ne!(a.hash(), Corpus::synthetic(Skill::ALL, 5000, 4).hash());
        assert!(a.train().len() > 4 * a.val().len());
        assert!(a.bytes().iter().all(|b| b.is_ascii()));
    }

    #[test]
    fn skills_alone_have_exact_answers() {
        let mut rng = stream(1, "t", &[]);
        let ex = Skill::Reverse.example(&mut rng);
        assert_eq!(ex.answer, ex.prompt[2..ex.prompt.len() - 1].chars().rev().collect::<String>());
        let ex = Skill::Add.example(&mut rng);
        let (a, b) = ex.prompt[2..ex.prompt.len() - 1].split_once('+').unwrap();
        assert_eq!(ex.answer, (a.parse::<u32>().unwrap() + b.parse::<u32>().unwrap()).to_string());
        let only = synthetic_bytes(&[Skill::Copy], 500, 0);
        assert!(only.split(|&b| b == b'\n').filter(|l| !l.is_empty()).all(|l| l.starts_with(b"c ")));
    }
}
