//! The log handle: open (with recovery), append, read, cursors, truncation, close.

use super::cursor;
use super::end_marker::EndMarker;
use super::error::Corruption;
use super::lsn::{Lsn, LsnRange};
use super::options::{Durability, LogOptions, RecoveryMode};
use super::reader::{LogIter, LogTail};
use super::record::Record;
use super::recovery::{self, CorruptionReport, RecoveryReport};
use super::retention::{self, TruncateReport, FIRST_LSN_KEY};
use super::shared::{Shared, State};
use super::storage::{LogStorage, SledStorage, StorageStats};
use super::writer::{self, AppendRequest};
use super::LogError;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;

/// Prefix of metadata keys set through [`DeltaLog::set_meta`].
const APP_PREFIX: &str = "app/";

/// Sizes and positions of a log, for status pages and `mdbd log verify`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogStats {
    /// First LSN stored.
    pub first: Lsn,
    /// Next LSN to be assigned; readers see everything below it.
    pub end: Lsn,
    /// Frames stored.
    pub frames: u64,
    /// Bytes stored (frame headers and compressed payloads).
    pub stored_bytes: u64,
    /// Payload bytes before compression.
    pub raw_bytes: u64,
    /// Why appends are refused, if they are.
    pub refusal: Option<String>,
    /// The store's own counters (retries and failures of a replicated store).
    pub storage: StorageStats,
}

/// The durable delta log. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct DeltaLog {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    sender: Option<mpsc::Sender<AppendRequest>>,
    writer: Option<JoinHandle<()>>,
    flusher: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    report: RecoveryReport,
}

impl DeltaLog {
    /// Opens (creating if needed) the log stored with sled in `dir`, verifying every frame
    /// (see the [module docs](super) for what recovery does).
    pub fn open(dir: &Path, options: LogOptions) -> Result<Self, LogError> {
        let storage = SledStorage::open(dir)?;
        Self::open_inner(Arc::new(storage), options, Some(EndMarker::new(dir)))
    }

    /// Opens the log on any storage. (Without a directory there is no end marker: the
    /// storage itself must never drop durable data silently.)
    pub fn open_with_storage(
        storage: Arc<dyn LogStorage>,
        options: LogOptions,
    ) -> Result<Self, LogError> {
        Self::open_inner(storage, options, None)
    }

    fn open_inner(
        storage: Arc<dyn LogStorage>,
        options: LogOptions,
        marker: Option<EndMarker>,
    ) -> Result<Self, LogError> {
        options.validate()?;
        let watermark = match storage.get_meta(FIRST_LSN_KEY)? {
            Some(v) => Lsn(u64::from_be_bytes(v.as_slice().try_into().map_err(
                |_| {
                    LogError::InvalidOption(format!("stored watermark is {} bytes, not 8", v.len()))
                },
            )?)),
            None => Lsn::FIRST,
        };
        let mut report = recovery::scan(&*storage, watermark)?;
        if !report.stale.is_empty() {
            tracing::info!(
                frames = report.stale.len(),
                "removing frames left below the watermark by an interrupted truncation"
            );
            storage.remove_frames(&report.stale)?;
            storage.sync()?;
        }
        if let Some(marked) = marker.as_ref().and_then(EndMarker::read) {
            if report.corruption.is_none() && report.end < marked {
                let reason = Corruption::Lost {
                    end: report.end,
                    marked,
                }
                .to_string();
                report.corruption = Some(CorruptionReport {
                    lsn: report.end,
                    part: 0,
                    reason,
                });
            }
        }
        let mut refusal = None;
        if let Some(c) = &report.corruption {
            match options.recovery {
                RecoveryMode::AbsoluteConsistency => {
                    tracing::error!(lsn = %c.lsn, part = c.part, reason = %c.reason, "corrupt delta log frame; appends refused");
                    refusal = Some(format!(
                        "corrupt frame at LSN {} (part {}): {}; the intact log ends before LSN {}",
                        c.lsn, c.part, c.reason, report.end
                    ));
                }
                RecoveryMode::TruncateCorruptTail => {
                    tracing::warn!(lsn = %c.lsn, frames = report.tail.len(), "deleting the corrupt tail of the delta log as requested");
                    storage.remove_frames(&report.tail)?;
                    storage.sync()?;
                    if let Some(marker) = &marker {
                        marker.write(report.end).map_err(|e| {
                            LogError::InvalidOption(format!("cannot write the end marker: {e}"))
                        })?;
                    }
                }
            }
        }
        let state = State {
            first: report.first,
            frames: report.frames,
            stored_bytes: report.stored_bytes,
            raw_bytes: report.raw_bytes,
            refusal,
            write_failure: None,
        };
        let (end_tx, _) = watch::channel(report.end);
        let shared = Arc::new(Shared {
            storage,
            options: options.clone(),
            end_tx,
            state: Mutex::new(state),
            truncate_lock: Mutex::new(()),
            closed: AtomicBool::new(false),
            marker,
        });
        let (sender, requests) = mpsc::channel();
        let writer_shared = shared.clone();
        let writer = std::thread::Builder::new()
            .name("mdbd-log-writer".into())
            .spawn(move || writer::run(writer_shared, requests))
            .map_err(|e| LogError::InvalidOption(format!("cannot start the writer thread: {e}")))?;
        let flusher = match options.durability {
            Durability::Interval(every) => Some(spawn_background(shared.clone(), every, true)?),
            Durability::Fsync if shared.marker.is_some() => {
                Some(spawn_background(shared.clone(), MARKER_EVERY, false)?)
            }
            _ => None,
        };
        report.stale.clear();
        report.tail.clear();
        Ok(DeltaLog {
            inner: Arc::new(Inner {
                shared,
                sender: Some(sender),
                writer: Some(writer),
                flusher,
                report,
            }),
        })
    }

