//! [`JetStreamStorage`]: the log's frames as messages of one stream, its metadata in a
//! key-value bucket, read through an in-memory index (`index.rs`).

use crate::bridge::{remote, Bridge};
use crate::fence::{self, retrying, transient, Counters, Failure, Message, Writes};
use crate::index::Index;
use crate::names::{self, Entry};
use crate::open::{connect, entry_of, scan};
use async_nats::jetstream::{self, kv, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::future::join_all;
use futures_util::TryStreamExt;
use mdbd_engine::log::{FrameIter, FrameKey, LogStorage, StorageError, StorageStats};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How [`JetStreamStorage::open`] reaches the log (`[log.jetstream]` in the daemon's config).
#[derive(Clone, Debug)]
pub struct JetStreamOptions {
    /// NATS servers, `nats://host:port`; the client moves between them as they fail.
    pub servers: Vec<String>,
    /// The log's name: stream `MDBD_LOG_<name>`, bucket `mdbd_meta_<name>`. Every mdbd
    /// node of one cluster uses the same name; clusters sharing NATS use different ones.
    pub name: String,
    /// Copies JetStream keeps of the stream and the bucket when it creates them (1, or 3
    /// on a 3-node NATS cluster: an append is then acknowledged once a majority has it).
    pub replicas: usize,
    /// How long one request may take, retries included, before the store reports the
    /// log unreachable. JetStream takes 4 to 9 s to elect a new leader for a stream whose
    /// leader's node was lost; requests are retried meanwhile. Default 15 s.
    pub timeout: Duration,
    /// How long opening keeps trying while the NATS cluster elects its leaders.
    pub open_timeout: Duration,
}

impl Default for JetStreamOptions {
    fn default() -> Self {
        JetStreamOptions {
            servers: vec!["nats://127.0.0.1:4222".into()],
            name: "mdbd".into(),
            replicas: 1,
            timeout: Duration::from_secs(15),
            open_timeout: Duration::from_secs(30),
        }
    }
}

/// Room left in a message for its headers: a frame may be at most the server's
/// `max_payload` minus this.
const HEADER_ROOM: usize = 4096;
/// Messages read at once when the log is scanned or read in order.
pub(crate) const READ_AHEAD: usize = 32;

/// The delta log's storage on NATS JetStream. See the [crate docs](crate) for the layout
/// and what each method's durability means here.
pub struct JetStreamStorage {
    bridge: Bridge,
    js: jetstream::Context,
    stream: stream::Stream,
    kv: kv::Store,
    kv_stream: stream::Stream,
    subject: String,
    bucket: String,
    index: Mutex<Index>,
    writes: Mutex<WriteState>,
    /// This store's writer id, the prefix of its messages' ids.
    nonce: String,
    max_frame: usize,
    next_put: AtomicU64,
    timeout: Duration,
    counters: Arc<Counters>,
}

/// What this store knows of its writes to the log's stream and to the bucket (see
/// `fence.rs`).
struct WriteState {
    log: Writes,
    meta: Writes,
    /// Set once another writer took over: every later write fails with this.
    fenced: Option<String>,
    /// Opened with [`JetStreamStorage::open_read_only`]: every write fails.
    read_only: bool,
}

/// Which stream a write goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Log,
    Meta,
}

/// The bucket key a store writes its claim to; never a metadata key (those have no `.`).
const WRITER_KEY: &str = "mdbd.writer";

impl JetStreamStorage {
    /// Connects, creates the stream and the bucket if they do not exist, and reads the
    /// stream to build the index (deleting what a crash left that does not count).
    pub fn open(options: &JetStreamOptions) -> Result<Self, StorageError> {
        Self::open_as(options, true)
    }

    /// Opens the log to read it only (`mdbd log verify` and `dump` while a daemon runs on
    /// it): no claim, so the writer is not fenced off, and every write of this handle fails.
    pub fn open_read_only(options: &JetStreamOptions) -> Result<Self, StorageError> {
        Self::open_as(options, false)
    }

    fn open_as(options: &JetStreamOptions, writer: bool) -> Result<Self, StorageError> {
        names::check_name(&options.name).map_err(remote)?;
        if options.servers.is_empty() {
            return Err(remote("no NATS server given"));
        }
        names::check_replicas(options.replicas).map_err(remote)?;
        let bridge = Bridge::new(options.timeout)?;
        let opts = options.clone();
        // The retries end at `open_timeout`, the last request's own timeout after.
        let limit = options.open_timeout + options.timeout;
        let (client, js, stream, kv, kv_stream) =
            bridge.run_for("opening the log", limit, connect(opts))?;
        let (mut scanned, mut kv_info) = (stream.clone(), kv_stream.clone());
        let (entries, log_last, meta_last) =
            bridge.run_for("reading the log", options.open_timeout * 4, async move {
                let (entries, last) = scan(&mut scanned).await?;
                let meta_last = kv_info.info().await.map_err(remote)?.state.last_sequence;
                Ok((entries, last, meta_last))
            })?;
        let (index, garbage) = Index::rebuild(&entries);
        let max_frame = client.server_info().max_payload.saturating_sub(HEADER_ROOM);
        // A put numbered from the clock is unique across restarts without any state; so is
        // the writer's id.
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let store = JetStreamStorage {
            bridge,
            js,
            stream,
            kv,
            kv_stream,
            subject: names::subject(&options.name),
            bucket: names::bucket(&options.name),
            next_put: AtomicU64::new(clock.max(index.max_put + 1)),
            index: Mutex::new(index),
            writes: Mutex::new(WriteState {
                log: Writes {
                    last: log_last,
                    next_id: 0,
                    unsure: false,
                },
                meta: Writes {
                    last: meta_last,
                    next_id: 0,
                    unsure: false,
                },
                fenced: None,
                read_only: !writer,
            }),
            nonce: format!("{clock:x}.{:x}", std::process::id()),
            max_frame,
            timeout: options.timeout,
            counters: Arc::default(),
        };
        if writer {
            store.claim().map_err(|e| match e {
                // Its claim found the stream moved since it was read: a writer is
                // appending right now.
                StorageError::Fenced { .. } => remote(format!(
                    "another writer appended to log {:?} while this one opened it: is a \
                     second mdbd running on it?",
                    options.name
                )),
                other => other,
            })?;
        }
        tracing::info!(
            stream = %names::stream(&options.name),
            messages = entries.len(),
            frames = store.index().len(),
            garbage = garbage.len(),
            max_frame,
            writer = %store.nonce,
            "opened the delta log on JetStream"
        );
        if writer {
            store.delete(garbage);
        }
        Ok(store)
    }

    /// Writes this store's claim to the stream and the bucket: a writer that opened the
    /// log before it (and is still running) has its next write refused.
    fn claim(&self) -> Result<(), StorageError> {
        let mut h = HeaderMap::new();
        h.insert(names::KIND, "claim");
        let seqs = self.publish(
            Target::Log,
            vec![(self.subject.clone(), h, self.nonce.clone().into())],
        )?;
        let meta = format!("$KV.{}.{WRITER_KEY}", self.bucket);
        self.publish(
            Target::Meta,
            vec![(meta, HeaderMap::new(), self.nonce.clone().into())],
        )?;
        // The claim counts for its sequence alone: the message itself is not needed.
        self.delete(seqs);
        Ok(())
    }

    /// The largest frame this store takes (the server's `max_payload`, less room for
    /// headers): the daemon keeps its log's frame and part sizes below it.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Deletes messages that no longer count. Best effort: what is left is found again as
    /// garbage at the next open.
    fn delete(&self, seqs: Vec<u64>) {
        if seqs.is_empty() {
            return;
        }
        let stream = self.stream.clone();
        let n = seqs.len();
        let deleted = self.bridge.run("deleting removed frames", async move {
            for chunk in seqs.chunks(READ_AHEAD) {
                let results = join_all(chunk.iter().map(|s| stream.delete_message(*s))).await;
                for r in results {
                    r.map_err(remote)?;
                }
            }
            Ok(())
        });
        if let Err(e) = deleted {
            tracing::warn!(messages = n, error = %e, "left removed frames in the stream");
        }
    }

    /// The frame in message `seq`, checked to be the one at `key`; `None` if the message
    /// is gone (removed since the index was read).
    fn fetch(&self, keys: Vec<(FrameKey, u64)>) -> Result<Vec<(FrameKey, Bytes)>, StorageError> {
        let stream = self.stream.clone();
        self.request("reading frames", move || {
            let (stream, keys) = (stream.clone(), keys.clone());
            async move {
                let got = join_all(keys.iter().map(|(_, seq)| stream.get_raw_message(*seq))).await;
                let mut out = Vec::with_capacity(keys.len());
                for ((key, seq), r) in keys.into_iter().zip(got) {
                    match r {
                        Ok(msg) => {
                            let entry = entry_of(&msg).map_err(Failure::Fatal)?;
                            if !matches!(entry, Entry::Frame { key: k, .. } if k == key) {
                                return Err(Failure::Fatal(remote(format!(
                                    "message {seq} of the stream is not frame {}",
                                    names::key_hex(key)
                                ))));
                            }
                            out.push((key, msg.payload));
                        }
                        Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {}
                        Err(e) => return Err(transient(format!("message {seq}: {e}"))),
                    }
                }
                Ok(out)
            }
        })
    }

    /// Stores `messages` in this order in `target`'s stream and returns their sequences,
    /// each expecting the stream where this store's last write left it (see `fence.rs`).
    /// A failure (a NATS node failing over: no responders, a timeout) is retried for up to
    /// the request timeout with the same message ids; after one that still failed, the
    /// next write first checks that whatever was stored meanwhile is this store's own.
    fn publish(&self, target: Target, messages: Vec<Message>) -> Result<Vec<u64>, StorageError> {
        let mut state = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        if state.read_only {
            return Err(remote("the log was opened to be read only"));
        }
        if let Some(reason) = &state.fenced {
            return Err(StorageError::Fenced {
                reason: reason.clone(),
            });
        }
        let (js, nonce, timeout) = (self.js.clone(), self.nonce.clone(), self.timeout);
        let counters = self.counters.clone();
        let stream = match target {
            Target::Log => self.stream.clone(),
            Target::Meta => self.kv_stream.clone(),
        };
        let writes = match target {
            Target::Log => &mut state.log,
            Target::Meta => &mut state.meta,
        };
        let (last, first_id, unsure) = (writes.last, writes.next_id, writes.unsure);
        writes.next_id += messages.len() as u64;
        let result = self
            .bridge
            .run_for("appending to the log", timeout * 2, async move {
                let last = if unsure {
                    retrying(timeout, &counters, || fence::resync(&stream, last, &nonce)).await?
                } else {
                    last
                };
                let seqs = retrying(timeout, &counters, || {
                    fence::publish_all(&js, &messages, last, &nonce, first_id)
                })
                .await?;
                Ok((last, seqs))
            });
        match result {
            Ok((last, seqs)) => {
                writes.last = seqs.iter().copied().max().unwrap_or(last).max(last);
                writes.unsure = false;
                Ok(seqs)
            }
            Err(StorageError::Fenced { reason }) => {
                tracing::error!(%reason, "the delta log on JetStream is fenced off");
                state.fenced = Some(reason.clone());
                Err(StorageError::Fenced { reason })
            }
            Err(e) => {
                writes.unsure = true;
                Err(e)
            }
        }
    }

    /// One request (`attempt`, retried as [`retrying`] says) through the bridge.
    fn request<T, F, Fut>(&self, what: &str, attempt: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, Failure>> + Send,
    {
        let (timeout, counters) = (self.timeout, self.counters.clone());
        self.bridge.run_for(what, timeout * 2, async move {
            retrying(timeout, &counters, attempt).await
        })
    }
}

fn frame_headers(key: FrameKey, put: Option<u64>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(names::KIND, "frame");
    h.insert(names::KEY, names::key_hex(key).as_str());
    if let Some(p) = put {
        h.insert(names::PUT, format!("{p:016x}").as_str());
    }
    h
}

impl LogStorage for JetStreamStorage {
    fn stats(&self) -> StorageStats {
        let fenced = self
            .writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fenced
            .is_some();
        StorageStats {
            retried_requests: self.counters.retried.load(Ordering::Relaxed),
            failed_requests: self.counters.failed.load(Ordering::Relaxed),
            fenced,
        }
    }

    fn put_frames(&self, frames: &[(FrameKey, Vec<u8>)]) -> Result<(), StorageError> {
        if frames.is_empty() {
            return Ok(());
        }
        if let Some((key, f)) = frames.iter().find(|(_, f)| f.len() > self.max_frame) {
            return Err(remote(format!(
                "frame {} is {} bytes, more than the server's max_payload leaves room for ({})",
                names::key_hex(*key),
                f.len(),
                self.max_frame
            )));
        }
        // Several frames go in as one put: each names it, and a commit after them makes
        // them count together (JetStream 2.9 has no atomic batch).
        let put = (frames.len() > 1).then(|| self.next_put.fetch_add(1, Ordering::Relaxed));
        let messages: Vec<Message> = frames
            .iter()
            .map(|(k, f)| {
                let h = frame_headers(*k, put);
                (self.subject.clone(), h, Bytes::copy_from_slice(f))
            })
            .collect();
        let mut seqs = self.publish(Target::Log, messages)?;
        if let Some(p) = put {
            // Only once every frame is acknowledged: a commit stored without one of its
            // frames (lost in a leader change) would make a torn put count.
            let mut h = HeaderMap::new();
            h.insert(names::KIND, "commit");
            h.insert(names::PUT, format!("{p:016x}").as_str());
            seqs.extend(self.publish(Target::Log, vec![(self.subject.clone(), h, Bytes::new())])?);
        }
        let garbage = {
            let mut index = self.index();
            if let (Some(p), Some(seq)) = (put, seqs.last()) {
                index.commit(p, *seq);
            }
            let mut garbage = Vec::new();
            for ((key, _), seq) in frames.iter().zip(&seqs) {
                garbage.extend(index.insert(*key, *seq, put));
            }
            garbage
        };
        self.delete(garbage);
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        // Every put, removal and metadata write returned only once JetStream acknowledged
        // it: there is nothing left to make durable here (see the crate docs).
        Ok(())
    }

    fn get_frame(&self, key: FrameKey) -> Result<Option<Bytes>, StorageError> {
        let Some(seq) = self.index().get(key) else {
            return Ok(None);
        };
        Ok(self.fetch(vec![(key, seq)])?.pop().map(|(_, b)| b))
    }

    fn frame_at_or_before(&self, key: FrameKey) -> Result<Option<(FrameKey, Bytes)>, StorageError> {
        let Some(found) = self.index().at_or_before(key) else {
            return Ok(None);
        };
        Ok(self.fetch(vec![found])?.pop())
    }

    fn frames_from(&self, from: FrameKey) -> FrameIter<'_> {
        Box::new(InOrder {
            store: self,
            todo: self.index().from(from).into(),
            ready: VecDeque::new(),
            failed: false,
        })
    }

    fn remove_frames(&self, keys: &[FrameKey]) -> Result<(), StorageError> {
        let mut index = self.index();
        let live: Vec<FrameKey> = keys
            .iter()
            .filter(|k| index.get(**k).is_some())
            .copied()
            .collect();
        if live.is_empty() {
            return Ok(());
        }
        // A removal message first: it says which frames went, counts from the moment it
        // is stored (several messages cannot be deleted at once), and is fenced like every
        // write, so that a writer that was replaced removes nothing.
        let mut h = HeaderMap::new();
        h.insert(names::KIND, "remove");
        let payload = names::encode_keys(&live).into();
        let mut garbage = self.publish(Target::Log, vec![(self.subject.clone(), h, payload)])?;
        if let Some(floor) = index.purge_floor(&live) {
            // A prefix of the stream (the usual truncation): one purge.
            let stream = self.stream.clone();
            self.request("removing frames", move || {
                let stream = stream.clone();
                async move {
                    stream.purge().sequence(floor).await.map_err(transient)?;
                    Ok(())
                }
            })?;
            index.remove(&live);
        } else {
            garbage.extend(index.remove(&live));
        }
        drop(index);
        self.delete(garbage);
        Ok(())
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let (kv, key) = (self.kv.clone(), names::meta_key(key));
        self.request("reading metadata", move || {
            let (kv, key) = (kv.clone(), key.clone());
            async move { Ok(kv.get(key).await.map_err(transient)?.map(|b| b.to_vec())) }
        })
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let subject = format!("$KV.{}.{}", self.bucket, names::meta_key(key));
        let value = Bytes::copy_from_slice(value);
        self.publish(Target::Meta, vec![(subject, HeaderMap::new(), value)])?;
        Ok(())
    }

    fn remove_meta(&self, key: &str) -> Result<(), StorageError> {
        // What `kv::Store::purge` sends: the key's history goes, `get` finds nothing.
        let subject = format!("$KV.{}.{}", self.bucket, names::meta_key(key));
        let mut h = HeaderMap::new();
        h.insert("KV-Operation", "PURGE");
        h.insert("Nats-Rollup", "sub");
        self.publish(Target::Meta, vec![(subject, h, Bytes::new())])?;
        Ok(())
    }

    fn scan_meta(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let kv = self.kv.clone();
        let prefix = prefix.to_string();
        self.request("reading metadata", move || {
            let (kv, prefix) = (kv.clone(), prefix.clone());
            async move {
                let keys: Vec<String> = kv
                    .keys()
                    .await
                    .map_err(transient)?
                    .try_collect()
                    .await
                    .map_err(transient)?;
                let mut out = Vec::new();
                for stored in keys {
                    if stored == WRITER_KEY {
                        continue;
                    }
                    let key = names::parse_meta_key(&stored).ok_or_else(|| {
                        Failure::Fatal(remote(format!("bucket key {stored:?} is not the log's")))
                    })?;
                    if !key.starts_with(&prefix) {
                        continue;
                    }
                    if let Some(v) = kv.get(stored).await.map_err(transient)? {
                        out.push((key, v.to_vec()));
                    }
                }
                out.sort();
                Ok(out)
            }
        })
    }
}

/// [`LogStorage::frames_from`]: the index's keys at the call, read [`READ_AHEAD`] at a time.
struct InOrder<'a> {
    store: &'a JetStreamStorage,
    todo: VecDeque<(FrameKey, u64)>,
    ready: VecDeque<(FrameKey, Bytes)>,
    failed: bool,
}

impl Iterator for InOrder<'_> {
    type Item = Result<(FrameKey, Bytes), StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.ready.is_empty() && !self.todo.is_empty() && !self.failed {
            let n = READ_AHEAD.min(self.todo.len());
            let batch: Vec<(FrameKey, u64)> = self.todo.drain(..n).collect();
            match self.store.fetch(batch) {
                Ok(frames) => self.ready.extend(frames),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        self.ready.pop_front().map(Ok)
    }
}
