//! The persisted join record: what a restart needs to resume a join.

use crate::log::LogError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How the donor takes part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DonorMode {
    /// The donor leaves service while it is snapshotted, then replays its delta and
    /// returns (the patent's method). Needs another active backend to serve meanwhile.
    Detach,
    /// The donor keeps serving; its snapshot is one consistent read transaction (PostgreSQL
    /// exported snapshot, `mysqldump --single-transaction`, SQLite `VACUUM INTO`). Keeps
    /// full capacity and works with a single active backend.
    Online,
}

impl fmt::Display for DonorMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DonorMode::Detach => "detach",
            DonorMode::Online => "online",
        })
    }
}

impl std::str::FromStr for DonorMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "detach" => Ok(DonorMode::Detach),
            "online" => Ok(DonorMode::Online),
            other => Err(format!(
                "unknown donor mode {other:?} (expected detach or online)"
            )),
        }
    }
}

/// Where a join is. Switch-over is part of `CatchUp` (see [`JoinView::switching`]).
///
/// [`JoinView::switching`]: super::JoinView::switching
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Waiting for the join before it.
    Queued,
    /// The donor's snapshot is streaming into the joiner.
    Snapshot,
    /// Donor and joiner replay the delta; each is switched over when it is close.
    CatchUp,
    /// Both servers are active.
    Finished,
    /// Cancelled or failed; see the reason.
    Aborted,
}

impl Phase {
    /// True when the join has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Finished | Phase::Aborted)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Queued => "queued",
            Phase::Snapshot => "snapshot",
            Phase::CatchUp => "catch_up",
            Phase::Finished => "finished",
            Phase::Aborted => "aborted",
        })
    }
}

/// One join, as persisted at every phase change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRecord {
    /// Its id (from 1).
    pub id: u64,
    /// The server being joined.
    pub joiner: String,
    /// The donor, once chosen; `None` for a delta-only rejoin.
    pub donor: Option<String>,
    /// The donor mode.
    pub mode: DonorMode,
    /// Requested explicitly by the operator (`None`: chosen by the coordinator).
    pub requested_donor: Option<String>,
    /// Take a snapshot even when a delta-only rejoin would do.
    pub force_snapshot: bool,
    /// zstd level of the snapshot stream.
    pub compression: Option<i32>,
    /// No snapshot: the joiner's marker was trusted and the log covered it.
    pub delta_only: bool,
    /// The join start LSN (the cut), or the first LSN replayed for a delta-only rejoin.
    pub l0: u64,
    /// Where it is.
    pub phase: Phase,
    /// Why it was aborted.
    pub reason: Option<String>,
    /// When it was requested / ended, microseconds since the Unix epoch.
    pub created_micros: u64,
    pub ended_micros: u64,
    /// Snapshot content bytes restored, and how long the snapshot took.
    pub snapshot_bytes: u64,
    pub snapshot_micros: u64,
    /// The marker the restored joiner held (where its replay started).
    pub snapshot_lsn: u64,
    /// How many times the snapshot was started (more than 1 after restarts).
    pub snapshot_attempts: u32,
    /// Switch-over pauses, in microseconds, one per server made active.
    pub pauses_micros: Vec<u64>,
}

pub(super) fn key(id: u64) -> String {
    // Zero-padded so that a prefix scan returns joins in id order.
    format!("join/{id:020}")
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

impl JoinRecord {
    pub(super) fn encode(&self) -> Result<Vec<u8>, LogError> {
        bincode::serde::encode_to_vec(self, config())
            .map_err(|e| LogError::InvalidOption(format!("join record does not encode: {e}")))
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Self, String> {
        bincode::serde::decode_from_slice(bytes, config().with_limit::<{ 1 << 20 }>())
            .map(|(r, _)| r)
            .map_err(|e| format!("join record does not decode: {e}"))
    }
}
