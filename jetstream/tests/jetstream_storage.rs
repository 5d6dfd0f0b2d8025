//! The `LogStorage` contract on JetStream, against throwaway `nats-server`s: what a put,
//! a removal and a metadata write leave after the store is opened again; a put cut short;
//! a second writer fencing the first off; the delta log itself on JetStream; one node of
//! three lost under appends.

use bytes::Bytes;
use mdbd_engine::log::{
    DeltaLog, Durability, FrameKey, LogOptions, LogStorage, Lsn, Payload, Record, Statement,
    StorageError, Value, WriteTxn,
};
use mdbd_jetstream::{JetStreamOptions, JetStreamStorage};
use mdbd_testkit::NatsCluster;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn options(nats: &NatsCluster, replicas: usize) -> JetStreamOptions {
    JetStreamOptions {
        servers: nats.urls(),
        name: "test".into(),
        replicas,
        timeout: Duration::from_secs(15),
        open_timeout: Duration::from_secs(30),
    }
}

fn k(lsn: u64, part: u32) -> FrameKey {
    FrameKey {
        lsn: Lsn(lsn),
        part,
    }
}

fn frame(n: u64) -> Vec<u8> {
    format!("frame {n}").into_bytes()
}

fn all(store: &JetStreamStorage) -> Vec<(FrameKey, Bytes)> {
    store
        .frames_from(k(0, 0))
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

#[test]
fn frames_and_metadata_are_there_after_the_store_is_opened_again() {
    let nats = NatsCluster::single().unwrap();
    {
        let store = JetStreamStorage::open(&options(&nats, 1)).unwrap();
        store.put_frames(&[(k(1, 0), frame(1))]).unwrap();
        // A split record's parts, put together.
        let parts: Vec<(FrameKey, Vec<u8>)> =
            (0..3).map(|p| (k(2, p), frame(20 + p as u64))).collect();
        store.put_frames(&parts).unwrap();
        store.put_frames(&[(k(5, 0), frame(5))]).unwrap();
        store.put_meta("first_lsn", &1u64.to_be_bytes()).unwrap();
        store.put_meta("cursor:b-1", b"7").unwrap();
        store.put_meta("cursor:b.2/x", b"8").unwrap();
        store.put_meta("app:member", b"active").unwrap();
        store.sync().unwrap();
    }
    let store = JetStreamStorage::open(&options(&nats, 1)).unwrap();
    let keys: Vec<FrameKey> = all(&store).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec![k(1, 0), k(2, 0), k(2, 1), k(2, 2), k(5, 0)]);
    assert_eq!(
        store.get_frame(k(2, 1)).unwrap().as_deref(),
        Some(&frame(21)[..])
    );
    assert_eq!(store.get_frame(k(3, 0)).unwrap(), None);
    let (at, bytes) = store.frame_at_or_before(k(4, 9)).unwrap().unwrap();
    assert_eq!((at, &bytes[..]), (k(2, 2), &frame(22)[..]));
    assert_eq!(store.frame_at_or_before(k(0, 5)).unwrap(), None);
    let from: Vec<FrameKey> = store.frames_from(k(2, 1)).map(|r| r.unwrap().0).collect();
    assert_eq!(from, vec![k(2, 1), k(2, 2), k(5, 0)]);
    assert_eq!(
        store.scan_meta("cursor:").unwrap(),
        vec![
            ("cursor:b-1".to_string(), b"7".to_vec()),
            ("cursor:b.2/x".to_string(), b"8".to_vec())
        ]
    );
    assert_eq!(
        store.get_meta("app:member").unwrap(),
        Some(b"active".to_vec())
    );
    store.remove_meta("app:member").unwrap();
    assert_eq!(store.get_meta("app:member").unwrap(), None);
    assert_eq!(store.get_meta("never").unwrap(), None);
}

