//! Errors of the delta log layer.

use super::codec::RecordError;
use super::frame::FrameError;
use super::lsn::Lsn;
use super::storage::StorageError;
use thiserror::Error;

/// What is wrong with a stored frame.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Corruption {
    /// The frame bytes are malformed or fail their CRC.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The frame is intact but a record in it does not decode.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The chain of frames has a hole or an overlap.
    #[error("LSN chain broken: expected the next frame at LSN {expected}, found one at {found}")]
    Chain { expected: Lsn, found: Lsn },
    /// No frame holds an LSN that the log should hold.
    #[error("no stored frame holds LSN {0}")]
    Missing(Lsn),
    /// The parts of a split record are missing, out of order or inconsistent.
    #[error("split record: {0}")]
    Parts(String),
    /// The store returned fewer records than it is known to have held durably (see
    /// `end_marker`): it dropped records silently, e.g. after damage to its own files.
    #[error("the log ends before LSN {end}, but LSNs up to {marked} were durable: the store lost records")]
    Lost { end: Lsn, marked: Lsn },
    /// The storage key does not match the frame stored under it.
    #[error(
        "frame stored under key (LSN {key_lsn}, part {key_part}) says (LSN {lsn}, part {part})"
    )]
    KeyMismatch {
        key_lsn: Lsn,
        key_part: u32,
        lsn: Lsn,
        part: u32,
    },
}

/// Errors of the delta log.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LogError {
    /// The storage underneath failed.
    #[error("log storage: {0}")]
    Storage(#[from] StorageError),
    /// A stored frame is corrupt. Reported with the frame's LSN; never skipped.
    #[error("corrupt log frame at LSN {lsn} (part {part}): {cause}")]
    Corrupt {
        lsn: Lsn,
        part: u32,
        #[source]
        cause: Corruption,
    },
    /// The requested LSN was truncated away.
    #[error("LSN {requested} is no longer in the log: it starts at LSN {first}")]
    Truncated { requested: Lsn, first: Lsn },
    /// The requested LSN is past the end of the log.
    #[error("LSN {requested} is past the end of the log (next LSN is {end})")]
    BeyondEnd { requested: Lsn, end: Lsn },
    /// The log refuses appends: corruption was found at open, or a write or sync failed so
    /// that what reached disk is unknown. An operator must act (see the module docs).
    #[error("the log refuses appends: {0}")]
    Refused(String),
    /// Writing or syncing the store failed (a full disk, an I/O error): nothing of the
    /// append was acknowledged, and appends resume once the store takes writes again.
    #[error("the log cannot write: {reason}")]
    WriteFailed {
        reason: String,
        /// The file system is out of space (or quota): PostgreSQL's 53100, MySQL's 1021.
        disk_full: bool,
    },
    /// A record could not be encoded, or is larger than a record may be.
    #[error("record rejected: {0}")]
    Record(#[from] RecordError),
    /// A record's encoding exceeds the largest record the format holds.
    #[error("record of {size} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge { size: u64, max: u64 },
    /// A cursor name the log does not accept.
    #[error("invalid cursor name {0:?}: use 1-128 characters from [A-Za-z0-9_.-]")]
    InvalidCursorName(String),
    /// The options are inconsistent.
    #[error("invalid log option: {0}")]
    InvalidOption(String),
    /// The log was closed.
    #[error("the delta log is closed")]
    Closed,
}

impl LogError {
    pub(crate) fn corrupt(lsn: Lsn, part: u32, cause: impl Into<Corruption>) -> Self {
        LogError::Corrupt {
            lsn,
            part,
            cause: cause.into(),
        }
    }
}
