//! How a log is opened: durability, compression, frame sizes, retention, recovery.

use super::frame::{MAX_PARTS, MAX_RAW_LEN};
use super::LogError;
use std::time::Duration;

/// When an append counts as done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Every append returns only after the storage's durability barrier (`sync`) covered
    /// it: an acknowledged record survives a crash of the process or the machine. Default.
    Fsync,
    /// Appends return once written; a background thread syncs every interval. A crash of
    /// the machine may lose what was acknowledged during the last interval (a crash of the
    /// process alone loses nothing that reached the storage's buffers, but sled buffers in
    /// process, so treat it as "may lose the last interval").
    Interval(Duration),
    /// Never syncs except on close. For tests and benchmarks.
    None,
}

/// What to do when open finds a corrupt frame. Compare RocksDB's `WALRecoveryMode`:
/// mdbd never silently skips a record, so there is no equivalent of
/// `kSkipAnyCorruptedRecords`, and tolerance is something an operator asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Like `kAbsoluteConsistency`: any corrupt or missing frame is reported with its LSN;
    /// the log opens so that the intact prefix can be read and inspected, but refuses
    /// appends. Default.
    #[default]
    AbsoluteConsistency,
    /// Like `kPointInTimeRecovery`, chosen by an operator after looking at the report: the
    /// first corrupt frame and every frame after it are deleted, and the log continues from
    /// the last intact record. Records after the corruption are lost: use only when the
    /// backends that still need them will be re-joined from a snapshot.
    TruncateCorruptTail,
}

/// Options of [`DeltaLog::open`](super::DeltaLog::open).
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// When appends are acknowledged. Default [`Durability::Fsync`].
    pub durability: Durability,
    /// zstd level for frame payloads, or `None` to store them raw. Default `Some(1)`.
    pub compression_level: Option<i32>,
    /// A batch frame is closed once its raw payload reaches this many bytes. Default 256 KiB.
    pub batch_bytes: usize,
    /// A record whose encoding is larger than this is split into parts of this size.
    /// Default 4 MiB.
    pub part_bytes: usize,
    /// Keep at most this many stored bytes of frames that no cursor needs; `None` keeps
    /// everything until [`DeltaLog::truncate_below`](super::DeltaLog::truncate_below).
    /// Frames a cursor still needs are never removed, whatever the size.
    pub retention_bytes: Option<u64>,
    /// What open does about corruption. Default [`RecoveryMode::AbsoluteConsistency`].
    pub recovery: RecoveryMode,
    /// Group commit window, like PostgreSQL's `commit_delay`: when the previous group had
    /// more appends than are waiting now, the writer waits up to this long for the others
    /// (woken by the last sync, they are re-submitting) so one sync covers them all. A lone
    /// appender never waits. Applies under [`Durability::Fsync`] only (without a sync per
    /// group there is nothing to amortise). Zero disables. Default 100 µs.
    pub group_wait: Duration,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            durability: Durability::Fsync,
            compression_level: Some(1),
            batch_bytes: 256 << 10,
            part_bytes: 4 << 20,
            retention_bytes: None,
            recovery: RecoveryMode::AbsoluteConsistency,
            group_wait: Duration::from_micros(100),
        }
    }
}

impl LogOptions {
    /// Largest encoded record these options can store.
    pub fn max_record_bytes(&self) -> u64 {
        (self.part_bytes as u64 * MAX_PARTS as u64).min(u32::MAX as u64)
    }

    pub(crate) fn validate(&self) -> Result<(), LogError> {
        let bad = |m: String| Err(LogError::InvalidOption(m));
        if self.part_bytes < 1024 || self.part_bytes > MAX_RAW_LEN - 4 {
            return bad(format!(
                "part_bytes = {} (must be 1024..={})",
                self.part_bytes,
                MAX_RAW_LEN - 4
            ));
        }
        if self.batch_bytes == 0 || self.batch_bytes > MAX_RAW_LEN {
            return bad(format!(
                "batch_bytes = {} (must be 1..={MAX_RAW_LEN})",
                self.batch_bytes
            ));
        }
        if let Some(level) = self.compression_level {
            if !zstd::compression_level_range().contains(&level) {
                return bad(format!(
                    "compression_level = {level} (zstd accepts {:?})",
                    zstd::compression_level_range()
                ));
            }
        }
        if let Durability::Interval(d) = self.durability {
            if d.is_zero() {
                return bad("durability interval of 0 ms (use fsync)".into());
            }
        }
        Ok(())
    }
}
