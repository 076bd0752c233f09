//! `outerloop trial`: train one GPT trial and print its score, curve, cost and time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::cli::out::outln;
use crate::diagnostic::InputError;
use crate::objective::gpt::{
    self, Corpus, OpPath, SetError, Skill, TrainSettings, TrialCache, apply_sets, default_config, gpt_space,
};
use crate::objective::{Objective, fidelity_level};

/// Flags of `outerloop trial`.
#[derive(Debug, Args)]
pub struct TrialArgs {
    /// Set a knob, e.g. `--set lr=3e-3 --set depth=2` (repeatable; see `--list`).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Train on this text file instead of the synthetic corpus.
    #[arg(long, value_name = "FILE")]
    pub corpus: Option<PathBuf>,
    /// Synthetic corpus skills, comma-separated (copy, reverse, add, brackets, recall).
    #[arg(long, value_name = "LIST", conflicts_with = "corpus")]
    pub skills: Option<String>,
    /// Seed of the weights and batches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Compute budget of a full trial in GFLOP of training.
    #[arg(long, default_value_t = 50.0)]
    pub budget: f64,
    /// Context length in bytes.
    #[arg(long, default_value_t = gpt::DEFAULT_CONTEXT)]
    pub context: usize,
    /// Fraction of the budget to train (snapped up to 0.125, 0.25, 0.5 or 1).
    #[arg(long, default_value_t = 1.0)]
    pub fidelity: f64,
    /// Held-out bytes scored at each checkpoint.
    #[arg(long, default_value_t = 8192)]
    pub eval_tokens: usize,
    /// Use the reference ops instead of the fused ones (slower; for checking).
    #[arg(long)]
    pub reference: bool,
    /// Train on `cpu` (fused ops), or `cuda`/`cuda:N` (reference ops and a tensor-op
    /// AdamW on the GPU; needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    pub device: gpt::DeviceChoice,
    /// Persistent trial cache directory.
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Save the trained weights (safetensors) to this file.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// After training, score N exact-match prompts per synthetic skill (greedy decoding).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub exact_match: usize,
    /// List the knobs with their ranges and defaults, and exit.
    #[arg(long)]
    pub list: bool,
    /// Also print the result as one JSON line, last: `{"score":..,"curve":..,"cost":..,
    /// "status":..}` (cost as a fraction of a full trial), the line command objectives read.
    #[arg(long)]
    pub json: bool,
    /// Read the trial from one JSON line on stdin, `{"config":{...},"fidelity":f,"seed":s}`,
    /// as a command objective sends it (its knobs are applied after `--set`; implies
    /// `--json`): `outerloop trial --request` is itself a command objective.
    #[arg(long)]
    pub request: bool,
}

/// A command objective's request: its knobs as `name=value` settings, fidelity and seed.
fn read_request() -> anyhow::Result<(Vec<String>, f64, u64)> {
    let bad = |m: String| {
        InputError::usage(format!("--request: {m}"), "send {\"config\":{...},\"fidelity\":f,\"seed\":s} on stdin")
    };
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let value: serde_json::Value = serde_json::from_str(line.trim()).map_err(|e| bad(e.to_string()))?;
    let config = value.get("config").and_then(|c| c.as_object()).ok_or_else(|| bad("no \"config\" object".into()))?;
    let sets = config
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            // A whole number reads as an integer knob's value too (an ordinal 32.0 is 32).
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{k}={}", x as i64),
                _ => format!("{k}={n}"),
            },
            other => format!("{k}={other}"),
        })
        .collect();
    let fidelity =
        value.get("fidelity").and_then(|f| f.as_f64()).ok_or_else(|| bad("no \"fidelity\" number".into()))?;
    let seed = value.get("seed").and_then(|s| s.as_u64()).ok_or_else(|| bad("no \"seed\" integer".into()))?;
    Ok((sets, fidelity, seed))
}

fn parse_device(s: &str) -> Result<gpt::DeviceChoice, String> {
    s.parse()
}

use crate::objective::gpt::limits::{MAX_BUDGET_GFLOP, MAX_CONTEXT, MAX_EVAL_TOKENS, MAX_EXACT_MATCH};

