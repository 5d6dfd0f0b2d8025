//! The serial write path over three SQLite backends: concurrent sessions leave identical
//! backends; a backend that breaks or diverges is detached while clients see no error; the
//! same database error everywhere reaches the client; a restart brings backends up to the
//! end of the log; detached states survive restarts.

mod common;

use common::flaky::Flaky;
use mdbd_backends::sqlite::{SqliteBackend, SqliteOptions};
use mdbd_engine::backend::{Backend, Outcome, TableChecksum};
use mdbd_engine::cluster::{
    Classifier, Cluster, ClusterError, DetachCause, DetachReason, MemberState,
};
use mdbd_engine::log::{
    DeltaLog, Durability, LogOptions, Lsn, Payload, Record, Statement, Value, WriteTxn,
};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

struct Setup {
    backends: Vec<Arc<Flaky>>,
    breakers: Vec<Arc<AtomicBool>>,
}

fn setup(dir: &Path) -> Setup {
    let mut backends = Vec::new();
    let mut breakers = Vec::new();
    for name in ["a", "b", "c"] {
        let broken = Arc::new(AtomicBool::new(false));
        let inner = SqliteBackend::new(
            name,
            &dir.join(format!("{name}.db")),
            SqliteOptions::default(),
        )
        .unwrap();
        backends.push(Arc::new(Flaky::new(inner, broken.clone())));
        breakers.push(broken);
    }
    Setup { backends, breakers }
}

async fn start(dir: &Path, s: &Setup) -> Arc<Cluster> {
    let log = DeltaLog::open(
        &dir.join("log"),
        LogOptions {
            durability: Durability::Fsync,
            ..LogOptions::default()
        },
    )
    .unwrap();
    let backends: Vec<Arc<dyn Backend>> = s
        .backends
        .iter()
        .map(|b| b.clone() as Arc<dyn Backend>)
        .collect();
    Cluster::start(log, backends, Classifier::default())
        .await
        .unwrap()
}

