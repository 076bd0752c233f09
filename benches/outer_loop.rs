//! Outer-loop benchmark: ticks per second and memory with 10,000 mechanism entities on a
//! synthetic objective, and the outer loop's own overhead (tick time not spent inside
//! inner-loop episodes) on the GPT table.
//!
//! Run with `cargo bench --bench outer_loop`.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use outerloop::genome::library::LIBRARY;
use outerloop::genome::ops::{Mutation, mutate};
use outerloop::genome::{Limits, load};
use outerloop::rng;
use outerloop::scenario;
use outerloop::sim::Simulation;
use outerloop::sim::components::{Fitness, Status};
use outerloop::sim::evaluator::EPISODE_NANOS;
use outerloop::sim::spawn::{FINGERPRINT_NANOS, prepare};
use rand::RngExt;

fn scenario_text(tasks: &str, budget: f64, size: usize, ticks: u32, seeds: u32) -> String {
    format!(
        r#"
name = "bench"
seed = 1
ticks = {ticks}
reference = "lib:greedy-keep-discard"
[population]
size = {size}
elites = 8
[inner]
tasks = [{tasks}]
budget = {budget}
seeds = {seeds}
[seeds]
library = ["all"]
[proposer]
children_per_tick = 8
[verifier]
seeds = 3
max_per_tick = 2
[recombiner]
children_per_tick = 2
"#
    )
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// Plant `n` evaluated mechanisms (mutants of the library) with synthetic fitness.
fn plant(sim: &mut Simulation, n: usize) {
    let limits = Limits::default();
    let library: Vec<_> = LIBRARY.iter().map(|(_, t)| load(t, &limits).unwrap()).collect();
    let mut rng = rng::stream(1, "bench-plant", &[]);
    for i in 0..n {
        let mut g = library[i % library.len()].clone();
        for _ in 0..3 {
            let op = Mutation::ALL[rng.random_range(0..Mutation::ALL.len())];
            if let Some(c) = mutate(&g, op, &mut rng, &limits) {
                g = c;
            }
        }
        let Some(c) = prepare(g) else { continue };
        let claimed = rng.random_range(-1.0..1.0f64);
        sim.plant(
            1_000_000 + i as u64,
            c.mechanism,
            if i % 4 == 0 { Status::Verified } else { Status::Evaluated },
            Fitness {
                claimed: Some(claimed),
                claimed_episodes: vec![claimed; 4],
                verified: (i % 4 == 0).then_some(claimed - 0.1),
                verified_episodes: vec![claimed - 0.1; 3],
            },
        );
    }
}

fn measure(label: &str, text: &str, planted: usize, ticks: u32) {
    let sc = scenario::parse(Path::new("bench.toml"), text).unwrap();
    let mut sim = Simulation::new(&sc, None, outerloop::exec::Executor::local()).unwrap();
    let before = rss_kib("VmRSS:");
    let t_plant = Instant::now();
    plant(&mut sim, planted);
    let plant_s = t_plant.elapsed().as_secs_f64();
    // The first tick evaluates the seed library; time steady-state ticks after it.
    sim.tick().expect("local episodes cannot fail");
    EPISODE_NANOS.store(0, Ordering::Relaxed);
    FINGERPRINT_NANOS.store(0, Ordering::Relaxed);
    let started = Instant::now();
    for _ in 0..ticks {
        sim.tick().expect("local episodes cannot fail");
        let _ = sim.drain_events();
    }
    let total = started.elapsed().as_secs_f64();
    let inner = EPISODE_NANOS.load(Ordering::Relaxed) as f64 * 1e-9;
    let probes = FINGERPRINT_NANOS.load(Ordering::Relaxed) as f64 * 1e-9;
    let entities = sim.entity_count();
    println!(
        "{label:<34} entities {entities:>6}  {:>7.2} ticks/s  {:>8.1} ms/tick  inner {:>5.1}%  outer overhead {:>5.1}% (fingerprint probe runs {:>5.1}%, bookkeeping {:>5.1}%)  RSS +{:.0} MiB (peak {:.0} MiB)  planting {plant_s:.1} s",
        ticks as f64 / total,
        1000.0 * total / ticks as f64,
        100.0 * inner / total,
        100.0 * (total - inner) / total,
        100.0 * probes / total,
        100.0 * (total - inner - probes) / total,
        (rss_kib("VmRSS:").saturating_sub(before)) as f64 / 1024.0,
        rss_kib("VmHWM:") as f64 / 1024.0,
    );
}

fn main() {
    println!("outer loop benchmark (threads: {})", rayon::current_num_threads());
    measure(
        "10k entities, bbob-f8 d5, budget 50",
        &scenario_text("\"bbob-f8-i1-d5\"", 50.0, 20_000, 10, 2),
        10_000,
        10,
    );
    measure("10k entities, gpt-table, budget 400", &scenario_text("\"gpt-table\"", 400.0, 20_000, 10, 2), 10_000, 10);
    measure("quickstart-size, gpt-table", &scenario_text("\"gpt-table\"", 400.0, 16, 20, 2), 0, 20);
    // The suite's own settings: 3 training tables, 4 claim blocks, budget 15.
    measure("10k entities, suite:gpt-train", &scenario_text("\"suite:gpt-train\"", 15.0, 20_000, 10, 4), 10_000, 10);
}