    /// What open found: sizes, and the corrupt frame if there was one.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.report
    }

    fn send(
        &self,
        records: &[Record],
    ) -> Result<Option<tokio::sync::oneshot::Receiver<Result<LsnRange, LogError>>>, LogError> {
        if records.is_empty() {
            return Ok(None);
        }
        let max = self.inner.shared.options.max_record_bytes();
        let (request, rx) = AppendRequest::encode(records, max)?;
        let sender = self.inner.sender.as_ref().ok_or(LogError::Closed)?;
        sender.send(request).map_err(|_| LogError::Closed)?;
        Ok(Some(rx))
    }

    fn empty_range(&self) -> LsnRange {
        let end = self.end();
        LsnRange { start: end, end }
    }

    /// Appends `records` in order and returns their LSNs. Returns only once they are
    /// durable under the configured [`Durability`]. Records are encoded on the calling
    /// task; concurrent appends are group-committed.
    pub async fn append(&self, records: &[Record]) -> Result<LsnRange, LogError> {
        match self.send(records)? {
            None => Ok(self.empty_range()),
            Some(rx) => rx.await.map_err(|_| LogError::Closed)?,
        }
    }

    /// [`append`](Self::append) for threads outside an async runtime.
    pub fn append_blocking(&self, records: &[Record]) -> Result<LsnRange, LogError> {
        match self.send(records)? {
            None => Ok(self.empty_range()),
            Some(rx) => rx.blocking_recv().map_err(|_| LogError::Closed)?,
        }
    }

    /// Next LSN to be assigned; every record below it can be read.
    pub fn end(&self) -> Lsn {
        self.inner.shared.end()
    }

    /// First LSN still stored.
    pub fn first(&self) -> Lsn {
        self.inner.shared.first()
    }

    /// Records from `from` up to the current end.
    pub fn read_from(&self, from: Lsn) -> Result<LogIter, LogError> {
        LogIter::new(self.inner.shared.clone(), from)
    }

    /// Records from `from` on, waiting at the end for new ones.
    pub fn tail_from(&self, from: Lsn) -> Result<LogTail, LogError> {
        LogTail::new(self.inner.shared.clone(), from)
    }

    /// Sizes and positions.
    pub fn stats(&self) -> LogStats {
        let s = self.inner.shared.state().clone();
        LogStats {
            first: s.first,
            end: self.end(),
            frames: s.frames,
            stored_bytes: s.stored_bytes,
            raw_bytes: s.raw_bytes,
            refusal: s.refusal.or(s.write_failure),
            storage: self.inner.shared.storage.stats(),
        }
    }

    /// Sets cursor `name` to `lsn` (durably: synced before returning).
    pub fn set_cursor(&self, name: &str, lsn: Lsn) -> Result<(), LogError> {
        let storage = &self.inner.shared.storage;
        storage.put_meta(&cursor::key(name)?, &lsn.get().to_be_bytes())?;
        storage.sync()?;
        Ok(())
    }

    /// The LSN of cursor `name`, if it exists.
    pub fn cursor(&self, name: &str) -> Result<Option<Lsn>, LogError> {
        cursor::get(&*self.inner.shared.storage, name)
    }

    /// All cursors by name.
    pub fn cursors(&self) -> Result<BTreeMap<String, Lsn>, LogError> {
        cursor::all(&*self.inner.shared.storage)
    }

    /// Removes cursor `name` (durably).
    pub fn remove_cursor(&self, name: &str) -> Result<(), LogError> {
        let storage = &self.inner.shared.storage;
        storage.remove_meta(&cursor::key(name)?)?;
        storage.sync()?;
        Ok(())
    }

    /// Stores `value` under `key` in the log's metadata, durably (synced before
    /// returning). For state that must survive a restart with the log: cluster membership,
    /// join progress. Keys are namespaced apart from the log's own entries.
    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), LogError> {
        let storage = &self.inner.shared.storage;
        storage.put_meta(&format!("{APP_PREFIX}{key}"), value)?;
        storage.sync()?;
        Ok(())
    }

    /// A value stored with [`set_meta`](Self::set_meta).
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, LogError> {
        Ok(self
            .inner
            .shared
            .storage
            .get_meta(&format!("{APP_PREFIX}{key}"))?)
    }

    /// Removes a value stored with [`set_meta`](Self::set_meta), durably.
    pub fn remove_meta(&self, key: &str) -> Result<(), LogError> {
        let storage = &self.inner.shared.storage;
        storage.remove_meta(&format!("{APP_PREFIX}{key}"))?;
        storage.sync()?;
        Ok(())
    }

    /// Every value stored with [`set_meta`](Self::set_meta) under a key starting with
    /// `prefix`, in key order (keys without the prefix's namespace).
    pub fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, LogError> {
        let entries = self
            .inner
            .shared
            .storage
            .scan_meta(&format!("{APP_PREFIX}{prefix}"))?;
        Ok(entries
            .into_iter()
            .map(|(k, v)| (k[APP_PREFIX.len()..].to_string(), v))
            .collect())
    }

    /// Removes every frame that holds only records below `lsn` and below every cursor.
    pub fn truncate_below(&self, lsn: Lsn) -> Result<TruncateReport, LogError> {
        retention::truncate(&self.inner.shared, lsn, None)
    }

    /// Applies the size limit of [`LogOptions::retention_bytes`] now (the writer also does
    /// so after appends that take the log over it).
    pub fn enforce_retention(&self) -> Result<TruncateReport, LogError> {
        match self.inner.shared.options.retention_bytes {
            Some(max) => {
                let (report, pinned) = retention::enforce(&self.inner.shared, max)?;
                if pinned {
                    let stored = self.stats().stored_bytes;
                    tracing::warn!(
                        max,
                        stored,
                        "delta log above its retention size: cursors still need it"
                    );
                }
                Ok(report)
            }
            None => Ok(TruncateReport {
                first: self.first(),
                ..Default::default()
            }),
        }
    }

    /// Makes everything appended so far durable, whatever the durability mode.
    pub fn sync(&self) -> Result<(), LogError> {
        self.inner.shared.storage.sync()?;
        Ok(())
    }

    /// Closes this handle: when it is the last one, waits for pending appends, syncs and
    /// stops the writer. Tails then end with [`LogError::Closed`].
    pub fn close(self) {
        drop(self);
    }
}

