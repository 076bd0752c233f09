//! The simulation's serialized form: the checkpoint body (`Snapshot`, one
//! `MechanismDto` per mechanism) and the lessons a run leaves for later runs. The
//! World <-> snapshot conversion lives in `sim/mod.rs`; `store::checkpoint` only frames
//! these types on disk (magic, version, hashes), so `store` sits above `sim` and never
//! the other way round.

use serde::{Deserialize, Serialize};

use super::components::{AgentKind, Status};
use super::diagnosis::{Diagnosis, TraceStats};
use super::operators::MadeBy;
use super::predictor::Predictor;
use super::resources::{AgentYield, Credit, DebateBudget, DebateStats, HallEntry, MetricsRow};

/// Current checkpoint format version.
pub const FORMAT_VERSION: u32 = 3;

/// A mechanism's [`Status`] as stored (ECS components carry no serde derives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoredStatus {
    /// Proposed.
    Proposed,
    /// Accepted.
    Accepted,
    /// Audited.
    Audited,
    /// Evaluated.
    Evaluated,
    /// Verified.
    Verified,
}

impl From<Status> for StoredStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Proposed => StoredStatus::Proposed,
            Status::Accepted => StoredStatus::Accepted,
            Status::Audited => StoredStatus::Audited,
            Status::Evaluated => StoredStatus::Evaluated,
            Status::Verified => StoredStatus::Verified,
        }
    }
}

impl From<StoredStatus> for Status {
    fn from(s: StoredStatus) -> Self {
        match s {
            StoredStatus::Proposed => Status::Proposed,
            StoredStatus::Accepted => Status::Accepted,
            StoredStatus::Audited => Status::Audited,
            StoredStatus::Evaluated => Status::Evaluated,
            StoredStatus::Verified => Status::Verified,
        }
    }
}

/// One mechanism entity, serialized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MechanismDto {
    /// Mechanism id.
    pub id: u64,
    /// Canonical genome text.
    pub genome: String,
    /// Life stage.
    pub status: StoredStatus,
    /// Claimed fitness.
    pub claimed: Option<f64>,
    /// Per-episode claim gains.
    pub claimed_episodes: Vec<f64>,
    /// Verified fitness.
    pub verified: Option<f64>,
    /// Per-episode verification gains.
    pub verified_episodes: Vec<f64>,
    /// Parent ids.
    pub parents: Vec<u64>,
    /// Creating agent.
    pub agent: AgentKind,
    /// Operator.
    pub operator: MadeBy,
    /// Diagnosis.
    pub diagnosis: Option<Diagnosis>,
    /// Birth tick.
    pub tick: u32,
    /// First parent's fitness at birth.
    pub parent_fitness: Option<f64>,
    /// First parent's claim gains at birth.
    pub parent_claim: Vec<f64>,
    /// First parent's trace statistics at birth.
    pub parent_traits: TraceStats,
    /// Structural and behavioural distance from the first parent.
    pub parent_distance: (f64, f64),
    /// Compute spent.
    pub cost: f64,
    /// Trace statistics.
    pub traits: TraceStats,
}

/// The whole resumable state of a run after a completed tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Ticks completed.
    pub ticks_done: u32,
    /// Last mechanism id handed out.
    pub next_id: u64,
    /// Live mechanisms, by id.
    pub mechanisms: Vec<MechanismDto>,
    /// Reference regrets `(task, seed, regret)`.
    pub reference_cache: Vec<(usize, u64, f64)>,
    /// Known structural hashes `(hash, id)`.
    pub known_structures: Vec<(u64, u64)>,
    /// Known behaviour hashes `(hash, id)`.
    pub known_behaviours: Vec<(u64, u64)>,
    /// Operator credit.
    pub operator_stats: Vec<(Diagnosis, String, Credit)>,
    /// Hall of fame.
    pub hall_of_fame: Vec<HallEntry>,
    /// Failure signatures.
    pub failures: Vec<u64>,
    /// Debate record.
    pub debate: DebateStats,
    /// The debate's budget of extra proposals.
    pub debate_budget: DebateBudget,
    /// The pragmatist's learned predictor.
    pub predictor: Predictor,
    /// Evaluations and verified wins per creating agent.
    pub agent_yield: AgentYield,
    /// Metrics rows.
    pub metrics: Vec<MetricsRow>,
    /// Compute spent.
    pub compute: f64,
    /// Distinct mechanisms verified so far.
    pub verified_mechanisms: u64,
    /// Where the run folder stood at this checkpoint.
    pub folder: FolderState,
}

/// The run folder's state a checkpoint records (filled in by the store, which owns the
/// folder): the event log's extent and checksum, the folder the scenario's relative
/// paths resolve from (what `genome-base.txt` must say) and, once the run is finished,
/// the hashes of the outputs written at its end.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FolderState {
    /// Length in bytes of the event log.
    pub events_len: u64,
    /// Chained checksum of the log's last line (`store::event_log`).
    pub events_sum: u64,
    /// The scenario's base folder.
    pub genome_base: String,
    /// The finished run's outputs; absent before the end (and in checkpoints of builds
    /// that did not record them, which still load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<OutputHashes>,
}

/// The xxh3 hashes of the files a finished run writes at its end, so a read-only
/// command can tell a damaged one without recomputing it (the summary needs fresh
/// episodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OutputHashes {
    /// `ancestry.dot`.
    pub ancestry: u64,
    /// `lessons.bin`.
    pub lessons: u64,
    /// `summary.txt`.
    pub summary: u64,
}

/// What a run leaves for later runs (`lessons.bin`: rmp-serde in the checkpoint's frame,
/// `store::run_dir::encode_lessons`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LessonsFile {
    /// Format version.
    pub version: u32,
    /// Hall of fame.
    pub hall_of_fame: Vec<HallEntry>,
    /// Operator credit.
    pub operator_stats: Vec<(Diagnosis, String, Credit)>,
    /// Failure signatures.
    pub failures: Vec<u64>,
    /// The pragmatist's learned predictor (an inheriting run starts from it).
    pub predictor: Predictor,
}
