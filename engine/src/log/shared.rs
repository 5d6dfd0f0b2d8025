//! State shared by the log handle, its writer thread and its readers.

use super::end_marker::EndMarker;
use super::lsn::Lsn;
use super::options::LogOptions;
use super::storage::LogStorage;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// Counters and the refusal reason; small, guarded by one mutex.
#[derive(Clone, Debug, Default)]
pub(crate) struct State {
    /// First LSN still stored (the retention watermark).
    pub first: Lsn,
    /// Frames stored.
    pub frames: u64,
    /// Bytes of frames as stored (headers included).
    pub stored_bytes: u64,
    /// Bytes of frame payloads before compression.
    pub raw_bytes: u64,
    /// Why appends are refused, if they are (corruption: until an operator repairs it).
    pub refusal: Option<String>,
    /// The last write to the store failed (a full disk, an I/O error): appends fail
    /// until one succeeds again; every later append retries.
    pub write_failure: Option<String>,
}

pub(crate) struct Shared {
    pub storage: Arc<dyn LogStorage>,
    pub options: LogOptions,
    /// One past the last record readers may see (durable under `Fsync`).
    pub end_tx: watch::Sender<Lsn>,
    pub state: Mutex<State>,
    /// Serialises truncations with each other.
    pub truncate_lock: Mutex<()>,
    pub closed: AtomicBool,
    /// The end marker of a log stored in a directory.
    pub marker: Option<EndMarker>,
}

impl Shared {
    pub fn end(&self) -> Lsn {
        *self.end_tx.borrow()
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves only counters behind: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn first(&self) -> Lsn {
        self.state().first
    }

    pub fn refuse(&self, reason: String) {
        tracing::error!(%reason, "delta log now refuses appends");
        let mut s = self.state();
        if s.refusal.is_none() {
            s.refusal = Some(reason);
        }
    }

    /// Records `end` (which must be durable) in the end marker. Never while appends are
    /// refused: the marker then holds the evidence of what was lost.
    pub fn mark_end(&self, end: Lsn) {
        let Some(marker) = &self.marker else { return };
        if self.state().refusal.is_some() {
            return;
        }
        if let Err(e) = marker.write(end) {
            tracing::warn!(error = %e, "could not update the delta log end marker");
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
        // Wake tails so they notice.
        self.end_tx.send_modify(|_| {});
    }
}
