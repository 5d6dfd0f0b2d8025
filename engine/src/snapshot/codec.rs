//! The snapshot frame codec: a tokio-util `Encoder` and `Decoder` with all checks.

use super::header::{BackendKind, SnapshotHeader};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio_util::codec::{Decoder, Encoder};

const MAGIC: [u8; 4] = *b"MDSS";
const VERSION: u8 = 1;
const KIND_HEADER: u8 = 1;
const KIND_CHUNK: u8 = 2;
const KIND_TRAILER: u8 = 3;
const HEADER_FIXED: usize = 4 + 1 + 1 + 4;
const CHUNK_FIXED: usize = 1 + 8 + 4 + 4 + 1 + 4;
const TRAILER_LEN: usize = 1 + 8 + 8 + 32 + 4;
/// Largest header payload accepted.
const MAX_HEADER: usize = 64 << 10;
/// Largest raw chunk a stream may declare; bounds decoder memory.
pub const MAX_CHUNK: usize = 8 << 20;
const MAX_STORED: usize = MAX_CHUNK + (MAX_CHUNK >> 7) + 4096;

/// What goes into the encoder.
#[derive(Debug)]
pub enum SnapshotPiece {
    /// The header; must come first, once.
    Header(SnapshotHeader),
    /// Raw content; split into chunks of at most [`MAX_CHUNK`].
    Data(Bytes),
    /// Ends the stream with the trailer.
    Finish,
}

/// What comes out of the decoder.
#[derive(Debug, PartialEq, Eq)]
pub enum SnapshotItem {
    /// The header (always first).
    Header(SnapshotHeader),
    /// Raw content of the next chunk, checked.
    Data(Bytes),
    /// The trailer, checked against everything received.
    End(SnapshotSummary),
}

/// Totals of a snapshot stream, as the trailer states them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotSummary {
    /// Number of chunks.
    pub chunks: u64,
    /// Raw content bytes.
    pub raw_bytes: u64,
    /// SHA-256 of the raw content.
    pub digest: [u8; 32],
}

