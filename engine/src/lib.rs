//! # mdbd-engine
//!
//! The storage-agnostic core of mdbd, the daemon that keeps several identical SQL
//! databases in lock-step behind one endpoint and joins servers online (see
//! `shared/design/method.md` for the method and its invariants). This crate depends on no
//! database driver: the `mdbd-backends` crate implements its traits.
//!
//! Parts:
//! - [`log`]: the durable delta log: record model, frame codec, sled store, group commit,
//!   readers, cursors, retention, recovery.
//! - [`snapshot`]: the streaming snapshot codec shared by every backend (framing,
//!   CRC32 per frame, zstd, SHA-256 of the whole content).
//! - [`backend`]: the `Backend` and `Session` traits every engine implements, the
//!   uniform statement outcome, the applied-LSN marker contract, per-table checksums.
//! - [`cluster`]: members and their states, the write order (`cluster::order`: the
//!   serial turn and the quiesce; the lock manager and footprints `keyed` mode is to be
//!   built on), log-before-commit, outcome comparison and detach, catch-up from the log
//!   at start, the join coordinator (`cluster::join`).
//! - [`fuzzing`]: the entry points the fuzz targets and their stable corpus test share.

#![deny(unsafe_code)]

pub mod backend;
pub mod cluster;
pub mod fuzzing;
pub mod log;
pub mod snapshot;

pub use log::{DeltaLog, Durability, LogError, LogOptions, Lsn, LsnRange, Record};
