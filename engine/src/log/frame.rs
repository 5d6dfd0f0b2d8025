//! The frame codec: how a batch of records (or one part of a record too large for a
//! frame) is laid out on disk.
//!
//! ```text
//! offset size field
//!  0      4   magic "MDLF"
//!  4      1   format version (1)
//!  5      1   flags: bits 0-1 codec (0 raw, 1 zstd), bit 2 PART, bit 3 LAST_PART;
//!             any other bit set is rejected
//!  6      2   reserved, must be 0
//!  8      8   base LSN (big-endian, as are all integers here)
//! 16      4   count: records in a batch frame; total parts in a part frame
//! 20      4   part index (0 in a batch frame)
//! 24      4   raw length: payload bytes after decompression
//! 28      4   stored length: payload bytes as stored
//! 32      4   CRC32 of bytes 0..32 and of the stored payload
//! 36      -   stored payload
//! ```
//!
//! A batch frame's raw payload is `count` records, each a big-endian u32 length followed
//! by the record bytes ([`codec`](super::codec)); record `i` has LSN `base + i`. A record
//! whose encoding is larger than a part's size is split into `count` part frames that all
//! carry the record's LSN as base and hold consecutive slices of its bytes.
//!
//! The decoder checks every length against a hard cap before it allocates, checks the CRC
//! before it decompresses, and decompresses into exactly the declared raw length.

use super::lsn::Lsn;
use thiserror::Error;

/// Magic bytes that open every frame.
pub const MAGIC: [u8; 4] = *b"MDLF";
/// Frame format version this build writes and reads.
pub const FRAME_VERSION: u8 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 36;
/// Largest raw payload a frame may declare. Bounds decoder memory per frame.
pub const MAX_RAW_LEN: usize = 8 << 20;
/// Largest stored payload a frame may declare (zstd's worst-case expansion of
/// [`MAX_RAW_LEN`], rounded up).
pub const MAX_STORED_LEN: usize = MAX_RAW_LEN + (MAX_RAW_LEN >> 7) + 4096;
/// Most parts one record may be split into (at the default 4 MiB part size: 4 TiB).
pub const MAX_PARTS: u32 = 1 << 20;

const CODEC_MASK: u8 = 0b0011;
const FLAG_PART: u8 = 0b0100;
const FLAG_LAST_PART: u8 = 0b1000;
const KNOWN_FLAGS: u8 = CODEC_MASK | FLAG_PART | FLAG_LAST_PART;
/// Smallest possible batch entry: a 4-byte length and a 1-byte record.
const MIN_ENTRY_LEN: usize = 5;

/// How a frame's payload is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// Stored as is (small or incompressible payloads).
    Raw,
    /// zstd-compressed.
    Zstd,
}

/// What a frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// `records` whole records, LSNs `base..base+records`.
    Batch { records: u32 },
    /// Part `index` of `total` of the one record at the base LSN.
    Part { index: u32, total: u32 },
}

/// A decoded and checked frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// LSN of the first (or only) record in the frame.
    pub base: Lsn,
    /// Batch or part.
    pub kind: FrameKind,
    /// How the payload is stored.
    pub codec: Codec,
    /// Payload length after decompression.
    pub raw_len: usize,
    /// Payload length as stored.
    pub stored_len: usize,
}

impl FrameHeader {
    /// One past the last LSN this frame completes: `base + records` for a batch, `base + 1`
    /// for the last part of a record, `base` for its other parts.
    pub fn end(&self) -> Lsn {
        match self.kind {
            FrameKind::Batch { records } => self.base.plus(records as u64),
            FrameKind::Part { index, total } if index + 1 == total => self.base.next(),
            FrameKind::Part { .. } => self.base,
        }
    }

    /// Total bytes of the frame on disk.
    pub fn frame_len(&self) -> usize {
        HEADER_LEN + self.stored_len
    }
}

