//! Joins whose donor or joiner dies mid-snapshot, on SQLite (which has no server to kill:
//! the backend is made to fail like an unreachable one): the join ends aborted with a
//! clear reason, the clients of the cluster see no error, and the cluster keeps serving.

mod common;

use common::flaky::Flaky;
use mdbd_backends::sqlite::{SqliteBackend, SqliteOptions};
use mdbd_engine::backend::Backend;
use mdbd_engine::cluster::{Classifier, Cluster, DonorMode, JoinOptions, MemberState, Phase};
use mdbd_engine::log::{DeltaLog, Durability, LogOptions, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn flaky(dir: &Path, name: &str) -> Arc<Flaky> {
    let inner = SqliteBackend::new(
        name,
        &dir.join(format!("{name}.db")),
        SqliteOptions::default(),
    )
    .unwrap();
    Arc::new(Flaky::new(inner, Arc::new(AtomicBool::new(false))))
}

/// a and b serve 8 writing sessions; c is added and joined from donor b in `detach`
/// mode; `victim` (b or c) dies when the snapshot starts.
async fn join_with_death(victim: &str) {
    let dir = tempfile::tempdir().unwrap();
    let log = DeltaLog::open(
        &dir.path().join("log"),
        LogOptions {
            durability: Durability::None,
            ..LogOptions::default()
        },
    )
    .unwrap();
    let (a, b, c) = (
        flaky(dir.path(), "a"),
        flaky(dir.path(), "b"),
        flaky(dir.path(), "c"),
    );
    let cluster = Cluster::start(
        log,
        vec![a.clone() as Arc<dyn Backend>, b.clone()],
        Classifier::default(),
    )
    .await
    .unwrap();
    let mut s = cluster.session();
    s.execute("CREATE TABLE t (w int, n int, PRIMARY KEY (w, n))", &[])
        .await
        .unwrap();
    assert!(cluster.add_backend(c.clone()).unwrap());
    assert!(matches!(
        cluster.state_of("c"),
        Some(MemberState::Detached { .. })
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for w in 0..8i64 {
        let (cluster, stop) = (cluster.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut s = cluster.session();
            let mut n = 0i64;
            while !stop.load(Ordering::Relaxed) {
                s.execute(
                    "INSERT INTO t VALUES ($1, $2)",
                    &[Value::Int(w), Value::Int(n)],
                )
                .await
                .map_err(|e| format!("client {w}: {e}"))?;
                n += 1;
            }
            Ok::<i64, String>(n)
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let dying = if victim == "donor" { &b } else { &c };
    dying.dead.store(true, Ordering::SeqCst);
    let started = cluster
        .start_join(
            "c",
            JoinOptions {
                donor: Some("b".into()),
                mode: Some(DonorMode::Detach),
                ..JoinOptions::default()
            },
        )
        .unwrap();
    let join = cluster.wait_join(started.record.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = 0;
    for client in clients {
        acked += client.await.unwrap().expect("no client error");
    }
    assert_eq!(join.record.phase, Phase::Aborted, "{join:?}");
    let reason = join.record.reason.clone().unwrap_or_default();
    let expected = if victim == "donor" {
        "donor snapshot failed"
    } else {
        "joiner reset failed"
    };
    assert!(reason.contains(expected), "reason: {reason}");
    assert_eq!(cluster.state_of("a"), Some(MemberState::Active));
    let dead_name = if victim == "donor" { "b" } else { "c" };
    assert!(
        matches!(cluster.state_of(dead_name), Some(MemberState::Detached { reason }) if reason.detail.contains("join 1 aborted")),
        "{:?}",
        cluster.status()
    );
    if victim == "joiner" {
        // The donor came back by replaying its delta.
        assert_eq!(cluster.state_of("b"), Some(MemberState::Active));
        assert_eq!(a.checksums().await.unwrap(), b.checksums().await.unwrap());
    }
    let count = cluster
        .session()
        .execute("SELECT count(*) FROM t", &[])
        .await
        .unwrap();
    assert_eq!(count.row_count() as i64, 1);
    assert!(acked > 0);
    // The cluster still serves writes.
    cluster
        .session()
        .execute("INSERT INTO t VALUES (99, 0)", &[])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn donor_dying_mid_snapshot_aborts_cleanly() {
    join_with_death("donor").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn joiner_dying_mid_snapshot_aborts_cleanly() {
    join_with_death("joiner").await;
}
