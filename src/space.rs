//! Search spaces: ordered knobs whose points live in the unit cube.
//!
//! Mechanisms only ever see points of `[0, 1]^d`; the space decodes them to typed
//! configs for the objective and encodes configs back. Every discrete knob splits the
//! unit interval into equal cells, so `encode(decode(u))` snaps `u` to the centre of
//! its cell: that is the grid a mechanism's proposals are snapped to.

use std::fmt;

/// How one knob maps the unit interval to its values.
#[derive(Debug, Clone, PartialEq)]
pub enum KnobKind {
    /// A real value in `[lo, hi]`, linear or logarithmic in the unit interval.
    Continuous {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
        /// Whether the unit interval maps to `ln lo .. ln hi` (requires `lo > 0`).
        log: bool,
    },
    /// An integer in `lo ..= hi`, each value owning an equal cell of the unit interval.
    Integer {
        /// Smallest value.
        lo: i64,
        /// Largest value.
        hi: i64,
    },
    /// An ordered list of real values (a grid), e.g. `[16, 32, 64]`.
    Ordinal {
        /// The allowed values in increasing order.
        values: Vec<f64>,
    },
    /// Unordered named choices, e.g. `["cosine", "linear", "constant"]`.
    Categorical {
        /// The choice names.
        choices: Vec<String>,
    },
}

impl fmt::Display for KnobKind {
    /// What values the knob takes, in words: `log 0.0001..0.03`, `integer 1..6`,
    /// `one of 256, 512, 1024`, `one of cosine, linear`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |xs: Vec<String>| xs.join(", ");
        match self {
            KnobKind::Continuous { lo, hi, log: true } => write!(f, "log {lo}..{hi}"),
            KnobKind::Continuous { lo, hi, log: false } => write!(f, "linear {lo}..{hi}"),
            KnobKind::Integer { lo, hi } => write!(f, "integer {lo}..{hi}"),
            KnobKind::Ordinal { values } => {
                write!(f, "one of {}", list(values.iter().map(|v| v.to_string()).collect()))
            }
            KnobKind::Categorical { choices } => write!(f, "one of {}", list(choices.clone())),
        }
    }
}

impl KnobKind {
    /// Whether `value` lies in the domain (what `trial --list` prints).
    pub fn admits(&self, value: KnobValue) -> bool {
        match (self, value) {
            (KnobKind::Continuous { lo, hi, .. }, KnobValue::Real(v)) => (*lo..=*hi).contains(&v),
            (KnobKind::Integer { lo, hi }, KnobValue::Int(v)) => (*lo..=*hi).contains(&v),
            (KnobKind::Ordinal { values }, KnobValue::Real(v)) => values.contains(&v),
            (KnobKind::Categorical { choices }, KnobValue::Choice(i)) => i < choices.len(),
            _ => false,
        }
    }
}

/// One hyperparameter of the inner task.
#[derive(Debug, Clone, PartialEq)]
pub struct Knob {
    /// Name used in configs and on the command line.
    pub name: String,
    /// Its value domain.
    pub kind: KnobKind,
}

/// The value of one knob in a decoded config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KnobValue {
    /// Value of a continuous or ordinal knob.
    Real(f64),
    /// Value of an integer knob.
    Int(i64),
    /// Index of the chosen category of a categorical knob.
    Choice(usize),
}

impl KnobValue {
    /// The value as a real number (categories as their index).
    pub fn as_f64(self) -> f64 {
        match self {
            KnobValue::Real(v) => v,
            KnobValue::Int(v) => v as f64,
            KnobValue::Choice(v) => v as f64,
        }
    }
}

/// A decoded point: one value per knob, in the space's knob order.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Values aligned with [`SearchSpace::knobs`].
    pub values: Vec<KnobValue>,
}

/// An ordered list of knobs.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSpace {
    knobs: Vec<Knob>,
}

/// Errors in defining a search space.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpaceError {
    /// A knob's bounds or value list are unusable.
    #[error("knob `{knob}`: {problem}")]
    BadKnob {
        /// The knob's name.
        knob: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Two knobs share a name.
    #[error("knob `{0}` is defined twice")]
    Duplicate(String),
}

