//! Command-line overrides of a scenario (`run --seed S --ticks N --set section.key=value`):
//! applied to the file's TOML before validation, so an override is checked exactly like
//! the file, and the run folder keeps the scenario that actually ran.

use std::path::Path;

use crate::diagnostic::InputError;

/// One `section.key = value` override.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// Dotted key (`inner.seeds`; top-level keys have no section).
    pub key: String,
    /// The value.
    pub value: toml::Value,
}

impl Override {
    /// Parse a `--set` flag: `KEY=VALUE`, the value a TOML value (`4`, `0.5`, `true`,
    /// `["a", "b"]`, `"text"`) or else a bare word taken as a string (`worst-task`).
    pub fn parse(flag: &str) -> Result<Override, InputError> {
        let usage = |why: &str| {
            InputError::usage(
                format!("--set {flag}: {why}"),
                "write --set section.key=value, e.g. --set inner.seeds=4 or --set inner.aggregate=worst-task",
            )
        };
        let (key, raw) = flag.split_once('=').ok_or_else(|| usage("expected KEY=VALUE"))?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(|p| p.is_empty()) {
            return Err(usage("the key is empty"));
        }
        let raw = raw.trim();
        let value = match format!("v = {raw}").parse::<toml::Table>() {
            Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(raw.to_string())),
            Err(_) if !raw.is_empty() && !raw.contains(['"', '[', '{', '\'']) => toml::Value::String(raw.to_string()),
            Err(_) => return Err(usage("the value is not a TOML value")),
        };
        Ok(Override { key: key.to_string(), value })
    }
}

/// Set `a.b.c = value` in a TOML table, creating sections as needed.
pub fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().filter(|s| !s.is_empty()).ok_or_else(|| format!("empty key `{key}`"))?;
    let mut t = table;
    for p in parts {
        let entry = t.entry(p.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry.as_table_mut().ok_or_else(|| format!("`{p}` in `{key}` is not a section"))?;
    }
    t.insert(last.to_string(), value);
    Ok(())
}

/// The scenario text with the overrides applied, headed by a comment naming them (the
/// file's own comments do not survive: the result is regenerated TOML).
pub fn apply(path: &Path, text: &str, overrides: &[Override]) -> Result<String, InputError> {
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        InputError::file(path, e.message().trim().to_string(), "fix the file's TOML before overriding keys")
    })?;
    for o in overrides {
        set_dotted(&mut table, &o.key, o.value.clone()).map_err(|why| {
            InputError::usage(format!("--set {}: {why}", o.key), "see scenarios/README.md for the keys")
        })?;
    }
    let body = toml::to_string(&table).map_err(|e| InputError::file(path, e.to_string(), "report this as a bug"))?;
    let flags: Vec<String> = overrides.iter().map(|o| format!("{}={}", o.key, o.value)).collect();
    Ok(format!("# {} with command-line overrides: {}\n{body}", path.display(), flags.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_to_typed_values() {
        assert_eq!(Override::parse("inner.seeds=4").unwrap().value, toml::Value::Integer(4));
        assert_eq!(Override::parse("debater.audit_rate=0.5").unwrap().value, toml::Value::Float(0.5));
        assert_eq!(Override::parse("verifier.enabled=false").unwrap().value, toml::Value::Boolean(false));
        let word = Override::parse("inner.aggregate=worst-task").unwrap();
        assert_eq!(word.value, toml::Value::String("worst-task".into()));
        let list = Override::parse("inner.tasks=[\"probe\"]").unwrap();
        assert_eq!(list.value, toml::Value::Array(vec![toml::Value::String("probe".into())]));
        assert!(Override::parse("inner.seeds").is_err());
        assert!(Override::parse("=4").is_err());
        assert!(Override::parse("inner..seeds=4").is_err());
        assert!(Override::parse("inner.tasks=[\"probe\"").is_err());
    }

    #[test]
    fn dotted_keys_create_sections_and_replace_values() {
        let mut t: toml::Table = "a = 1\n[b]\nc = 2\n".parse().unwrap();
        set_dotted(&mut t, "b.c", toml::Value::Integer(3)).unwrap();
        set_dotted(&mut t, "d.e", toml::Value::Boolean(true)).unwrap();
        assert_eq!(t["b"]["c"].as_integer(), Some(3));
        assert_eq!(t["d"]["e"].as_bool(), Some(true));
        assert!(set_dotted(&mut t, "a.x", toml::Value::Integer(1)).is_err());
        assert!(set_dotted(&mut t, "", toml::Value::Integer(1)).is_err());
    }
}