#[test]
fn removals_of_a_prefix_and_of_scattered_frames_hold_after_reopen() {
    let nats = NatsCluster::single().unwrap();
    {
        let store = JetStreamStorage::open(&options(&nats, 1)).unwrap();
        for n in 1..=6 {
            store.put_frames(&[(k(n, 0), frame(n))]).unwrap();
        }
        store
            .put_frames(&[(k(7, 0), frame(70)), (k(7, 1), frame(71))])
            .unwrap();
        // A truncation: a prefix, one purge.
        store.remove_frames(&[k(1, 0), k(2, 0)]).unwrap();
        // A corrupt tail's removal: not a prefix.
        store.remove_frames(&[k(4, 0), k(6, 0), k(7, 1)]).unwrap();
        // Written again at a removed key.
        store.put_frames(&[(k(6, 0), frame(66))]).unwrap();
        let keys: Vec<FrameKey> = all(&store).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![k(3, 0), k(5, 0), k(6, 0), k(7, 0)]);
    }
    let store = JetStreamStorage::open(&options(&nats, 1)).unwrap();
    let got = all(&store);
    let keys: Vec<FrameKey> = got.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, vec![k(3, 0), k(5, 0), k(6, 0), k(7, 0)]);
    assert_eq!(&got[2].1[..], &frame(66)[..]);
}

/// Publishes the frames of a multi-frame put the way the store does, without the commit
/// that would follow: what a crash between the two leaves.
fn publish_without_commit(nats: &NatsCluster, keys: &[FrameKey]) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = async_nats::connect(nats.urls()[0].as_str()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        for key in keys {
            let mut h = async_nats::HeaderMap::new();
            h.insert(mdbd_jetstream::names::KIND, "frame");
            h.insert(
                mdbd_jetstream::names::KEY,
                mdbd_jetstream::names::key_hex(*key).as_str(),
            );
            h.insert(mdbd_jetstream::names::PUT, "00000000000000aa");
            js.publish_with_headers(mdbd_jetstream::names::subject("test"), h, "torn".into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    });
}

#[test]
fn the_frames_of_a_put_cut_short_before_its_commit_do_not_count() {
    let nats = NatsCluster::single().unwrap();
    {
        let store = JetStreamStorage::open(&options(&nats, 1)).unwrap();
        store.put_frames(&[(k(1, 0), frame(1))]).unwrap();
    }
    publish_without_commit(&nats, &[k(2, 0), k(2, 1)]);
    let store = JetStreamStorage::open(&options(&nats, 1)).unwrap();
    let keys: Vec<FrameKey> = all(&store).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec![k(1, 0)]);
    // The log writes the record again at the same keys; that one counts.
    store
        .put_frames(&[(k(2, 0), frame(20)), (k(2, 1), frame(21))])
        .unwrap();
    drop(store);
    let store = JetStreamStorage::open(&options(&nats, 1)).unwrap();
    assert_eq!(all(&store).len(), 3);
}

#[test]
fn a_second_store_on_the_same_log_fences_the_first_off() {
    let nats = NatsCluster::single().unwrap();
    let first = JetStreamStorage::open(&options(&nats, 1)).unwrap();
    first.put_frames(&[(k(1, 0), frame(1))]).unwrap();
    first.put_meta("cursor:b", b"1").unwrap();
    // A second daemon on the same log (or a new leader): from its open on, the first one
    // writes nothing, frames, removals or metadata.
    let second = JetStreamStorage::open(&options(&nats, 1)).unwrap();
    let refused = first.put_frames(&[(k(2, 0), frame(666))]).unwrap_err();
    assert!(
        matches!(refused, StorageError::Fenced { .. }),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("another writer"), "{refused}");
    assert!(matches!(
        first.put_meta("cursor:b", b"666"),
        Err(StorageError::Fenced { .. })
    ));
    assert!(matches!(
        first.remove_frames(&[k(1, 0)]),
        Err(StorageError::Fenced { .. })
    ));
    assert!(first.stats().fenced && !second.stats().fenced);
    second.put_frames(&[(k(2, 0), frame(2))]).unwrap();
    second.put_meta("cursor:b", b"2").unwrap();
    drop((first, second));
    let third = JetStreamStorage::open(&options(&nats, 1)).unwrap();
    let got = all(&third);
    assert_eq!(got.len(), 2);
    assert_eq!(&got[1].1[..], &frame(2)[..]);
    assert_eq!(third.get_meta("cursor:b").unwrap(), Some(b"2".to_vec()));
    assert_eq!(
        third.scan_meta("").unwrap().len(),
        1,
        "the writer's claim is no metadata"
    );
}

fn record(n: u64) -> Record {
    Record {
        session: 1,
        timestamp_micros: 1_700_000_000_000_000 + n,
        payload: Payload::Write(WriteTxn {
            settings: Vec::new(),
            statements: vec![Statement::with_params(
                "INSERT INTO t(n, note) VALUES ($1, $2)",
                vec![
                    Value::Int(n as i64),
                    Value::Text("x".repeat(n as usize % 300)),
                ],
            )],
        }),
    }
}

