//! Sampling a genome from the model: temperature sampling (temperature 0 is greedy)
//! with optional top-k and top-p cuts, one draw per byte from a seeded ChaCha stream,
//! stopping at [`document::STOP`] or after `max_bytes`. The same (model, prompt,
//! settings) always gives the same bytes.
//!
//! **The window slides by half its length when full.** The model reads a window of the
//! text (prompt, then the bytes written so far), at most `context` bytes, through a
//! key/value-cached [`Decoder`]: each new byte computes only its own position. The
//! window starts as the last `context` bytes of the prompt (an empty prompt is read as
//! one newline, the byte every document's tags end with, which then stays in the text)
//! and grows by one byte per byte written; when a byte is written to a full window, the
//! window becomes the last `context / 2` bytes of the text (that byte included) and is
//! recomputed in one pass. So each prediction is conditioned on the last `context / 2`
//! to `context` bytes rather than always the last `context`: the model is trained on
//! windows that start anywhere in its corpus, so every such window is in distribution,
//! and the learned absolute positions stay valid without recomputing the whole window
//! for every byte.

use rand::RngExt;

use super::document;
use crate::objective::gpt::decode::Decoder;
use crate::objective::gpt::model::Gpt;
use crate::rng::stream;

/// How to sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleSettings {
    /// Softmax temperature; 0 takes the most likely byte (greedy).
    pub temperature: f64,
    /// Keep only the `k` most likely bytes (`None`: all).
    pub top_k: Option<usize>,
    /// Keep the most likely bytes whose probabilities first sum to `top_p` (1: all).
    pub top_p: f64,
    /// The most bytes generated.
    pub max_bytes: usize,
    /// Seed of the sampling stream.
    pub seed: u64,
}

impl Default for SampleSettings {
    fn default() -> Self {
        SampleSettings { temperature: 0.8, top_k: None, top_p: 1.0, max_bytes: 2048, seed: 0 }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model wrote the end tag.
    Stop,
    /// `max_bytes` were written first.
    Length,
}

/// What was generated.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The bytes generated, without the end tag.
    pub bytes: Vec<u8>,
    /// Why generation ended.
    pub finish: Finish,
}