/// Load the corpus the flags name.
pub fn load_corpus(corpus: Option<&PathBuf>, skills: Option<&str>) -> anyhow::Result<Corpus> {
    if let Some(path) = corpus {
        return Corpus::from_file(path).map_err(|e| {
            InputError::file(path.clone(), e.to_string(), "pass a readable text file, or omit --corpus").into()
        });
    }
    let Some(list) = skills else {
        return Ok(Corpus::synthetic_default());
    };
    let mut chosen = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match Skill::from_name(name) {
            Some(s) => chosen.push(s),
            None => {
                let known: Vec<&str> = Skill::ALL.iter().map(|s| s.name()).collect();
                return Err(InputError::usage(
                    format!("unknown skill `{name}`"),
                    format!("skills: {}", known.join(", ")),
                )
                .into());
            }
        }
    }
    Ok(Corpus::synthetic(&chosen, gpt::data::SYNTHETIC_LEN, 0))
}

/// Load a named corpus (synthetic, shakespeare, records) or, failing that, a file.
pub fn load_corpus_named(name: &str) -> anyhow::Result<Corpus> {
    if let Some(named) = gpt::corpora::CorpusName::parse(name) {
        return Ok(named.load());
    }
    let path = PathBuf::from(name);
    Corpus::from_file(&path).map_err(|e| {
        InputError::file(
            path.clone(),
            e.to_string(),
            format!("name a corpus ({}) or a readable text file", gpt::corpora::CorpusName::list()),
        )
        .into()
    })
}

/// Turn a knob assignment error into a usage error with a hint.
pub fn set_error(e: SetError) -> anyhow::Error {
    let hint = match &e {
        SetError::UnknownKnob { known, .. } => format!("knobs: {}", known.join(", ")),
        SetError::Syntax(_) => "write --set name=value, e.g. --set lr=3e-3".to_string(),
        SetError::BadValue { .. } => "see `outerloop trial --list` for the knobs and their values".to_string(),
    };
    InputError::usage(e.to_string(), hint).into()
}

