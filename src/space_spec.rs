//! Search spaces written by users: the table spec's knob syntax, in a TOML table (a
//! command objective's `[space]`) or the same shape as JSON (the Python package).
//!
//! ```toml
//! lr = { log = [1e-4, 1e-1] }        # continuous, log scale
//! dropout = { linear = [0, 0.5] }    # continuous, linear
//! layers = { integer = [1, 4] }      # integers lo..=hi
//! width = [16, 32, 64]               # ordinal: an ordered list of numbers
//! act = ["relu", "tanh"]             # categorical: a list of names
//! ```
//!
//! Knobs are ordered by name, so a TOML file and a JSON object (whose key order no
//! format promises) give the same space, and therefore the same trials.

use crate::space::{Knob, SearchSpace};

/// A problem with one knob, or with the space as a whole (`knob` empty).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", if knob.is_empty() { String::new() } else { format!("knob `{knob}`: ") })]
pub struct SpaceSpecError {
    /// The knob's name (empty for the whole space).
    pub knob: String,
    /// What is wrong and how to write it instead.
    pub message: String,
}

impl From<crate::space::SpaceError> for SpaceSpecError {
    fn from(e: crate::space::SpaceError) -> Self {
        SpaceSpecError { knob: String::new(), message: e.to_string() }
    }
}

/// How a knob is written, for hints.
pub const KNOB_FORMS: &str = "{ log = [lo, hi] }, { linear = [lo, hi] }, { integer = [lo, hi] }, a list of numbers (ordinal) or a list of names (categorical)";

/// One knob from its TOML value.
pub fn knob_from_toml(name: &str, value: &toml::Value) -> Result<Knob, SpaceSpecError> {
    let bad = |message: String| SpaceSpecError { knob: name.to_string(), message };
    let number = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    let knob = match value {
        toml::Value::Array(items) if items.is_empty() => {
            return Err(bad("an empty list: give at least one value".into()));
        }
        toml::Value::Array(items) if items.iter().all(|i| i.is_str()) => {
            let mut names: Vec<&str> = items.iter().filter_map(|i| i.as_str()).collect();
            if let Some(twice) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)) {
                return Err(bad(format!("choice `{}` is listed twice", twice.1)));
            }
            names.retain(|n| !n.is_empty());
            if names.len() != items.len() {
                return Err(bad("a choice is an empty name".into()));
            }
            Knob::categorical(name, &names)
        }
        toml::Value::Array(items) => {
            let mut nums = items
                .iter()
                .map(number)
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| bad("a list must hold only numbers (ordinal) or only names (categorical)".into()))?;
            nums.sort_by(f64::total_cmp);
            nums.dedup();
            Knob::ordinal(name, &nums)
        }
        toml::Value::Table(range) => {
            let (form, bounds) = range
                .iter()
                .next()
                .filter(|_| range.len() == 1)
                .ok_or_else(|| bad(format!("write one of {KNOB_FORMS}")))?;
            let pair = bounds
                .as_array()
                .filter(|a| a.len() == 2)
                .and_then(|a| Some((number(&a[0])?, number(&a[1])?)))
                .ok_or_else(|| bad(format!("`{form}` must be [lo, hi], two numbers")))?;
            match form.as_str() {
                "log" => Knob::log(name, pair.0, pair.1),
                "linear" => Knob::linear(name, pair.0, pair.1),
                "integer" => {
                    if pair.0.fract() != 0.0 || pair.1.fract() != 0.0 || pair.0.abs() > 1e15 || pair.1.abs() > 1e15 {
                        return Err(bad("integer bounds must be whole numbers".into()));
                    }
                    Knob::integer(name, pair.0 as i64, pair.1 as i64)
                }
                other => return Err(bad(format!("unknown range kind `{other}` (log, linear, integer)"))),
            }
        }
        other => return Err(bad(format!("unsupported value {other}: write one of {KNOB_FORMS}"))),
    };
    // The space's own checks (bounds in order, log above zero), per knob so the error
    // names it.
    SearchSpace::new(vec![knob.clone()]).map_err(|e| bad(without_knob_prefix(&e.to_string(), name)))?;
    Ok(knob)
}

