//! The one validator of scenario files (every kind): collects located diagnostics, and
//! reads defaults and ranges from the kind's key table ([`super::keys`]), so a key's
//! default, its range and the README row that states them are one definition.

use std::ops::Range;
use std::str::FromStr;

use toml::Spanned;

use super::keys::{Check, KeyDoc, find};
use crate::diagnostic::{Diagnostic, int_in_range};

/// Diagnostics of one file, checked against one key table.
pub struct Validator<'k> {
    /// Every problem found so far, in file order of discovery.
    pub diags: Vec<Diagnostic>,
    keys: &'k [KeyDoc],
}

impl<'k> Validator<'k> {
    /// A validator for a file whose keys are `keys`.
    pub fn new(keys: &'k [KeyDoc]) -> Self {
        Validator { diags: Vec::new(), keys }
    }

    /// Record a problem at `span`.
    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>, hint: impl Into<String>) {
        self.diags.push(Diagnostic::new(message, span).with_hint(hint));
    }

    /// The table's default of `key`, parsed (a key without a literal default, or a
    /// default of another type, is a bug in the table that the tests catch).
    pub fn default_of<T: FromStr>(&self, key: &str) -> Option<T> {
        find(self.keys, key)?.default_literal()?.parse().ok()
    }

    /// A whole-number key within its table range; out of range is reported and clamped.
    pub fn int(&mut self, v: &Spanned<i64>, key: &str) -> i64 {
        match find(self.keys, key).map(|k| k.check) {
            Some(Check::Int(lo, hi)) => int_in_range(&mut self.diags, v, key, lo, hi),
            _ => *v.get_ref(),
        }
    }

    /// A whole-number key with bounds that depend on other keys.
    pub fn int_within(&mut self, v: &Spanned<i64>, key: &str, lo: i64, hi: i64) -> i64 {
        int_in_range(&mut self.diags, v, key, lo, hi)
    }

    /// An optional whole-number key: the table's default when absent.
    pub fn int_or_default(&mut self, v: Option<&Spanned<i64>>, key: &str) -> i64 {
        match v {
            Some(v) => self.int(v, key),
            None => self.default_of(key).unwrap_or_default(),
        }
    }

    /// A number key with bounds `lo..=hi`; out of range (or not finite) is reported and
    /// `lo` returned.
    pub fn real_within(&mut self, v: &Spanned<f64>, key: &str, lo: f64, hi: f64) -> f64 {
        let x = *v.get_ref();
        if !(x.is_finite() && x >= lo && x <= hi) {
            self.error(v.span(), format!("`{key}` = {x} is out of range"), format!("use a number from {lo} to {hi}"));
            return lo;
        }
        x
    }

    /// A number key within its table range.
    pub fn real(&mut self, v: &Spanned<f64>, key: &str) -> f64 {
        match find(self.keys, key).map(|k| k.check) {
            Some(Check::Real(lo, hi)) => self.real_within(v, key, lo, hi),
            _ => *v.get_ref(),
        }
    }

    /// An optional number key: the table's default when absent.
    pub fn real_or_default(&mut self, v: Option<&Spanned<f64>>, key: &str) -> f64 {
        match v {
            Some(v) => self.real(v, key),
            None => self.default_of(key).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[KeyDoc] = &[
        KeyDoc { key: "a.n", ty: "integer", default: "`3`", range: "1 to 5", meaning: "", check: Check::Int(1, 5) },
        KeyDoc {
            key: "a.x",
            ty: "number",
            default: "`0.5`",
            range: "0 to 1",
            meaning: "",
            check: Check::Real(0.0, 1.0),
        },
    ];

    #[test]
    fn the_table_gives_defaults_and_ranges() {
        let mut v = Validator::new(KEYS);
        assert_eq!(v.int_or_default(None, "a.n"), 3);
        assert_eq!(v.real_or_default(None, "a.x"), 0.5);
        assert_eq!(v.int_or_default(Some(&Spanned::new(4..5, 4)), "a.n"), 4);
        assert!(v.diags.is_empty());
        assert_eq!(v.int(&Spanned::new(7..9, 9), "a.n"), 5);
        v.real(&Spanned::new(11..14, 1.5), "a.x");
        assert_eq!(v.diags.len(), 2);
        assert_eq!(v.diags[0].message, "`a.n` = 9 is out of range");
        assert_eq!(v.diags[0].span, 7..9);
        assert_eq!(v.diags[1].message, "`a.x` = 1.5 is out of range");
    }
}