/// Why bytes are not a valid frame.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    #[error("frame is {0} bytes, shorter than its {HEADER_LEN}-byte header")]
    TooShort(usize),
    #[error("bad magic {0:02x?} (expected \"MDLF\")")]
    BadMagic([u8; 4]),
    #[error("unsupported frame version {0} (this build reads version {FRAME_VERSION})")]
    UnsupportedVersion(u8),
    #[error("unknown flag bits {0:#04x}")]
    UnknownFlags(u8),
    #[error("unknown codec {0}")]
    UnknownCodec(u8),
    #[error("reserved header bytes are {0:#06x}, must be 0")]
    Reserved(u16),
    #[error("{field} is {value}, over the cap of {cap}")]
    OverCap {
        field: &'static str,
        value: u64,
        cap: u64,
    },
    #[error("frame is {actual} bytes but its header declares {declared}")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum { stored: u32, computed: u32 },
    #[error("payload does not decompress: {0}")]
    Decompress(String),
    #[error("payload decompresses to {actual} bytes but {declared} were declared")]
    RawLenMismatch { declared: usize, actual: usize },
    #[error("inconsistent header: {0}")]
    Inconsistent(&'static str),
    #[error("batch payload: {0}")]
    BatchLayout(String),
}

/// Encodes one frame into `out` (appended). `compressor` is used when compressing pays.
pub fn encode_frame(
    base: Lsn,
    kind: FrameKind,
    raw: &[u8],
    compressor: Option<&mut zstd::bulk::Compressor<'_>>,
    out: &mut Vec<u8>,
) {
    debug_assert!(raw.len() <= MAX_RAW_LEN);
    let start = out.len();
    out.resize(start + HEADER_LEN, 0);
    let mut codec = Codec::Raw;
    // Tiny payloads do not compress; skip the work.
    if let Some(c) = compressor.filter(|_| raw.len() >= 128) {
        let bound = zstd::zstd_safe::compress_bound(raw.len());
        out.reserve(bound);
        let payload_start = out.len();
        out.resize(payload_start + bound, 0);
        match c.compress_to_buffer(raw, &mut out[payload_start..]) {
            Ok(n) if n < raw.len() => {
                out.truncate(payload_start + n);
                codec = Codec::Zstd;
            }
            _ => out.truncate(payload_start),
        }
    }
    if codec == Codec::Raw {
        out.extend_from_slice(raw);
    }
    let stored_len = out.len() - start - HEADER_LEN;
    let (count, part, flags) = match kind {
        FrameKind::Batch { records } => (records, 0, 0),
        FrameKind::Part { index, total } => {
            let last = if index + 1 == total {
                FLAG_LAST_PART
            } else {
                0
            };
            (total, index, FLAG_PART | last)
        }
    };
    let codec_bits = match codec {
        Codec::Raw => 0,
        Codec::Zstd => 1,
    };
    let h = &mut out[start..start + HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC);
    h[4] = FRAME_VERSION;
    h[5] = flags | codec_bits;
    h[6..8].copy_from_slice(&0u16.to_be_bytes());
    h[8..16].copy_from_slice(&base.get().to_be_bytes());
    h[16..20].copy_from_slice(&count.to_be_bytes());
    h[20..24].copy_from_slice(&part.to_be_bytes());
    h[24..28].copy_from_slice(&(raw.len() as u32).to_be_bytes());
    h[28..32].copy_from_slice(&(stored_len as u32).to_be_bytes());
    let crc = checksum(&out[start..start + 32], &out[start + HEADER_LEN..]);
    out[start + 32..start + 36].copy_from_slice(&crc.to_be_bytes());
}

/// Recomputes the CRC of a frame in place (fuzzing and tests: lets a mutated frame reach
/// the checks behind the CRC). Does nothing to a frame shorter than its header.
pub fn reseal(frame: &mut [u8]) {
    if frame.len() >= HEADER_LEN {
        let crc = checksum(&frame[0..32], &frame[HEADER_LEN..]);
        frame[32..36].copy_from_slice(&crc.to_be_bytes());
    }
}

fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header);
    h.update(payload);
    h.finalize()
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

