//! The one config layer of every scenario kind: a key is documented once, as a
//! [`KeyDoc`] (type, default, range, meaning, and a typed [`Check`]), in the table of its
//! kind ([`KEYS`] here for outer-loop scenarios, `swarm::scenario::KEYS` for model-swarm
//! scenarios). The table drives the loaders' defaults and range checks through
//! [`super::validate::Validator`] (the one validator: located errors, the same messages
//! for every kind) and the README's key tables ([`table_markdown`], word for word, checked
//! by tests that also compare each table with its file format's fields).

/// What the validator checks of a number-valued key (the `range` text starts with the
/// same bounds, checked by a test).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    /// A whole number in `lo..=hi`.
    Int(i64, i64),
    /// A finite number in `lo..=hi`.
    Real(f64, f64),
    /// Checked by the loader's own rule (names, lists, bounds that depend on other keys).
    Any,
}

/// One documented key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyDoc {
    /// Dotted name (`inner.seeds`; top-level keys have no section).
    pub key: &'static str,
    /// Type as the README names it.
    pub ty: &'static str,
    /// Default, as Markdown (`` `16` ``, `*required*`, ...).
    pub default: &'static str,
    /// Allowed values (may be empty).
    pub range: &'static str,
    /// What it does.
    pub meaning: &'static str,
    /// The typed check the validator applies.
    pub check: Check,
}

impl KeyDoc {
    /// The section (`""` for top-level keys).
    pub fn section(&self) -> &'static str {
        self.key.rsplit_once('.').map_or("", |(s, _)| s)
    }

    /// The key within its section.
    pub fn name(&self) -> &'static str {
        self.key.rsplit_once('.').map_or(self.key, |(_, k)| k)
    }

    /// The default as a TOML literal (`None` for required keys and computed defaults).
    pub fn default_literal(&self) -> Option<&'static str> {
        let d = self.default.strip_prefix('`')?.strip_suffix('`')?;
        (!d.contains('<')).then_some(d)
    }
}

/// The sections in file order (`""`: the top-level keys).
pub const SECTIONS: [&str; 9] =
    ["", "population", "inner", "seeds", "proposer", "proposer.llm", "debater", "verifier", "recombiner"];