impl Sample {
    /// The generated text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// A genome continuing `prompt` ([`document::prompt`] of a parent or none).
pub fn generate(model: &Gpt, prompt: &[u8], settings: &SampleSettings) -> candle_core::Result<Sample> {
    let mut decoder = Decoder::new(model)?;
    let context = decoder.config().context;
    let mut rng = stream(settings.seed, "lm-sample", &[]);
    let mut text = if prompt.is_empty() { vec![b'\n'] } else { prompt.to_vec() };
    let mut start = first_window(text.len(), context);
    let mut logits = decoder.prefill(&text[start..])?.to_vec();
    let mut out: Vec<u8> = Vec::new();
    while out.len() < settings.max_bytes {
        let next = choose(&logits, settings, rng.random::<f64>());
        out.push(next);
        text.push(next);
        if out.ends_with(document::STOP) {
            out.truncate(out.len() - document::STOP.len());
            return Ok(Sample { bytes: out, finish: Finish::Stop });
        }
        if out.len() == settings.max_bytes {
            break;
        }
        let slid = slide(start, text.len(), context);
        let next_logits = if slid == start { decoder.extend(&[next])? } else { decoder.prefill(&text[slid..])? };
        logits.copy_from_slice(next_logits);
        start = slid;
    }
    Ok(Sample { bytes: out, finish: Finish::Length })
}

/// Where the window of a `len`-byte prompt starts: its last `context` bytes.
fn first_window(len: usize, context: usize) -> usize {
    len.saturating_sub(context)
}

/// Where the window starts once the text is `len` bytes long, if it started at `start`
/// before the last byte: the same place while it fits in `context`, else the last
/// `context / 2` bytes (at least one).
fn slide(start: usize, len: usize, context: usize) -> usize {
    if len - start > context { len - (context / 2).max(1) } else { start }
}

/// The byte `logits` give under `settings`, with `u` uniform in [0, 1) as the one draw.
pub fn choose(logits: &[f32], settings: &SampleSettings, u: f64) -> u8 {
    // The first most likely byte, as `Gpt::complete` picks it.
    let argmax = logits.iter().enumerate().fold(0, |best, (i, &v)| if v > logits[best] { i } else { best });
    let temperature = settings.temperature;
    if !(temperature.is_finite() && temperature > 0.0) {
        return argmax as u8;
    }
    // Bytes from most to least likely (ties by byte value), cut by top-k.
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    if let Some(k) = settings.top_k {
        order.truncate(k.max(1));
    }
    let top = logits[argmax] as f64;
    let mut weights: Vec<f64> = order.iter().map(|&i| ((logits[i] as f64 - top) / temperature).exp()).collect();
    let total: f64 = weights.iter().sum();
    if !(total.is_finite() && total > 0.0) {
        return argmax as u8;
    }
    // Top-p: the shortest prefix whose probability reaches `top_p`.
    if settings.top_p < 1.0 {
        let mut mass = 0.0;
        let keep = weights
            .iter()
            .position(|w| {
                mass += w / total;
                mass >= settings.top_p
            })
            .map_or(weights.len(), |i| i + 1);
        weights.truncate(keep);
    }
    let total: f64 = weights.iter().sum();
    let mut target = u * total;
    for (w, &i) in weights.iter().zip(&order) {
        if target < *w {
            return i as u8;
        }
        target -= w;
    }
    order[weights.len() - 1] as u8
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;
    use crate::objective::gpt::model::{ModelConfig, OpPath};

    fn model() -> Gpt {
        let cfg = ModelConfig { context: 32, depth: 2, width: 16, heads: 2, init_scale: 20.0 };
        Gpt::new(cfg, 5, OpPath::Fused, &Device::Cpu).unwrap()
    }

    /// [`generate`] with every window run through [`Gpt::forward`] from scratch (the
    /// exact path the cached decoder must agree with), on the same windows and draws.
    fn generate_uncached(model: &Gpt, prompt: &[u8], settings: &SampleSettings) -> Sample {
        let context = model.config().context;
        let mut rng = stream(settings.seed, "lm-sample", &[]);
        let mut text = if prompt.is_empty() { vec![b'\n'] } else { prompt.to_vec() };
        let mut start = first_window(text.len(), context);
        let mut out = Vec::new();
        while out.len() < settings.max_bytes {
            let ids: Vec<u32> = text[start..].iter().map(|&b| u32::from(b)).collect();
            let t = ids.len();
            let logits = model.forward(&Tensor::from_vec(ids, (1, t), &Device::Cpu).unwrap()).unwrap();
            let logits = logits.get(t - 1).unwrap().to_vec1::<f32>().unwrap();
            let next = choose(&logits, settings, rng.random::<f64>());
            out.push(next);
            text.push(next);
            if out.ends_with(document::STOP) {
                out.truncate(out.len() - document::STOP.len());
                return Sample { bytes: out, finish: Finish::Stop };
            }
            start = slide(start, text.len(), context);
        }
        Sample { bytes: out, finish: Finish::Length }
    }

    #[test]
    fn the_window_slides_by_half_its_length_when_full() {
        assert_eq!(first_window(10, 32), 0);
        assert_eq!(first_window(100, 32), 68);
        assert_eq!(slide(0, 32, 32), 0, "a full window still fits");
        assert_eq!(slide(0, 33, 32), 17, "one byte more: the last 16 bytes");
        assert_eq!(slide(17, 48, 32), 17);
        assert_eq!(slide(17, 50, 32), 34);
        assert_eq!(slide(5, 7, 1), 6, "a context of one keeps one byte");
    }

    #[test]
    fn sampling_is_deterministic_in_the_seed_and_temperature_zero_is_greedy() {
        let model = model();
        let prompt = document::prompt(Some("(mechanism a\n  (propose (uniform)))"));
        let settings = SampleSettings { temperature: 1.0, max_bytes: 80, seed: 3, ..SampleSettings::default() };
        let a = generate(&model, prompt.as_bytes(), &settings).unwrap();
        assert_eq!(a, generate(&model, prompt.as_bytes(), &settings).unwrap());
        assert_eq!(a.bytes.len(), 80);
        assert_eq!(a.finish, Finish::Length);
        let b = generate(&model, prompt.as_bytes(), &SampleSettings { seed: 4, ..settings }).unwrap();
        assert_ne!(a, b, "another seed, other bytes");
        let hot = generate(&model, prompt.as_bytes(), &SampleSettings { temperature: 1.5, ..settings }).unwrap();
        assert_ne!(a, hot, "another temperature, other bytes");
        // The cached decoder draws what full forward passes over the same windows draw.
        assert_eq!(a, generate_uncached(&model, prompt.as_bytes(), &settings));

        let greedy = SampleSettings { temperature: 0.0, ..settings };
        let g = generate(&model, prompt.as_bytes(), &greedy).unwrap();
        assert_eq!(g, generate(&model, prompt.as_bytes(), &SampleSettings { seed: 99, ..greedy }).unwrap());
        assert_eq!(g, generate_uncached(&model, prompt.as_bytes(), &greedy));
        // While the window has not filled (8 + 20 bytes of 32), the model's own greedy
        // completion (with a stop byte it never writes).
        let short = generate(&model, b"<child>\n", &SampleSettings { max_bytes: 20, ..greedy }).unwrap();
        let stop = (0..=255u8).find(|b| !short.bytes.contains(b)).unwrap();
        assert_eq!(short.bytes, model.complete(b"<child>\n", 20, stop).unwrap());
    }

    #[test]
    fn a_prompt_longer_than_the_context_and_an_empty_prompt_work() {
        let model = model();
        let context = model.config().context;
        let long: Vec<u8> =
            b"(mechanism long (propose (uniform)))\n".iter().copied().cycle().take(3 * context + 5).collect();
        for temperature in [0.0, 0.8] {
            let settings = SampleSettings { temperature, max_bytes: 3 * context, seed: 7, ..SampleSettings::default() };
            let a = generate(&model, &long, &settings).unwrap();
            assert_eq!(a.bytes.len(), 3 * context);
            assert_eq!(a, generate_uncached(&model, &long, &settings));
            let e = generate(&model, b"", &settings).unwrap();
            assert_eq!(e, generate_uncached(&model, b"", &settings));
        }
    }

    #[test]
    fn top_k_one_is_greedy_and_the_draw_picks_by_probability() {
        let logits = [0.0f32, 2.0, 1.0, 2.0];
        let s = SampleSettings { temperature: 1.0, ..SampleSettings::default() };
        assert_eq!(choose(&logits, &SampleSettings { temperature: 0.0, ..s }, 0.9), 1);
        assert_eq!(choose(&logits, &SampleSettings { top_k: Some(1), ..s }, 0.99), 1);
        // Order 1, 3 (ties by byte), 2, 0; the draw walks the cumulative weights.
        assert_eq!(choose(&logits, &s, 0.0), 1);
        assert_eq!(choose(&logits, &s, 0.5), 3);
        assert_eq!(choose(&logits, &s, 0.999), 0);
        assert_eq!(choose(&logits, &SampleSettings { top_k: Some(2), ..s }, 0.999), 3);
        assert_eq!(choose(&logits, &SampleSettings { top_p: 0.5, ..s }, 0.999), 3);
    }
}