/// Why a snapshot stream was rejected or could not be written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SnapshotError {
    #[error("snapshot I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a snapshot stream (bad magic {0:02x?})")]
    BadMagic([u8; 4]),
    #[error("unsupported snapshot format version {0} (this build reads version {VERSION})")]
    UnsupportedVersion(u8),
    #[error("expected a {expected} frame, found frame kind {found}")]
    UnexpectedFrame { expected: &'static str, found: u8 },
    #[error("{field} is {value}, over the cap of {cap}")]
    OverCap {
        field: &'static str,
        value: u64,
        cap: u64,
    },
    #[error("checksum mismatch in the {frame} frame{}", .seq.map(|s| format!(" (chunk {s})")).unwrap_or_default())]
    Checksum {
        frame: &'static str,
        seq: Option<u64>,
    },
    #[error(
        "chunk {found} arrived where chunk {expected} was expected (missing or reordered chunk)"
    )]
    OutOfOrder { expected: u64, found: u64 },
    #[error("chunk {seq} does not decompress: {reason}")]
    Decompress { seq: u64, reason: String },
    #[error("chunk {seq} is inconsistent: {reason}")]
    BadChunk { seq: u64, reason: String },
    #[error("snapshot header does not decode: {0}")]
    Header(String),
    #[error("snapshot stream ended before its trailer, after {chunks} chunks ({raw_bytes} bytes)")]
    Truncated { chunks: u64, raw_bytes: u64 },
    #[error("trailer says {what} is {trailer} but {received} was received")]
    TrailerMismatch {
        what: &'static str,
        trailer: String,
        received: String,
    },
    #[error("{0} bytes follow the trailer")]
    TrailingData(usize),
    #[error("snapshot encoder misuse: {0}")]
    Misuse(&'static str),
    #[error("snapshot is of a {found} database; this backend is {expected}")]
    KindMismatch {
        expected: BackendKind,
        found: BackendKind,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Start,
    Body,
    Done,
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encodes [`SnapshotPiece`]s; numbers chunks and writes the trailer's totals and digest.
pub struct SnapshotEncoder {
    compressor: Option<zstd::bulk::Compressor<'static>>,
    phase: Phase,
    seq: u64,
    raw_bytes: u64,
    hasher: Sha256,
    summary: Option<SnapshotSummary>,
}

impl SnapshotEncoder {
    /// An encoder compressing chunks with zstd at `level`, or storing them raw (`None`).
    pub fn new(level: Option<i32>) -> Result<Self, SnapshotError> {
        let compressor = level.map(zstd::bulk::Compressor::new).transpose()?;
        Ok(SnapshotEncoder {
            compressor,
            phase: Phase::Start,
            seq: 0,
            raw_bytes: 0,
            hasher: Sha256::new(),
            summary: None,
        })
    }

    /// The totals, once `Finish` was encoded.
    pub fn summary(&self) -> Option<SnapshotSummary> {
        self.summary
    }

    fn chunk(&mut self, raw: &[u8], dst: &mut BytesMut) -> Result<(), SnapshotError> {
        let compressed = match &mut self.compressor {
            Some(c) if raw.len() >= 64 => c.compress(raw).ok().filter(|z| z.len() < raw.len()),
            _ => None,
        };
        let (codec, payload): (u8, &[u8]) = match &compressed {
            Some(z) => (1, z),
            None => (0, raw),
        };
        let start = dst.len();
        dst.reserve(CHUNK_FIXED + payload.len());
        dst.put_u8(KIND_CHUNK);
        dst.put_u64(self.seq);
        dst.put_u32(raw.len() as u32);
        dst.put_u32(payload.len() as u32);
        dst.put_u8(codec);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&dst[start..]);
        crc.update(payload);
        dst.put_u32(crc.finalize());
        dst.put_slice(payload);
        self.hasher.update(raw);
        self.seq += 1;
        self.raw_bytes += raw.len() as u64;
        Ok(())
    }
}

impl Encoder<SnapshotPiece> for SnapshotEncoder {
    type Error = SnapshotError;

    fn encode(&mut self, item: SnapshotPiece, dst: &mut BytesMut) -> Result<(), SnapshotError> {
        match (item, self.phase) {
            (SnapshotPiece::Header(h), Phase::Start) => {
                let payload = bincode::serde::encode_to_vec(&h, bincode::config::standard())
                    .map_err(|e| SnapshotError::Header(e.to_string()))?;
                if payload.len() > MAX_HEADER {
                    return Err(SnapshotError::OverCap {
                        field: "header length",
                        value: payload.len() as u64,
                        cap: MAX_HEADER as u64,
                    });
                }
                let start = dst.len();
                dst.put_slice(&MAGIC);
                dst.put_u8(VERSION);
                dst.put_u8(KIND_HEADER);
                dst.put_u32(payload.len() as u32);
                dst.put_slice(&payload);
                let crc = crc32fast::hash(&dst[start..]);
                dst.put_u32(crc);
                self.phase = Phase::Body;
                Ok(())
            }
            (SnapshotPiece::Data(data), Phase::Body) => {
                for piece in data.chunks(MAX_CHUNK) {
                    self.chunk(piece, dst)?;
                }
                Ok(())
            }
            (SnapshotPiece::Finish, Phase::Body) => {
                let digest: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
                let start = dst.len();
                dst.put_u8(KIND_TRAILER);
                dst.put_u64(self.seq);
                dst.put_u64(self.raw_bytes);
                dst.put_slice(&digest);
                let crc = crc32fast::hash(&dst[start..]);
                dst.put_u32(crc);
                self.phase = Phase::Done;
                self.summary = Some(SnapshotSummary {
                    chunks: self.seq,
                    raw_bytes: self.raw_bytes,
                    digest,
                });
                Ok(())
            }
            (SnapshotPiece::Header(_), _) => Err(SnapshotError::Misuse("header after the start")),
            (_, Phase::Start) => Err(SnapshotError::Misuse("data or finish before the header")),
            (_, Phase::Done) => Err(SnapshotError::Misuse("data or finish after the trailer")),
        }
    }
}

/// Decodes and checks a snapshot stream.
pub struct SnapshotDecoder {
    decompressor: zstd::bulk::Decompressor<'static>,
    phase: Phase,
    next_seq: u64,
    raw_bytes: u64,
    hasher: Sha256,
}

impl SnapshotDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Result<Self, SnapshotError> {
        Ok(SnapshotDecoder {
            decompressor: zstd::bulk::Decompressor::new()?,
            phase: Phase::Start,
            next_seq: 0,
            raw_bytes: 0,
            hasher: Sha256::new(),
        })
    }

    fn header(&mut self, src: &mut BytesMut) -> Result<Option<SnapshotItem>, SnapshotError> {
        // Say "not a snapshot" as soon as the magic can be read, before waiting for more.
        if src.len() >= 4 && src[0..4] != MAGIC {
            let mut magic = [0u8; 4];
            magic.copy_from_slice(&src[0..4]);
            return Err(SnapshotError::BadMagic(magic));
        }
        if src.len() < HEADER_FIXED {
            return Ok(None);
        }
        if src[4] != VERSION {
            return Err(SnapshotError::UnsupportedVersion(src[4]));
        }
        if src[5] != KIND_HEADER {
            return Err(SnapshotError::UnexpectedFrame {
                expected: "header",
                found: src[5],
            });
        }
        let len = u32::from_be_bytes([src[6], src[7], src[8], src[9]]) as usize;
        if len > MAX_HEADER {
            return Err(SnapshotError::OverCap {
                field: "header length",
                value: len as u64,
                cap: MAX_HEADER as u64,
            });
        }
        let total = HEADER_FIXED + len + 4;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        let stored = u32::from_be_bytes([
            src[total - 4],
            src[total - 3],
            src[total - 2],
            src[total - 1],
        ]);
        if crc32fast::hash(&src[..total - 4]) != stored {
            return Err(SnapshotError::Checksum {
                frame: "header",
                seq: None,
            });
        }
        let cfg = bincode::config::standard().with_limit::<{ MAX_HEADER * 4 }>();
        let (header, used): (SnapshotHeader, usize) =
            bincode::serde::decode_from_slice(&src[HEADER_FIXED..total - 4], cfg)
                .map_err(|e| SnapshotError::Header(e.to_string()))?;
        if used != len {
            return Err(SnapshotError::Header(format!(
                "{} bytes after the header",
                len - used
            )));
        }
        src.advance(total);
        self.phase = Phase::Body;
        Ok(Some(SnapshotItem::Header(header)))
    }

    fn chunk(&mut self, src: &mut BytesMut) -> Result<Option<SnapshotItem>, SnapshotError> {
        if src.len() < CHUNK_FIXED {
            return Ok(None);
        }
        let mut fields = &src[1..CHUNK_FIXED];
        let seq = fields.get_u64();
        let raw_len = fields.get_u32() as usize;
        let stored_len = fields.get_u32() as usize;
        let codec = fields.get_u8();
        let stored_crc = fields.get_u32();
        if raw_len > MAX_CHUNK {
            return Err(SnapshotError::OverCap {
                field: "chunk raw length",
                value: raw_len as u64,
                cap: MAX_CHUNK as u64,
            });
        }
        if stored_len > MAX_STORED {
            return Err(SnapshotError::OverCap {
                field: "chunk stored length",
                value: stored_len as u64,
                cap: MAX_STORED as u64,
            });
        }
        let total = CHUNK_FIXED + stored_len;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&src[..CHUNK_FIXED - 4]);
        crc.update(&src[CHUNK_FIXED..total]);
        if crc.finalize() != stored_crc {
            return Err(SnapshotError::Checksum {
                frame: "chunk",
                seq: Some(seq),
            });
        }
        if seq != self.next_seq {
            return Err(SnapshotError::OutOfOrder {
                expected: self.next_seq,
                found: seq,
            });
        }
        let payload = &src[CHUNK_FIXED..total];
        let raw = match codec {
            0 if stored_len == raw_len => Bytes::copy_from_slice(payload),
            0 => {
                return Err(SnapshotError::BadChunk {
                    seq,
                    reason: "raw chunk with stored length != raw length".into(),
                })
            }
            1 => {
                let mut out = vec![0u8; raw_len];
                let n = self
                    .decompressor
                    .decompress_to_buffer(payload, &mut out[..])
                    .map_err(|e| SnapshotError::Decompress {
                        seq,
                        reason: e.to_string(),
                    })?;
                if n != raw_len {
                    return Err(SnapshotError::BadChunk {
                        seq,
                        reason: format!("decompresses to {n} bytes, {raw_len} declared"),
                    });
                }
                Bytes::from(out)
            }
            other => {
                return Err(SnapshotError::BadChunk {
                    seq,
                    reason: format!("unknown codec {other}"),
                })
            }
        };
        src.advance(total);
        self.hasher.update(&raw);
        self.next_seq += 1;
        self.raw_bytes += raw_len as u64;
        Ok(Some(SnapshotItem::Data(raw)))
    }

    fn trailer(&mut self, src: &mut BytesMut) -> Result<Option<SnapshotItem>, SnapshotError> {
        if src.len() < TRAILER_LEN {
            return Ok(None);
        }
        let stored_crc = u32::from_be_bytes([
            src[TRAILER_LEN - 4],
            src[TRAILER_LEN - 3],
            src[TRAILER_LEN - 2],
            src[TRAILER_LEN - 1],
        ]);
        if crc32fast::hash(&src[..TRAILER_LEN - 4]) != stored_crc {
            return Err(SnapshotError::Checksum {
                frame: "trailer",
                seq: None,
            });
        }
        let mut fields = &src[1..TRAILER_LEN - 4];
        let chunks = fields.get_u64();
        let raw_bytes = fields.get_u64();
        let mut digest = [0u8; 32];
        fields.copy_to_slice(&mut digest);
        if chunks != self.next_seq {
            return Err(SnapshotError::TrailerMismatch {
                what: "the chunk count",
                trailer: chunks.to_string(),
                received: self.next_seq.to_string(),
            });
        }
        if raw_bytes != self.raw_bytes {
            return Err(SnapshotError::TrailerMismatch {
                what: "the byte count",
                trailer: raw_bytes.to_string(),
                received: self.raw_bytes.to_string(),
            });
        }
        let received: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
        if digest != received {
            return Err(SnapshotError::TrailerMismatch {
                what: "the SHA-256",
                trailer: hex(&digest),
                received: hex(&received),
            });
        }
        src.advance(TRAILER_LEN);
        self.phase = Phase::Done;
        Ok(Some(SnapshotItem::End(SnapshotSummary {
            chunks,
            raw_bytes,
            digest,
        })))
    }
}

impl Decoder for SnapshotDecoder {
    type Item = SnapshotItem;
    type Error = SnapshotError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<SnapshotItem>, SnapshotError> {
        match self.phase {
            Phase::Start => self.header(src),
            Phase::Body => match src.first() {
                None => Ok(None),
                Some(&KIND_CHUNK) => self.chunk(src),
                Some(&KIND_TRAILER) => self.trailer(src),
                Some(&other) => Err(SnapshotError::UnexpectedFrame {
                    expected: "chunk or trailer",
                    found: other,
                }),
            },
            Phase::Done if src.is_empty() => Ok(None),
            Phase::Done => Err(SnapshotError::TrailingData(src.len())),
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<SnapshotItem>, SnapshotError> {
        if let Some(item) = self.decode(src)? {
            return Ok(Some(item));
        }
        if self.phase != Phase::Done {
            return Err(SnapshotError::Truncated {
                chunks: self.next_seq,
                raw_bytes: self.raw_bytes,
            });
        }
        Ok(None)
    }
}
