//! Reading the log: an iterator over records from any LSN, and an async tail that waits
//! at the end of the log for new records (woken by the writer, never polling).
//!
//! A record split across part frames is decoded while its parts are read, one part in
//! memory at a time: the reader holds the record being built plus at most one frame, never
//! all of the record's frames.

use super::codec::{decode_record, decode_record_from_read};
use super::error::Corruption;
use super::frame::{batch_entries, decode_header, decode_payload, FrameHeader, FrameKind};
use super::lsn::Lsn;
use super::record::LoggedRecord;
use super::shared::Shared;
use super::storage::{FrameKey, LogStorage};
use super::LogError;
use bytes::Bytes;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::Arc;
use tokio::sync::watch;

/// Checks a frame stored under `key` and returns its header.
pub(crate) fn checked_header(key: FrameKey, frame: &[u8]) -> Result<FrameHeader, LogError> {
    let header = decode_header(frame).map_err(|e| LogError::corrupt(key.lsn, key.part, e))?;
    let part = match header.kind {
        FrameKind::Part { index, .. } => index,
        FrameKind::Batch { .. } => 0,
    };
    if header.base != key.lsn || part != key.part {
        let cause = Corruption::KeyMismatch {
            key_lsn: key.lsn,
            key_part: key.part,
            lsn: header.base,
            part,
        };
        return Err(LogError::corrupt(key.lsn, key.part, cause));
    }
    Ok(header)
}

/// Decodes the records of a batch frame with LSN `>= from` into `out`.
pub(crate) fn decode_batch(
    key: FrameKey,
    header: &FrameHeader,
    frame: &[u8],
    from: Lsn,
    decompressor: &mut zstd::bulk::Decompressor<'static>,
    raw: &mut Vec<u8>,
    out: &mut VecDeque<LoggedRecord>,
) -> Result<(), LogError> {
    let FrameKind::Batch { records } = header.kind else {
        return Err(LogError::corrupt(
            key.lsn,
            key.part,
            Corruption::Parts("expected a batch frame".into()),
        ));
    };
    decode_payload(header, frame, decompressor, raw)
        .map_err(|e| LogError::corrupt(key.lsn, 0, e))?;
    let entries = batch_entries(raw, records).map_err(|e| LogError::corrupt(key.lsn, 0, e))?;
    for (i, entry) in entries.into_iter().enumerate() {
        let lsn = header.base.plus(i as u64);
        if lsn < from {
            continue;
        }
        let record = decode_record(entry).map_err(|e| LogError::corrupt(header.base, 0, e))?;
        out.push_back(LoggedRecord { lsn, record });
    }
    Ok(())
}

/// `io::Read` over the payloads of a split record's parts, fetched one at a time.
struct PartReader<'a> {
    storage: &'a dyn LogStorage,
    lsn: Lsn,
    total: u32,
    next_index: u32,
    buf: Vec<u8>,
    pos: usize,
    decompressor: &'a mut zstd::bulk::Decompressor<'static>,
    /// The precise error behind an `io::Error` handed to the decoder.
    failure: Option<LogError>,
}

impl PartReader<'_> {
    fn load_next(&mut self) -> Result<(), LogError> {
        let key = FrameKey {
            lsn: self.lsn,
            part: self.next_index,
        };
        let frame = self.storage.get_frame(key)?.ok_or_else(|| {
            LogError::corrupt(
                key.lsn,
                key.part,
                Corruption::Parts(format!("part {} of {} is missing", key.part, self.total)),
            )
        })?;
        let header = checked_header(key, &frame)?;
        match header.kind {
            FrameKind::Part { total, .. } if total == self.total => {}
            _ => {
                let msg = format!(
                    "part {} does not belong to a record of {} parts",
                    key.part, self.total
                );
                return Err(LogError::corrupt(key.lsn, key.part, Corruption::Parts(msg)));
            }
        }
        decode_payload(&header, &frame, self.decompressor, &mut self.buf)
            .map_err(|e| LogError::corrupt(key.lsn, key.part, e))?;
        self.pos = 0;
        self.next_index += 1;
        Ok(())
    }

    fn exhausted(&self) -> bool {
        self.pos == self.buf.len() && self.next_index == self.total
    }
}

