//! Diagnostics: plain data describing what is wrong with some input and how to fix it.
//!
//! The library never renders or prints; the CLI turns an [`InputError`] into a report
//! with file, line:column, the offending span, and a hint, and exits with code 2.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem found in a source text, located by a byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong.
    pub message: String,
    /// Byte range of the offending text.
    pub span: Range<usize>,
    /// How to fix it, when there is something useful to say.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic without a hint.
    pub fn new(message: impl Into<String>, span: Range<usize>) -> Self {
        Diagnostic { message: message.into(), span, hint: None }
    }

    /// Attach a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Bad input from the user: a file, a flag or a value. The CLI maps these to exit
/// code 2; everything else is an internal failure (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Problems located inside a source text (a genome, a scenario).
    #[error("{}: {}", path.display(), diagnostics.first().map(|d| d.message.as_str()).unwrap_or("invalid input"))]
    Source {
        /// The file (or a pseudo-name such as `<inline>`).
        path: PathBuf,
        /// Its full text, so spans can be shown with line and column.
        text: String,
        /// The problems, in source order.
        diagnostics: Vec<Diagnostic>,
    },
    /// A problem with a whole file (missing, unreadable, wrong format).
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// A problem with a command-line value.
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
}

impl InputError {
    /// A file-level error with a hint.
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>, hint: impl Into<String>) -> Self {
        InputError::File { path: path.into(), message: message.into(), hint: Some(hint.into()) }
    }

    /// An error at a line of a line-oriented file (`path:line:1`; the whole file when
    /// `line` is 0).
    pub fn file_line(
        path: impl Into<PathBuf>,
        line: usize,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        let path: PathBuf = path.into();
        let path = if line > 0 { PathBuf::from(format!("{}:{line}:1", path.display())) } else { path };
        InputError::file(path, message, hint)
    }

    /// A usage error with a hint.
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        InputError::Usage { message: message.into(), hint: Some(hint.into()) }
    }
}

/// What a TOML file format tells its users when a file does not deserialize: one hint
/// per kind of problem.
#[derive(Debug, Clone, Copy)]
pub struct TomlHints {
    /// An unknown key.
    pub unknown: &'static str,
    /// A missing required key.
    pub missing: &'static str,
    /// A value of the wrong type or out of its set.
    pub invalid: &'static str,
    /// Text that is not TOML at all.
    pub syntax: &'static str,
}

/// Deserialize a TOML file format, or report the problem at its span with the format's
/// hint for that kind of problem.
pub fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str, hints: TomlHints) -> Result<T, InputError> {
    toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim().to_string();
        let hint = if message.contains("unknown field") {
            hints.unknown
        } else if message.contains("missing field") {
            hints.missing
        } else if ["invalid type", "invalid value", "invalid length"].iter().any(|p| message.starts_with(p)) {
            hints.invalid
        } else {
            hints.syntax
        };
        InputError::Source {
            path: path.to_path_buf(),
            text: text.to_string(),
            diagnostics: vec![Diagnostic::new(message, span).with_hint(hint)],
        }
    })
}

/// A whole number read from a file, clamped into `lo..=hi`; out of range, a diagnostic
/// at its span says so (so every problem of a file is reported at once).
pub fn int_in_range(diags: &mut Vec<Diagnostic>, v: &toml::Spanned<i64>, key: &str, lo: i64, hi: i64) -> i64 {
    let x = *v.get_ref();
    if x < lo || x > hi {
        diags.push(
            Diagnostic::new(format!("`{key}` = {x} is out of range"), v.span())
                .with_hint(format!("use a whole number from {lo} to {hi}")),
        );
    }
    x.clamp(lo, hi)
}

/// 1-based line and column (in characters) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "ab\ncd\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 4), (2, 2));
        assert_eq!(line_col(t, 99), (3, 1));
    }
}
