//! The event log's on-disk form: one JSON object per line, each carrying a checksum
//! chained over every line before it.
//!
//! A line is the event's JSON with a first field `"sum"`: 16 hex digits of
//! `xxh3(event JSON, seed = previous line's sum)` (seed 0 for the first line), e.g.
//! `{"sum":"1f0c…","event":"born","tick":0,…}`. The checkpoint records the log's length
//! and the sum of its last line ([`LogMark`]), so a flipped byte, an edited, deleted,
//! reordered or duplicated line, and a log from another run are each found at the first
//! line they touch; the log stays plain JSON lines (`jq 'del(.sum)'` gives the events).

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::diagnostic::InputError;
use crate::sim::events::Event;

/// What a log line can hold: the outer loop's [`Event`] and the model swarm's events,
/// each a serde enum tagged by `"event"`, written and verified by the same code.
pub trait LogEvent: Serialize + DeserializeOwned {
    /// The name of a field whose number is not finite (JSON has no NaN), if any.
    fn non_finite_field(&self) -> Option<&'static str>;
}

impl LogEvent for Event {
    fn non_finite_field(&self) -> Option<&'static str> {
        Event::non_finite_field(self)
    }
}

/// Where the log stands: its length in bytes and the checksum of its last line (0 for
/// an empty log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogMark {
    /// Length in bytes.
    pub len: u64,
    /// Chained checksum of the last line.
    pub sum: u64,
}

const PREFIX: &str = "{\"sum\":\"";
/// `{"sum":"` + 16 hex digits + `",`.
const HEADER_LEN: usize = PREFIX.len() + 16 + 2;

/// Encode `events` as log lines following a log that ends at `after`; returns the bytes
/// to append and the new mark. An event with a number that is not finite is refused
/// (JSON has no NaN: it would be logged as `null` and read back as something else).
pub fn encode<E: LogEvent>(events: &[E], after: LogMark) -> Result<(Vec<u8>, LogMark), serde_json::Error> {
    let mut out = Vec::new();
    let mut sum = after.sum;
    for e in events {
        if let Some(field) = e.non_finite_field() {
            return Err(serde::ser::Error::custom(format!(
                "refusing to log a {} event whose `{field}` is not a finite number",
                serde_json::to_value(e).ok().and_then(|v| v["event"].as_str().map(String::from)).unwrap_or_default()
            )));
        }
        let json = serde_json::to_string(e)?;
        sum = xxhash_rust::xxh3::xxh3_64_with_seed(json.as_bytes(), sum);
        out.extend_from_slice(format!("{PREFIX}{sum:016x}\",").as_bytes());
        // Every event serializes as a non-empty object: `{"event":…}`.
        out.extend_from_slice(&json.as_bytes()[1..]);
        out.push(b'\n');
    }
    let len = after.len + out.len() as u64;
    Ok((out, LogMark { len, sum }))
}