impl Knob {
    /// A linear continuous knob.
    pub fn linear(name: &str, lo: f64, hi: f64) -> Self {
        Self::new(name, KnobKind::Continuous { lo, hi, log: false })
    }
    /// A log-scale continuous knob.
    pub fn log(name: &str, lo: f64, hi: f64) -> Self {
        Self::new(name, KnobKind::Continuous { lo, hi, log: true })
    }
    /// An integer knob.
    pub fn integer(name: &str, lo: i64, hi: i64) -> Self {
        Self::new(name, KnobKind::Integer { lo, hi })
    }
    /// An ordinal knob over the given increasing values.
    pub fn ordinal(name: &str, values: &[f64]) -> Self {
        Self::new(name, KnobKind::Ordinal { values: values.to_vec() })
    }
    /// A categorical knob.
    pub fn categorical(name: &str, choices: &[&str]) -> Self {
        let choices = choices.iter().map(|c| c.to_string()).collect();
        Self::new(name, KnobKind::Categorical { choices })
    }
    fn new(name: &str, kind: KnobKind) -> Self {
        Knob { name: name.to_string(), kind }
    }

    /// Number of discrete cells, or `None` for a continuous knob.
    pub fn cells(&self) -> Option<usize> {
        match &self.kind {
            KnobKind::Continuous { .. } => None,
            KnobKind::Integer { lo, hi } => Some((hi - lo + 1) as usize),
            KnobKind::Ordinal { values } => Some(values.len()),
            KnobKind::Categorical { choices } => Some(choices.len()),
        }
    }

    fn validate(&self) -> Result<(), SpaceError> {
        let bad = |problem: &str| Err(SpaceError::BadKnob { knob: self.name.clone(), problem: problem.to_string() });
        match &self.kind {
            KnobKind::Continuous { lo, hi, log } => {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return bad("bounds must be finite with lo < hi");
                }
                if *log && *lo <= 0.0 {
                    return bad("a log-scale knob needs lo > 0");
                }
            }
            KnobKind::Integer { lo, hi } => {
                if lo > hi {
                    return bad("integer bounds need lo <= hi");
                }
            }
            KnobKind::Ordinal { values } => {
                if values.is_empty()
                    || values.windows(2).any(|w| w[0].partial_cmp(&w[1]) != Some(std::cmp::Ordering::Less))
                {
                    return bad("ordinal values must be non-empty and strictly increasing");
                }
            }
            KnobKind::Categorical { choices } => {
                if choices.is_empty() {
                    return bad("a categorical knob needs at least one choice");
                }
            }
        }
        Ok(())
    }

    /// Decode one unit coordinate (clamped to `[0, 1]`) to a value.
    pub fn decode(&self, u: f64) -> KnobValue {
        let u = clamp_unit(u);
        match &self.kind {
            KnobKind::Continuous { lo, hi, log: false } => KnobValue::Real(lo + (hi - lo) * u),
            KnobKind::Continuous { lo, hi, log: true } => {
                // The end points map exactly, so bounds are reachable without rounding.
                let v = if u == 0.0 {
                    *lo
                } else if u == 1.0 {
                    *hi
                } else {
                    (lo.ln() + (hi.ln() - lo.ln()) * u).exp().clamp(*lo, *hi)
                };
                KnobValue::Real(v)
            }
            KnobKind::Integer { lo, .. } => KnobValue::Int(lo + cell(u, self.cells().unwrap_or(1)) as i64),
            KnobKind::Ordinal { values } => KnobValue::Real(values[cell(u, values.len())]),
            KnobKind::Categorical { choices } => KnobValue::Choice(cell(u, choices.len())),
        }
    }

    /// Encode a value to its unit coordinate (cell centres for discrete knobs).
    pub fn encode(&self, value: KnobValue) -> f64 {
        match (&self.kind, value) {
            (KnobKind::Continuous { lo, hi, log: false }, v) => clamp_unit((v.as_f64() - lo) / (hi - lo)),
            (KnobKind::Continuous { lo, hi, log: true }, v) => {
                let v = v.as_f64().max(*lo);
                clamp_unit((v.ln() - lo.ln()) / (hi.ln() - lo.ln()))
            }
            (KnobKind::Integer { lo, hi }, v) => {
                let i = (v.as_f64().round() as i64).clamp(*lo, *hi) - lo;
                centre(i as usize, self.cells().unwrap_or(1))
            }
            (KnobKind::Ordinal { values }, v) => {
                let x = v.as_f64();
                let i = nearest_index(values, x);
                centre(i, values.len())
            }
            (KnobKind::Categorical { choices }, v) => {
                let i = (v.as_f64().max(0.0) as usize).min(choices.len() - 1);
                centre(i, choices.len())
            }
        }
    }

    /// Render a value for humans (`cosine`, `3`, `0.003`).
    pub fn display(&self, value: KnobValue) -> String {
        match (&self.kind, value) {
            (KnobKind::Categorical { choices }, KnobValue::Choice(i)) => {
                choices.get(i).cloned().unwrap_or_else(|| format!("#{i}"))
            }
            (_, KnobValue::Int(v)) => v.to_string(),
            (_, v) => format!("{:.6}", v.as_f64()).trim_end_matches('0').trim_end_matches('.').to_string(),
        }
    }
}