/// How often the end marker is refreshed under `Fsync`.
const MARKER_EVERY: Duration = Duration::from_secs(1);

/// The background thread: syncs every `every` (under `Interval`) and records in the end
/// marker the end that the sync covered.
fn spawn_background(
    shared: Arc<Shared>,
    every: Duration,
    sync: bool,
) -> Result<(mpsc::Sender<()>, JoinHandle<()>), LogError> {
    let (stop, stopped) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("mdbd-log-background".into())
        .spawn(move || {
            let mut marked = None;
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                // Read the end first: the sync covers at least everything below it.
                let end = shared.end();
                if sync {
                    if let Err(e) = shared.storage.sync() {
                        shared.refuse(format!("background sync failed: {e}"));
                        continue;
                    }
                }
                if marked != Some(end) {
                    shared.mark_end(end);
                    marked = Some(end);
                }
            }
        })
        .map_err(|e| LogError::InvalidOption(format!("cannot start the background thread: {e}")))?;
    Ok((stop, handle))
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping the sender ends the writer after it drained every queued append.
        self.sender.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        if let Some((stop, handle)) = self.flusher.take() {
            drop(stop);
            let _ = handle.join();
        }
        if let Err(e) = self.shared.storage.sync() {
            tracing::error!(error = %e, "closing sync of the delta log failed");
        } else {
            self.shared.mark_end(self.shared.end());
        }
        self.shared.mark_closed();
    }
}
