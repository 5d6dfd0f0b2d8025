//! Where frames and metadata live: a small trait, so the log can sit on a replicated store
//! for a highly available daemon (the `mdbd-jetstream` crate: NATS JetStream), and its
//! embedded default on sled.
//!
//! Like raft-engine's `PipeLog`, each method states what is durable when it returns. The
//! log builds its guarantees from exactly these promises: it acknowledges an append only
//! after [`LogStorage::sync`] returned for a write made before it.

use super::lsn::Lsn;
use bytes::Bytes;
use std::path::Path;
use std::sync::Arc;
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
    /// The store is being reopened after a failed write, or could not be reopened.
    #[error("the store is unavailable: {reason}")]
    Unavailable { reason: String, disk_full: bool },
    /// A store reached over the network (NATS JetStream) refused a request, did not
    /// answer within its timeout, or answered with something that is not the log's.
    #[error("{store}: {reason}")]
    Remote { store: &'static str, reason: String },
    /// Another writer took the store over (a second daemon opened the same replicated log,
    /// or this one was replaced as leader): this handle writes nothing more.
    #[error("fenced off: {reason}")]
    Fenced { reason: String },
}

impl StorageError {
    /// True when the file system is out of space or quota (ENOSPC, EDQUOT).
    pub fn is_disk_full(&self) -> bool {
        match self {
            // sled's clones of an error keep its kind but not its OS code.
            StorageError::Sled(sled::Error::Io(e)) => {
                matches!(
                    e.kind(),
                    std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                ) || matches!(e.raw_os_error(), Some(28 | 122))
            }
            StorageError::Unavailable { disk_full, .. } => *disk_full,
            _ => false,
        }
    }
}

/// Frames in key order, as read from storage.
pub type FrameIter<'a> =
    Box<dyn Iterator<Item = Result<(FrameKey, Bytes), StorageError>> + Send + 'a>;

/// What a store reports of its own health, beside the log's sizes (all zero for sled,
/// which has nothing to retry).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Requests to a replicated store that failed and were tried again (a node failing
    /// over), since open.
    pub retried_requests: u64,
    /// Requests that still failed after their retries (the store unreachable).
    pub failed_requests: u64,
    /// Another writer took the store over: this handle writes nothing more.
    pub fenced: bool,
}

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

    /// Makes the store take writes again after a write failed (a full disk that has room
    /// again), where the store needs it: sled refuses every operation after one I/O
    /// error until it is opened again. Everything a `sync` made durable is there
    /// afterwards; what was put since the last `sync` may be gone. Fails, changing
    /// nothing, while the store cannot be reopened yet (a reader still holds it).
    fn recover(&self) -> Result<(), StorageError> {
        Ok(())
    }

    /// The store's own counters (see [`StorageStats`]).
    fn stats(&self) -> StorageStats {
        StorageStats::default()
    }
}

/// How long opening waits for another handle to release the directory's lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The embedded default: a sled database with one tree of frames and one of metadata.
pub struct SledStorage {
    dir: std::path::PathBuf,
    /// Swapped by [`LogStorage::recover`]; every operation works on a clone of the `Arc`,
    /// so a reopen knows when nobody else holds the old handles.
    /// `Err`: the last reopen failed, with what it said.
    handles: std::sync::RwLock<Result<Arc<SledHandles>, (String, bool)>>,
}

struct SledHandles {
    db: sled::Db,
    frames: sled::Tree,
    meta: sled::Tree,
}

impl SledStorage {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        let handles = Self::open_handles(dir)?;
        Ok(SledStorage {
            dir: dir.to_path_buf(),
            handles: std::sync::RwLock::new(Ok(Arc::new(handles))),
        })
    }

    fn h(&self) -> Result<Arc<SledHandles>, StorageError> {
        self.handles
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .map_err(|(why, disk_full)| StorageError::Unavailable {
                reason: format!("reopening it failed: {why}"),
                disk_full,
            })
    }

    fn open_handles(dir: &Path) -> Result<SledHandles, StorageError> {
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
        Ok(SledHandles { db, frames, meta })
    }
}

fn key_of(k: &[u8]) -> Result<FrameKey, StorageError> {
    FrameKey::from_bytes(k).ok_or_else(|| StorageError::BadKey(k.to_vec()))
}

impl LogStorage for SledStorage {
    fn put_frames(&self, frames: &[(FrameKey, Vec<u8>)]) -> Result<(), StorageError> {
        let h = self.h()?;
        if let [(key, frame)] = frames {
            h.frames.insert(key.to_bytes(), frame.as_slice())?;
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for (key, frame) in frames {
            batch.insert(&key.to_bytes(), frame.as_slice());
        }
        h.frames.apply_batch(batch)?;
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.h()?.db.flush()?;
        Ok(())
    }

    fn get_frame(&self, key: FrameKey) -> Result<Option<Bytes>, StorageError> {
        Ok(self
            .h()?
            .frames
            .get(key.to_bytes())?
            .map(|v| Bytes::copy_from_slice(&v)))
    }

    fn frame_at_or_before(&self, key: FrameKey) -> Result<Option<(FrameKey, Bytes)>, StorageError> {
        match self.h()?.frames.range(..=key.to_bytes()).next_back() {
            None => Ok(None),
            Some(entry) => {
                let (k, v) = entry?;
                Ok(Some((key_of(&k)?, Bytes::copy_from_slice(&v))))
            }
        }
    }

    fn frames_from(&self, from: FrameKey) -> FrameIter<'_> {
        let h = match self.h() {
            Ok(h) => h,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        // The iterator owns its tree handle (and so the `Arc` while it lives).
        let range = h.frames.range(from.to_bytes()..);
        Box::new(range.map(move |entry| {
            let _holds = &h;
            let (k, v) = entry?;
            Ok((key_of(&k)?, Bytes::copy_from_slice(&v)))
        }))
    }

    fn remove_frames(&self, keys: &[FrameKey]) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for key in keys {
            batch.remove(&key.to_bytes());
        }
        self.h()?.frames.apply_batch(batch)?;
        Ok(())
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.h()?.meta.get(key.as_bytes())?.map(|v| v.to_vec()))
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.h()?.meta.insert(key.as_bytes(), value)?;
        Ok(())
    }

    fn remove_meta(&self, key: &str) -> Result<(), StorageError> {
        self.h()?.meta.remove(key.as_bytes())?;
        Ok(())
    }

    fn scan_meta(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.h()?
            .meta
            .scan_prefix(prefix.as_bytes())
            .map(|entry| {
                let (k, v) = entry?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
            })
            .collect()
    }

    fn recover(&self) -> Result<(), StorageError> {
        let mut slot = self.handles.write().unwrap_or_else(|p| p.into_inner());
        if let Ok(current) = slot.as_ref() {
            if Arc::strong_count(current) > 1 {
                return Err(StorageError::Unavailable {
                    reason: "a reader still holds it; reopening later".into(),
                    disk_full: false,
                });
            }
        }
        // sled releases its lock only when the last handle is gone.
        *slot = Err(("it is being reopened".into(), false));
        match Self::open_handles(&self.dir) {
            Ok(reopened) => *slot = Ok(Arc::new(reopened)),
            Err(e) => {
                *slot = Err((e.to_string(), e.is_disk_full()));
                return Err(e);
            }
        }
        tracing::info!(dir = %self.dir.display(), "delta log store reopened after a failed write");
        Ok(())
    }
}
