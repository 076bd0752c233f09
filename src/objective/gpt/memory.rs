//! What a trial's training needs in memory, estimated from its spec before anything is
//! allocated, so a config too large is refused with a clear error (or, inside a search,
//! recorded as a failed trial) instead of aborting the process when an allocation fails.
//! The cap is one constant ([`MAX_TRIAL_BYTES`]), the same on every machine, so a
//! scenario fails the same trials everywhere.

use super::model::{ModelConfig, OpPath, VOCAB};

/// The most memory one trial may need, by [`trial_bytes`]: 4 GiB. Every config of the
/// GPT space at the shipped contexts (32-64 bytes) fits, on either op path (the largest,
/// on the reference path, peaks at 1.8 GiB); what it refuses are long contexts with
/// wide, deep, many-headed models (attention keeps a `heads x context x context` matrix
/// per block), such as the largest config the flags allow (3.9 GB measured).
pub const MAX_TRIAL_BYTES: u64 = 4 << 30;

/// What the process needs besides the trial's own buffers (code, corpus, runtime).
const PROCESS_BYTES: u64 = 64 << 20;

/// The peak memory, in bytes, of training and scoring `model` on batches of `batch`
/// sequences on `path`, estimated from
/// its shape with a 10% margin. The fused path's f32 buffers are counted one by one;
/// candle's reference path (autograd, used by `--reference` and on a GPU) keeps about
/// twice the activations and ten copies of each attention matrix. Measured peaks on the
/// CPU (resident set of `outerloop trial`) are 85-95% of the estimate on the fused path
/// and 75-85% on the reference path.
pub fn trial_bytes(model: &ModelConfig, batch: usize, path: OpPath) -> u64 {
    let m = model;
    let (b, t, c, l, h) = (batch as u64, m.context as u64, m.width as u64, m.depth as u64, m.heads as u64);
    let n = b * t;
    // Weights, gradients and AdamW's two moments, and the copy a finished trial returns.
    let state = 5 * m.param_count() as u64;
    // Kept per block for the backward pass: 21 activations of n x c (the MLP's count
    // four each), two per-row statistics and the attention probabilities.
    let activations = 21 * n * c + 2 * n;
    let attention = b * h * t * t;
    // The backward pass's scratch (one block at a time) and the residual stream, final
    // norm, logits, probabilities and their gradient.
    let scratch = 13 * n * c + t * t;
    let global = (l + 1) * n * c + 4 * n * c + 3 * n * VOCAB as u64 + n;
    let floats = match path {
        OpPath::Fused => state + l * (activations + attention) + scratch + global,
        OpPath::Reference => state + l * (5 * activations / 2 + 10 * attention) + 2 * (scratch + global),
    };
    4 * floats * 11 / 10 + PROCESS_BYTES
}

/// Why training `model` on batches of `batch` sequences on `path` is refused for its
/// memory, if it is.
pub fn too_large(model: &ModelConfig, batch: usize, path: OpPath) -> Option<String> {
    let need = trial_bytes(model, batch, path);
    (need > MAX_TRIAL_BYTES).then(|| {
        let m = model;
        format!(
            "this trial needs about {:.1} GiB of memory (context {}, depth {}, width {}, heads {}, batch {} sequences), more than the {} GiB a trial may use; lower the context, heads, width, depth or batch_tokens",
            need as f64 / (1u64 << 30) as f64,
            m.context,
            m.depth,
            m.width,
            m.heads,
            batch,
            MAX_TRIAL_BYTES >> 30
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model and its batch in sequences, as a trial of `batch_tokens` makes it.
    fn spec(context: usize, depth: usize, width: usize, heads: usize, batch_tokens: usize) -> (ModelConfig, usize) {
        (ModelConfig { context, depth, width, heads, init_scale: 1.0 }, (batch_tokens / context).max(1))
    }

    /// Peaks measured on 2026-12-07 (AMD EPYC, `/usr/bin/time -f %M outerloop trial
    /// --context T --set depth=.. --set width=.. --set heads=.. --set batch_tokens=..
    /// --budget 1 --fidelity 0.125 [--reference]`), in KiB: the estimate covers each.
    #[test]
    fn the_estimate_covers_measured_peaks_and_refuses_the_largest_config() {
        let measured = [
            (spec(1024, 6, 256, 8, 4096), OpPath::Fused, 1_469_220u64),
            (spec(256, 6, 256, 8, 4096), OpPath::Fused, 863_812),
            (spec(2048, 4, 128, 4, 2048), OpPath::Fused, 417_172),
            (spec(256, 6, 256, 8, 4096), OpPath::Reference, 3_024_440),
            (spec(1024, 6, 256, 8, 4096), OpPath::Reference, 8_454_828),
            (spec(64, 6, 256, 8, 4096), OpPath::Fused, 712_580),
            (spec(64, 6, 256, 8, 4096), OpPath::Reference, 1_921_308),
        ];
        for ((model, batch), path, kib) in measured {
            let estimate = trial_bytes(&model, batch, path);
            let s = (model, batch);
            assert!(estimate >= kib * 1024, "{s:?} {path:?}: {estimate} < {kib} KiB");
            assert!(estimate < kib * 1024 * 3 / 2, "{s:?} {path:?}: {estimate} far above {kib} KiB");
        }
        // The largest config the flags and the space allow (3.9 GB measured) is refused;
        // every config of the shipped contexts fits, on both paths.
        let refused = |(model, batch): (ModelConfig, usize), path| too_large(&model, batch, path).is_some();
        assert!(refused(spec(4096, 6, 256, 8, 4096), OpPath::Fused));
        assert!(!refused(spec(64, 6, 256, 8, 4096), OpPath::Fused));
        assert!(!refused(spec(64, 6, 256, 8, 4096), OpPath::Reference));
    }
}