/// Every key of an outer-loop scenario, in README order.
#[rustfmt::skip]
pub const KEYS: &[KeyDoc] = &[
    KeyDoc { key: "name", ty: "string", default: "*required*", range: "letters, digits, `-`, `_`, starting with a letter", meaning: "Run name; also the default output folder `populations/<name>` and the prefix of new mechanisms' names.", check: Check::Any },
    KeyDoc { key: "seed", ty: "integer", default: "*required*", range: "0 to 2^64-1", meaning: "Root seed: every random stream of the run is derived from it.", check: Check::Any },
    KeyDoc { key: "ticks", ty: "integer", default: "*required*", range: "1 to 1000000", meaning: "Outer-loop ticks (one pass of propose, debate, evaluate, credit, verify, recombine, select, record).", check: Check::Int(1, 1_000_000) },
    KeyDoc { key: "reference", ty: "genome spec", default: "*required*", range: "a valid genome", meaning: "The mechanism fitness is measured against: a mechanism's fitness is the mean over episodes of log10(reference regret / its regret), so 0 means \"as good as the reference\" and +1 means ten times smaller regret.", check: Check::Any },
    KeyDoc { key: "out", ty: "path", default: "`populations/<name>`", range: "any folder", meaning: "Output folder of `run`, relative to the scenario file's folder (like every path in the file); when absent, `populations/<name>` under the current directory. `run --out DIR` (relative to the current directory, like every command-line path) overrides it.", check: Check::Any },
    KeyDoc { key: "inherit", ty: "path", default: "none", range: "a finished run folder", meaning: "An earlier run whose hall of fame (added to the initial population) and lessons (operator credit per diagnosis, failure signatures) seed this run. Relative to the scenario file's folder. See [Inherit](#inherit).", check: Check::Any },
    KeyDoc { key: "objectives", ty: "tables", default: "none", range: "`[objectives.<name>]` tables with the keys of a command spec", meaning: "Command objectives (your own program, one run per trial) written in the scenario: `[objectives.<name>]` holds `command`, `input`, `fidelities`, `timeout`, `failure_score`, `optimum`, `files`, `cache` and a `[objectives.<name>.space]` of knobs, as a spec file does (see [Bring your own problem](#bring-your-own-problem)); tasks name one as `cmd:<this file's name>#<name>`. Each is checked where it is written, also when no task names it.", check: Check::Any },
    KeyDoc { key: "population.size", ty: "integer", default: "`16`", range: "2 to 1000000", meaning: "Maximum evaluated mechanisms kept alive; above it the oldest leave first (age-regularised selection).", check: Check::Int(2, 1_000_000) },
    KeyDoc { key: "population.elites", ty: "integer", default: "`4`", range: "0 to 1000000, and below `size`", meaning: "The best verified mechanisms, protected from removal; also how many elites the verifier and recombiner work with.", check: Check::Int(0, 1_000_000) },
    KeyDoc { key: "population.hall_of_fame", ty: "integer", default: "`10`", range: "0 to 100000", meaning: "Distinct best verified genomes kept in the hall of fame (`lessons.bin`), which a later run with `inherit` adds to its initial population.", check: Check::Int(0, 100_000) },
    KeyDoc { key: "inner.tasks", ty: "list of task names", default: "*required*", range: "at least one; see [Task names](#task-names)", meaning: "The inner-loop tasks every mechanism is scored on.", check: Check::Any },
    KeyDoc { key: "inner.budget", ty: "number", default: "*required*", range: "from the cheapest trial of every task to 100000 of them", meaning: "Compute budget of one inner-loop episode, in the tasks' compute units: a full-fidelity trial costs 1 on BBOB, the suite's tables and live tasks, 20 (GFLOP) on `gpt-table`; lower fidelities cost less.", check: Check::Any },
    KeyDoc { key: "inner.seeds", ty: "integer", default: "`3`", range: "1 to 1000", meaning: "Episode seeds per task used for a claimed fitness (episodes = tasks x seeds): the most a race spends on one child. Claim episodes come in blocks of one episode per task, the same seeds for every mechanism.", check: Check::Int(1, 1000) },
    KeyDoc { key: "inner.min_seeds", ty: "integer", default: "`seeds`", range: "1 to `seeds`", meaning: "Blocks every child gets before the race may drop it. After each further block a child is compared with its primary parent episode by episode; when the 95% upper bound of the paired difference is below zero it leaves as `raced-out`. Equal to `seeds`: a fixed claim set, no race.", check: Check::Any },
    KeyDoc { key: "inner.aggregate", ty: "string", default: "`\"mean\"`", range: "`\"mean\"`, `\"worst-task\"`", meaning: "How gains on several tasks become one fitness (claims and verification): the mean of the per-task means, or the worst per-task mean (a mechanism must be good on every task). On the suite, five replicate runs each showed no difference on the held-out tasks (-0.000 [-0.113, +0.117], see `ablation-suite/RESULTS.md`). The printed report fitness is always the mean over report episodes.", check: Check::Any },
    KeyDoc { key: "inner.score", ty: "string", default: "`\"final-regret\"`", range: "`\"final-regret\"`, `\"aocc\"`", meaning: "What an episode scores for fitness (claims, verification, report): the true regret of the config recommended at the end, or the whole convergence curve, as LLaMEA scores BBOB: the regret equivalent of the AOCC, `10^(2 - 10 AOCC)`, the geometric mean of the best-so-far regret clipped to [1e-8, 1e2] over the budget, so a gain of 1 is a curve ten times lower throughout. Tasks without a known optimum keep the final regret. The held-out sections always print both.", check: Check::Any },
    KeyDoc { key: "inner.self_heal", ty: "bool", default: "`true`", range: "", meaning: "Whether the inner loop heals genome faults and failed trials: a hook out of fuel gets a fallback value, a diverged or invalid trial is recorded with the failure score, and the episode goes on. `false`: no self-healing, the first out-of-fuel hook (propose, filter, fidelity, update) or failed trial crashes the episode; it stops there with the rest of its budget unspent and is scored on the trials it ran (the failed one counts as failed). When no trial succeeded it hands in an untuned config, one uniformly random point trained at full fidelity, so its regret stays finite. A filter that never accepts and a fidelity lowered to fit the budget are normal behaviour, never crashes. Every episode of the run (claims, verification, the reference, the report) runs this way; fingerprints on the probe task always heal.", check: Check::Any },
    KeyDoc { key: "seeds.library", ty: "list of strings", default: "`[]`", range: "library names, or `\"all\"`", meaning: "Seed-library mechanisms by bare name (`\"tabu-search\"`, not `\"lib:tabu-search\"`); `\"all\"` adds every library mechanism.", check: Check::Any },
    KeyDoc { key: "seeds.files", ty: "list of paths", default: "`[]`", range: "readable genome files", meaning: "Genome files, relative to the folder of the scenario file.", check: Check::Any },
    KeyDoc { key: "seeds.inline", ty: "list of strings", default: "`[]`", range: "valid genomes", meaning: "Genomes written inline, e.g. `\"(mechanism my-random (propose (uniform)))\"`.", check: Check::Any },
    KeyDoc { key: "proposer.enabled", ty: "bool", default: "`true`", range: "", meaning: "Whether the proposer runs (it mutates parents chosen by tournament, with operators chosen from a diagnosis of the parent's trace).", check: Check::Any },
    KeyDoc { key: "proposer.children_per_tick", ty: "integer", default: "`4`", range: "0 to 100000", meaning: "The proposer's evaluation slots per tick (0 turns the proposer off). It writes new children (duplicates of known structures or behaviours do not count, up to 4 attempts per child) for the slots the recombiner's children leave free, plus the debate's `extra`.", check: Check::Int(0, 100_000) },
    KeyDoc { key: "proposer.tournament", ty: "integer", default: "`3`", range: "1 to 1000", meaning: "Tournament size for choosing a parent.", check: Check::Int(1, 1000) },
    KeyDoc { key: "proposer.operators", ty: "string", default: "`\"all\"`", range: "`\"all\"`, `\"constants\"`, `\"structure\"`", meaning: "The operators the proposer may use. `\"constants\"`: only `mutate-constant` (tuning a mechanism's numeric parameters and its initial-design size, never its structure); `\"structure\"`: every operator except `mutate-constant` (replace-subtree, insert/delete wrapper, the structural additions, graft, crossover). A parent the restricted set cannot change yields no child that attempt. The recombiner is not affected (turn it off with `[recombiner] enabled = false`).", check: Check::Any },
    KeyDoc { key: "proposer.tune_constants", ty: "integer", default: "`0`", range: "0 to 64", meaning: "Structures judged with tuned constants: each structurally new child (every proposer operator but `mutate-constant`, and the recombiner's crossovers) tries this many constant vectors before its claim, its own and mutants of it (1-3 `mutate-constant` steps each), each on the first claim block (one episode per task), and keeps the best (its own on ties). The tuning's compute is charged to the run and the child, and logged as a `tuned` event (the ancestry keeps the untuned genome). The claim that follows is biased upward by the choice; verification on fresh seeds is not. 0 or 1: off.", check: Check::Int(0, 64) },
    KeyDoc { key: "proposer.llm", ty: "table", default: "none", range: "", meaning: "A language model writes a share of the proposer's children (the `proposer.llm.*` keys below). Each of its children is one chat exchange with an OpenAI-compatible endpoint: the prompt holds the language reference, the parent genome with its diagnosis, trace statistics and lineage, the hall of fame and what failed; an invalid reply gets one repair round with the checker's located diagnostics, then a typed operator writes the child instead. Every exchange is kept in the run folder (`llm/`), so reruns, resumes and `analyze` replay it without the endpoint.", check: Check::Any },
    KeyDoc { key: "proposer.llm.endpoint", ty: "string", default: "none", range: "an `http://` or `https://` URL", meaning: "Base URL of the chat-completions API: `http://127.0.0.1:8080/v1` (llama.cpp's `llama-server`, `outerloop lm serve`), `http://127.0.0.1:8000/v1` (vLLM), `http://127.0.0.1:11434/v1` (Ollama), `https://api.openai.com/v1`. Absent: every reply must already be in the run's record (`llm/`, or `run --llm-replay FOLDER`); a missing one stops the run with exit code 2.", check: Check::Any },
    KeyDoc { key: "proposer.llm.model", ty: "string", default: "`\"default\"`", range: "", meaning: "The model name sent with each request (part of the exchange's address: another model is another exchange).", check: Check::Any },
    KeyDoc { key: "proposer.llm.temperature", ty: "number", default: "`0.8`", range: "0 to 2", meaning: "Sampling temperature.", check: Check::Real(0.0, 2.0) },
    KeyDoc { key: "proposer.llm.max_tokens", ty: "integer", default: "`1024`", range: "16 to 32768", meaning: "Most tokens per reply.", check: Check::Int(16, 32768) },
    KeyDoc { key: "proposer.llm.timeout", ty: "number", default: "`120`", range: "0.1 to 3600", meaning: "Seconds to wait for one reply; a slower endpoint's exchange is recorded as failed and a typed operator writes that child.", check: Check::Real(0.1, 3600.0) },
    KeyDoc { key: "proposer.llm.api_key_env", ty: "string", default: "none", range: "an environment variable's name", meaning: "The environment variable holding the API key, sent as `Authorization: Bearer`; the key itself never enters a file.", check: Check::Any },
    KeyDoc { key: "proposer.llm.share", ty: "number", default: "`0.5`", range: "0 to 1", meaning: "Share of the proposer's children the model writes (spread evenly over each tick's drafts; 1: all of them, 0: none).", check: Check::Real(0.0, 1.0) },
    KeyDoc { key: "debater.enabled", ty: "bool", default: "`true`", range: "", meaning: "Whether the panel (innovator, pragmatist, contrarian) screens proposals before compute is spent. On, the proposer writes `extra` proposals beyond the tick's evaluation slots and the panel keeps the ones its pragmatist (a model learned online from the run's evaluated children) ranks highest; off, every proposal is accepted. Either way the same number of children is evaluated per tick (`proposer.children_per_tick + recombiner.children_per_tick`).", check: Check::Any },
    KeyDoc { key: "debater.audit_rate", ty: "number", default: "`0.25`", range: "0 to 1", meaning: "Fraction of rejected proposals evaluated anyway (each audit takes the slot of the lowest-ranked accepted one), so the debate's precision is measured against the improvement rate of what it rejects.", check: Check::Real(0.0, 1.0) },
    KeyDoc { key: "debater.novelty_threshold", ty: "number", default: "`0.15`", range: "0 to 1", meaning: "Novelty (distance to the population) below which the innovator votes reject. Votes are recorded; the ranking is the pragmatist's, whose inputs include novelty and risk.", check: Check::Real(0.0, 1.0) },
    KeyDoc { key: "debater.extra", ty: "integer", default: "`2`", range: "1 to `max_extra`", meaning: "Proposals per tick beyond the evaluation slots at the start: how many the debate may reject. After 10 audits it grows by one per tick while the debate's value (precision minus the audited improvement rate) has a 95% interval above zero, and shrinks (not below 1) while its estimate is not positive.", check: Check::Any },
    KeyDoc { key: "debater.max_extra", ty: "integer", default: "`6`", range: "1 to 100000", meaning: "The most the budget may grow to.", check: Check::Int(1, 100_000) },
    KeyDoc { key: "verifier.enabled", ty: "bool", default: "`true`", range: "", meaning: "Whether would-be elites are re-evaluated on fresh episodes; off, claimed fitness is never confirmed.", check: Check::Any },
    KeyDoc { key: "verifier.seeds", ty: "integer", default: "`6`", range: "1 to 1000", meaning: "Verification seeds per task: disjoint from every claim and report seed, shared by every mechanism (elites are compared episode by episode). The champion is chosen on these.", check: Check::Int(1, 1000) },
    KeyDoc { key: "verifier.max_per_tick", ty: "integer", default: "`2`", range: "0 to 100000", meaning: "Verifications per tick at most (0 turns the verifier off).", check: Check::Int(0, 100_000) },
    KeyDoc { key: "verifier.report_seeds", ty: "integer", default: "`10`", range: "1 to 10000", meaning: "Report seeds per task: at the end of a run the champion and the reference run on these, and `summary.txt` prints that mean as the champion's fitness. They play no part in choosing anything, so the number is unbiased; the verified and claimed numbers it was chosen on are printed beside it as selection-biased.", check: Check::Int(1, 10_000) },
    KeyDoc { key: "verifier.max_rounds", ty: "integer", default: "`4`", range: "1 to 1000", meaning: "How far spare verification slots extend the best elites' verification: up to this many times `seeds` episodes per task in all, so a lucky first verification regresses before it picks the champion. `1`: no extension.", check: Check::Int(1, 1000) },
    KeyDoc { key: "verifier.held_out", ty: "list of task names", default: "`[]`", range: "tasks not in `inner.tasks`; each suite, and the tasks named directly, counting budgets in one unit", meaning: "Tasks the run never sees (e.g. `[\"suite:gpt-heldout\"]`). Each suite named is its own comparison, and the tasks named directly are one more. At the end of the run the champion, every library mechanism and every library mechanism pinned to the lowest fidelity (the trivial baselines; left out where the tasks have one fidelity level) run on `held_out_seeds` episodes of each task, at the run's budget carried over (in full trials; on BBOB in units of `d` evaluations, so 100 d at d=5 is 100 d at d=20), and `summary.txt` prints the champion against the best library mechanism and the best trivial baseline, each chosen on those same episodes (which favours them), per task or BBOB function group, with the AOCC (area over the convergence curve) on BBOB tasks. Empty: no such section.", check: Check::Any },
    KeyDoc { key: "verifier.held_out_seeds", ty: "integer", default: "`20`", range: "1 to 10000", meaning: "Episodes per held-out task (the same seeds as `outerloop analyze`'s held-out section, so the two agree).", check: Check::Int(1, 10_000) },
    KeyDoc { key: "recombiner.enabled", ty: "bool", default: "`true`", range: "", meaning: "Whether the recombiner runs (type-safe crossover between elites, preferring structurally distant parents).", check: Check::Any },
    KeyDoc { key: "recombiner.children_per_tick", ty: "integer", default: "`1`", range: "0 to 100000", meaning: "Crossover children per tick at the start (0 turns the recombiner off). Its slots count toward the tick's evaluation slots; with the recombiner off the proposer fills them.", check: Check::Int(0, 100_000) },
    KeyDoc { key: "recombiner.adaptive", ty: "bool", default: "`true`", range: "", meaning: "Whether the recombiner's share of the slots follows its measured yield: verified wins (a child whose verified fitness beats its parent's) per evaluated child, against the proposer's, blended with the configured share by 20 pseudo-evaluations; at least one slot each.", check: Check::Any },
    KeyDoc { key: "recombiner.constant_swarm", ty: "integer", default: "`0`", range: "0 to `children_per_tick`", meaning: "Of the recombiner's children per tick, how many are constant-swarm merges (the rest are crossovers; 0 turns the move off). A merge takes a verified elite whose structure (canonical genome without its numeric constants) it shares with at least one other verified elite, and moves its constants by the Model Swarms update: inertia (the step from its primary parent, when that parent shares the structure), pull to its personal best (the better of itself and that parent), pull to the group's best, push from the group's worst, random factors normalised to sum to one. The child's constants are an exact affine combination of its parents' constants; the event log and the ancestry record each parent's coefficient. When no structure has two verified elites the slot goes to crossover.", check: Check::Any },
];

