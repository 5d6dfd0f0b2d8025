//! Async helpers: frame any `AsyncRead` as a snapshot stream, and read one back into any
//! `AsyncWrite`, with every check applied before the caller is told it succeeded.

use super::codec::{
    SnapshotDecoder, SnapshotEncoder, SnapshotError, SnapshotItem, SnapshotPiece, SnapshotSummary,
    MAX_CHUNK,
};
use super::header::SnapshotHeader;
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{FramedRead, FramedWrite};

/// Default raw chunk size: large enough for zstd to compress well, small enough to keep
/// memory flat.
pub const DEFAULT_CHUNK: usize = 1 << 20;

/// Reads `content` to its end and writes it to `out` as a snapshot stream (header, chunks
/// of `chunk` bytes, trailer), compressing with zstd at `level` (`None`: raw). Memory use
/// is about two chunks.
pub async fn write_snapshot<R, W>(
    header: SnapshotHeader,
    mut content: R,
    out: W,
    chunk: usize,
    level: Option<i32>,
) -> Result<SnapshotSummary, SnapshotError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let chunk = chunk.clamp(1, MAX_CHUNK);
    let mut framed = FramedWrite::new(out, SnapshotEncoder::new(level)?);
    framed.send(SnapshotPiece::Header(header)).await?;
    let mut buf = BytesMut::with_capacity(chunk);
    loop {
        // Fill one chunk (or reach the end of the content).
        let mut eof = false;
        while buf.len() < chunk {
            let want = chunk - buf.len();
            let n = (&mut content).take(want as u64).read_buf(&mut buf).await?;
            if n == 0 {
                eof = true;
                break;
            }
        }
        if !buf.is_empty() {
            framed
                .send(SnapshotPiece::Data(buf.split().freeze()))
                .await?;
        }
        if eof {
            break;
        }
        buf.reserve(chunk);
    }
    framed.send(SnapshotPiece::Finish).await?;
    let summary = framed
        .encoder()
        .summary()
        .ok_or(SnapshotError::Misuse("no trailer written"))?;
    let mut out = framed.into_inner();
    out.flush().await?;
    Ok(summary)
}

/// A snapshot stream being read: the header is known, the content follows.
pub struct SnapshotReader<R> {
    framed: FramedRead<R, SnapshotDecoder>,
    header: SnapshotHeader,
}

impl<R: AsyncRead + Unpin> SnapshotReader<R> {
    /// Reads and checks the header.
    pub async fn open(input: R) -> Result<Self, SnapshotError> {
        let mut framed = FramedRead::with_capacity(input, SnapshotDecoder::new()?, 64 << 10);
        match framed.next().await {
            Some(Ok(SnapshotItem::Header(header))) => Ok(SnapshotReader { framed, header }),
            Some(Ok(_)) => Err(SnapshotError::UnexpectedFrame {
                expected: "header",
                found: 0,
            }),
            Some(Err(e)) => Err(e),
            None => Err(SnapshotError::Truncated {
                chunks: 0,
                raw_bytes: 0,
            }),
        }
    }

    /// The stream's header.
    pub fn header(&self) -> &SnapshotHeader {
        &self.header
    }

    /// Writes the content to `out`. Succeeds only when the trailer matched what arrived
    /// and nothing followed it; on error, `out` has received a prefix of the content that
    /// must not be used (the restore must be abandoned).
    pub async fn copy_to<W: AsyncWrite + Unpin>(
        mut self,
        out: &mut W,
    ) -> Result<SnapshotSummary, SnapshotError> {
        while let Some(item) = self.framed.next().await {
            match item? {
                SnapshotItem::Data(bytes) => out.write_all(&bytes).await?,
                SnapshotItem::End(summary) => {
                    // Anything after the trailer is an error too.
                    if let Some(extra) = self.framed.next().await {
                        extra?;
                    }
                    out.flush().await?;
                    return Ok(summary);
                }
                SnapshotItem::Header(_) => {
                    return Err(SnapshotError::UnexpectedFrame {
                        expected: "chunk or trailer",
                        found: 1,
                    })
                }
            }
        }
        Err(SnapshotError::Truncated {
            chunks: 0,
            raw_bytes: 0,
        })
    }
}