/// Read and verify the first `upto.len` bytes of the log at `path`: every line's
/// checksum, and the last one against `upto.sum`. Bytes after `upto.len` (a tick
/// interrupted before its checkpoint) are ignored.
pub fn read<E: LogEvent>(path: &Path, upto: LogMark) -> Result<Vec<E>, InputError> {
    let damaged = "the event log was edited or damaged after it was written; restore the run folder from a backup, \
                   or start the run again (`outerloop run SCENARIO --out DIR --force`)";
    let meta = std::fs::metadata(path).map_err(|e| {
        let message = if e.kind() == std::io::ErrorKind::NotFound {
            "the event log is missing".to_string()
        } else {
            format!("the event log cannot be read: {e}")
        };
        InputError::file(path, message, damaged)
    })?;
    if !meta.is_file() {
        return Err(InputError::file(path, "the event log is not a file", damaged));
    }
    if meta.len() < upto.len {
        return Err(InputError::file(
            path,
            format!("the event log has {} bytes but the checkpoint recorded {}", meta.len(), upto.len),
            damaged,
        ));
    }
    let mut bytes = Vec::with_capacity(upto.len as usize);
    {
        use std::io::Read;
        let file = std::fs::File::open(path)
            .map_err(|e| InputError::file(path, format!("the event log cannot be read: {e}"), damaged))?;
        file.take(upto.len)
            .read_to_end(&mut bytes)
            .map_err(|e| InputError::file(path, format!("the event log cannot be read: {e}"), damaged))?;
    }
    if bytes.len() as u64 != upto.len {
        return Err(InputError::file(path, "the event log shrank while it was read", damaged));
    }
    let mut events = Vec::new();
    let mut sum = 0u64;
    // Complete lines only: a fragment after the last newline is reported after every
    // line before it checked out, so damage is named at the first line it touches.
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    for (i, line) in bytes[..complete].split_inclusive(|&b| b == b'\n').enumerate() {
        let line = &line[..line.len() - 1];
        let at = |message: String| InputError::file_line(path, i + 1, message, damaged);
        let text = std::str::from_utf8(line).map_err(|e| at(format!("not UTF-8 text (byte {})", e.valid_up_to())))?;
        if text.len() < HEADER_LEN + 1 || !text.starts_with(PREFIX) {
            return Err(at("not an event line (no checksum field `sum` first)".into()));
        }
        // Checked as bytes: a damaged line may hold multi-byte characters anywhere.
        let digits = &line[PREFIX.len()..PREFIX.len() + 16];
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(at("the checksum field `sum` is not 16 hex digits".into()));
        }
        if &line[PREFIX.len() + 16..HEADER_LEN] != b"\"," {
            return Err(at("not an event line (the checksum field is malformed)".into()));
        }
        // All ASCII so far, so these are character boundaries.
        let stored = u64::from_str_radix(&text[PREFIX.len()..PREFIX.len() + 16], 16)
            .map_err(|_| at("the checksum field `sum` is not 16 hex digits".into()))?;
        let json = format!("{{{}", &text[HEADER_LEN..]);
        sum = xxhash_rust::xxh3::xxh3_64_with_seed(json.as_bytes(), sum);
        if sum != stored {
            return Err(at("checksum mismatch: this line, or one before it, was changed".into()));
        }
        let event: E = serde_json::from_str(&json).map_err(|e| at(format!("not an event ({e})")))?;
        events.push(event);
    }
    if complete < bytes.len() {
        return Err(InputError::file_line(
            path,
            events.len() + 1,
            "the checkpoint's end of the log falls inside this line",
            damaged,
        ));
    }
    if sum != upto.sum {
        return Err(InputError::file(path, "the event log does not end where the checkpoint says it does", damaged));
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::events::RetireReason;

    fn events() -> Vec<Event> {
        (0..5).map(|t| Event::Retired { tick: t, id: u64::from(t) + 1, reason: RetireReason::AgedOut }).collect()
    }

    fn write(dir: &Path, events: &[Event]) -> (std::path::PathBuf, LogMark) {
        let (bytes, mark) = encode(events, LogMark::default()).unwrap();
        let path = dir.join("events.jsonl");
        std::fs::write(&path, &bytes).unwrap();
        (path, mark)
    }

    #[test]
    fn round_trips_and_appends_continue_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let all = events();
        let (first, mark) = encode(&all[..2], LogMark::default()).unwrap();
        let (rest, end) = encode(&all[2..], mark).unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, [first, rest].concat()).unwrap();
        assert_eq!(read::<Event>(&path, end).unwrap(), all);
        assert_eq!(read::<Event>(&path, mark).unwrap(), all[..2]);
        let text = std::fs::read_to_string(&path).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["event"], "retired", "each line stays a plain JSON object");
    }

    #[test]
    fn a_flipped_byte_is_found_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mark) = write(dir.path(), &events());
        let mut bytes = std::fs::read(&path).unwrap();
        let third = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(1).unwrap().0 + 1;
        let tick = third + String::from_utf8_lossy(&bytes[third..]).find("\"tick\":").unwrap() + 7;
        bytes[tick] = if bytes[tick] == b'9' { b'8' } else { b'9' };
        std::fs::write(&path, &bytes).unwrap();
        let err = read::<Event>(&path, mark).unwrap_err().to_string();
        assert!(err.contains("events.jsonl:3:1") && err.contains("checksum mismatch"), "{err}");
    }

    #[test]
    fn a_duplicated_line_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write(dir.path(), &events());
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let doubled = format!("{}\n{}\n{}\n", lines[0], lines[1], lines[1]);
        std::fs::write(&path, &doubled).unwrap();
        let err = read::<Event>(&path, LogMark { len: doubled.len() as u64, sum: 0 }).unwrap_err().to_string();
        assert!(err.contains("events.jsonl:3:1"), "{err}");
    }

    #[test]
    fn a_multi_byte_character_inside_the_checksum_field_is_an_error_not_a_panic() {
        // Found by the fuzz target: slicing the field at a byte offset inside a character.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let line = "{\"sum\":\"7762b5ac6d822fa\u{feff}5\",\"event\":\"retired\",\"tick\":2,\"id\":15,\"reason\":\"rejected\"}\n";
        std::fs::write(&path, line).unwrap();
        let err = read::<Event>(&path, LogMark { len: line.len() as u64, sum: 0 }).unwrap_err().to_string();
        assert!(err.contains("events.jsonl:1:1") && err.contains("16 hex digits"), "{err}");
    }

    #[test]
    fn a_non_finite_number_is_refused() {
        let e = Event::Evaluated {
            tick: 1,
            id: 2,
            claimed: f64::NAN,
            spread: 0.0,
            episodes: 1,
            cost: 1.0,
            audited: false,
            improved: None,
        };
        let err = encode(&[e], LogMark::default()).unwrap_err().to_string();
        assert!(err.contains("`claimed` is not a finite number"), "{err}");
    }

    #[test]
    fn a_directory_or_a_short_log_is_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mark) = write(dir.path(), &events());
        std::fs::write(&path, b"").unwrap();
        assert!(read::<Event>(&path, mark).unwrap_err().to_string().contains("checkpoint recorded"));
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(read::<Event>(&path, mark).unwrap_err().to_string().contains("not a file"));
    }
}
