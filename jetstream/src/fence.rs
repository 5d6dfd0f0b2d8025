//! Writes that cannot land after another writer's: every message the store publishes names
//! the sequence the stream must be at (`Nats-Expected-Last-Sequence`), so once a second
//! store opened the same log (a second daemon configured on it, or a new leader after this
//! one was deposed) and wrote its claim, this one's next write is refused by JetStream
//! itself and it stops writing: two writers never interleave frames at the same LSNs.
//!
//! Retries stay exact: each message keeps its `Nats-Msg-Id` across attempts, and JetStream
//! answers a message it already stored (an acknowledgement lost to a failover) with its
//! first sequence before it looks at the expected one.

use crate::bridge::remote;
use async_nats::jetstream::context::{Publish, PublishError, PublishErrorKind};
use async_nats::jetstream::{self};
use async_nats::HeaderMap;
use bytes::Bytes;
use mdbd_engine::log::StorageError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One message to store: its subject, headers and payload.
pub(crate) type Message = (String, HeaderMap, Bytes);

/// Why a request failed: worth another try (the NATS side failing over), or not (what
/// came back is not the log's; another writer took over).
pub(crate) enum Failure {
    Transient(StorageError),
    Fatal(StorageError),
}

pub(crate) fn transient(e: impl std::fmt::Display) -> Failure {
    Failure::Transient(remote(e))
}

/// Requests retried and requests failed for good, for [`StorageStats`]
/// (`mdbd_log_store_*` metrics).
///
/// [`StorageStats`]: mdbd_engine::log::StorageStats
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub retried: AtomicU64,
    pub failed: AtomicU64,
}

/// What the store knows of one stream it writes to.
#[derive(Debug)]
pub(crate) struct Writes {
    /// The stream's last sequence, as of this store's last write (or its open).
    pub last: u64,
    /// The next message id's number (ids are `<nonce>-<number>`).
    pub next_id: u64,
    /// A write failed after retries: some of it may be stored, and `last` may be behind.
    pub unsure: bool,
}

/// After a write that failed, where the stream is now, if everything stored since `last`
/// is this writer's own (ids starting with `nonce`); another writer's message there
/// means this one was fenced off.
pub(crate) async fn resync(
    stream: &jetstream::stream::Stream,
    last: u64,
    nonce: &str,
) -> Result<u64, Failure> {
    let mut stream = stream.clone();
    let now = stream.info().await.map_err(transient)?.state.last_sequence;
    let ours = format!("{nonce}-");
    for seq in last + 1..=now {
        match stream.get_raw_message(seq).await {
            Ok(msg) => {
                let id = msg
                    .headers
                    .get(async_nats::header::NATS_MESSAGE_ID)
                    .map(|v| v.as_str().to_string());
                if !id.as_deref().is_some_and(|id| id.starts_with(&ours)) {
                    return Err(Failure::Fatal(StorageError::Fenced {
                        reason: format!(
                            "message {seq} of the log's stream is another writer's ({id:?}): \
                             this one was replaced and writes nothing more"
                        ),
                    }));
                }
            }
            Err(e) if e.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound => {}
            Err(e) => return Err(transient(format!("message {seq}: {e}"))),
        }
    }
    Ok(now)
}

/// Runs `attempt` until it succeeds, fails for good, or `limit` has passed since the first
/// try (then its last error). JetStream answers nothing, or "no responders", while a
/// stream elects a new leader after a node is lost: a few seconds at most.
pub(crate) async fn retrying<T, F, Fut>(
    limit: Duration,
    counters: &Counters,
    mut attempt: F,
) -> Result<T, StorageError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let started = Instant::now();
    let mut failures = 0u32;
    loop {
        match attempt().await {
            Ok(v) => {
                if failures > 0 {
                    tracing::info!(failures, after = ?started.elapsed(), "JetStream answers again");
                }
                return Ok(v);
            }
            Err(Failure::Transient(e)) if started.elapsed() < limit => {
                if failures == 0 {
                    tracing::warn!(error = %e, "JetStream request failed; retrying");
                }
                failures += 1;
                counters.retried.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100 * u64::from(failures.min(5)))).await;
            }
            Err(Failure::Transient(e) | Failure::Fatal(e)) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        }
    }
}

fn failure(e: PublishError) -> Failure {
    if e.kind() == PublishErrorKind::WrongLastSequence {
        return Failure::Fatal(StorageError::Fenced {
            reason: format!(
                "another writer appended to the log ({e}): a second mdbd opened it, or this one \
                 was replaced; this one writes nothing more"
            ),
        });
    }
    transient(e)
}

/// Sends `messages` one after the other on one connection, message `i` expecting the
/// stream at `last + i` and carrying id `<nonce>-<first_id + i>`, and awaits their
/// acknowledgements together; returns their sequences.
pub(crate) async fn publish_all(
    js: &jetstream::Context,
    messages: &[Message],
    last: u64,
    nonce: &str,
    first_id: u64,
) -> Result<Vec<u64>, Failure> {
    let mut acks = Vec::with_capacity(messages.len());
    for (i, (subject, headers, payload)) in messages.iter().enumerate() {
        let publish = Publish::build()
            .headers(headers.clone())
            .payload(payload.clone())
            .message_id(format!("{nonce}-{}", first_id + i as u64))
            .expected_last_sequence(last + i as u64);
        acks.push(
            js.send_publish(subject.clone(), publish)
                .await
                .map_err(failure)?,
        );
    }
    let mut seqs = Vec::with_capacity(acks.len());
    for ack in acks {
        seqs.push(ack.await.map_err(failure)?.sequence);
    }
    Ok(seqs)
}