/// A config as a JSON object of knob values (categories by name).
pub fn config_json(space: &SearchSpace, config: &Config) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, v) in space.knobs().iter().zip(&config.values) {
        let value = match &k.kind {
            KnobKind::Categorical { choices } => {
                serde_json::json!(choices.get(v.as_f64() as usize).cloned().unwrap_or_default())
            }
            KnobKind::Integer { .. } => serde_json::json!(v.as_f64() as i64),
            _ => serde_json::json!(v.as_f64()),
        };
        map.insert(k.name.clone(), value);
    }
    serde_json::Value::Object(map)
}

fn clamp_unit(u: f64) -> f64 {
    if u.is_nan() { 0.5 } else { u.clamp(0.0, 1.0) }
}

fn cell(u: f64, n: usize) -> usize {
    ((u * n as f64) as usize).min(n - 1)
}

fn centre(i: usize, n: usize) -> f64 {
    (i as f64 + 0.5) / n as f64
}

fn nearest_index(values: &[f64], x: f64) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if (v - x).abs() < (values[best] - x).abs() {
            best = i;
        }
    }
    best
}

impl SearchSpace {
    /// Build a space, rejecting bad bounds and duplicate names.
    pub fn new(knobs: Vec<Knob>) -> Result<Self, SpaceError> {
        for (i, k) in knobs.iter().enumerate() {
            k.validate()?;
            if knobs[..i].iter().any(|o| o.name == k.name) {
                return Err(SpaceError::Duplicate(k.name.clone()));
            }
        }
        Ok(SearchSpace { knobs })
    }

    /// The knobs in order.
    pub fn knobs(&self) -> &[Knob] {
        &self.knobs
    }

    /// Number of dimensions of the unit cube.
    pub fn dim(&self) -> usize {
        self.knobs.len()
    }

    /// Index of a knob by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.knobs.iter().position(|k| k.name == name)
    }

    /// Decode a unit-cube point (coordinates are clamped; NaN reads as 0.5).
    pub fn decode(&self, unit: &[f64]) -> Config {
        let values =
            self.knobs.iter().enumerate().map(|(i, k)| k.decode(unit.get(i).copied().unwrap_or(0.5))).collect();
        Config { values }
    }

    /// Encode a config back to the unit cube.
    pub fn encode(&self, config: &Config) -> Vec<f64> {
        self.knobs.iter().zip(&config.values).map(|(k, v)| k.encode(*v)).collect()
    }

    /// Snap a unit point to the grid: discrete coordinates move to their cell centre,
    /// continuous ones are clamped.
    pub fn snap(&self, unit: &[f64]) -> Vec<f64> {
        // Continuous coordinates are only clamped: a decode/encode round trip could move
        // them by an ulp, and snapping must be idempotent.
        self.knobs
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let u = clamp_unit(unit.get(i).copied().unwrap_or(0.5));
                match k.kind {
                    KnobKind::Continuous { .. } => u,
                    _ => k.encode(k.decode(u)),
                }
            })
            .collect()
    }

    /// Render a config as `name=value` pairs.
    pub fn describe(&self, config: &Config) -> String {
        ConfigDisplay { space: self, config }.to_string()
    }
}