async fn checksums(backends: &[Arc<dyn Backend>]) -> Vec<Vec<TableChecksum>> {
    let mut out = Vec::new();
    for b in backends {
        out.push(b.checksums().await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_sessions_leave_identical_backends() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let cluster = start(dir.path(), &s).await;
    let mut admin = cluster.session();
    admin
        .execute(
            "CREATE TABLE ledger (id INTEGER PRIMARY KEY, writer INTEGER, n INTEGER, note TEXT)",
            &[],
        )
        .await
        .unwrap();
    admin
        .execute(
            "CREATE TABLE totals (writer INTEGER PRIMARY KEY, total INTEGER NOT NULL)",
            &[],
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..16i64 {
        let cluster = cluster.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = cluster.session();
            s.execute("INSERT INTO totals VALUES ($1, 0)", &[Value::Int(w)])
                .await
                .unwrap();
            let mut committed = 0i64;
            for i in 0..20i64 {
                s.execute(
                    "INSERT INTO ledger (writer, n, note) VALUES ($1, $2, $3)",
                    &[
                        Value::Int(w),
                        Value::Int(i),
                        Value::Text(format!("w{w} i{i} ü")),
                    ],
                )
                .await
                .unwrap();
                s.execute("BEGIN", &[]).await.unwrap();
                s.execute(
                    "UPDATE totals SET total = total + $1 WHERE writer = $2",
                    &[Value::Int(i), Value::Int(w)],
                )
                .await
                .unwrap();
                let Outcome::Rows(rs) = s
                    .execute(
                        "SELECT total FROM totals WHERE writer = $1",
                        &[Value::Int(w)],
                    )
                    .await
                    .unwrap()
                else {
                    panic!()
                };
                assert_eq!(
                    rs.rows[0][0],
                    Value::Int(committed + i),
                    "a transaction reads its own write"
                );
                if i % 4 == 3 {
                    s.execute("ROLLBACK", &[]).await.unwrap();
                } else {
                    s.execute("COMMIT", &[]).await.unwrap();
                    committed += i;
                }
                let Outcome::Rows(rs) = s
                    .execute(
                        "SELECT count(*) FROM ledger WHERE writer = $1",
                        &[Value::Int(w)],
                    )
                    .await
                    .unwrap()
                else {
                    panic!()
                };
                assert_eq!(
                    rs.rows[0][0],
                    Value::Int(i + 1),
                    "a read sees the session's acknowledged writes"
                );
            }
            committed
        }));
    }
    let mut expected = Vec::new();
    for t in tasks {
        expected.push(t.await.unwrap());
    }
    let backends = cluster.active();
    assert_eq!(backends.len(), 3, "{:?}", cluster.status());
    let sums = checksums(&backends).await;
    assert_eq!(sums[0], sums[1]);
    assert_eq!(sums[0], sums[2]);
    let last = Lsn(cluster.log().end().get() - 1);
    for b in &backends {
        assert_eq!(b.applied_lsn().await.unwrap(), last, "{}", b.name());
    }
    let Outcome::Rows(rs) = admin
        .execute("SELECT writer, total FROM totals ORDER BY writer", &[])
        .await
        .unwrap()
    else {
        panic!()
    };
    let totals: Vec<i64> = rs
        .rows
        .iter()
        .map(|r| if let Value::Int(t) = r[1] { t } else { -1 })
        .collect();
    assert_eq!(totals, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_breaks_mid_load_is_detached_and_no_client_sees_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let cluster = start(dir.path(), &s).await;
    cluster
        .session()
        .execute("CREATE TABLE t (v INTEGER)", &[])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..8i64 {
        let cluster = cluster.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = cluster.session();
            for i in 0..40i64 {
                s.execute("INSERT INTO t VALUES ($1)", &[Value::Int(w * 1000 + i)])
                    .await
                    .expect("client saw an error");
                s.execute("SELECT count(*) FROM t", &[])
                    .await
                    .expect("client saw an error on a read");
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    s.breakers[1].store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let status = cluster.status();
    assert_eq!(status[0].state, MemberState::Active);
    assert!(
        // Broken mid-statement (unreachable) or mid-commit (commit-failed).
        matches!(&status[1].state, MemberState::Detached { reason } if matches!(reason.cause, DetachCause::Unreachable | DetachCause::CommitFailed) && reason.detail.contains("connection reset")),
        "{status:?}"
    );
    assert_eq!(status[2].state, MemberState::Active);
    let active = cluster.active();
    let sums = checksums(&active).await;
    assert_eq!(sums[0], sums[1]);
    let Outcome::Rows(rs) = cluster
        .session()
        .execute("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(rs.rows[0][0], Value::Int(320));
}

#[tokio::test]
async fn a_diverging_backend_is_detached_and_the_same_error_everywhere_reaches_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    let cluster = start(dir.path(), &s).await;
    let mut session = cluster.session();
    session
        .execute("CREATE TABLE t (id INTEGER PRIMARY KEY)", &[])
        .await
        .unwrap();
    session
        .execute("INSERT INTO t VALUES (1)", &[])
        .await
        .unwrap();
    // The same error on every backend: to the client, verbatim; nobody detached.
    let err = session
        .execute("INSERT INTO t VALUES (1)", &[])
        .await
        .unwrap_err();
    let ClusterError::Db(e) = err else {
        panic!("{err}")
    };
    assert_eq!(e.message, "UNIQUE constraint failed: t.id");
    assert_eq!(cluster.active().len(), 3);
    // Backend c diverges behind mdbd's back: the majority's answer wins, c is detached.
    s.backends[2]
        .inner
        .open_session()
        .await
        .unwrap()
        .execute("DELETE FROM t", &[])
        .await
        .unwrap();
    let out = session
        .execute("UPDATE t SET id = 2 WHERE id = 1", &[])
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Command { rows: 1, .. }), "{out:?}");
    let status = cluster.status();
    assert!(
        matches!(&status[2].state, MemberState::Detached { reason } if reason.cause == DetachCause::Disagreed && reason.detail.contains("differs from the majority")),
        "{status:?}"
    );
    assert_eq!(cluster.active().len(), 2);
}

#[tokio::test]
async fn a_restart_brings_backends_up_to_the_end_of_the_log_and_remembers_detached_ones() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path());
    {
        let cluster = start(dir.path(), &s).await;
        let mut session = cluster.session();
        session
            .execute("CREATE TABLE t (v INTEGER)", &[])
            .await
            .unwrap();
        session
            .execute("INSERT INTO t VALUES (1)", &[])
            .await
            .unwrap();
        cluster
            .detach(
                "c",
                DetachReason::new(DetachCause::Operator, "operator maintenance"),
            )
            .unwrap();
        // A write logged but never committed on the backends (the daemon died between).
        let txn = WriteTxn {
            settings: vec![],
            statements: vec![Statement::with_params(
                "INSERT INTO t VALUES ($1)",
                vec![Value::Int(2)],
            )],
        };
        cluster
            .log()
            .append(&[Record::now(1, Payload::Write(txn))])
            .await
            .unwrap();
    }
    let cluster = start(dir.path(), &s).await;
    let status = cluster.status();
    assert!(
        matches!(&status[2].state, MemberState::Detached { reason } if reason.cause == DetachCause::Operator && reason.detail == "operator maintenance"),
        "{status:?}"
    );
    let end = Lsn(cluster.log().end().get() - 1);
    for b in cluster.active() {
        assert_eq!(
            b.applied_lsn().await.unwrap(),
            end,
            "{} not caught up",
            b.name()
        );
    }
    let Outcome::Rows(rs) = cluster
        .session()
        .execute("SELECT sum(v) FROM t", &[])
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(rs.rows[0][0], Value::Int(3));
}

#[tokio::test]
async fn keyed_ordering_is_refused_on_sqlite_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let log = DeltaLog::open(&dir.path().join("log"), LogOptions::default()).unwrap();
    let backend =
        SqliteBackend::new("a", &dir.path().join("a.db"), SqliteOptions::default()).unwrap();
    let options = mdbd_engine::cluster::ClusterOptions {
        consistency: mdbd_engine::cluster::Consistency::Keyed,
        ..Default::default()
    };
    let refused = Cluster::start_with(
        log,
        vec![Arc::new(backend) as Arc<dyn Backend>],
        Classifier::default(),
        options,
    )
    .await;
    let Err(ClusterError::State(why)) = refused else {
        panic!("keyed started on SQLite");
    };
    assert!(why.contains("keyed") && why.contains("serial"), "{why}");
}
