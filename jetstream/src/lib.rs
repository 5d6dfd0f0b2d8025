//! The delta log on NATS JetStream: a [`LogStorage`](mdbd_engine::log::LogStorage) for
//! a daemon whose log must outlive its machine (`[log] store = "jetstream"`). sled stays
//! the embedded default.
//!
//! # Layout
//!
//! - **Frames**: one message each, on the one subject `mdbd.<name>.log` of stream
//!   `MDBD_LOG_<name>` (file storage, `replicas` copies). Headers say what a message is
//!   (`Mdbd-Kind`: `frame`, `commit` or `remove`) and which frame (`Mdbd-Key`: LSN and
//!   part in hex). The frame bytes are the log's own, CRC and all: this crate never looks
//!   inside them.
//! - **Atomic puts**: several frames put together (a split record's parts) each carry the
//!   put's number (`Mdbd-Put`), and a `commit` message follows them; they count only with
//!   it (JetStream 2.9 has no atomic batch). A removal of several frames that is not a
//!   prefix is one `remove` message listing them, then their deletion; a prefix (the
//!   usual truncation) is one purge.
//! - **Metadata** (cursors, the retention watermark, the daemon's member states and join
//!   records): the key-value bucket `mdbd_meta_<name>`, one key each.
//! - **One writer**: every write names the sequence its stream must be at, so a store
//!   opened later on the same log (a second daemon configured on it, a new leader) fences
//!   the earlier one off with its claim: that one's next write fails with
//!   `StorageError::Fenced` and it writes nothing more (`fence.rs`).
//! - **Reading**: at open the stream is read once into an in-memory index, key -> message
//!   sequence (`index.rs` says which messages count); frames are then fetched by sequence.
//!
//! # What the durability contract means here
//!
//! [`LogStorage::sync`](mdbd_engine::log::LogStorage::sync) is immediate: every put,
//! removal and metadata write returns only after JetStream acknowledged it, which with
//! `replicas = 3` means a majority of the NATS cluster stored it, so an acknowledged
//! append survives the loss of mdbd's machine and of any one NATS node. With
//! `replicas = 1` it survives a crash of mdbd or of the NATS server process; a power loss
//! of the NATS machine can lose what its server had not yet written to disk (JetStream
//! syncs its files on its own schedule: `sync_interval`), as with any R1 stream.
//!
//! # Parts
//!
//! - `store.rs`: [`JetStreamStorage`] and its [`JetStreamOptions`].
//! - `open.rs`: connecting, creating the stream and the bucket, reading the stream.
//! - `index.rs`: the in-memory index and the rules of which message counts.
//! - `names.rs`: stream, subject and bucket names; the pure codecs of headers, metadata
//!   keys and removal lists (fuzzed).
//! - `fence.rs`: writes conditional on the stream's last sequence, their retries.
//! - `health.rs`: [`replicas_current`], whether the log can lose a NATS node.
//! - `bridge.rs`: the synchronous trait over the asynchronous client.

#![deny(unsafe_code)]

mod bridge;
mod fence;
mod health;
mod index;
pub mod names;
mod open;
mod store;

pub use health::replicas_current;
pub use store::{JetStreamOptions, JetStreamStorage};
