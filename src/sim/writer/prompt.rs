//! The prompt a language model writes a child from, built from the run so that it
//! never drifts from the language or the evidence: the language reference generated
//! from the primitive table (`genome::reference`), the parent genome with its trace
//! diagnosis, statistics and lineage, the hall of fame, the parent's children that did
//! worse, and the run's count of failure signatures.

use std::fmt::Write as _;

use super::reply::Problem;
use super::{ChatMessage, Role};
use crate::genome::Genome;
use crate::genome::reference;
use crate::genome::syntax::print;
use crate::scenario::Scenario;
use crate::sim::diagnosis::{Diagnosis, TraceStats};
use crate::sim::resources::HallEntry;

/// Hall-of-fame entries and worse children shown (the prompt stays a few thousand
/// tokens).
const SHOWN: usize = 3;

/// One ancestor on the parent's line, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Ancestor {
    /// Its id.
    pub id: u64,
    /// What made it (`seed`, `mutate-constant`, `llm`, ...).
    pub made_by: String,
    /// Its best known fitness.
    pub fitness: Option<f64>,
}

/// What the prompt says about the parent and the run.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The scenario (tasks, budget, reference).
    pub scenario: &'a Scenario,
    /// The parent's id.
    pub parent_id: u64,
    /// The parent's genome.
    pub parent: &'a Genome,
    /// Its claimed fitness.
    pub claimed: Option<f64>,
    /// Its verified fitness.
    pub verified: Option<f64>,
    /// Its diagnosis.
    pub diagnosis: Diagnosis,
    /// Its trace statistics.
    pub traits: &'a TraceStats,
    /// Its line of descent (primary parents still alive), oldest first, itself last.
    pub lineage: Vec<Ancestor>,
    /// The best verified mechanisms so far.
    pub hall_of_fame: &'a [HallEntry],
    /// Its children that did worse than it: genome text and fitness.
    pub worse_children: Vec<(String, f64)>,
    /// Children of the run that did clearly worse than their parents.
    pub failure_signatures: usize,
}

/// The instructions.
pub fn system_message() -> String {
    "You design search mechanisms: small typed programs, written as s-expressions, that an \
     inner loop calls while it tunes the hyperparameters of a task (which point to try next, \
     whether to run it, at what fidelity, what to remember). You are given the language, the \
     run's evidence and a parent mechanism; you write one child mechanism that should reach a \
     lower regret than the parent within the same budget. Reply with exactly one mechanism in \
     a ```mechanism fenced block; a short reason before it is welcome."
        .into()
}

/// The question: the language, the run, the parent.
pub fn user_message(f: &Facts<'_>) -> String {
    let sc = f.scenario;
    let mut m = String::new();
    m.push_str("# The language\n\n");
    m.push_str(reference::HOOKS);
    m.push_str("\n## Primitives\n\n");
    m.push_str(&reference::markdown());
    m.push_str("# The run\n\n");
    let _ = writeln!(
        m,
        "Tasks: {}. Each episode tunes one task with a budget of {} (full trials). Fitness is \
         the mean over episodes of log10(reference regret / mechanism regret) against `{}`: \
         0 is as good as the reference, +1 is ten times lower regret; higher is better.\n",
        sc.tasks.join(", "),
        sc.inner_budget,
        sc.reference.origin
    );
    if !f.hall_of_fame.is_empty() {
        m.push_str("## Best verified mechanisms so far\n\n");
        for h in f.hall_of_fame.iter().take(SHOWN) {
            let _ = writeln!(m, "Fitness {:+.3} (m{}):\n```mechanism\n{}\n```\n", h.verified, h.id, h.genome.trim());
        }
    }
    if !f.worse_children.is_empty() {
        m.push_str("## Tried from this parent and worse than it (do not repeat)\n\n");
        for (genome, fitness) in f.worse_children.iter().take(SHOWN) {
            let _ = writeln!(m, "Fitness {fitness:+.3}:\n```text\n{}\n```\n", genome.trim());
        }
    }
    if f.failure_signatures > 0 {
        let _ = writeln!(m, "{} children in this run did clearly worse than their parents.\n", f.failure_signatures);
    }
    m.push_str("# The parent\n\n");
    let fitness = |v: Option<f64>| v.map_or("not measured".to_string(), |x| format!("{x:+.3}"));
    let _ = writeln!(
        m,
        "m{}: claimed fitness {}, verified fitness {}.",
        f.parent_id,
        fitness(f.claimed),
        fitness(f.verified)
    );
    let t = f.traits;
    let _ = writeln!(
        m,
        "Its inner-loop trace: {:.2} of trials after its last improvement (stagnation), {:.2} of \
         proposals near an earlier one (repeats), diversity {:.2} (RMS distance of proposals to \
         their centroid; 0.29 for uniform points), {:.2} of trials failed, {:.2} of the budget \
         spent in the worst quarter of scores.",
        t.stagnation, t.repeats, t.diversity, t.failures, t.bad_regions
    );
    let _ = writeln!(m, "Diagnosis: {} ({}).", f.diagnosis.as_str(), remedy(f.diagnosis));
    if f.lineage.len() > 1 {
        let line: Vec<String> =
            f.lineage.iter().map(|a| format!("m{} ({}, {})", a.id, a.made_by, fitness(a.fitness))).collect();
        let _ = writeln!(m, "Lineage, oldest first: {}.", line.join(" -> "));
    }
    let _ = writeln!(m, "\n```mechanism\n{}\n```\n", print(f.parent).trim());
    m.push_str(
        "Write one child of this parent that should do better on these tasks: change its \
         structure where the diagnosis points, not only its constants. Use only the hooks and \
         primitives above, with their types. Reply with the child in a ```mechanism block.",
    );
    m
}

