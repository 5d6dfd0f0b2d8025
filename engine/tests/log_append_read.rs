//! Appends and reads: dense LSNs under concurrency, reopen, tails, cursors, truncation.

mod common;

use common::sample;
use mdbd_engine::log::{DeltaLog, Durability, LogError, LogOptions, Lsn};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn opts(durability: Durability) -> LogOptions {
    LogOptions {
        durability,
        ..LogOptions::default()
    }
}

#[test]
fn lsns_are_dense_and_records_read_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = DeltaLog::open(dir.path(), opts(Durability::Fsync)).unwrap();
    assert_eq!(log.end(), Lsn(1));
    let a = log.append_blocking(&[sample(1, 0), sample(1, 1)]).unwrap();
    let b = log.append_blocking(&[sample(1, 2)]).unwrap();
    assert_eq!(
        (a.start, a.end, b.start, b.end),
        (Lsn(1), Lsn(3), Lsn(3), Lsn(4))
    );
    let read: Vec<_> = log.read_from(Lsn(2)).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].lsn, Lsn(2));
    assert_eq!(read[0].record, sample(1, 1));
    assert_eq!(read[1].record, sample(1, 2));
    assert!(matches!(
        log.read_from(Lsn(9)),
        Err(LogError::BeyondEnd { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_get_distinct_dense_lsns_that_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected = BTreeMap::new();
    {
        let log = DeltaLog::open(dir.path(), opts(Durability::Fsync)).unwrap();
        let mut tasks = Vec::new();
        for w in 0..16u64 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for s in 0..50u64 {
                    let range = log.append(&[sample(w, s)]).await.unwrap();
                    got.push((range.start, sample(w, s)));
                }
                got
            }));
        }
        for t in tasks {
            for (lsn, rec) in t.await.unwrap() {
                assert!(expected.insert(lsn, rec).is_none(), "LSN {lsn} given twice");
            }
        }
        assert_eq!(log.end(), Lsn(801));
    }
    let log = DeltaLog::open(dir.path(), opts(Durability::Fsync)).unwrap();
    assert_eq!(log.recovery_report().records, 800);
    let keys: Vec<_> = expected.keys().copied().collect();
    assert_eq!(keys, (1..=800).map(Lsn).collect::<Vec<_>>());
    for r in log.read_from(Lsn(1)).unwrap() {
        let r = r.unwrap();
        assert_eq!(expected[&r.lsn], r.record);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_at_the_end_wakes_for_new_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = DeltaLog::open(dir.path(), opts(Durability::None)).unwrap();
    log.append(&[sample(0, 0)]).await.unwrap();
    let mut tail = log.tail_from(Lsn(1)).unwrap();
    assert_eq!(tail.next().await.unwrap().lsn, Lsn(1));
    let waiting = tokio::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(tail.next().await.unwrap().lsn);
        }
        got
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !waiting.is_finished(),
        "the tail returned before anything was appended"
    );
    log.append(&[sample(0, 1), sample(0, 2)]).await.unwrap();
    log.append(&[sample(0, 3)]).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, vec![Lsn(2), Lsn(3), Lsn(4)]);
}

#[tokio::test]
async fn a_tail_ends_when_the_log_closes() {
    let dir = tempfile::tempdir().unwrap();
    let log = DeltaLog::open(dir.path(), opts(Durability::None)).unwrap();
    let mut tail = log.tail_from(Lsn(1)).unwrap();
    log.close();
    assert!(matches!(tail.next().await, Err(LogError::Closed)));
}

