//! Notices and notifications through mdbd over three PostgreSQL servers (#16): what `RAISE
//! NOTICE` and "... does not exist, skipping" send reaches the client that caused it, once
//! (a write runs on three servers), with its severity and fields, in both query protocols,
//! and never another session; `NOTIFY` reaches every client that `LISTEN`s, once, while it
//! is idle.

mod common;

use common::{start, stop, Three};
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// A client whose notices (severity, SQLSTATE, message) are kept in the first `Seen`,
/// its notifications (channel, payload, "") in the second.
async fn client(port: u16) -> (tokio_postgres::Client, Seen) {
    let (client, seen, _) = listener(port).await;
    (client, seen)
}

async fn listener(port: u16) -> (tokio_postgres::Client, Seen, Seen) {
    let (client, mut conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=demo dbname=app"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    let (seen, heard) = (Seen::default(), Seen::default());
    let (kept, kept_heard) = (seen.clone(), heard.clone());
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
            match message {
                tokio_postgres::AsyncMessage::Notice(n) => kept.lock().unwrap().push((
                    n.severity().to_string(),
                    n.code().code().to_string(),
                    n.message().to_string(),
                )),
                tokio_postgres::AsyncMessage::Notification(n) => kept_heard.lock().unwrap().push((
                    n.channel().to_string(),
                    n.payload().to_string(),
                    String::new(),
                )),
                _ => {}
            }
        }
    });
    (client, seen, heard)
}

/// What `seen` holds once it has `n` entries (or after 10 s), and a little later, so
/// that a duplicate would show.
async fn wait_for(seen: &Seen, n: usize) -> Vec<(String, String, String)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while seen.lock().unwrap().len() < n && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    taken(seen)
}

fn taken(seen: &Seen) -> Vec<(String, String, String)> {
    std::mem::take(&mut *seen.lock().unwrap())
}

fn notice(severity: &str, code: &str, message: &str) -> (String, String, String) {
    (severity.into(), code.into(), message.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_reach_the_client_that_caused_them_once() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let (a, seen_a) = client(port).await;
    let (b, seen_b) = client(port).await;

    // A write (it runs on every backend): one notice, not three.
    a.batch_execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$")
        .await
        .unwrap();
    assert_eq!(taken(&seen_a), [notice("NOTICE", "00000", "hello 42")]);
    a.batch_execute("DROP TABLE IF EXISTS no_such_table")
        .await
        .unwrap();
    assert_eq!(
        taken(&seen_a),
        [notice(
            "NOTICE",
            "00000",
            "table \"no_such_table\" does not exist, skipping"
        )]
    );

    // A read, in the extended protocol, with a warning's severity.
    a.batch_execute(
        "CREATE FUNCTION warn(x int) RETURNS int LANGUAGE plpgsql AS \
         $$ BEGIN RAISE WARNING 'careful with %', x USING ERRCODE = '01000'; RETURN x; END $$",
    )
    .await
    .unwrap();
    let row = a.query_one("SELECT warn($1)", &[&7i32]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 7);
    assert_eq!(
        taken(&seen_a),
        [notice("WARNING", "01000", "careful with 7")]
    );

    // Another session's requests, on the same pooled connections, see none of them.
    for _ in 0..6 {
        b.query_one("SELECT 1", &[]).await.unwrap();
    }
    assert!(taken(&seen_b).is_empty());
    assert!(taken(&seen_a).is_empty());
    stop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_hears_each_notification_once_while_idle() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let (a, _, heard_a) = listener(port).await;
    let (b, _, heard_b) = listener(port).await;
    let (mut c, _, heard_c) = listener(port).await;
    a.batch_execute("LISTEN jobs").await.unwrap();
    b.batch_execute("LISTEN jobs; LISTEN other").await.unwrap();

    // NOTIFY and pg_notify from another session (writes: every server notifies its own
    // listeners), in the simple and the extended protocol.
    c.batch_execute("NOTIFY jobs, 'one'").await.unwrap();
    c.query_one("SELECT pg_notify('jobs', $1)", &[&"two"])
        .await
        .unwrap();
    let both = vec![
        ("jobs".to_string(), "one".to_string(), String::new()),
        ("jobs".to_string(), "two".to_string(), String::new()),
    ];
    assert_eq!(wait_for(&heard_a, 2).await, both);
    assert_eq!(wait_for(&heard_b, 2).await, both);
    assert!(taken(&heard_c).is_empty(), "c does not listen");

    // Inside a transaction: heard at its commit, not at a rollback.
    let tx = c.transaction().await.unwrap();
    tx.batch_execute("NOTIFY other, 'committed'").await.unwrap();
    tx.commit().await.unwrap();
    let tx = c.transaction().await.unwrap();
    tx.batch_execute("NOTIFY other, 'rolled back'")
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        wait_for(&heard_b, 1).await,
        [("other".to_string(), "committed".to_string(), String::new())]
    );
    assert!(taken(&heard_a).is_empty(), "a does not listen to other");

    // UNLISTEN ends it; a session that listens and notifies hears itself once.
    a.batch_execute("UNLISTEN jobs").await.unwrap();
    b.batch_execute("NOTIFY jobs, 'self'").await.unwrap();
    assert_eq!(
        wait_for(&heard_b, 1).await,
        [("jobs".to_string(), "self".to_string(), String::new())]
    );
    assert!(taken(&heard_a).is_empty(), "a stopped listening");
    drop((a, b, c));
    stop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_goes_on_hearing_when_its_backend_goes() {
    let dir = tempfile::tempdir().unwrap();
    let mut three = Three::postgres();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let (a, _, heard) = listener(port).await;
    let (b, _, heard_b) = listener(port).await;
    let (c, _) = client(port).await;
    // Sessions listen on the backends in turn: one of these two is on a server that stops.
    a.batch_execute("LISTEN jobs; LISTEN \"Other\"")
        .await
        .unwrap();
    b.batch_execute("LISTEN jobs").await.unwrap();
    // Two of the three servers stop, one after the other: wherever a and b listened,
    // they listen on the last one by the end.
    for i in 0..2 {
        three.stop_server(i);
        // A write finds the stopped server and detaches it (never the last one).
        let _ = c.batch_execute("NOTIFY warmup").await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    c.batch_execute("NOTIFY jobs, 'after'; NOTIFY \"Other\", 'too'")
        .await
        .unwrap();
    assert_eq!(
        wait_for(&heard, 2).await,
        [
            ("jobs".to_string(), "after".to_string(), String::new()),
            ("Other".to_string(), "too".to_string(), String::new()),
        ]
    );
    assert_eq!(
        wait_for(&heard_b, 1).await,
        [("jobs".to_string(), "after".to_string(), String::new())]
    );
    drop((a, b, c));
    stop(daemon);
}