/// The repair round's question: the checker's located diagnostics of the last reply.
pub fn repair_message(problem: &Problem) -> String {
    let mut m = String::from("That reply is not a valid mechanism. The checker says:\n\n");
    for line in problem.located() {
        let _ = writeln!(m, "- {line}");
    }
    m.push_str(
        "\nLines and columns count within the mechanism's text. Reply with the corrected \
         mechanism in a ```mechanism fenced block.",
    );
    m
}

/// The conversation of a first request.
pub fn conversation(f: &Facts<'_>) -> Vec<ChatMessage> {
    vec![
        ChatMessage { role: Role::System, content: system_message() },
        ChatMessage { role: Role::User, content: user_message(f) },
    ]
}

/// What the diagnosis suggests, in words.
fn remedy(d: Diagnosis) -> &'static str {
    match d {
        Diagnosis::Stagnation => "long runs without improvement: explore more, or change how points are chosen",
        Diagnosis::Repeats => "it proposes near-duplicates: filter them, or vary the step",
        Diagnosis::LowDiversity => "its proposals crowd together: widen the search",
        Diagnosis::Failures => "many trials fail: avoid the region or the construct that fails",
        Diagnosis::BadRegions => "much budget goes to bad regions: screen candidates or use cheap fidelities first",
        Diagnosis::Healthy => "nothing stands out: refine what works",
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::genome::{Limits, load};

    #[test]
    fn the_prompt_holds_the_language_the_evidence_and_the_parent() {
        let text = "name = \"p\"\nseed = 1\nticks = 1\nreference = \"lib:uniform-random\"\n\
                    [inner]\ntasks = [\"probe\"]\nbudget = 10\n[seeds]\nlibrary = [\"tabu-search\"]\n";
        let sc = crate::scenario::parse(Path::new("p.toml"), text).unwrap();
        let parent = load("(mechanism par (propose (uniform)))", &Limits::default()).unwrap();
        let hall = [HallEntry { id: 7, genome: "(mechanism best (propose (best 1)))".into(), verified: 0.4 }];
        let facts = Facts {
            scenario: &sc,
            parent_id: 3,
            parent: &parent,
            claimed: Some(0.25),
            verified: None,
            diagnosis: Diagnosis::Repeats,
            traits: &TraceStats::default(),
            lineage: vec![
                Ancestor { id: 1, made_by: "seed".into(), fitness: Some(0.1) },
                Ancestor { id: 3, made_by: "graft".into(), fitness: Some(0.25) },
            ],
            hall_of_fame: &hall,
            worse_children: vec![("(mechanism worse (propose (anchor)))".into(), -0.2)],
            failure_signatures: 4,
        };
        let m = user_message(&facts);
        assert!(m.contains(reference::HOOKS) && m.contains(&reference::markdown()));
        for needle in [
            "Tasks: probe",
            "lib:uniform-random",
            "Fitness +0.400 (m7)",
            "(mechanism worse",
            "4 children",
            "claimed fitness +0.250, verified fitness not measured",
            "Diagnosis: repeats",
            "m1 (seed, +0.100) -> m3 (graft, +0.250)",
            "(mechanism par",
        ] {
            assert!(m.contains(needle), "the prompt lacks `{needle}`");
        }
    }
}