/// `knob `x`: problem` -> `problem` (the caller adds the knob back).
fn without_knob_prefix(message: &str, name: &str) -> String {
    message.strip_prefix(&format!("knob `{name}`: ")).unwrap_or(message).to_string()
}

/// A whole space from a TOML table of knobs, in name order.
pub fn space_from_toml(table: &toml::Table) -> Result<SearchSpace, SpaceSpecError> {
    if table.is_empty() {
        return Err(SpaceSpecError {
            knob: String::new(),
            message: format!("the space has no knobs: write each as {KNOB_FORMS}"),
        });
    }
    let mut knobs = Vec::with_capacity(table.len());
    let mut names: Vec<&String> = table.keys().collect();
    names.sort();
    for name in names {
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '=' || c == ',') {
            return Err(SpaceSpecError {
                knob: name.clone(),
                message: "a knob's name must be non-empty, without spaces, `=` or `,`".into(),
            });
        }
        knobs.push(knob_from_toml(name, &table[name])?);
    }
    Ok(SearchSpace::new(knobs)?)
}

/// A whole space from a JSON object of the same shape (`{"lr": {"log": [1e-4, 0.1]},
/// "act": ["relu", "tanh"]}`), as the Python package sends it.
pub fn space_from_json(value: &serde_json::Value) -> Result<SearchSpace, SpaceSpecError> {
    let whole = |message: String| SpaceSpecError { knob: String::new(), message };
    if !value.is_object() {
        return Err(whole(format!("a space is an object of knobs, each written as {KNOB_FORMS}")));
    }
    let table: toml::Table = serde::Deserialize::deserialize(value.clone())
        .map_err(|e| whole(format!("not a space ({e}): write each knob as {KNOB_FORMS}")))?;
    space_from_toml(&table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::KnobKind;

    fn parse(text: &str) -> Result<SearchSpace, SpaceSpecError> {
        space_from_toml(&text.parse::<toml::Table>().unwrap())
    }

    #[test]
    fn every_form_parses_in_name_order() {
        let space = parse(
            "lr = { log = [1e-4, 0.1] }\ndropout = { linear = [0, 0.5] }\nlayers = { integer = [1, 4] }\n\
             width = [64, 16, 32]\nact = [\"relu\", \"tanh\"]",
        )
        .unwrap();
        let names: Vec<&str> = space.knobs().iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["act", "dropout", "layers", "lr", "width"]);
        assert_eq!(space.knobs()[4].kind, KnobKind::Ordinal { values: vec![16.0, 32.0, 64.0] });
        assert_eq!(space.knobs()[2].kind, KnobKind::Integer { lo: 1, hi: 4 });
        let json: serde_json::Value = serde_json::json!({
            "width": [16, 32, 64], "act": ["relu", "tanh"], "lr": {"log": [1e-4, 0.1]},
            "layers": {"integer": [1, 4]}, "dropout": {"linear": [0, 0.5]}
        });
        assert_eq!(space_from_json(&json).unwrap(), space, "JSON and TOML give one space");
    }

    #[test]
    fn bad_knobs_are_named_with_the_fix() {
        for (text, needle) in [
            ("x = { linear = [1, 1] }", "knob `x`: bounds must be finite with lo < hi"),
            ("x = { log = [0, 1] }", "lo > 0"),
            ("x = { integer = [3, 1] }", "lo <= hi"),
            ("x = { integer = [0.5, 3] }", "whole numbers"),
            ("x = { cubic = [0, 1] }", "unknown range kind `cubic`"),
            ("x = { linear = [0] }", "[lo, hi]"),
            ("x = []", "empty list"),
            ("x = [1, \"a\"]", "only numbers"),
            ("x = [\"a\", \"a\"]", "listed twice"),
            ("x = true", "unsupported value"),
            ("x = { linear = [0, 1], log = [1, 2] }", "write one of"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
        assert!(parse("").unwrap_err().to_string().contains("no knobs"));
        assert!(space_from_json(&serde_json::json!([1, 2])).unwrap_err().to_string().contains("object of knobs"));
    }
}
