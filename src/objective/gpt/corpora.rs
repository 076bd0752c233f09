//! The named corpora every table and live task refers to, all available offline.
//!
//! - `synthetic`: the generated five-skill corpus ([`Corpus::synthetic_default`]).
//! - `shakespeare`: tinyshakespeare (1,115,394 bytes, public domain), shipped
//!   gzip-compressed in `scenarios/corpora/` and embedded in the binary.
//! - `records`: generated JSON-lines sales records ([`records_bytes`]): rigid syntax,
//!   sequential ids and dates, per-item prices and an arithmetic total, so a model can
//!   learn structure that neither prose nor the skill lines have.
//!
//! Names are typed ([`CorpusName`]) so a task name, a table header and the trial cache
//! agree on what was trained on.

use std::io::Read;
use std::path::{Path, PathBuf};

use rand::RngExt;

use super::data::Corpus;
use crate::rng::stream;

/// tinyshakespeare, gzip-compressed.
const SHAKESPEARE_GZ: &[u8] = include_bytes!("../../../scenarios/corpora/tinyshakespeare.txt.gz");

/// Bytes of the generated records corpus.
pub const RECORDS_LEN: usize = 300_000;

/// A corpus the program can produce without any file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CorpusName {
    /// The synthetic five-skill corpus.
    Synthetic,
    /// tinyshakespeare.
    Shakespeare,
    /// Generated JSON-lines sales records.
    Records,
}

impl CorpusName {
    /// Every named corpus, in a fixed order.
    pub const ALL: &'static [CorpusName] = &[CorpusName::Synthetic, CorpusName::Shakespeare, CorpusName::Records];

    /// The name used in task names and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            CorpusName::Synthetic => "synthetic",
            CorpusName::Shakespeare => "shakespeare",
            CorpusName::Records => "records",
        }
    }

    /// Parse a name.
    pub fn parse(name: &str) -> Option<CorpusName> {
        CorpusName::ALL.iter().copied().find(|c| c.as_str() == name)
    }

    /// The names, for hints.
    pub fn list() -> String {
        CorpusName::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Produce the corpus (deterministic; no file or network access).
    pub fn load(self) -> Corpus {
        match self {
            CorpusName::Synthetic => Corpus::synthetic_default(),
            CorpusName::Shakespeare => Corpus::from_bytes("shakespeare", shakespeare_bytes()),
            CorpusName::Records => Corpus::from_bytes("records", records_bytes(RECORDS_LEN, 0)),
        }
    }
}

impl std::fmt::Display for CorpusName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a table or live task's corpus comes from: a named corpus, or a file of the
/// user's (text or any bytes, at most [`crate::input::MAX_CORPUS_BYTES`]) whose content
/// hash goes into the table header, the trial cache key and a run's `inputs.txt`, so a
/// changed file is another corpus, never silently other data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorpusSource {
    /// A corpus the program produces.
    Named(CorpusName),
    /// A file (a path holding `/` or `.` that names no corpus).
    File(PathBuf),
}

impl CorpusSource {
    /// A named corpus, else a file path (it must contain `/` or `.`: `my.txt`,
    /// `data/corpus`).
    pub fn parse(text: &str) -> Result<CorpusSource, String> {
        if let Some(named) = CorpusName::parse(text) {
            return Ok(CorpusSource::Named(named));
        }
        if text.contains('/') || text.contains('.') {
            return Ok(CorpusSource::File(PathBuf::from(text)));
        }
        Err(format!("unknown corpus `{text}`: name one of {} or a file (a path with `/` or `.`)", CorpusName::list()))
    }

    /// The corpus (a file is read and hashed here; its errors name it).
    pub fn load(&self) -> Result<Corpus, String> {
        match self {
            CorpusSource::Named(name) => Ok(name.load()),
            CorpusSource::File(path) => Corpus::from_file(path).map_err(|e| e.to_string()),
        }
    }

    /// The file, when the corpus is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            CorpusSource::Named(_) => None,
            CorpusSource::File(path) => Some(path),
        }
    }
}