struct ConfigDisplay<'a> {
    space: &'a SearchSpace,
    config: &'a Config,
}

impl fmt::Display for ConfigDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.space.knobs.iter().zip(&self.config.values).enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{}={}", k.name, k.display(*v))?;
        }
        Ok(())
    }
}

/// Snap a requested fidelity up to the index of the nearest level at or above it
/// (the top level when it exceeds all levels).
pub fn fidelity_level(levels: &[f64], fidelity: f64) -> usize {
    let f = if fidelity.is_nan() { 1.0 } else { fidelity };
    levels.iter().position(|&l| l >= f - 1e-12).unwrap_or(levels.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knob_kinds_read_as_words() {
        assert_eq!(KnobKind::Continuous { lo: 0.0001, hi: 0.03, log: true }.to_string(), "log 0.0001..0.03");
        assert_eq!(KnobKind::Integer { lo: 1, hi: 6 }.to_string(), "integer 1..6");
        assert_eq!(KnobKind::Ordinal { values: vec![256.0, 512.0] }.to_string(), "one of 256, 512");
        let c = KnobKind::Categorical { choices: vec!["cosine".into(), "linear".into()] };
        assert_eq!(c.to_string(), "one of cosine, linear");
    }

    #[test]
    fn fidelity_snaps_up() {
        let levels = [0.125, 0.25, 0.5, 1.0];
        assert_eq!(fidelity_level(&levels, 0.0), 0);
        assert_eq!(fidelity_level(&levels, 0.125), 0);
        assert_eq!(fidelity_level(&levels, 0.2), 1);
        assert_eq!(fidelity_level(&levels, 0.9), 3);
        assert_eq!(fidelity_level(&levels, 7.0), 3);
        assert_eq!(fidelity_level(&levels, f64::NAN), 3);
    }

    fn mixed() -> SearchSpace {
        SearchSpace::new(vec![
            Knob::linear("a", -1.0, 1.0),
            Knob::log("lr", 1e-4, 1e-1),
            Knob::integer("depth", 1, 4),
            Knob::ordinal("width", &[32.0, 64.0, 128.0]),
            Knob::categorical("sched", &["cosine", "linear", "constant"]),
        ])
        .unwrap()
    }

    #[test]
    fn decode_maps_each_kind() {
        let s = mixed();
        let c = s.decode(&[0.5, 0.0, 0.99, 0.34, 1.0]);
        assert_eq!(c.values[0], KnobValue::Real(0.0));
        assert_eq!(c.values[1], KnobValue::Real(1e-4));
        assert_eq!(c.values[2], KnobValue::Int(4));
        assert_eq!(c.values[3], KnobValue::Real(64.0));
        assert_eq!(c.values[4], KnobValue::Choice(2));
        assert_eq!(s.describe(&c), "a=0 lr=0.0001 depth=4 width=64 sched=constant");
    }

    #[test]
    fn snap_is_idempotent_and_moves_to_cell_centres() {
        let s = mixed();
        let u = [0.3, 0.7, 0.1, 0.9, 0.5];
        let once = s.snap(&u);
        assert_eq!(once, s.snap(&once));
        assert!((once[2] - 0.125).abs() < 1e-12);
        assert!((once[4] - 0.5).abs() < 1e-12);
        assert!((once[0] - 0.3).abs() < 1e-12);
        assert!((once[1] - 0.7).abs() < 1e-9);
    }

    #[test]
    fn bad_knobs_are_rejected() {
        assert!(SearchSpace::new(vec![Knob::log("lr", 0.0, 1.0)]).is_err());
        assert!(SearchSpace::new(vec![Knob::ordinal("w", &[2.0, 1.0])]).is_err());
        assert!(SearchSpace::new(vec![Knob::linear("a", 0.0, 1.0), Knob::linear("a", 0.0, 1.0)]).is_err());
    }
}
