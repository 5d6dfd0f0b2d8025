//! The join coordinator: brings a server into the cluster while clients keep reading and
//! writing (method.md, steps 1a-3c).
//!
//! # Phases
//! 1. **Queued**: joins run one at a time per cluster; a second request waits its turn
//!    (its joiner is already out of live traffic).
//! 2. **Cut** (writers quiesced through [`crate::cluster::order`], so no write is in flight): pick the donor, append a
//!    `JoinStarted` record at L0, pin the log from L0 with a cursor, and in `detach` mode
//!    take the donor out of live traffic. The join record, persisted, moves to *Snapshot*.
//! 3. **Snapshot**: the donor's snapshot is streamed through the snapshot codec into the
//!    joiner, which was emptied first ([`transfer`]). Progress: bytes, rate, ETA.
//! 4. **Catch-up**: the joiner (and a `detach`-mode donor) replay the log from their own
//!    applied-LSN markers, exactly once, while live writes go on elsewhere ([`replay`]).
//! 5. **Switch-over** (per server): once a server is within a few records of the end,
//!    quiesce the writers, replay the rest, make it active, release them. The pause
//!    this causes writers is measured ([`Counters::switch_pause_max_micros`]).
//! 6. **Finished**: both servers are active; the cursor is removed, so the log may be
//!    truncated again, subject to retention.
//!
//! **Delta-only rejoin**: a detached joiner whose marker is trusted (it was detached for a
//! failure or by the operator, not for divergence, and no restore into it was left
//! unfinished) and still covered by the log skips the cut and the snapshot.
//!
//! A failure or a cancel **aborts** the join: the joiner is left detached with the reason,
//! a `detach`-mode donor returns to service by replaying its delta.
//!
//! # Restarts
//! The join record (`join/<id>` in the log's metadata) is rewritten at every phase change.
//! After a crash the join resumes: a queued one starts over, a snapshot is redone from the
//! start (the cursor at L0 still pins the log, and the restored marker says where replay
//! begins; a `detach`-mode donor has not moved), a catch-up continues from the servers'
//! markers, a switch-over that had made its server active is not repeated. Replay is
//! exactly-once through the markers, so nothing is applied twice.
//!
//! [`Counters::switch_pause_max_micros`]: super::Counters::switch_pause_max_micros

mod auto;
mod failpoint;
mod record;
mod registry;
mod replay;
mod run;
mod transfer;

pub use auto::{OPERATOR_DETACH, RETRY_AFTER};
pub use failpoint::failpoint;
pub use record::{DonorMode, JoinRecord, Phase};
pub use registry::JoinView;
pub(crate) use registry::Joins;

use thiserror::Error;

/// How to join.
#[derive(Clone, Debug, Default)]
pub struct JoinOptions {
    /// The donor; `None`: the active backend chosen by the coordinator.
    pub donor: Option<String>,
    /// `None`: `online` when the engine supports it (all three do), else `detach`.
    pub mode: Option<DonorMode>,
    /// Take a snapshot even when a delta-only rejoin would do.
    pub force_snapshot: bool,
    /// zstd level for the snapshot stream; `None`: raw chunks (still CRC- and
    /// digest-checked), the fastest for an in-process transfer.
    pub compression: Option<i32>,
}

/// Why a join could not be started, found or cancelled.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum JoinError {
    /// No backend has that name.
    #[error("no backend named {0:?}")]
    UnknownBackend(String),
    /// No join has that id.
    #[error("no join with id {0}")]
    UnknownJoin(u64),
    /// The request cannot be honoured in the cluster's state (the value is the reason).
    #[error("{0}")]
    Refused(String),
    /// The join already ended.
    #[error("join {id} already ended ({phase})")]
    Ended { id: u64, phase: Phase },
    /// The metadata store failed.
    #[error("delta log: {0}")]
    Log(#[from] crate::log::LogError),
}