fn open_log(nats: &NatsCluster, replicas: usize, part_bytes: usize) -> DeltaLog {
    let storage = Arc::new(JetStreamStorage::open(&options(nats, replicas)).unwrap());
    DeltaLog::open_with_storage(
        storage,
        LogOptions {
            durability: Durability::Fsync,
            batch_bytes: 4 << 10,
            part_bytes,
            ..LogOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn the_delta_log_on_jetstream_keeps_every_acknowledged_record_across_a_restart() {
    let nats = NatsCluster::single().unwrap();
    {
        let log = open_log(&nats, 1, 64 << 10);
        for n in 0..200 {
            log.append_blocking(&[record(n)]).unwrap();
        }
        // A record larger than a part: split, put as one.
        let mut big = record(999);
        if let Payload::Write(w) = &mut big.payload {
            w.statements[0].params[1] = Value::Text("y".repeat(300 << 10));
        }
        log.append_blocking(&[big.clone()]).unwrap();
        log.set_cursor("b-1", Lsn(50)).unwrap();
        log.truncate_below(Lsn(50)).unwrap();
        log.close();
    }
    let log = open_log(&nats, 1, 64 << 10);
    assert!(log.recovery_report().corruption.is_none());
    assert_eq!((log.first(), log.end()), (Lsn(50), Lsn(202)));
    assert_eq!(log.cursor("b-1").unwrap(), Some(Lsn(50)));
    let read: Vec<Record> = log
        .read_from(Lsn(50))
        .unwrap()
        .map(|r| r.unwrap().record)
        .collect();
    assert_eq!(read.len(), 152);
    assert_eq!(read[0], record(49));
    assert_eq!(read[150], record(199));
    assert_eq!(read[151].session, 1);
    let range = log.append_blocking(&[record(200)]).unwrap();
    assert_eq!(range.start, Lsn(202));
}

/// Waits until every replica of the log's stream and bucket is current again (a node
/// restarted has caught up), so that the next node lost is the only one missing.
fn wait_all_current(nats: &NatsCluster) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !mdbd_jetstream::replicas_current(&nats.urls(), "test", Duration::from_secs(5))
        .unwrap_or(false)
    {
        assert!(
            Instant::now() < deadline,
            "the log's replicas never all current"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn appends_go_on_while_one_of_three_nats_nodes_is_down() {
    let mut nats = NatsCluster::start(3).unwrap();
    let log = open_log(&nats, 3, 4 << 20);
    wait_all_current(&nats);
    for n in 0..50 {
        log.append_blocking(&[record(n)]).unwrap();
    }
    // Each node in turn: the stream keeps a majority, appends keep being acknowledged
    // (the client moves to a live node; a leader change may take a few seconds).
    for victim in 0..3 {
        nats.kill(victim);
        let started = Instant::now();
        for n in 0..50 {
            let r = log.append_blocking(&[record(1000 * (victim as u64 + 1) + n)]);
            if let Err(e) = r {
                panic!(
                    "append {n} failed {:?} after node {victim} was killed: {e}",
                    started.elapsed()
                );
            }
        }
        eprintln!("node {victim} lost: 50 appends in {:?}", started.elapsed());
        nats.restart(victim).unwrap();
        wait_all_current(&nats);
    }
    assert_eq!(log.end(), Lsn(201));
    // Each node was lost once, the stream's leader among them: its appends were retried.
    let stats = log.stats().storage;
    assert!(stats.retried_requests > 0, "{stats:?}");
    assert_eq!(stats.failed_requests, 0, "{stats:?}");
    log.close();
}

#[test]
fn an_unreachable_server_is_a_clear_error_within_the_timeout() {
    let port = mdbd_testkit::free_port().unwrap();
    let started = Instant::now();
    let err = JetStreamStorage::open(&JetStreamOptions {
        servers: vec![format!("nats://127.0.0.1:{port}")],
        name: "test".into(),
        replicas: 1,
        timeout: Duration::from_secs(2),
        open_timeout: Duration::from_secs(5),
    })
    .err()
    .expect("no server listens there");
    assert!(matches!(err, StorageError::Remote { .. }), "{err:?}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let bad = JetStreamStorage::open(&JetStreamOptions {
        name: "a.b".into(),
        ..JetStreamOptions::default()
    })
    .err()
    .expect("a name with a dot");
    assert!(bad.to_string().contains("log name"), "{bad}");
}
