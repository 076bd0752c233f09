//! What every stage of a swarm run trains with: the run's seeds and corpora, training
//! batches run here or on the installed executor, checkpoints saved and checked against
//! the event log. Below both the run and its routing stage.

use std::path::Path;

use super::SwarmError;
use super::record::{Record, SwarmEvent};
use super::scenario::SwarmScenario;
use super::tasks::corpus;
use super::weights::{self, digest};
use super::work::TrainingBatch;
use crate::exec::Workers;
use crate::objective::gpt::{CorpusData, Skill};
use crate::rng::derive;

/// Progress messages for the caller to show (the library never prints).
pub type Progress<'a> = &'a (dyn Fn(&str) + Sync);

/// The seeds of a run, derived from its root seed.
pub fn seeds_of(sc: &SwarmScenario) -> Vec<u64> {
    (0..sc.seeds as u64).map(|i| derive(sc.seed, "swarm-seed", &[i])).collect()
}

/// Train `batch` (one job per `(seed, model)` of `names`, whose weights have shape
/// `shape`) unless the log records every one of them: then the checkpoints are loaded
/// and checked against the recorded xxh3. Fresh weights are saved as
/// `seed-<seed>/<model>.safetensors`, then logged.
pub fn train_logged(
    rec: &mut Record,
    dir: &Path,
    shape: crate::objective::gpt::ModelConfig,
    names: &[(usize, String)],
    workers: &Workers,
    batch: impl FnOnce(&mut Record) -> Result<TrainingBatch, SwarmError>,
) -> Result<Vec<Vec<f32>>, SwarmError> {
    let file = |seed: usize, model: &str| dir.join(format!("seed-{seed}/{model}.safetensors"));
    let logged = |seed: usize, model: &str, w: &[f32]| SwarmEvent::Trained {
        seed,
        model: model.to_string(),
        file: format!("{model}.safetensors"),
        xxh3: format!("{:016x}", digest(w)),
    };
    let trained = if names.iter().all(|(s, m)| rec.trained(*s, m).is_some()) {
        let mut loaded = Vec::with_capacity(names.len());
        for (s, m) in names {
            let path = file(*s, m);
            let w = weights::load(shape, &path)?;
            if rec.trained(*s, m) != Some(format!("{:016x}", digest(&w)).as_str()) {
                return Err(SwarmError::Input(crate::diagnostic::InputError::file(
                    &path,
                    "this checkpoint is not the one the event log recorded",
                    "restore the run folder from a backup, or start the run again",
                )));
            }
            loaded.push(w);
        }
        loaded
    } else {
        let batch = batch(rec)?;
        let trained = train_all(batch, workers)?;
        for ((s, m), w) in names.iter().zip(&trained) {
            let path = file(*s, m);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| SwarmError::io(parent, e))?;
            }
            weights::save(shape, w, &path)?;
        }
        trained
    };
    // Logged either way: a resumed run replays the recorded events in order.
    rec.log(names.iter().zip(&trained).map(|((s, m), w)| logged(*s, m, w)).collect())?;
    Ok(trained)
}

/// The skill-mixture training corpus of the run's seed `seed` (the base's, and the
/// routing stage's sized specialists' and mixture model's).
pub fn mixture_corpus(sc: &SwarmScenario, seed: u64) -> CorpusData {
    CorpusData::of(&corpus("mixture", &sc.skills, sc.corpus_bytes, derive(seed, "swarm-corpus-mixture", &[])))
}

/// The training corpus of expert skill `skill` for the run's seed `seed` (one of
/// `sc.skills`: its stream is keyed by the skill's position there).
pub fn skill_corpus(sc: &SwarmScenario, seed: u64, skill: Skill) -> CorpusData {
    let e = sc.skills.iter().position(|&s| s == skill).unwrap_or(0);
    CorpusData::of(&corpus(skill.name(), &[skill], sc.corpus_bytes, derive(seed, "swarm-corpus-skill", &[e as u64])))
}

/// Run the training runs of `batch` (here or on the installed executor), in job order.
pub fn train_all(batch: TrainingBatch, workers: &Workers) -> Result<Vec<Vec<f32>>, SwarmError> {
    let trained = workers.execute(&batch).map_err(SwarmError::Executor)?;
    trained.into_iter().map(|r| r.map_err(SwarmError::Job)).collect()
}
