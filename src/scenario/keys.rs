//! Every key of an outer-loop scenario, defined once: its type, default, range and
//! meaning. `scenarios/README.md` carries [`keys_markdown`]'s tables word for word, and
//! the tests check that this table, the file format ([`super::file`]) and the defaults
//! the loader applies agree, so a new key is written here, in `file.rs` and in the
//! validation, and the README follows by regenerating its table.

/// One documented key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
pub const SECTIONS: [&str; 8] = ["", "population", "inner", "seeds", "proposer", "debater", "verifier", "recombiner"];

/// Every key of an outer-loop scenario, in README order.
#[rustfmt::skip]
pub const KEYS: &[KeyDoc] = &[
    KeyDoc { key: "name", ty: "string", default: "*required*", range: "letters, digits, `-`, `_`, starting with a letter", meaning: "Run name; also the default output folder `populations/<name>` and the prefix of new mechanisms' names." },
    KeyDoc { key: "seed", ty: "integer", default: "*required*", range: "0 to 2^64-1", meaning: "Root seed: every random stream of the run is derived from it." },
    KeyDoc { key: "ticks", ty: "integer", default: "*required*", range: "1 to 1000000", meaning: "Outer-loop ticks (one pass of propose, debate, evaluate, credit, verify, recombine, select, record)." },
    KeyDoc { key: "reference", ty: "genome spec", default: "*required*", range: "a valid genome", meaning: "The mechanism fitness is measured against: a mechanism's fitness is the mean over episodes of log10(reference regret / its regret), so 0 means \"as good as the reference\" and +1 means ten times smaller regret." },
    KeyDoc { key: "out", ty: "path", default: "`populations/<name>`", range: "any folder", meaning: "Output folder of `run`, relative to the scenario file's folder (like every path in the file); when absent, `populations/<name>` under the current directory. `run --out DIR` (relative to the current directory, like every command-line path) overrides it." },
    KeyDoc { key: "inherit", ty: "path", default: "none", range: "a finished run folder", meaning: "An earlier run whose hall of fame (added to the initial population) and lessons (operator credit per diagnosis, failure signatures) seed this run. Relative to the scenario file's folder. See [Inherit](#inherit)." },
    KeyDoc { key: "population.size", ty: "integer", default: "`16`", range: "2 to 1000000", meaning: "Maximum evaluated mechanisms kept alive; above it the oldest leave first (age-regularised selection)." },
    KeyDoc { key: "population.elites", ty: "integer", default: "`4`", range: "0 to 1000000, and below `size`", meaning: "The best verified mechanisms, protected from removal; also how many elites the verifier and recombiner work with." },
    KeyDoc { key: "population.hall_of_fame", ty: "integer", default: "`10`", range: "0 to 100000", meaning: "Distinct best verified genomes kept in the hall of fame (`lessons.bin`), which a later run with `inherit` adds to its initial population." },
    KeyDoc { key: "inner.tasks", ty: "list of task names", default: "*required*", range: "at least one; see [Task names](#task-names)", meaning: "The inner-loop tasks every mechanism is scored on." },
    KeyDoc { key: "inner.budget", ty: "number", default: "*required*", range: "from the cheapest trial of every task to 100000 of them", meaning: "Compute budget of one inner-loop episode, in the tasks' compute units: a full-fidelity trial costs 1 on BBOB, the suite's tables and live tasks, 20 (GFLOP) on `gpt-table`; lower fidelities cost less." },
    KeyDoc { key: "inner.seeds", ty: "integer", default: "`3`", range: "1 to 1000", meaning: "Episode seeds per task used for a claimed fitness (episodes = tasks x seeds): the most a race spends on one child. Claim episodes come in blocks of one episode per task, the same seeds for every mechanism." },
    KeyDoc { key: "inner.min_seeds", ty: "integer", default: "`seeds`", range: "1 to `seeds`", meaning: "Blocks every child gets before the race may drop it. After each further block a child is compared with its primary parent episode by episode; when the 95% upper bound of the paired difference is below zero it leaves as `raced-out`. Equal to `seeds`: a fixed claim set, no race." },
    KeyDoc { key: "inner.aggregate", ty: "string", default: "`\"mean\"`", range: "`\"mean\"`, `\"worst-task\"`", meaning: "How gains on several tasks become one fitness (claims and verification): the mean of the per-task means, or the worst per-task mean (a mechanism must be good on every task). On the suite, five replicate runs each showed no difference on the held-out tasks (-0.000 [-0.113, +0.117], see `ablation-suite/RESULTS.md`). The printed report fitness is always the mean over report episodes." },
    KeyDoc { key: "inner.self_heal", ty: "bool", default: "`true`", range: "", meaning: "Whether the inner loop heals genome faults and failed trials: a hook out of fuel gets a fallback value, a diverged or invalid trial is recorded with the failure score, and the episode goes on. `false`: no self-healing, the first out-of-fuel hook (propose, filter, fidelity, update) or failed trial crashes the episode; it stops there with the rest of its budget unspent and is scored on the trials it ran (the failed one counts as failed). When no trial succeeded it hands in an untuned config, one uniformly random point trained at full fidelity, so its regret stays finite. A filter that never accepts and a fidelity lowered to fit the budget are normal behaviour, never crashes. Every episode of the run (claims, verification, the reference, the report) runs this way; fingerprints on the probe task always heal." },
    KeyDoc { key: "seeds.library", ty: "list of strings", default: "`[]`", range: "library names, or `\"all\"`", meaning: "Seed-library mechanisms by bare name (`\"tabu-search\"`, not `\"lib:tabu-search\"`); `\"all\"` adds every library mechanism." },
    KeyDoc { key: "seeds.files", ty: "list of paths", default: "`[]`", range: "readable genome files", meaning: "Genome files, relative to the folder of the scenario file." },
    KeyDoc { key: "seeds.inline", ty: "list of strings", default: "`[]`", range: "valid genomes", meaning: "Genomes written inline, e.g. `\"(mechanism my-random (propose (uniform)))\"`." },
    KeyDoc { key: "proposer.enabled", ty: "bool", default: "`true`", range: "", meaning: "Whether the proposer runs (it mutates parents chosen by tournament, with operators chosen from a diagnosis of the parent's trace)." },
    KeyDoc { key: "proposer.children_per_tick", ty: "integer", default: "`4`", range: "0 to 100000", meaning: "The proposer's evaluation slots per tick (0 turns the proposer off). It writes new children (duplicates of known structures or behaviours do not count, up to 4 attempts per child) for the slots the recombiner's children leave free, plus the debate's `extra`." },
    KeyDoc { key: "proposer.tournament", ty: "integer", default: "`3`", range: "1 to 1000", meaning: "Tournament size for choosing a parent." },
    KeyDoc { key: "proposer.operators", ty: "string", default: "`\"all\"`", range: "`\"all\"`, `\"constants\"`, `\"structure\"`", meaning: "The operators the proposer may use. `\"constants\"`: only `mutate-constant` (tuning a mechanism's numeric parameters and its initial-design size, never its structure); `\"structure\"`: every operator except `mutate-constant` (replace-subtree, insert/delete wrapper, the structural additions, graft, crossover). A parent the restricted set cannot change yields no child that attempt. The recombiner is not affected (turn it off with `[recombiner] enabled = false`)." },
    KeyDoc { key: "debater.enabled", ty: "bool", default: "`true`", range: "", meaning: "Whether the panel (innovator, pragmatist, contrarian) screens proposals before compute is spent. On, the proposer writes `extra` proposals beyond the tick's evaluation slots and the panel keeps the ones its pragmatist (a model learned online from the run's evaluated children) ranks highest; off, every proposal is accepted. Either way the same number of children is evaluated per tick (`proposer.children_per_tick + recombiner.children_per_tick`)." },
    KeyDoc { key: "debater.audit_rate", ty: "number", default: "`0.25`", range: "0 to 1", meaning: "Fraction of rejected proposals evaluated anyway (each audit takes the slot of the lowest-ranked accepted one), so the debate's precision is measured against the improvement rate of what it rejects." },
    KeyDoc { key: "debater.novelty_threshold", ty: "number", default: "`0.15`", range: "0 to 1", meaning: "Novelty (distance to the population) below which the innovator votes reject. Votes are recorded; the ranking is the pragmatist's, whose inputs include novelty and risk." },
    KeyDoc { key: "debater.extra", ty: "integer", default: "`2`", range: "1 to `max_extra`", meaning: "Proposals per tick beyond the evaluation slots at the start: how many the debate may reject. After 10 audits it grows by one per tick while the debate's value (precision minus the audited improvement rate) has a 95% interval above zero, and shrinks (not below 1) while its estimate is not positive." },
    KeyDoc { key: "debater.max_extra", ty: "integer", default: "`6`", range: "1 to 100000", meaning: "The most the budget may grow to." },
    KeyDoc { key: "verifier.enabled", ty: "bool", default: "`true`", range: "", meaning: "Whether would-be elites are re-evaluated on fresh episodes; off, claimed fitness is never confirmed." },
    KeyDoc { key: "verifier.seeds", ty: "integer", default: "`6`", range: "1 to 1000", meaning: "Verification seeds per task: disjoint from every claim and report seed, shared by every mechanism (elites are compared episode by episode). The champion is chosen on these." },
    KeyDoc { key: "verifier.max_per_tick", ty: "integer", default: "`2`", range: "0 to 100000", meaning: "Verifications per tick at most (0 turns the verifier off)." },
    KeyDoc { key: "verifier.report_seeds", ty: "integer", default: "`10`", range: "1 to 10000", meaning: "Report seeds per task: at the end of a run the champion and the reference run on these, and `summary.txt` prints that mean as the champion's fitness. They play no part in choosing anything, so the number is unbiased; the verified and claimed numbers it was chosen on are printed beside it as selection-biased." },
    KeyDoc { key: "verifier.max_rounds", ty: "integer", default: "`4`", range: "1 to 1000", meaning: "How far spare verification slots extend the best elites' verification: up to this many times `seeds` episodes per task in all, so a lucky first verification regresses before it picks the champion. `1`: no extension." },
    KeyDoc { key: "recombiner.enabled", ty: "bool", default: "`true`", range: "", meaning: "Whether the recombiner runs (type-safe crossover between elites, preferring structurally distant parents)." },
    KeyDoc { key: "recombiner.children_per_tick", ty: "integer", default: "`1`", range: "0 to 100000", meaning: "Crossover children per tick at the start (0 turns the recombiner off). Its slots count toward the tick's evaluation slots; with the recombiner off the proposer fills them." },
    KeyDoc { key: "recombiner.adaptive", ty: "bool", default: "`true`", range: "", meaning: "Whether the recombiner's share of the slots follows its measured yield: verified wins (a child whose verified fitness beats its parent's) per evaluated child, against the proposer's, blended with the configured share by 20 pseudo-evaluations; at least one slot each." },
    KeyDoc { key: "recombiner.constant_swarm", ty: "integer", default: "`0`", range: "0 to `children_per_tick`", meaning: "Of the recombiner's children per tick, how many are constant-swarm merges (the rest are crossovers; 0 turns the move off). A merge takes a verified elite whose structure (canonical genome without its numeric constants) it shares with at least one other verified elite, and moves its constants by the Model Swarms update: inertia (the step from its primary parent, when that parent shares the structure), pull to its personal best (the better of itself and that parent), pull to the group's best, push from the group's worst, random factors normalised to sum to one. The child's constants are an exact affine combination of its parents' constants; the event log and the ancestry record each parent's coefficient. When no structure has two verified elites the slot goes to crossover." },
];

/// The README table of one section (header and one row per key).
pub fn keys_markdown(section: &str) -> String {
    let mut s = String::from("| Key | Type | Default | Range | Meaning |\n| --- | --- | --- | --- | --- |\n");
    for k in KEYS.iter().filter(|k| k.section() == section) {
        let row = format!("| `{}` | {} | {} | {} | {} |", k.name(), k.ty, k.default, k.range, k.meaning);
        s.push_str(&row.replace("|  |", "| |"));
        s.push('\n');
    }
    s
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
    }
}