/// Checks a frame's header, lengths and CRC, without decompressing.
pub fn decode_header(frame: &[u8]) -> Result<FrameHeader, FrameError> {
    if frame.len() < HEADER_LEN {
        return Err(FrameError::TooShort(frame.len()));
    }
    let mut magic = [0u8; 4];
    magic.copy_from_slice(&frame[0..4]);
    if magic != MAGIC {
        return Err(FrameError::BadMagic(magic));
    }
    if frame[4] != FRAME_VERSION {
        return Err(FrameError::UnsupportedVersion(frame[4]));
    }
    let flags = frame[5];
    if flags & !KNOWN_FLAGS != 0 {
        return Err(FrameError::UnknownFlags(flags & !KNOWN_FLAGS));
    }
    let codec = match flags & CODEC_MASK {
        0 => Codec::Raw,
        1 => Codec::Zstd,
        other => return Err(FrameError::UnknownCodec(other)),
    };
    let reserved = u16::from_be_bytes([frame[6], frame[7]]);
    if reserved != 0 {
        return Err(FrameError::Reserved(reserved));
    }
    let mut base = [0u8; 8];
    base.copy_from_slice(&frame[8..16]);
    let base = Lsn(u64::from_be_bytes(base));
    let count = be_u32(frame, 16);
    let part = be_u32(frame, 20);
    let raw_len = be_u32(frame, 24) as usize;
    let stored_len = be_u32(frame, 28) as usize;
    if raw_len > MAX_RAW_LEN {
        return Err(FrameError::OverCap {
            field: "raw length",
            value: raw_len as u64,
            cap: MAX_RAW_LEN as u64,
        });
    }
    if stored_len > MAX_STORED_LEN {
        return Err(FrameError::OverCap {
            field: "stored length",
            value: stored_len as u64,
            cap: MAX_STORED_LEN as u64,
        });
    }
    if frame.len() != HEADER_LEN + stored_len {
        return Err(FrameError::LengthMismatch {
            declared: HEADER_LEN + stored_len,
            actual: frame.len(),
        });
    }
    let stored = be_u32(frame, 32);
    let computed = checksum(&frame[0..32], &frame[HEADER_LEN..]);
    // Under cargo-fuzz the CRC is not enforced, so the fuzzer can reach the decoding
    // behind it; every other build enforces it.
    if stored != computed && !cfg!(fuzzing) {
        return Err(FrameError::Checksum { stored, computed });
    }
    if base.get() == 0 {
        return Err(FrameError::Inconsistent("base LSN 0 (LSNs start at 1)"));
    }
    if codec == Codec::Raw && stored_len != raw_len {
        return Err(FrameError::Inconsistent(
            "raw frame with stored length != raw length",
        ));
    }
    let kind = if flags & FLAG_PART != 0 {
        if !(2..=MAX_PARTS).contains(&count) {
            return Err(FrameError::OverCap {
                field: "part count",
                value: count as u64,
                cap: MAX_PARTS as u64,
            });
        }
        if part >= count {
            return Err(FrameError::Inconsistent("part index not below part count"));
        }
        if (flags & FLAG_LAST_PART != 0) != (part + 1 == count) {
            return Err(FrameError::Inconsistent(
                "LAST_PART flag disagrees with part index",
            ));
        }
        FrameKind::Part {
            index: part,
            total: count,
        }
    } else {
        if flags & FLAG_LAST_PART != 0 || part != 0 {
            return Err(FrameError::Inconsistent("batch frame with part fields set"));
        }
        if count == 0 || (count as usize).saturating_mul(MIN_ENTRY_LEN) > raw_len {
            return Err(FrameError::Inconsistent(
                "record count does not fit the raw length",
            ));
        }
        FrameKind::Batch { records: count }
    };
    Ok(FrameHeader {
        base,
        kind,
        codec,
        raw_len,
        stored_len,
    })
}

/// Decompresses a checked frame's payload into `out` (cleared first), exactly
/// `header.raw_len` bytes.
pub fn decode_payload(
    header: &FrameHeader,
    frame: &[u8],
    decompressor: &mut zstd::bulk::Decompressor<'_>,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let stored = &frame[HEADER_LEN..];
    out.clear();
    match header.codec {
        Codec::Raw => out.extend_from_slice(stored),
        Codec::Zstd => {
            out.resize(header.raw_len, 0);
            let n = decompressor
                .decompress_to_buffer(stored, &mut out[..])
                .map_err(|e| FrameError::Decompress(e.to_string()))?;
            if n != header.raw_len {
                return Err(FrameError::RawLenMismatch {
                    declared: header.raw_len,
                    actual: n,
                });
            }
        }
    }
    Ok(())
}

