//! Behavioural fingerprints: what a mechanism proposes on the fixed probe task.
//!
//! Two genomes with the same fingerprint hash behave identically on the probe (same
//! proposals, same fidelities), which is what functional-equivalence caching needs; the
//! distance between fingerprints measures behavioural novelty.

use xxhash_rust::xxh3::xxh3_64;

use super::run::run_inner;
use crate::genome::interp::Program;
use crate::objective::probe::Probe;

/// Compute budget of the probe run.
pub const PROBE_BUDGET: f64 = 24.0;
/// Seed of the probe run.
pub const PROBE_SEED: u64 = 0x0005_eed0_fb0b;

/// The proposals a mechanism makes on the probe task.
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    /// Hash of the quantised proposal sequence (with fidelity levels).
    pub hash: u64,
    /// The proposals, flattened (4 coordinates per trial), quantised to 1e-6.
    pub points: Vec<f32>,
}

/// Run the mechanism on the probe task and fingerprint its proposals.
pub fn fingerprint(prog: &Program) -> Fingerprint {
    let trace = run_inner(prog, &Probe::default(), PROBE_SEED, PROBE_BUDGET);
    let mut bytes = Vec::new();
    let mut points = Vec::new();
    for t in &trace.trials {
        bytes.push(t.level as u8);
        for x in &t.point {
            let q = (x * 1e6).round() as i64;
            bytes.extend_from_slice(&q.to_le_bytes());
            points.push((q as f64 * 1e-6) as f32);
        }
    }
    Fingerprint { hash: xxh3_64(&bytes), points }
}

/// Behavioural distance in [0, 1]: mean RMS distance between corresponding proposals;
/// proposals one run made and the other did not count as maximally distant.
pub fn behavioural_distance(a: &Fingerprint, b: &Fingerprint) -> f64 {
    let dims = 4;
    let na = a.points.len() / dims;
    let nb = b.points.len() / dims;
    let n = na.max(nb);
    if n == 0 {
        return 0.0;
    }
    let mut total = 0.0;
    for i in 0..na.min(nb) {
        let pa = &a.points[i * dims..(i + 1) * dims];
        let pb = &b.points[i * dims..(i + 1) * dims];
        let sq: f64 = pa.iter().zip(pb).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
        total += (sq / dims as f64).sqrt();
    }
    total += (n - na.min(nb)) as f64;
    (total / n as f64).min(1.0)
}