impl Read for PartReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.next_index == self.total {
                return Ok(0);
            }
            if let Err(e) = self.load_next() {
                let msg = e.to_string();
                self.failure = Some(e);
                return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Decodes the record split across parts, given its first part's frame.
pub(crate) fn decode_split(
    storage: &dyn LogStorage,
    key: FrameKey,
    header: &FrameHeader,
    first: Bytes,
    decompressor: &mut zstd::bulk::Decompressor<'static>,
) -> Result<LoggedRecord, LogError> {
    let FrameKind::Part { index: 0, total } = header.kind else {
        return Err(LogError::corrupt(
            key.lsn,
            key.part,
            Corruption::Parts("record does not start with part 0".into()),
        ));
    };
    let mut reader = PartReader {
        storage,
        lsn: key.lsn,
        total,
        next_index: 1,
        buf: Vec::new(),
        pos: 0,
        decompressor,
        failure: None,
    };
    decode_payload(header, &first, reader.decompressor, &mut reader.buf)
        .map_err(|e| LogError::corrupt(key.lsn, 0, e))?;
    drop(first);
    // Every part but the last is as long as the first.
    let max_len = total as usize * header.raw_len;
    let decoded = decode_record_from_read(&mut reader, max_len);
    if let Some(failure) = reader.failure.take() {
        return Err(failure);
    }
    let record =
        decoded.map_err(|e| LogError::corrupt(key.lsn, reader.next_index.saturating_sub(1), e))?;
    if !reader.exhausted() {
        let msg = "bytes left over after the record decoded".to_string();
        return Err(LogError::corrupt(
            key.lsn,
            reader.next_index - 1,
            Corruption::Parts(msg),
        ));
    }
    Ok(LoggedRecord {
        lsn: key.lsn,
        record,
    })
}

/// Records from an LSN up to the end of the log as it was when the iterator was made
/// (or, for a [`LogTail`], as it grows).
pub struct LogIter {
    shared: Arc<Shared>,
    next: Lsn,
    end: Lsn,
    pending: VecDeque<LoggedRecord>,
    decompressor: zstd::bulk::Decompressor<'static>,
    raw: Vec<u8>,
    failed: bool,
}

impl LogIter {
    pub(crate) fn new(shared: Arc<Shared>, from: Lsn) -> Result<Self, LogError> {
        let (first, end) = (shared.first(), shared.end());
        if from < first {
            return Err(LogError::Truncated {
                requested: from,
                first,
            });
        }
        if from > end {
            return Err(LogError::BeyondEnd {
                requested: from,
                end,
            });
        }
        let decompressor = zstd::bulk::Decompressor::new()
            .map_err(|e| LogError::InvalidOption(format!("zstd: {e}")))?;
        Ok(LogIter {
            shared,
            next: from,
            end,
            pending: VecDeque::new(),
            decompressor,
            raw: Vec::new(),
            failed: false,
        })
    }

    /// The LSN of the next record this iterator returns.
    pub fn position(&self) -> Lsn {
        self.pending.front().map(|r| r.lsn).unwrap_or(self.next)
    }

    fn fetch(&mut self) -> Result<(), LogError> {
        let lsn = self.next;
        let storage = &*self.shared.storage;
        let found = match storage.get_frame(FrameKey::at(lsn))? {
            Some(frame) => Some((FrameKey::at(lsn), frame)),
            None => storage.frame_at_or_before(FrameKey::at(lsn))?,
        };
        let missing = || {
            let first = self.shared.first();
            if lsn < first {
                LogError::Truncated {
                    requested: lsn,
                    first,
                }
            } else {
                LogError::corrupt(lsn, 0, Corruption::Missing(lsn))
            }
        };
        let Some((key, frame)) = found else {
            return Err(missing());
        };
        let header = checked_header(key, &frame)?;
        match header.kind {
            FrameKind::Batch { .. } if header.base <= lsn && lsn < header.end() => {
                decode_batch(
                    key,
                    &header,
                    &frame,
                    lsn,
                    &mut self.decompressor,
                    &mut self.raw,
                    &mut self.pending,
                )?;
            }
            FrameKind::Part { index: 0, .. } if key.lsn == lsn => {
                let record = decode_split(storage, key, &header, frame, &mut self.decompressor)?;
                self.pending.push_back(record);
            }
            _ => return Err(missing()),
        }
        self.next = self.pending.back().map(|r| r.lsn.next()).unwrap_or(lsn);
        Ok(())
    }
}

impl Iterator for LogIter {
    type Item = Result<LoggedRecord, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(r) = self.pending.pop_front() {
            return Some(Ok(r));
        }
        if self.failed || self.next >= self.end {
            return None;
        }
        if let Err(e) = self.fetch() {
            self.failed = true;
            return Some(Err(e));
        }
        // Records past `end` were decoded along with their frame; hold them back.
        while self.pending.back().is_some_and(|r| r.lsn >= self.end) {
            self.pending.pop_back();
        }
        self.next = self.next.min(self.end);
        self.pending.pop_front().map(Ok)
    }
}

/// Follows the log: returns records in order and waits at the end for new ones.
pub struct LogTail {
    iter: LogIter,
    end_rx: watch::Receiver<Lsn>,
}

impl LogTail {
    pub(crate) fn new(shared: Arc<Shared>, from: Lsn) -> Result<Self, LogError> {
        let end_rx = shared.end_tx.subscribe();
        Ok(LogTail {
            iter: LogIter::new(shared, from)?,
            end_rx,
        })
    }

    /// The LSN of the next record [`next`](Self::next) returns.
    pub fn position(&self) -> Lsn {
        self.iter.position()
    }

    /// The next record, waiting for it if the tail is at the end of the log. Fails with
    /// [`LogError::Closed`] once the log is closed and every record was returned.
    ///
    /// After an error (a corrupt or truncated frame), calling again retries the same
    /// position rather than waiting forever.
    pub async fn next(&mut self) -> Result<LoggedRecord, LogError> {
        self.iter.failed = false;
        loop {
            self.iter.end = *self.end_rx.borrow_and_update();
            if let Some(r) = self.iter.next() {
                return r;
            }
            if self.iter.shared.is_closed() {
                return Err(LogError::Closed);
            }
            if self.end_rx.changed().await.is_err() {
                return Err(LogError::Closed);
            }
        }
    }
}
