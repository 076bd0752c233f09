//! The caps on every count and size a GPT trial or a table build can be asked for, in
//! one table: spec files (`table::TableSpec`), `trial` flags and `table build` flags all
//! check against these, so no input can ask for an allocation that aborts or a trial
//! that never ends.

/// The largest budget of one full trial, in GFLOP of training (hours on one core).
pub const MAX_BUDGET_GFLOP: f64 = 1e5;
/// The longest context, in bytes.
pub const MAX_CONTEXT: usize = 4096;
/// The most held-out bytes scored at each checkpoint.
pub const MAX_EVAL_TOKENS: usize = 1 << 24;
/// The most exact-match prompts per skill.
pub const MAX_EXACT_MATCH: usize = 100_000;
/// The most configs a table spec may describe (a grid's product or a design's count):
/// 65,536 trials per seed is far past any table one machine or cluster builds, and
/// small enough that a spec's design is made in a fraction of a second.
pub const MAX_CONFIGS: usize = 1 << 16;
/// The most seeds per config of a table.
pub const MAX_SEEDS: u64 = 1000;
/// The most trials a table build runs at once here.
pub const MAX_JOBS: usize = 4096;