/// Decodes a whole frame: header checks, CRC, then the payload.
pub fn decode_frame(
    frame: &[u8],
    decompressor: &mut zstd::bulk::Decompressor<'_>,
) -> Result<(FrameHeader, Vec<u8>), FrameError> {
    let header = decode_header(frame)?;
    let mut raw = Vec::new();
    decode_payload(&header, frame, decompressor, &mut raw)?;
    Ok((header, raw))
}

/// Splits a batch frame's raw payload into its `records` record byte slices, checking that
/// the lengths tile the payload exactly.
pub fn batch_entries(raw: &[u8], records: u32) -> Result<Vec<&[u8]>, FrameError> {
    let mut entries = Vec::with_capacity(records as usize);
    let mut rest = raw;
    for i in 0..records {
        if rest.len() < 4 {
            return Err(FrameError::BatchLayout(format!(
                "record {i} of {records}: length prefix cut off"
            )));
        }
        let len = be_u32(rest, 0) as usize;
        rest = &rest[4..];
        if len == 0 || len > rest.len() {
            return Err(FrameError::BatchLayout(format!(
                "record {i} of {records}: length {len} with {} bytes left",
                rest.len()
            )));
        }
        entries.push(&rest[..len]);
        rest = &rest[len..];
    }
    if !rest.is_empty() {
        return Err(FrameError::BatchLayout(format!(
            "{} bytes after the last record",
            rest.len()
        )));
    }
    Ok(entries)
}

/// Appends one batch entry (length prefix and record bytes) to a batch payload.
pub fn push_entry(payload: &mut Vec<u8>, record: &[u8]) {
    payload.extend_from_slice(&(record.len() as u32).to_be_bytes());
    payload.extend_from_slice(record);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(kind: FrameKind, raw: &[u8]) -> (FrameHeader, Vec<u8>, Vec<u8>) {
        let mut c = zstd::bulk::Compressor::new(1).unwrap();
        let mut d = zstd::bulk::Decompressor::new().unwrap();
        let mut out = Vec::new();
        encode_frame(Lsn(42), kind, raw, Some(&mut c), &mut out);
        let (h, payload) = decode_frame(&out, &mut d).unwrap();
        (h, payload, out)
    }

    #[test]
    fn batch_roundtrip_compresses_repetitive_payload() {
        let mut raw = Vec::new();
        for _ in 0..50 {
            push_entry(
                &mut raw,
                b"INSERT INTO accounts(id, balance) VALUES (1, 100)",
            );
        }
        let (h, payload, bytes) = roundtrip(FrameKind::Batch { records: 50 }, &raw);
        assert_eq!(payload, raw);
        assert_eq!(h.codec, Codec::Zstd);
        assert!(bytes.len() < raw.len() / 3);
        assert_eq!(h.end(), Lsn(92));
        assert_eq!(batch_entries(&payload, 50).unwrap().len(), 50);
        assert!(batch_entries(&payload, 49).is_err());
    }

    #[test]
    fn part_frames_and_flag_checks() {
        let (h, _, mut bytes) = roundtrip(FrameKind::Part { index: 1, total: 3 }, b"middle part");
        assert_eq!(h.kind, FrameKind::Part { index: 1, total: 3 });
        assert_eq!(h.end(), Lsn(42));
        bytes[5] |= 0x80;
        assert!(matches!(
            decode_header(&bytes),
            Err(FrameError::UnknownFlags(0x80))
        ));
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let mut raw = Vec::new();
        push_entry(
            &mut raw,
            b"UPDATE t SET x = x + 1 WHERE id = 7; UPDATE t SET x = x + 1 WHERE id = 7",
        );
        let (_, _, bytes) = roundtrip(FrameKind::Batch { records: 1 }, &raw);
        let mut d = zstd::bulk::Decompressor::new().unwrap();
        for i in 0..bytes.len() {
            let mut copy = bytes.clone();
            copy[i] ^= 0x01;
            assert!(
                decode_frame(&copy, &mut d).is_err(),
                "flip at byte {i} went unnoticed"
            );
        }
    }

    #[test]
    fn oversized_lengths_are_refused_before_allocating() {
        let mut raw = Vec::new();
        push_entry(&mut raw, b"x");
        let (_, _, mut bytes) = roundtrip(FrameKind::Batch { records: 1 }, &raw);
        bytes[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decode_header(&bytes),
            Err(FrameError::OverCap {
                field: "raw length",
                ..
            })
        ));
    }
}
