//! Where frames and metadata live: a small trait, so the log can later sit on a replicated
//! store for a highly available daemon, and its embedded default on sled.
//!
//! Like raft-engine's `PipeLog`, each method states what is durable when it returns. The
//! log builds its guarantees from exactly these promises: it acknowledges an append only
//! after [`LogStorage::sync`] returned for a write made before it.

use super::lsn::Lsn;
use bytes::Bytes;
use std::path::Path;
use thiserror::Error;

/// Key of a stored frame: the base LSN, then the part index (0 for batch frames), both
/// big-endian so that key order is log order and a split record's parts stay adjacent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FrameKey {
    /// Base LSN of the frame.
    pub lsn: Lsn,
    /// Part index; 0 for a batch frame or a record's first part.
    pub part: u32,
}

impl FrameKey {
    /// Key of a batch frame or of a record's first part.
    pub const fn at(lsn: Lsn) -> Self {
        FrameKey { lsn, part: 0 }
    }

    /// The 12-byte encoding.
    pub fn to_bytes(self) -> [u8; 12] {
        let mut k = [0u8; 12];
        k[..8].copy_from_slice(&self.lsn.get().to_be_bytes());
        k[8..].copy_from_slice(&self.part.to_be_bytes());
        k
    }

    /// Parses a stored key; `None` when it is not 12 bytes.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != 12 {
            return None;
        }
        let mut lsn = [0u8; 8];
        lsn.copy_from_slice(&b[..8]);
        let mut part = [0u8; 4];
        part.copy_from_slice(&b[8..]);
        Some(FrameKey {
            lsn: Lsn(u64::from_be_bytes(lsn)),
            part: u32::from_be_bytes(part),
        })
    }
}

/// A storage failure. The log treats any of these on the write path as fatal for the
/// process's log handle (it stops acknowledging) because it cannot know what reached disk.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored key {0:02x?} is not a frame key")]
    BadKey(Vec<u8>),
}

/// Frames in key order, as read from storage.
pub type FrameIter<'a> =
    Box<dyn Iterator<Item = Result<(FrameKey, Bytes), StorageError>> + Send + 'a>;

/// Storage of frames (key -> frame bytes) and of small metadata values.
pub trait LogStorage: Send + Sync + 'static {
    /// Inserts all `frames` atomically: after a crash either all of them or none are
    /// present. Visible to readers when it returns; **not durable** until a later
    /// [`sync`](Self::sync) returns.
    fn put_frames(&self, frames: &[(FrameKey, Vec<u8>)]) -> Result<(), StorageError>;

    /// Durability barrier: when it returns `Ok`, every `put_frames`, `remove_frames` and
    /// `put_meta`/`remove_meta` that returned before the call survives a crash of the
    /// process or of the machine.
    fn sync(&self) -> Result<(), StorageError>;

    /// The frame stored at `key`, if any. Reads see every write that returned.
    fn get_frame(&self, key: FrameKey) -> Result<Option<Bytes>, StorageError>;

    /// The frame with the greatest key `<= key`, if any.
    fn frame_at_or_before(&self, key: FrameKey) -> Result<Option<(FrameKey, Bytes)>, StorageError>;

    /// Frames with key `>= from`, in key order.
    fn frames_from(&self, from: FrameKey) -> FrameIter<'_>;

    /// Removes the frames at `keys` atomically. Not durable until `sync`.
    fn remove_frames(&self, keys: &[FrameKey]) -> Result<(), StorageError>;

    /// A metadata value.
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Sets a metadata value. Not durable until `sync`.
    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StorageError>;

    /// Removes a metadata value. Not durable until `sync`.
    fn remove_meta(&self, key: &str) -> Result<(), StorageError>;

    /// Metadata entries whose key starts with `prefix`, in key order.
    fn scan_meta(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError>;
}

/// How long opening waits for another handle to release the directory's lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The embedded default: a sled database with one tree of frames and one of metadata.
pub struct SledStorage {
    db: sled::Db,
    frames: sled::Tree,
    meta: sled::Tree,
}

impl SledStorage {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        // Background flushing is off: the log decides when to sync (its durability mode).
        let config = sled::Config::new()
            .path(dir)
            .flush_every_ms(None)
            .mode(sled::Mode::HighThroughput);
        // sled finishes buffer writes on its own threads after a handle is dropped and
        // holds the directory's lock until then; a reopen right after a close (or an
        // operator command just as the daemon exits) waits for it briefly.
        let started = std::time::Instant::now();
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && started.elapsed() < LOCK_WAIT =>
                {
                    if started.elapsed() < std::time::Duration::from_millis(20) {
                        tracing::info!(dir = %dir.display(), "waiting for the delta log's lock");
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other?,
            }
        };
        let frames = db.open_tree("frames")?;
        let meta = db.open_tree("meta")?;
        Ok(SledStorage { db, frames, meta })
    }
}

fn key_of(k: &[u8]) -> Result<FrameKey, StorageError> {
    FrameKey::from_bytes(k).ok_or_else(|| StorageError::BadKey(k.to_vec()))
}

impl LogStorage for SledStorage {
    fn put_frames(&self, frames: &[(FrameKey, Vec<u8>)]) -> Result<(), StorageError> {
        if let [(key, frame)] = frames {
            self.frames.insert(key.to_bytes(), frame.as_slice())?;
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for (key, frame) in frames {
            batch.insert(&key.to_bytes(), frame.as_slice());
        }
        self.frames.apply_batch(batch)?;
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.db.flush()?;
        Ok(())
    }

    fn get_frame(&self, key: FrameKey) -> Result<Option<Bytes>, StorageError> {
        Ok(self
            .frames
            .get(key.to_bytes())?
            .map(|v| Bytes::copy_from_slice(&v)))
    }

    fn frame_at_or_before(&self, key: FrameKey) -> Result<Option<(FrameKey, Bytes)>, StorageError> {
        match self.frames.range(..=key.to_bytes()).next_back() {
            None => Ok(None),
            Some(entry) => {
                let (k, v) = entry?;
                Ok(Some((key_of(&k)?, Bytes::copy_from_slice(&v))))
            }
        }
    }

    fn frames_from(&self, from: FrameKey) -> FrameIter<'_> {
        Box::new(self.frames.range(from.to_bytes()..).map(|entry| {
            let (k, v) = entry?;
            Ok((key_of(&k)?, Bytes::copy_from_slice(&v)))
        }))
    }

    fn remove_frames(&self, keys: &[FrameKey]) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for key in keys {
            batch.remove(&key.to_bytes());
        }
        self.frames.apply_batch(batch)?;
        Ok(())
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.meta.get(key.as_bytes())?.map(|v| v.to_vec()))
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.meta.insert(key.as_bytes(), value)?;
        Ok(())
    }

    fn remove_meta(&self, key: &str) -> Result<(), StorageError> {
        self.meta.remove(key.as_bytes())?;
        Ok(())
    }

    fn scan_meta(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.meta
            .scan_prefix(prefix.as_bytes())
            .map(|entry| {
                let (k, v) = entry?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
            })
            .collect()
    }
}
