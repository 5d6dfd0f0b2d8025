//! Reaching the log: connecting, creating its stream and bucket where they do not exist,
//! and reading the stream once at open.

use crate::bridge::remote;
use crate::names::{self, Entry};
use crate::store::{JetStreamOptions, READ_AHEAD};
use async_nats::jetstream::{self, kv, stream};
use futures_util::future::join_all;
use mdbd_engine::log::StorageError;
use std::time::{Duration, Instant};

/// The servers of the options as the client takes them.
pub(crate) fn addresses(servers: &[String]) -> Result<Vec<async_nats::ServerAddr>, StorageError> {
    servers
        .iter()
        .map(|s| {
            s.parse::<async_nats::ServerAddr>()
                .map_err(|e| remote(format!("server {s:?}: {e}")))
        })
        .collect()
}

fn header(msg: &jetstream::message::StreamMessage, name: &str) -> Option<String> {
    msg.headers.get(name).map(|v| v.as_str().to_string())
}

pub(crate) fn entry_of(msg: &jetstream::message::StreamMessage) -> Result<Entry, StorageError> {
    names::parse_entry(
        header(msg, names::KIND).as_deref(),
        header(msg, names::KEY).as_deref(),
        header(msg, names::PUT).as_deref(),
        &msg.payload,
    )
    .map_err(|e| remote(format!("message {} of the stream: {e}", msg.sequence)))
}

/// How long one attempt of a request waits for its answer: a fifth of the request
/// timeout (which its retries share), between 1 and 5 s.
fn attempt_timeout(timeout: Duration) -> Duration {
    (timeout / 5).clamp(Duration::from_secs(1), Duration::from_secs(5))
}

/// What opening connects to: the client, its JetStream context, the log's stream, the
/// bucket and the bucket's stream.
pub(crate) type Opened = (
    async_nats::Client,
    jetstream::Context,
    stream::Stream,
    kv::Store,
    stream::Stream,
);

pub(crate) async fn connect(options: JetStreamOptions) -> Result<Opened, StorageError> {
    let addrs = addresses(&options.servers)?;
    // One attempt waits a fraction of the request timeout: an append sent to a stream
    // leader that just died is never answered, and its retry (same message id, so never
    // stored twice) must come while the window is still open.
    let attempt = attempt_timeout(options.timeout);
    let client = async_nats::ConnectOptions::new()
        .name("mdbd")
        .connection_timeout(options.timeout)
        .request_timeout(Some(attempt))
        .connect(addrs)
        .await
        .map_err(|e| remote(format!("connecting to {}: {e}", options.servers.join(", "))))?;
    let mut js = jetstream::new(client.clone());
    js.set_timeout(attempt);
    let started = Instant::now();
    // A NATS cluster just started elects its meta leader first: until then stream
    // requests fail, and opening retries.
    let stream = loop {
        let config = stream::Config {
            name: names::stream(&options.name),
            subjects: vec![names::subject(&options.name)],
            storage: stream::StorageType::File,
            num_replicas: options.replicas,
            ..Default::default()
        };
        match js.get_or_create_stream(config).await {
            Ok(s) => break s,
            Err(e) if started.elapsed() < options.open_timeout => {
                tracing::debug!(error = %e, "the log's stream is not available yet");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(remote(format!("creating the log's stream: {e}"))),
        }
    };
    if stream.cached_info().config.num_replicas != options.replicas {
        tracing::warn!(
            stream = %names::stream(&options.name),
            has = stream.cached_info().config.num_replicas,
            configured = options.replicas,
            "the log's stream exists with another number of replicas; it is used as it is"
        );
    }
    let bucket = names::bucket(&options.name);
    let (kv, kv_stream) = loop {
        // The bucket's stream is made here with the settings `create_key_value` uses:
        // that call first reads the account's limits, whose answer from a 2.9 server the
        // client cannot parse.
        let config = stream::Config {
            name: format!("KV_{bucket}"),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            storage: stream::StorageType::File,
            num_replicas: options.replicas,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        };
        let found = match js.get_or_create_stream(config).await {
            Ok(kv_stream) => js
                .get_key_value(bucket.clone())
                .await
                .map(|kv| (kv, kv_stream))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match found {
            Ok(found) => break found,
            Err(e) if started.elapsed() < options.open_timeout => {
                tracing::debug!(error = %e, "the log's bucket is not available yet");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(remote(format!("creating the log's bucket: {e}"))),
        }
    };
    Ok((client, js, stream, kv, kv_stream))
}

/// Every message of the stream, in sequence order, and the stream's last sequence.
pub(crate) async fn scan(
    stream: &mut stream::Stream,
) -> Result<(Vec<(u64, Entry)>, u64), StorageError> {
    let state = stream.info().await.map_err(remote)?.state.clone();
    let mut entries = Vec::new();
    if state.messages == 0 {
        return Ok((entries, state.last_sequence));
    }
    let seqs: Vec<u64> = (state.first_sequence..=state.last_sequence).collect();
    for chunk in seqs.chunks(READ_AHEAD) {
        let got = join_all(chunk.iter().map(|s| stream.get_raw_message(*s))).await;
        for (seq, r) in chunk.iter().zip(got) {
            match r {
                Ok(msg) => entries.push((*seq, entry_of(&msg)?)),
                // Deleted: a gap in the sequence.
                Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {}
                Err(e) => return Err(remote(format!("message {seq}: {e}"))),
            }
        }
    }
    Ok((entries, state.last_sequence))
}
