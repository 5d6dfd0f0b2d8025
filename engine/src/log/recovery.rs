//! Open-time verification: walk every frame, check CRCs, decode every record, check that
//! the LSN chain has no hole, and find where the log ends.

use super::error::Corruption;
use super::frame::FrameKind;
use super::lsn::Lsn;
use super::reader::{checked_header, decode_batch, decode_split};
use super::record::LoggedRecord;
use super::storage::{FrameKey, LogStorage};
use super::LogError;
use std::collections::VecDeque;

/// A corrupt frame found by a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptionReport {
    /// LSN of the corrupt frame (its key).
    pub lsn: Lsn,
    /// Part index of the corrupt frame (0 for batch frames).
    pub part: u32,
    /// What is wrong.
    pub reason: String,
}

/// What a scan of the log found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// First LSN stored.
    pub first: Lsn,
    /// One past the last intact record.
    pub end: Lsn,
    /// Intact frames.
    pub frames: u64,
    /// Intact records.
    pub records: u64,
    /// Bytes of intact frames as stored.
    pub stored_bytes: u64,
    /// Bytes of intact frame payloads before compression.
    pub raw_bytes: u64,
    /// The first corrupt frame, if any.
    pub corruption: Option<CorruptionReport>,
    /// Frames found below the retention watermark (left by an interrupted truncation).
    pub stale: Vec<FrameKey>,
    /// Frames from the corrupt one on (the corrupt tail).
    pub tail: Vec<FrameKey>,
}

/// Scans every frame. `first` is the persisted retention watermark.
pub(crate) fn scan(storage: &dyn LogStorage, first: Lsn) -> Result<RecoveryReport, LogError> {
    let mut report = RecoveryReport {
        first,
        end: first,
        ..Default::default()
    };
    let mut scratch = Scratch {
        decompressor: zstd::bulk::Decompressor::new()
            .map_err(|e| LogError::InvalidOption(format!("zstd: {e}")))?,
        raw: Vec::new(),
        records: VecDeque::new(),
    };
    for item in storage.frames_from(FrameKey::at(Lsn(0))) {
        let (key, frame) = item?;
        if report.corruption.is_some() {
            report.tail.push(key);
            continue;
        }
        let checked = check_frame(storage, key, &frame, first, report.end, &mut scratch);
        match checked {
            Ok(Step::Stale) => report.stale.push(key),
            Ok(Step::Intact { raw_len, completes }) => {
                report.frames += 1;
                report.stored_bytes += frame.len() as u64;
                report.raw_bytes += raw_len as u64;
                if let Some((end, records)) = completes {
                    report.records += records;
                    report.end = end;
                }
            }
            Err(e) => {
                let LogError::Corrupt { lsn, part, cause } = &e else {
                    return Err(e);
                };
                let (lsn, part, reason) = (*lsn, *part, cause.to_string());
                report.corruption = Some(CorruptionReport { lsn, part, reason });
                report.tail.push(key);
            }
        }
    }
    // A split record missing a later part fails when it is decoded at its first part, so
    // no half-verified record is pending here.
    Ok(report)
}

/// Buffers reused from frame to frame.
struct Scratch {
    decompressor: zstd::bulk::Decompressor<'static>,
    raw: Vec<u8>,
    records: VecDeque<LoggedRecord>,
}

enum Step {
    /// Below the watermark: left over from an interrupted truncation.
    Stale,
    /// An intact frame: its raw payload length, and, when it completes records (a batch,
    /// or the first part of a split record, which verifies the whole record), the new end
    /// of the chain and how many records.
    Intact {
        raw_len: usize,
        completes: Option<(Lsn, u64)>,
    },
}

fn check_frame(
    storage: &dyn LogStorage,
    key: FrameKey,
    frame: &bytes::Bytes,
    watermark: Lsn,
    expected: Lsn,
    scratch: &mut Scratch,
) -> Result<Step, LogError> {
    let header = checked_header(key, frame)?;
    let record_end = match header.kind {
        FrameKind::Batch { .. } => header.end(),
        FrameKind::Part { .. } => header.base.next(),
    };
    if record_end <= watermark {
        return Ok(Step::Stale);
    }
    match header.kind {
        FrameKind::Part { index, .. } if index > 0 => {
            // Verified when part 0 was decoded; here it must belong to the record just done.
            if header.base.next() != expected {
                return Err(LogError::corrupt(
                    key.lsn,
                    key.part,
                    Corruption::Parts("part without its first part".into()),
                ));
            }
            Ok(Step::Intact {
                raw_len: header.raw_len,
                completes: None,
            })
        }
        _ if header.base != expected => Err(LogError::corrupt(
            key.lsn,
            key.part,
            Corruption::Chain {
                expected,
                found: header.base,
            },
        )),
        FrameKind::Batch { records } => {
            let Scratch {
                decompressor,
                raw,
                records: decoded,
            } = scratch;
            decoded.clear();
            decode_batch(key, &header, frame, header.base, decompressor, raw, decoded)?;
            decoded.clear();
            Ok(Step::Intact {
                raw_len: header.raw_len,
                completes: Some((header.end(), records as u64)),
            })
        }
        FrameKind::Part { .. } => {
            decode_split(
                storage,
                key,
                &header,
                frame.clone(),
                &mut scratch.decompressor,
            )?;
            Ok(Step::Intact {
                raw_len: header.raw_len,
                completes: Some((header.base.next(), 1)),
            })
        }
    }
}
