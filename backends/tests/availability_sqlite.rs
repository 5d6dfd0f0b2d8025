//! Availability rules of the cluster on SQLite backends (issue #15): a damaged delta log
//! keeps the complete backends in service and refuses every join; health checks detach
//! only after failures in a row, never a backend that is serving, never the last one; a
//! member record that does not parse stops the start instead of activating a backend; a
//! session waiting for a connection to a backend that leaves service moves on at once.

mod common;

use async_trait::async_trait;
use mdbd_backends::sqlite::{SqliteBackend, SqliteOptions};
use mdbd_engine::backend::{Backend, BackendError, Outcome, Session, SnapshotInfo, TableChecksum};
use mdbd_engine::cluster::{
    Classifier, Cluster, ClusterError, ClusterOptions, ConnectionLimits, DetachCause, DetachReason,
    HealthOptions, JoinError, JoinOptions, MemberState,
};
use mdbd_engine::log::{
    DeltaLog, Durability, FrameKey, LogOptions, LogStorage, Lsn, SledStorage, Value, WriteTxn,
};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

fn sqlite(dir: &Path, name: &str) -> Arc<dyn Backend> {
    Arc::new(
        SqliteBackend::new(
            name,
            &dir.join(format!("{name}.db")),
            SqliteOptions::default(),
        )
        .unwrap(),
    )
}

