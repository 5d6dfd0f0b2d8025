//! Streams the donor's snapshot through the snapshot codec into the joiner, in bounded
//! memory: donor -> pipe -> encoder -> pipe -> decoder (every check) -> pipe -> joiner.
//!
//! All four stages run concurrently in one task; the first failure stops them all (a tool
//! process is killed when its stage is dropped), so a donor that dies mid-dump never hands
//! the joiner a stream that looks complete: the encoder would see the end of a cut-off
//! dump, but the whole transfer has already failed with the donor's error.

use super::registry::Progress;
use crate::backend::{Backend, BackendError};
use crate::snapshot::{write_snapshot, SnapshotHeader, SnapshotReader, DEFAULT_CHUNK};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Which side of a transfer failed, and how.
#[derive(Debug)]
pub(super) enum TransferError {
    Donor(String),
    Joiner(String),
    Codec(String),
}

impl std::fmt::Display for TransferError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransferError::Donor(e) => write!(f, "donor snapshot failed: {e}"),
            TransferError::Joiner(e) => write!(f, "joiner restore failed: {e}"),
            TransferError::Codec(e) => write!(f, "snapshot stream rejected: {e}"),
        }
    }
}

/// Counts the bytes written through it into the join's progress.
struct Counting<'a, W> {
    inner: W,
    progress: &'a Progress,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counting<'_, W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            self.progress.bytes.fetch_add(*n as u64, Ordering::Relaxed);
        }
        polled
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

const PIPE: usize = 1 << 20;

/// Moves `donor`'s snapshot into `joiner` (already emptied). Returns the content bytes.
pub(super) async fn transfer(
    donor: &dyn Backend,
    joiner: &dyn Backend,
    header: SnapshotHeader,
    compression: Option<i32>,
    progress: &Progress,
) -> Result<u64, TransferError> {
    let content_type = header.content_type.clone();
    let (mut dump_w, dump_r) = tokio::io::duplex(PIPE);
    let (mut framed_w, framed_r) = tokio::io::duplex(PIPE);
    let (restore_w, mut restore_r) = tokio::io::duplex(PIPE);
    let dump = async move {
        let info = donor
            .snapshot(&mut dump_w)
            .await
            .map_err(|e| TransferError::Donor(e.to_string()))?;
        dump_w
            .shutdown()
            .await
            .map_err(|e| TransferError::Donor(e.to_string()))?;
        Ok::<_, TransferError>(info)
    };
    let frame = async move {
        write_snapshot(header, dump_r, &mut framed_w, DEFAULT_CHUNK, compression)
            .await
            .map_err(|e| TransferError::Codec(e.to_string()))?;
        framed_w
            .shutdown()
            .await
            .map_err(|e| TransferError::Codec(e.to_string()))
    };
    let check = async move {
        let reader = SnapshotReader::open(framed_r)
            .await
            .map_err(|e| TransferError::Codec(e.to_string()))?;
        // The donor is dumping now (its stream has begun): a crash test pauses here.
        super::failpoint("join-snapshot").await;
        let mut out = Counting {
            inner: restore_w,
            progress,
        };
        let summary = reader
            .copy_to(&mut out)
            .await
            .map_err(|e| TransferError::Codec(e.to_string()))?;
        out.shutdown()
            .await
            .map_err(|e| TransferError::Joiner(e.to_string()))?;
        Ok::<_, TransferError>(summary.raw_bytes)
    };
    let restore = async move {
        joiner
            .restore(&content_type, &mut restore_r)
            .await
            .map_err(|e: BackendError| TransferError::Joiner(e.to_string()))
    };
    let (info, (), bytes, ()) = tokio::try_join!(dump, frame, check, restore)?;
    tracing::debug!(lsn = %info.lsn, bytes, "snapshot transferred");
    Ok(bytes)
}
