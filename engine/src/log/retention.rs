//! Truncation: removing whole frames from the front of the log, never past what a cursor
//! still needs.
//!
//! Order of operations, so a crash at any instant is safe: the new watermark (first LSN
//! kept) is made durable first, then the frames below it are removed and synced. A crash
//! in between leaves frames below the watermark, which open recognises as stale and
//! removes.

use super::cursor;
use super::frame::FrameKind;
use super::lsn::Lsn;
use super::reader::checked_header;
use super::shared::Shared;
use super::storage::FrameKey;
use super::LogError;

/// Metadata key of the retention watermark.
pub(crate) const FIRST_LSN_KEY: &str = "first_lsn";

/// What a truncation removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TruncateReport {
    /// Frames removed.
    pub frames: u64,
    /// Stored bytes removed.
    pub bytes: u64,
    /// First LSN kept afterwards.
    pub first: Lsn,
}

/// Removes frames holding only records below `bound`, the minimum cursor and the end, and
/// (when `keep_bytes` is set) only while more than `keep_bytes` would remain.
pub(crate) fn truncate(
    shared: &Shared,
    bound: Lsn,
    keep_bytes: Option<u64>,
) -> Result<TruncateReport, LogError> {
    let _serial = shared
        .truncate_lock
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let end = shared.end();
    let mut bound = bound.min(end);
    if let Some(min_cursor) = cursor::min_cursor(&*shared.storage)? {
        bound = bound.min(min_cursor);
    }
    let stored_now = shared.state().stored_bytes;
    let mut removed = Vec::new();
    let (mut bytes, mut raw) = (0u64, 0u64);
    let mut first = end;
    for item in shared.storage.frames_from(FrameKey::at(Lsn(0))) {
        let (key, frame) = item?;
        let header = checked_header(key, &frame)?;
        let record_end = match header.kind {
            FrameKind::Batch { .. } => header.end(),
            FrameKind::Part { .. } => header.base.next(),
        };
        let size_ok = keep_bytes.is_none_or(|keep| stored_now - bytes > keep);
        if record_end > bound || !size_ok {
            first = header.base;
            break;
        }
        bytes += frame.len() as u64;
        raw += header.raw_len as u64;
        removed.push(key);
    }
    if removed.is_empty() {
        return Ok(TruncateReport {
            frames: 0,
            bytes: 0,
            first: shared.first(),
        });
    }
    shared
        .storage
        .put_meta(FIRST_LSN_KEY, &first.get().to_be_bytes())?;
    shared.storage.sync()?;
    shared.storage.remove_frames(&removed)?;
    shared.storage.sync()?;
    let mut s = shared.state();
    s.first = first;
    s.frames -= removed.len() as u64;
    s.stored_bytes -= bytes;
    s.raw_bytes -= raw;
    tracing::info!(frames = removed.len(), bytes, first = %first, "delta log truncated");
    Ok(TruncateReport {
        frames: removed.len() as u64,
        bytes,
        first,
    })
}

/// Brings the stored size down to `max_bytes` where cursors allow. Returns what was
/// removed and whether the log is still above the limit (cursors pin it).
pub(crate) fn enforce(shared: &Shared, max_bytes: u64) -> Result<(TruncateReport, bool), LogError> {
    let report = truncate(shared, Lsn(u64::MAX), Some(max_bytes))?;
    let pinned = shared.state().stored_bytes > max_bytes;
    Ok((report, pinned))
}
