//! A store that stops accepting writes (a full disk, an I/O error) fails the appends made
//! meanwhile with a clear reason, acknowledges none of them, and accepts appends again as
//! soon as it takes writes: a full disk is not corruption. Injected with an in-process
//! failpoint on the storage, not a real disk.

mod common;

use bytes::Bytes;
use common::sample;
use mdbd_engine::log::{
    DeltaLog, Durability, FrameIter, FrameKey, LogError, LogOptions, LogStorage, Lsn, SledStorage,
    StorageError,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Sled, with writes that fail while `full` is set.
struct FullDisk {
    inner: SledStorage,
    full: Arc<AtomicBool>,
}

fn no_space() -> StorageError {
    // ENOSPC: "No space left on device (os error 28)".
    StorageError::Sled(sled::Error::Io(std::io::Error::from_raw_os_error(28)))
}

impl LogStorage for FullDisk {
    fn put_frames(&self, frames: &[(FrameKey, Vec<u8>)]) -> Result<(), StorageError> {
        if self.full.load(Ordering::Relaxed) {
            return Err(no_space());
        }
        self.inner.put_frames(frames)
    }
    fn sync(&self) -> Result<(), StorageError> {
        if self.full.load(Ordering::Relaxed) {
            return Err(no_space());
        }
        self.inner.sync()
    }
    fn get_frame(&self, key: FrameKey) -> Result<Option<Bytes>, StorageError> {
        self.inner.get_frame(key)
    }
    fn frame_at_or_before(&self, key: FrameKey) -> Result<Option<(FrameKey, Bytes)>, StorageError> {
        self.inner.frame_at_or_before(key)
    }
    fn frames_from(&self, from: FrameKey) -> FrameIter<'_> {
        self.inner.frames_from(from)
    }
    fn remove_frames(&self, keys: &[FrameKey]) -> Result<(), StorageError> {
        self.inner.remove_frames(keys)
    }
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get_meta(key)
    }
    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.inner.put_meta(key, value)
    }
    fn remove_meta(&self, key: &str) -> Result<(), StorageError> {
        self.inner.remove_meta(key)
    }
    fn scan_meta(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.inner.scan_meta(prefix)
    }
}

#[test]
fn appends_fail_while_the_disk_is_full_and_resume_when_it_has_room() {
    let dir = tempfile::tempdir().unwrap();
    let full = Arc::new(AtomicBool::new(false));
    let storage = Arc::new(FullDisk {
        inner: SledStorage::open(dir.path()).unwrap(),
        full: full.clone(),
    });
    let options = LogOptions {
        durability: Durability::Fsync,
        ..LogOptions::default()
    };
    let log = DeltaLog::open_with_storage(storage, options).unwrap();
    for s in 0..5 {
        log.append_blocking(&[sample(1, s)]).unwrap();
    }
    full.store(true, Ordering::Relaxed);
    for s in 5..8 {
        match log.append_blocking(&[sample(1, s)]) {
            Err(LogError::WriteFailed { reason, disk_full }) => {
                assert!(disk_full, "{reason}");
                assert!(reason.contains("No space left"), "{reason}");
                assert!(reason.contains("resume"), "{reason}");
            }
            other => panic!("append on a full disk: {other:?}"),
        }
    }
    assert!(
        log.stats().refusal.is_some(),
        "the status says appends fail"
    );
    assert_eq!(log.end(), Lsn(6), "nothing was acknowledged meanwhile");
    full.store(false, Ordering::Relaxed);
    let range = log.append_blocking(&[sample(1, 100)]).unwrap();
    assert_eq!(range.start, Lsn(6), "the next append takes the next LSN");
    assert!(log.stats().refusal.is_none());
    let records: Vec<_> = log
        .read_from(Lsn(1))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(
        records.len(),
        6,
        "the five before and the one after, nothing else"
    );
    assert_eq!(records[5].record, sample(1, 100));
}
