//! Group commit: one writer thread turns every append waiting at the moment into frames,
//! one atomic storage write and one sync, then acknowledges them all.
//!
//! Callers encode their records on their own threads (so encoding scales with writers) and
//! send the bytes here. While the writer syncs one group, the next group queues up; so the
//! more concurrent appenders, the more records each sync covers. LSNs are assigned here,
//! in the order groups and requests are taken, dense, with no gaps.

use super::codec::encode_record;
use super::frame::{encode_frame, push_entry, FrameKind, MAX_RAW_LEN};
use super::lsn::{Lsn, LsnRange};
use super::options::Durability;
use super::record::Record;
use super::retention;
use super::shared::Shared;
use super::storage::FrameKey;
use super::LogError;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Stop adding requests to a group past this many bytes, so one sync does not grow huge.
const MAX_GROUP_BYTES: usize = 32 << 20;

/// How often a failing store is reopened (see [`super::LogStorage::recover`]).
const RECOVERY_INTERVAL: Duration = Duration::from_secs(1);

/// Records of one append call, encoded as batch entries (u32 length + record bytes).
pub(crate) struct AppendRequest {
    pub entries: Vec<u8>,
    pub count: u64,
    pub reply: oneshot::Sender<Result<LsnRange, LogError>>,
}

impl AppendRequest {
    /// Encodes `records` on the calling thread.
    pub fn encode(
        records: &[Record],
        max_record: u64,
    ) -> Result<(Self, oneshot::Receiver<Result<LsnRange, LogError>>), LogError> {
        let mut entries = Vec::with_capacity(records.len() * 128);
        for record in records {
            let at = entries.len();
            entries.extend_from_slice(&[0; 4]);
            encode_record(record, &mut entries)?;
            let len = (entries.len() - at - 4) as u64;
            if len > max_record {
                return Err(LogError::RecordTooLarge {
                    size: len,
                    max: max_record,
                });
            }
            entries[at..at + 4].copy_from_slice(&(len as u32).to_be_bytes());
        }
        let (reply, rx) = oneshot::channel();
        Ok((
            AppendRequest {
                entries,
                count: records.len() as u64,
                reply,
            },
            rx,
        ))
    }
}

/// Builds the frames of one group.
struct FrameBuilder<'a> {
    next: Lsn,
    batch_base: Lsn,
    batch: Vec<u8>,
    batch_count: u32,
    batch_bytes: usize,
    part_bytes: usize,
    compressor: Option<&'a mut zstd::bulk::Compressor<'static>>,
    frames: Vec<(FrameKey, Vec<u8>)>,
    raw_bytes: u64,
}

impl<'a> FrameBuilder<'a> {
    fn add_entries(&mut self, entries: &[u8]) {
        let mut rest = entries;
        while rest.len() >= 4 {
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let record = &rest[4..4 + len];
            rest = &rest[4 + len..];
            if len > self.part_bytes {
                self.finish_batch();
                self.push_parts(record);
            } else {
                if self.batch.len() + 4 + len > MAX_RAW_LEN {
                    self.finish_batch();
                }
                if self.batch_count == 0 {
                    self.batch_base = self.next;
                }
                push_entry(&mut self.batch, record);
                self.batch_count += 1;
                self.next = self.next.next();
                if self.batch.len() >= self.batch_bytes {
                    self.finish_batch();
                }
            }
        }
    }

    fn finish_batch(&mut self) {
        if self.batch_count == 0 {
            return;
        }
        let mut frame = Vec::new();
        let kind = FrameKind::Batch {
            records: self.batch_count,
        };
        encode_frame(
            self.batch_base,
            kind,
            &self.batch,
            self.compressor.as_deref_mut(),
            &mut frame,
        );
        self.raw_bytes += self.batch.len() as u64;
        self.frames.push((FrameKey::at(self.batch_base), frame));
        self.batch.clear();
        self.batch_count = 0;
    }

    fn push_parts(&mut self, record: &[u8]) {
        let total = record.len().div_ceil(self.part_bytes) as u32;
        for (index, part) in record.chunks(self.part_bytes).enumerate() {
            let mut frame = Vec::new();
            let kind = FrameKind::Part {
                index: index as u32,
                total,
            };
            encode_frame(
                self.next,
                kind,
                part,
                self.compressor.as_deref_mut(),
                &mut frame,
            );
            self.raw_bytes += part.len() as u64;
            self.frames.push((
                FrameKey {
                    lsn: self.next,
                    part: index as u32,
                },
                frame,
            ));
        }
        self.next = self.next.next();
    }
}

