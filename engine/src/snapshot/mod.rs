//! The streaming snapshot codec, shared by every backend: framing, checksums, compression.
//!
//! A join streams the donor's snapshot into the joiner. Each backend supplies the raw
//! content (a `pg_dump` archive, a `mariadb-dump` script, a SQLite database file); this
//! module wraps it in a stream that is checked end to end, so a restore never commits data
//! that was cut, reordered or damaged on the way:
//!
//! ```text
//! header  : "MDSS" version=1 kind=1 len:u32 bincode(SnapshotHeader) crc32
//! chunk*  : kind=2 seq:u64 raw_len:u32 stored_len:u32 codec:u8 crc32 payload
//! trailer : kind=3 chunks:u64 raw_bytes:u64 sha256(raw stream):[u8;32] crc32
//! ```
//!
//! Integers are big-endian; each CRC32 covers its frame's fields and payload. Chunks are
//! numbered from 0 and must arrive in order; the trailer's count, size and SHA-256 must
//! match what was received, and nothing may follow it. Memory stays bounded by one chunk
//! (1 MiB by default, 8 MiB at most) on each side, whatever the snapshot size.
//!
//! Use [`SnapshotEncoder`] / [`SnapshotDecoder`] with tokio-util's `FramedWrite` /
//! `FramedRead`, or the helpers [`write_snapshot`] and [`SnapshotReader`].

mod codec;
mod header;
mod stream;

pub use codec::{
    SnapshotDecoder, SnapshotEncoder, SnapshotError, SnapshotItem, SnapshotPiece, SnapshotSummary,
    MAX_CHUNK,
};
pub use header::{BackendKind, SnapshotHeader};
pub use stream::{write_snapshot, SnapshotReader, DEFAULT_CHUNK};
