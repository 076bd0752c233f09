//! Training throughput of GPT trials: ms/step and tokens/s for configs A and B, one
//! trial on one thread and machine-wide (one single-thread trial per core).
//!
//! Run with `cargo bench --bench gpt_throughput` (add `-- --steps 30` to change the
//! number of timed steps, `-- --reference` for the reference ops, `-- --config B` for
//! one config, `-- --single` to skip the machine-wide runs, `-- --device cuda` to train on
//! a GPU with a CUDA build: `cargo bench --features cuda --bench gpt_throughput -- --device
//! cuda`, one trial per config, A, B and the larger C). Compare with
//! `python3 benches/torch_reference.py [--device cuda]`, which trains the same models in
//! PyTorch eager.

#![expect(clippy::print_stdout, reason = "a benchmark prints its numbers")]

use std::time::Instant;

use outerloop::objective::gpt::train::Trainer;
use outerloop::objective::gpt::{
    Corpus, DeviceChoice, ModelConfig, OpPath, OptimConfig, TrainSettings, TrialSpec, single_threaded,
};

fn spec(model: ModelConfig) -> TrialSpec {
    TrialSpec { model, optim: OptimConfig { batch_tokens: 16 * model.context, ..OptimConfig::default() } }
}

/// CPU time of the calling thread in seconds (Linux `schedstat`), robust to other load.
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse::<f64>().ok()))
        .map(|ns| ns * 1e-9)
        .unwrap_or(f64::NAN)
}

/// Wall seconds per step of one trial, after two warm-up steps.
fn time_trial(spec: TrialSpec, corpus: &Corpus, path: OpPath, steps: usize, seed: u64) -> f64 {
    time_trial_on(spec, corpus, path, DeviceChoice::Cpu, steps, seed).mean
}

/// Config C, for GPUs: 6 layers, width 384, 6 heads, context 256 (about 11M parameters).
fn config_c() -> ModelConfig {
    ModelConfig { context: 256, depth: 6, width: 384, heads: 6, init_scale: 1.0 }
}

/// Timings of one trial, per step.
struct Timing {
    /// Mean wall seconds.
    mean: f64,
    /// Mean thread-CPU seconds.
    cpu: f64,
    /// Wall seconds of the fastest step (the least disturbed by other load).
    fastest: f64,
}

/// Wall and thread-CPU seconds per step of one trial on `device` (on the CPU,
/// single-threaded). Every step reads its loss back, so GPU steps are timed to their end.
fn time_trial_on(
    spec: TrialSpec,
    corpus: &Corpus,
    path: OpPath,
    device: DeviceChoice,
    steps: usize,
    seed: u64,
) -> Timing {
    let settings = TrainSettings { budget_gflop: 1e6, path, device, ..TrainSettings::default() };
    let mut trainer = match Trainer::new(spec, corpus, &settings, seed) {
        Ok(t) => t,
        Err(e) => panic!("benchmark trial failed to start: {e}"),
    };
    for _ in 0..2 {
        let _ = trainer.step();
    }
    let start = Instant::now();
    let cpu = thread_cpu_seconds();
    let mut fastest = f64::INFINITY;
    for _ in 0..steps {
        let step = Instant::now();
        if let Err(e) = trainer.step() {
            panic!("benchmark step failed: {e}");
        }
        fastest = fastest.min(step.elapsed().as_secs_f64());
    }
    let cpu = thread_cpu_seconds() - cpu;
    Timing { mean: start.elapsed().as_secs_f64() / steps as f64, cpu: cpu / steps as f64, fastest }
}

#[expect(unsafe_code, reason = "setting an environment variable before any thread exists")]
fn main() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: first statement of main; no other thread exists yet. Keeps candle's
        // busy-waiting elementwise pool inline, as the CLI does.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
    let args: Vec<String> = std::env::args().collect();
    let steps = args
        .iter()
        .position(|a| a == "--steps")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(20usize);
    let path = if args.iter().any(|a| a == "--reference") { OpPath::Reference } else { OpPath::Fused };
    let only = args.iter().position(|a| a == "--config").and_then(|i| args.get(i + 1)).cloned();
    let single_only = args.iter().any(|a| a == "--single");
    let device: DeviceChoice = match args.iter().position(|a| a == "--device").and_then(|i| args.get(i + 1)) {
        Some(d) => d.parse().unwrap_or_else(|e: String| panic!("{e}")),
        None => DeviceChoice::Cpu,
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let corpus = Corpus::synthetic_default();
    if !device.is_cpu() {
        if let Err(e) = device.open() {
            panic!("{e}");
        }
        println!("candle GPT throughput on {device} (reference ops, tensor AdamW, {steps} timed steps)");
        for (name, model) in [("A", ModelConfig::config_a()), ("B", ModelConfig::config_b()), ("C", config_c())] {
            if only.as_deref().is_some_and(|o| o != name) {
                continue;
            }
            let spec = spec(model);
            let t = time_trial_on(spec, &corpus, OpPath::Reference, device, steps, 0);
            println!(
                "config {name}: {} params, single trial {:.2} ms/step {:.0} tok/s (fastest step {:.2} ms)",
                model.param_count(),
                t.mean * 1e3,
                spec.tokens_per_step() as f64 / t.mean,
                t.fastest * 1e3
            );
        }
        return;
    }
    println!("candle GPT throughput ({path:?} ops, {steps} timed steps, {cores} cores)");
    for (name, model) in [("A", ModelConfig::config_a()), ("B", ModelConfig::config_b())] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let spec = spec(model);
        let tokens = spec.tokens_per_step() as f64;
        let timing = single_threaded(|| time_trial_on(spec, &corpus, path, DeviceChoice::Cpu, steps, 0));
        let (single, single_cpu) = (timing.mean, timing.cpu);
        if single_only {
            println!(
                "config {name}: single trial 1 thread {:.1} ms/step {:.0} tok/s ({:.1} CPU-ms/step, fastest step {:.1} ms)",
                single * 1e3,
                tokens / single,
                single_cpu * 1e3,
                timing.fastest * 1e3
            );
            continue;
        }
        let wide: Vec<f64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..cores)
                .map(|i| {
                    let corpus = &corpus;
                    s.spawn(move || single_threaded(|| time_trial(spec, corpus, path, steps, i as u64)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(f64::NAN)).collect()
        });
        let wide_tps: f64 = wide.iter().map(|s| tokens / s).sum();
        let wide_ms = wide.iter().sum::<f64>() / wide.len() as f64 * 1e3;
        println!(
            "config {name}: single trial 1 thread {:.1} ms/step {:.0} tok/s ({:.1} CPU-ms/step, fastest step {:.1} ms) | machine-wide {cores} x 1-thread trials {:.1} ms/step each, {:.0} tok/s total",
            single * 1e3,
            tokens / single,
            single_cpu * 1e3,
            timing.fastest * 1e3,
            wide_ms,
            wide_tps
        );
    }
}