/// Takes every request waiting now; while fewer than the previous group's count are in,
/// waits (at most `wait` in all) for the rest.
fn gather(
    requests: &mpsc::Receiver<AppendRequest>,
    first: AppendRequest,
    last_group: usize,
    wait: Duration,
) -> Vec<AppendRequest> {
    let deadline = Instant::now() + wait;
    let mut bytes = first.entries.len();
    let mut group = vec![first];
    while bytes < MAX_GROUP_BYTES {
        let next = match requests.try_recv() {
            Ok(r) => Some(r),
            Err(_) if group.len() < last_group => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    None
                } else {
                    requests.recv_timeout(left).ok()
                }
            }
            Err(_) => None,
        };
        let Some(r) = next else { break };
        bytes += r.entries.len();
        group.push(r);
    }
    group
}

/// Runs the writer until every request sender is gone, then syncs one last time.
pub(crate) fn run(shared: Arc<Shared>, requests: mpsc::Receiver<AppendRequest>) {
    let mut compressor = shared.options.compression_level.and_then(|level| {
        match zstd::bulk::Compressor::new(level) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "zstd compressor unavailable; storing frames raw");
                None
            }
        }
    });
    let fsync = shared.options.durability == Durability::Fsync;
    let mut next = shared.end();
    let mut last_group = 1;
    let mut pinned = false;
    // Waiting pays only where a sync per group is amortised over the group.
    let wait = if fsync {
        shared.options.group_wait
    } else {
        Duration::ZERO
    };
    let mut last_recovery: Option<Instant> = None;
    while let Ok(first) = requests.recv() {
        let group = gather(&requests, first, last_group, wait);
        last_group = group.len();
        if let Some(reason) = shared.state().refusal.clone() {
            for r in group {
                let _ = r.reply.send(Err(LogError::Refused(reason.clone())));
            }
            continue;
        }
        let mut builder = FrameBuilder {
            next,
            batch_base: next,
            batch: Vec::new(),
            batch_count: 0,
            batch_bytes: shared.options.batch_bytes,
            part_bytes: shared.options.part_bytes,
            compressor: compressor.as_mut(),
            frames: Vec::new(),
            raw_bytes: 0,
        };
        for r in &group {
            builder.add_entries(&r.entries);
        }
        builder.finish_batch();
        let (frames, raw_bytes, group_end) = (builder.frames, builder.raw_bytes, builder.next);
        // After a failed write the store may need reopening before it takes writes again
        // (sled does); tried at most once a second, since a reopen reads the whole store.
        let reopened = if shared.state().write_failure.is_some()
            && last_recovery.is_none_or(|t| t.elapsed() >= RECOVERY_INTERVAL)
        {
            last_recovery = Some(Instant::now());
            shared.storage.recover()
        } else {
            Ok(())
        };
        let written = reopened
            .and_then(|()| shared.storage.put_frames(&frames))
            .and_then(|()| if fsync { shared.storage.sync() } else { Ok(()) });
        if let Err(e) = written {
            // Nothing of this group was acknowledged, and `next` does not move: the next
            // group writes these LSNs again (over whatever part of this one reached the
            // store). A full disk is not corruption: appends resume once the store
            // accepts writes.
            let reason = format!(
                "writing LSNs {next}..{group_end} failed: {e}; appends resume when the store accepts writes again"
            );
            let disk_full = e.is_disk_full();
            let first_failure = {
                let mut s = shared.state();
                let first = s.write_failure.is_none();
                s.write_failure = Some(reason.clone());
                first
            };
            if first_failure {
                tracing::error!(%reason, disk_full, "delta log appends failing");
            }
            for r in group {
                let _ = r.reply.send(Err(LogError::WriteFailed {
                    reason: reason.clone(),
                    disk_full,
                }));
            }
            continue;
        }
        if let Some(was) = shared.state().write_failure.take() {
            tracing::warn!(after = %was, "delta log appends resumed");
        }
        {
            let mut s = shared.state();
            s.frames += frames.len() as u64;
            s.stored_bytes += frames.iter().map(|(_, f)| f.len() as u64).sum::<u64>();
            s.raw_bytes += raw_bytes;
        }
        shared.end_tx.send_replace(group_end);
        for r in group {
            let range = LsnRange {
                start: next,
                end: next.plus(r.count),
            };
            next = range.end;
            let _ = r.reply.send(Ok(range));
        }
        debug_assert_eq!(next, group_end);
        if let Some(max) = shared.options.retention_bytes {
            if shared.state().stored_bytes > max {
                match retention::enforce(&shared, max) {
                    // Say so once when cursors start pinning the log, not on every group.
                    Ok((_, now_pinned)) => {
                        if now_pinned && !pinned {
                            tracing::warn!(
                                max,
                                "delta log above its retention size: cursors still need it"
                            );
                        }
                        pinned = now_pinned;
                    }
                    Err(e) => tracing::warn!(error = %e, "retention by size failed"),
                }
            }
        }
    }
    if let Err(e) = shared.storage.sync() {
        tracing::error!(error = %e, "final sync of the delta log failed");
    }
}
