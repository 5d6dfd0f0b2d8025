//! The delta log: every client write, in the one global order, durably.
//!
//! The method (`shared/design/method.md`, steps 1b-1e) needs a *difference-information
//! store*: the writes that arrive while a server is being joined, kept in order until the
//! donor and the joiner have both replayed them. mdbd keeps that log always (it is also what
//! brings a backend back after a crash of the daemon) and pins it with cursors during a
//! join.
//!
//! # Parts
//! - [`lsn`]: log sequence numbers, dense from 1.
//! - [`record`]: what a record says (a write transaction or a join marker).
//! - [`codec`]: record bytes (version byte + bincode 2), bounded decoding.
//! - [`frame`]: the on-disk frame (header, CRC32, zstd), batches and split records.
//! - [`storage`]: the [`LogStorage`] trait with its durability contract; sled behind it.
//! - `writer`: group commit on one writer thread.
//! - `reader`: [`LogIter`] and the async [`LogTail`].
//! - `cursor`, `retention`: named cursors, truncation, size limits.
//! - `recovery`: the open-time scan.
//!
//! # Durability
//! An append returns once its records are stored and, under [`Durability::Fsync`] (the
//! default), after a storage sync covered them. Records are assigned LSNs in append order;
//! within one call they are consecutive. Readers see a record only after its append is
//! acknowledged (under `Fsync`: only once it is durable), so nothing replayed to a backend
//! can vanish in a crash.
//!
//! # Recovery
//! Open walks every frame from the retention watermark on, checks each frame's CRC and
//! header, decodes every record, and checks that each frame starts where the previous one
//! ended (the LSN chain). sled applies each group's frames atomically, so a crash leaves
//! whole groups or none: an interrupted append leaves no partial frame, and the log simply
//! ends at the last durable group.
//!
//! A frame that fails its CRC, does not decode, or breaks the chain is **corruption**: it
//! is reported with its LSN ([`RecoveryReport::corruption`], [`LogError::Corrupt`]) and
//! never skipped. Under [`RecoveryMode::AbsoluteConsistency`] (the default) the log then
//! opens read-only in effect: the intact prefix can be read and inspected (`mdbd log
//! verify`, `mdbd log dump`), and every append fails with [`LogError::Refused`] until an
//! operator acts: restores the data directory from a copy, or reopens with
//! [`RecoveryMode::TruncateCorruptTail`] to drop the corrupt frame and all after it (the
//! backends that needed those records must then be re-joined from a snapshot). A write or
//! sync error at run time also makes the log refuse appends, since what reached the disk is
//! then unknown.
//!
//! sled drops everything after a bad checksum in its own files, treating it as a torn
//! write; a log stored in a directory therefore keeps an end marker file (`END`) with an
//! LSN it held durably, and open reports a log that ends before it as corruption
//! ([`Corruption::Lost`]) instead of continuing without the lost records.
//!
//! Frames left below the watermark by a truncation interrupted by a crash are removed.

mod codec;
mod cursor;
mod delta_log;
mod end_marker;
mod error;
pub mod frame;
mod lsn;
mod options;
mod reader;
mod record;
mod recovery;
mod retention;
mod shared;
mod storage;
mod writer;

pub use codec::{decode_record, encode_record, RecordError, RECORD_FORMAT_V1};
pub use delta_log::{DeltaLog, LogStats};
pub use error::{Corruption, LogError};
pub use frame::FrameError;
pub use lsn::{Lsn, LsnRange};
pub use options::{Durability, LogOptions, RecoveryMode};
pub use reader::{LogIter, LogTail};
pub use record::{Control, LoggedRecord, Payload, Record, Sql, Statement, Value, WriteTxn};
pub use recovery::{CorruptionReport, RecoveryReport};
pub use retention::TruncateReport;
pub use storage::{FrameIter, FrameKey, LogStorage, SledStorage, StorageError, StorageStats};