impl std::fmt::Display for CorpusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CorpusSource::Named(name) => f.write_str(name.as_str()),
            CorpusSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The embedded tinyshakespeare text.
pub fn shakespeare_bytes() -> Vec<u8> {
    let mut out = Vec::with_capacity(1_115_394);
    // The archive is part of the binary and checked by a test, so a failure here is a
    // build defect; an empty corpus then fails the context check with a clear error.
    if flate2::read::GzDecoder::new(SHAKESPEARE_GZ).read_to_end(&mut out).is_err() {
        out.clear();
    }
    out
}

/// Cities with the frequencies of a Zipf-like law (earlier ones far more common).
const CITIES: &[&str] = &["Lyon", "Porto", "Gdansk", "Leeds", "Turin", "Ghent", "Bergen", "Split", "Kosice", "Tartu"];
/// Items and their fixed unit prices in cents, so the price is predictable from the item.
const ITEMS: &[(&str, u32)] = &[
    ("bolt", 35),
    ("hinge", 420),
    ("rope", 1250),
    ("lamp", 2399),
    ("glue", 275),
    ("chisel", 1890),
    ("tape", 150),
    ("valve", 760),
    ("saw", 3150),
    ("nail", 5),
];

/// Generated JSON-lines records of about `len` bytes. Each line is one sale:
/// `{"id":N,"date":"YYYY-MM-DD","city":C,"item":I,"qty":Q,"unit":P,"total":Q*P,"bulk":B}`
/// with ids counting up, dates advancing by 0-2 days, Zipf-distributed cities, an
/// item-determined unit price, an exact total and `bulk` true when `qty >= 10`.
pub fn records_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = stream(seed, "gpt-records-corpus", &[]);
    let weights: Vec<f64> = (1..=CITIES.len()).map(|r| 1.0 / r as f64).collect();
    let total_weight: f64 = weights.iter().sum();
    let (mut year, mut month, mut day) = (2021u32, 1u32, 1u32);
    let mut out = Vec::with_capacity(len + 160);
    let mut id = 1000u32;
    while out.len() < len {
        id += 1;
        for _ in 0..rng.random_range(0..3u32) {
            day += 1;
            if day > 28 {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
        let mut draw = rng.random_range(0.0..total_weight);
        let mut city = CITIES[CITIES.len() - 1];
        for (c, w) in CITIES.iter().zip(&weights) {
            if draw < *w {
                city = c;
                break;
            }
            draw -= w;
        }
        let (item, unit) = ITEMS[rng.random_range(0..ITEMS.len())];
        let qty: u32 = if rng.random_range(0..4u32) == 0 { rng.random_range(10..40) } else { rng.random_range(1..10) };
        let total = qty * unit;
        let line = format!(
            "{{\"id\":{id},\"date\":\"{year}-{month:02}-{day:02}\",\"city\":\"{city}\",\"item\":\"{item}\",\"qty\":{qty},\"unit\":{}.{:02},\"total\":{}.{:02},\"bulk\":{}}}\n",
            unit / 100,
            unit % 100,
            total / 100,
            total % 100,
            qty >= 10
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shakespeare_is_the_public_text() {
        let bytes = shakespeare_bytes();
        assert_eq!(bytes.len(), 1_115_394);
        assert!(bytes.starts_with(b"First Citizen:\nBefore we proceed any further"));
    }

    #[test]
    fn records_are_deterministic_and_consistent() {
        let a = records_bytes(5000, 0);
        assert_eq!(a, records_bytes(5000, 0));
        assert_ne!(a, records_bytes(5000, 1));
        let text = String::from_utf8(a).unwrap();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let qty = v["qty"].as_f64().unwrap();
            let unit = v["unit"].as_f64().unwrap();
            assert!((v["total"].as_f64().unwrap() - qty * unit).abs() < 1e-6, "{line}");
            assert_eq!(v["bulk"].as_bool().unwrap(), qty >= 10.0);
        }
    }

    #[test]
    fn names_round_trip() {
        for c in CorpusName::ALL {
            assert_eq!(CorpusName::parse(c.as_str()), Some(*c));
        }
        assert_eq!(CorpusName::parse("nope"), None);
    }
}