#[test]
fn truncation_stops_at_the_lowest_cursor_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    // Tiny batches so that there are many frames to truncate.
    let options = LogOptions {
        batch_bytes: 200,
        ..opts(Durability::Fsync)
    };
    {
        let log = DeltaLog::open(dir.path(), options.clone()).unwrap();
        for s in 0..100 {
            log.append_blocking(&[sample(2, s)]).unwrap();
        }
        log.set_cursor("joiner-b", Lsn(40)).unwrap();
        log.set_cursor("donor-a", Lsn(60)).unwrap();
        let report = log.truncate_below(Lsn(90)).unwrap();
        assert!(report.frames > 0);
        assert!(
            report.first <= Lsn(40),
            "truncated past a cursor: first = {}",
            report.first
        );
        assert!(matches!(
            log.read_from(Lsn(1)),
            Err(LogError::Truncated { .. })
        ));
        let first: Vec<_> = log
            .read_from(Lsn(40))
            .unwrap()
            .map(|r| r.unwrap().lsn)
            .take(1)
            .collect();
        assert_eq!(first, vec![Lsn(40)]);
        log.remove_cursor("joiner-b").unwrap();
        log.truncate_below(Lsn(90)).unwrap();
        assert!(log.first() <= Lsn(60) && log.first() > Lsn(40));
    }
    let log = DeltaLog::open(dir.path(), options).unwrap();
    assert!(log.first() > Lsn(40) && log.first() <= Lsn(60));
    assert_eq!(log.end(), Lsn(101));
    assert_eq!(
        log.cursors().unwrap().into_iter().collect::<Vec<_>>(),
        vec![("donor-a".to_string(), Lsn(60))]
    );
    let n = log
        .read_from(Lsn(60))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .len();
    assert_eq!(n, 41);
    assert!(log.set_cursor("bad name!", Lsn(1)).is_err());
}

#[test]
fn retention_by_size_keeps_what_cursors_need() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions {
        batch_bytes: 200,
        retention_bytes: Some(2_000),
        ..opts(Durability::None)
    };
    let log = DeltaLog::open(dir.path(), options).unwrap();
    log.set_cursor("slow", Lsn(10)).unwrap();
    for s in 0..200 {
        log.append_blocking(&[sample(3, s)]).unwrap();
    }
    // The cursor pins LSN 10: the log may not shrink past it.
    assert!(log.first() <= Lsn(10));
    assert!(log.stats().stored_bytes > 2_000);
    log.remove_cursor("slow").unwrap();
    log.enforce_retention().unwrap();
    let stats = log.stats();
    assert!(
        stats.stored_bytes <= 2_000,
        "still {} bytes",
        stats.stored_bytes
    );
    assert!(stats.first > Lsn(100));
    let tail: Vec<_> = log
        .read_from(stats.first)
        .unwrap()
        .map(|r| r.unwrap().lsn)
        .collect();
    assert_eq!(tail.last(), Some(&Lsn(200)));
}

#[test]
fn every_durability_mode_reads_back_after_reopen() {
    for durability in [
        Durability::Fsync,
        Durability::Interval(Duration::from_millis(5)),
        Durability::None,
    ] {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = Arc::new(DeltaLog::open(dir.path(), opts(durability)).unwrap());
            for s in 0..20 {
                log.append_blocking(&[sample(4, s)]).unwrap();
            }
        }
        let log = DeltaLog::open(dir.path(), opts(durability)).unwrap();
        assert_eq!(log.end(), Lsn(21), "{durability:?}");
    }
}

#[tokio::test]
async fn a_tail_reports_a_corrupt_frame_again_instead_of_hanging() {
    use mdbd_engine::log::{FrameKey, LogStorage, SledStorage};
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SledStorage::open(dir.path()).unwrap());
    let log = DeltaLog::open_with_storage(storage.clone(), opts(Durability::None)).unwrap();
    log.append(&[sample(5, 0), sample(5, 1)]).await.unwrap();
    let key = FrameKey::at(Lsn(1));
    let mut frame = storage.get_frame(key).unwrap().unwrap().to_vec();
    let last = frame.len() - 1;
    frame[last] ^= 0xff;
    storage.put_frames(&[(key, frame)]).unwrap();
    let mut tail = log.tail_from(Lsn(1)).unwrap();
    for attempt in 0..2 {
        let got = tokio::time::timeout(Duration::from_secs(5), tail.next()).await;
        match got {
            Ok(Err(LogError::Corrupt { lsn, .. })) => assert_eq!(lsn, Lsn(1)),
            other => panic!("attempt {attempt}: expected the corruption, got {other:?}"),
        }
    }
}