/// Run `outerloop trial`.
pub fn run(mut args: TrialArgs) -> anyhow::Result<()> {
    gpt::init_process_threads();
    if args.request {
        let (sets, fidelity, seed) = read_request()?;
        args.sets.extend(sets);
        (args.fidelity, args.seed, args.json) = (fidelity, seed, true);
    }
    let space = gpt_space();
    if args.list {
        for knob in space.knobs() {
            let default = default_config(&space);
            let i = space.index_of(&knob.name).unwrap_or(0);
            outln!("{:<14} {:<44} default {}", knob.name, knob.kind.to_string(), knob.display(default.values[i]));
        }
        return Ok(());
    }
    if !(args.budget.is_finite() && args.budget > 0.0 && args.budget <= MAX_BUDGET_GFLOP) {
        return Err(InputError::usage(
            format!("budget {} must be a positive number of GFLOP, at most {MAX_BUDGET_GFLOP}", args.budget),
            "e.g. --budget 50 (about a minute on one core)",
        )
        .into());
    }
    if let Some(path) = &args.save {
        // Checked before training, not discovered after it.
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if path.is_dir() || !parent.is_dir() {
            let what = if path.is_dir() { "is a folder" } else { "is in a folder that does not exist" };
            return Err(InputError::usage(
                format!("--save {} {what}", path.display()),
                "give the path of a file to write, e.g. --save model.safetensors",
            )
            .into());
        }
    }
    if !(args.fidelity.is_finite() && args.fidelity > 0.0 && args.fidelity <= 1.0) {
        return Err(InputError::usage(
            format!("--fidelity {} must be a fraction of the budget above 0 and at most 1", args.fidelity),
            "e.g. --fidelity 0.25 (snapped up to 0.125, 0.25, 0.5 or 1)",
        )
        .into());
    }
    if args.exact_match > MAX_EXACT_MATCH {
        return Err(InputError::usage(
            format!("--exact-match {} is more than {MAX_EXACT_MATCH} prompts per skill", args.exact_match),
            "a few hundred prompts give a percentage to about a point",
        )
        .into());
    }
    if !(1..=MAX_CONTEXT).contains(&args.context) || !(1..=MAX_EVAL_TOKENS).contains(&args.eval_tokens) {
        return Err(InputError::usage(
            format!(
                "--context {} and --eval-tokens {} must be from 1 to {MAX_CONTEXT} and {MAX_EVAL_TOKENS}",
                args.context, args.eval_tokens
            ),
            "the defaults are --context 64 --eval-tokens 8192",
        )
        .into());
    }
    let mut config = default_config(&space);
    apply_sets(&space, &mut config, &args.sets).map_err(set_error)?;
    gpt::check_in_range(&space, &config).map_err(set_error)?;
    let corpus = load_corpus(args.corpus.as_ref(), args.skills.as_deref())?;
    corpus
        .check_context(args.context)
        .map_err(|e| InputError::usage(e.to_string(), "use a longer corpus or a shorter --context"))?;
    let settings = TrainSettings {
        budget_gflop: args.budget,
        eval_tokens: args.eval_tokens,
        path: if args.reference { OpPath::Reference } else { OpPath::Fused },
        device: args.device,
        ..TrainSettings::default()
    };
    // A device that cannot be used is bad input, found before any training.
    if let Err(message) = args.device.open() {
        return Err(InputError::usage(message, "use --device cpu, or a CUDA build on a machine with a GPU").into());
    }
    let objective = gpt::GptObjective::new(Arc::new(corpus), settings.clone(), args.context);
    let objective = match &args.cache {
        Some(dir) => {
            if dir.exists() && !dir.is_dir() {
                return Err(InputError::file(dir.clone(), "is a file, not a folder", "--cache names a folder").into());
            }
            objective.with_cache(TrialCache::open(dir).context("opening the trial cache")?)
        }
        None => objective,
    };
    let spec = objective.spec(&config);
    if let Some(problem) = spec.problem() {
        return Err(InputError::usage(
            format!("invalid config: {problem}"),
            "check --set values (width must be divisible by heads)",
        )
        .into());
    }
    if let Some(problem) = gpt::memory::too_large(&spec.model, spec.batch(), settings.op_path()) {
        // The same cap on every machine: a scenario fails the same trials everywhere.
        return Err(InputError::usage(problem, "the cap is in objective::gpt::memory (README: Memory)").into());
    }
    outln!("config   {}", space.describe(&config));
    outln!(
        "model    {} params, {} steps of {} tokens (budget {} GFLOP), corpus {} ({} bytes)",
        spec.model.param_count(),
        spec.total_steps(args.budget),
        spec.tokens_per_step(),
        args.budget,
        objective.corpus().name(),
        objective.corpus().bytes().len()
    );
    let start = std::time::Instant::now();
    let mut skill_scores = Vec::new();
    let result = if args.save.is_some() || args.exact_match > 0 {
        let (outcome, model) = gpt::single_threaded(|| {
            gpt::train::run_trial_keep(&spec, objective.corpus(), &settings, args.fidelity, args.seed)
        })
        .context("training")?;
        if let Some(path) = &args.save {
            model.save(path).with_context(|| format!("saving weights to {}", path.display()))?;
        }
        for skill in Skill::ALL {
            if args.exact_match > 0 {
                let examples = skill.eval_examples(args.exact_match, args.seed);
                skill_scores.push((skill.name(), model.exact_match(&examples).context("exact-match evaluation")?));
            }
        }
        let level = fidelity_level(&settings.fidelities, args.fidelity);
        gpt::cache::CachedTrial::from_outcome(&outcome).result(&settings, level)
    } else {
        objective.run_spec(&spec, args.fidelity, args.seed)
    };
    let secs = start.elapsed().as_secs_f64();
    for (f, s) in &result.curve {
        outln!("curve    fidelity {f:<6} val_bpb {s:.4}");
    }
    outln!("status   {}", result.status.as_str());
    outln!("score    {:.4} val_bpb", result.score);
    outln!("cost     {:.3} GFLOP ({:.3} of a full trial)", result.cost, result.cost / objective.full_cost());
    outln!("time     {secs:.2} s");
    for (skill, acc) in skill_scores {
        outln!("exact    {skill:<9} {:.1}% of {} prompts", acc * 100.0, args.exact_match);
    }
    if args.json {
        let line = serde_json::json!({
            "score": result.score,
            "curve": result.curve,
            "cost": result.cost / objective.full_cost(),
            "status": result.status.as_str(),
        });
        outln!("{line}");
    }
    Ok(())
}