/// A README key table: header and one row per key, each named by `name`.
fn markdown<'a>(keys: impl Iterator<Item = &'a KeyDoc>, name: impl Fn(&KeyDoc) -> &'static str) -> String {
    let mut s = String::from("| Key | Type | Default | Range | Meaning |\n| --- | --- | --- | --- | --- |\n");
    for k in keys {
        let row = format!("| `{}` | {} | {} | {} | {} |", name(k), k.ty, k.default, k.range, k.meaning);
        s.push_str(&row.replace("|  |", "| |"));
        s.push('\n');
    }
    s
}

/// The README table of one section of the outer-loop keys (keys named within it).
pub fn keys_markdown(section: &str) -> String {
    markdown(KEYS.iter().filter(|k| k.section() == section), |k| k.name())
}

/// The README table of a whole key table (keys by their dotted names).
pub fn table_markdown(keys: &[KeyDoc]) -> String {
    markdown(keys.iter(), |k| k.key)
}

/// The documented key `key` of `keys`.
pub fn find<'a>(keys: &'a [KeyDoc], key: &str) -> Option<&'a KeyDoc> {
    keys.iter().find(|k| k.key == key)
}

/// Every number-valued key's `range` text states its check's bounds first.
pub fn check_matches_range(k: &KeyDoc) -> bool {
    match k.check {
        Check::Int(lo, hi) => k.range.starts_with(&format!("{lo} to {hi}")),
        Check::Real(lo, hi) => k.range.starts_with(&format!("{lo} to {hi}")),
        Check::Any => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_belongs_to_a_known_section_once() {
        let mut seen = std::collections::BTreeSet::new();
        for k in KEYS {
            assert!(SECTIONS.contains(&k.section()), "{}", k.key);
            assert!(seen.insert(k.key), "{} twice", k.key);
        }
        for s in SECTIONS {
            assert!(keys_markdown(s).lines().count() > 2, "section `{s}` has no keys");
        }
        for k in KEYS {
            assert!(check_matches_range(k), "{}: range `{}` and check {:?} differ", k.key, k.range, k.check);
        }
    }
}