fn log(dir: &Path) -> DeltaLog {
    DeltaLog::open(
        &dir.join("log"),
        LogOptions {
            durability: Durability::Fsync,
            // One frame per record, so a frame's key is its record's LSN.
            batch_bytes: 64,
            ..LogOptions::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn a_damaged_log_keeps_the_complete_backends_and_refuses_every_join() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["a", "b", "c"];
    let backends = || {
        names
            .iter()
            .map(|n| sqlite(dir.path(), n))
            .collect::<Vec<_>>()
    };
    {
        let cluster = Cluster::start(log(dir.path()), backends(), Classifier::default())
            .await
            .unwrap();
        let mut s = cluster.session();
        s.execute("CREATE TABLE t (id int PRIMARY KEY)", &[])
            .await
            .unwrap();
        for i in 0..10 {
            s.execute(&format!("INSERT INTO t VALUES ({i})"), &[])
                .await
                .unwrap();
        }
        // c falls behind: taken out by the operator, then 20 more writes.
        cluster
            .detach("c", DetachReason::new(DetachCause::Operator, "maintenance"))
            .unwrap();
        for i in 10..30 {
            s.execute(&format!("INSERT INTO t VALUES ({i})"), &[])
                .await
                .unwrap();
        }
        drop(s);
        cluster.log().sync().unwrap();
    }
    // One byte flips in a record that c still needs (LSN 20 of 31).
    {
        let storage = SledStorage::open(&dir.path().join("log")).unwrap();
        let key = FrameKey::at(Lsn(20));
        let mut frame = storage.get_frame(key).unwrap().expect("frame").to_vec();
        frame[40] ^= 0x40;
        storage.put_frames(&[(key, frame)]).unwrap();
        storage.sync().unwrap();
    }
    let cluster = Cluster::start(log(dir.path()), backends(), Classifier::default())
        .await
        .unwrap();
    let damage = cluster.log_damage().expect("the damage is reported");
    assert!(damage.contains("LSN 20"), "{damage}");
    assert_eq!(
        cluster.state_of("a"),
        Some(MemberState::Active),
        "complete: stays"
    );
    assert_eq!(
        cluster.state_of("b"),
        Some(MemberState::Active),
        "complete: stays"
    );
    assert!(matches!(
        cluster.state_of("c"),
        Some(MemberState::Detached { .. })
    ));
    match cluster.start_join("c", JoinOptions::default()) {
        Err(JoinError::Refused(why)) => assert!(why.contains("damaged"), "{why}"),
        other => panic!("a join on a damaged log: {other:?}"),
    }
    // Reads go on, served with every acknowledged write.
    let mut s = cluster.session();
    let rows = s.execute("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(rows.row_count(), 1);
    let checksums = cluster.backend("a").unwrap().checksums().await.unwrap();
    assert_eq!(
        checksums,
        cluster.backend("b").unwrap().checksums().await.unwrap()
    );
}

/// A backend whose health check never answers in time, but that serves statements.
struct SlowHealth {
    inner: Arc<dyn Backend>,
    stuck: Arc<AtomicBool>,
}

#[async_trait]
impl Backend for SlowHealth {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn dialect(&self) -> &'static dyn mdbd_engine::backend::Dialect {
        self.inner.dialect()
    }
    async fn open_session(&self) -> Result<Box<dyn Session>, BackendError> {
        self.inner.open_session().await
    }
    async fn health(&self) -> Result<(), BackendError> {
        if self.stuck.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        self.inner.health().await
    }
    async fn ensure_marker(&self) -> Result<(), BackendError> {
        self.inner.ensure_marker().await
    }
    async fn applied_lsn(&self) -> Result<Lsn, BackendError> {
        self.inner.applied_lsn().await
    }
    async fn apply(&self, lsn: Lsn, txn: &WriteTxn) -> Result<bool, BackendError> {
        self.inner.apply(lsn, txn).await
    }
    fn snapshot_content_type(&self) -> &'static str {
        self.inner.snapshot_content_type()
    }
    async fn snapshot(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<SnapshotInfo, BackendError> {
        self.inner.snapshot(out).await
    }
    async fn restore(
        &self,
        content_type: &str,
        input: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<(), BackendError> {
        self.inner.restore(content_type, input).await
    }
    async fn reset(&self) -> Result<(), BackendError> {
        self.inner.reset().await
    }
    async fn checksums(&self) -> Result<Vec<TableChecksum>, BackendError> {
        self.inner.checksums().await
    }
}

#[tokio::test]
async fn health_checks_detach_after_failures_in_a_row_never_a_serving_or_the_last_backend() {
    let dir = tempfile::tempdir().unwrap();
    let stuck = Arc::new(AtomicBool::new(true));
    let slow = |name: &str| -> Arc<dyn Backend> {
        Arc::new(SlowHealth {
            inner: sqlite(dir.path(), name),
            stuck: stuck.clone(),
        })
    };
    let cluster = Cluster::start(
        log(dir.path()),
        vec![slow("a"), slow("b")],
        Classifier::default(),
    )
    .await
    .unwrap();
    let options = HealthOptions {
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(50),
        failures: 3,
    };
    // Serving statements: a failed check is not a dead server.
    let mut s = cluster.session();
    s.execute("CREATE TABLE t (id int)", &[]).await.unwrap();
    for round in 0..5 {
        s.execute(&format!("INSERT INTO t VALUES ({round})"), &[])
            .await
            .unwrap();
        assert!(cluster.check_health(&options).await.unwrap().is_empty());
    }
    assert_eq!(cluster.active().len(), 2);
    // Idle: two failures are tolerated, the third detaches one; the other is the last
    // active backend and is never detached, however long it fails.
    tokio::time::sleep(options.interval + options.timeout * 2).await;
    assert!(cluster.check_health(&options).await.unwrap().is_empty());
    assert!(cluster.check_health(&options).await.unwrap().is_empty());
    let detached = cluster.check_health(&options).await.unwrap();
    assert_eq!(detached.len(), 1, "{detached:?}");
    assert_eq!(detached[0].1.cause, DetachCause::Unhealthy);
    for _ in 0..5 {
        assert!(cluster.check_health(&options).await.unwrap().is_empty());
    }
    assert_eq!(cluster.active().len(), 1, "the last active backend stays");
    assert!(
        cluster
            .counters()
            .detaches_refused_last
            .load(Ordering::Relaxed)
            >= 1
    );
}

#[tokio::test]
async fn a_member_record_that_does_not_parse_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    {
        let cluster = Cluster::start(
            log(dir.path()),
            vec![sqlite(dir.path(), "a"), sqlite(dir.path(), "b")],
            Classifier::default(),
        )
        .await
        .unwrap();
        cluster
            .detach("b", DetachReason::new(DetachCause::Operator, "maintenance"))
            .unwrap();
        // A damaged record (what an old or broken writer could leave).
        cluster.log().set_meta("member/b", b"actve").unwrap();
    }
    let started = Cluster::start(
        log(dir.path()),
        vec![sqlite(dir.path(), "a"), sqlite(dir.path(), "b")],
        Classifier::default(),
    )
    .await;
    match started {
        Err(ClusterError::Corrupt { key, reason }) => {
            assert_eq!(key, "member/b");
            assert!(reason.contains("actve"), "{reason}");
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("started with a damaged member record"),
    }
}

#[test]
fn member_states_round_trip_and_anything_else_is_an_error() {
    for state in [
        MemberState::Active,
        MemberState::Detached {
            reason: DetachReason::new(DetachCause::Disagreed, "result ok:1 differs: a:b"),
        },
        MemberState::Joining {
            join: 7,
            role: mdbd_engine::cluster::JoinRole::Donor,
        },
    ] {
        assert_eq!(MemberState::decode(state.encode().as_bytes()), Ok(state));
    }
    for bad in [
        &b"actve"[..],
        b"",
        b"detached:free text without a cause",
        b"detached:bogus:x",
        b"joining:x:joiner",
        b"joining:3:bystander",
        b"joining:3",
        b"\xff\xfe",
    ] {
        assert!(MemberState::decode(bad).is_err(), "{bad:?} decoded");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_waiting_for_a_detached_backends_connection_goes_on_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let options = ClusterOptions {
        connections: ConnectionLimits {
            max_connections: 1,
            pool_timeout: Duration::from_secs(60),
            ..ConnectionLimits::default()
        },
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start_with(
        log(dir.path()),
        vec![sqlite(dir.path(), "a"), sqlite(dir.path(), "b")],
        Classifier::default(),
        options,
    )
    .await
    .unwrap();
    cluster
        .session()
        .execute("CREATE TABLE t (id int)", &[])
        .await
        .unwrap();
    // One session holds the only connection to one backend (a read transaction).
    let mut holder = cluster.session();
    holder.execute("BEGIN", &[]).await.unwrap();
    holder.execute("SELECT 1", &[]).await.unwrap();
    let held: Vec<String> = cluster
        .pool_sizes()
        .into_iter()
        .filter(|(_, n)| *n == 1)
        .map(|(name, _)| name)
        .collect();
    assert_eq!(held.len(), 1, "{:?}", cluster.pool_sizes());
    // A writer waits for it...
    let writer = {
        let cluster = cluster.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let result = cluster
                .session()
                .execute("INSERT INTO t VALUES (1)", &[])
                .await;
            (result, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !writer.is_finished(),
        "the writer did not wait for the pool"
    );
    // ...until that backend leaves service: then it goes on with the other one at once,
    // instead of waiting out pool_timeout for a "too many connections" error.
    assert!(cluster
        .detach(
            &held[0],
            DetachReason::new(DetachCause::Operator, "test: leaves service")
        )
        .unwrap());
    let (result, waited) = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .expect("the writer still waits for the detached backend's pool")
        .unwrap();
    result.unwrap();
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    let Outcome::Rows(rs) = cluster
        .session()
        .execute("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
    else {
        panic!("no rows");
    };
    assert_eq!(rs.rows, vec![vec![Value::Int(1)]]);
    holder.execute("COMMIT", &[]).await.unwrap();
}
