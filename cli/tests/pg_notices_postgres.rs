//! Notices through mdbd over three PostgreSQL servers (#16): what `RAISE NOTICE` and
//! "... does not exist, skipping" send reaches the client that caused it, once (a write
//! runs on three servers), with its severity and fields, in both query protocols, and
//! never another session.

mod common;

use common::{start, stop, Three};
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// A client whose notices (severity, SQLSTATE, message) are kept in `Seen`.
async fn client(port: u16) -> (tokio_postgres::Client, Seen) {
    let (client, mut conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=demo dbname=app"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    let seen = Seen::default();
    let kept = seen.clone();
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
            if let tokio_postgres::AsyncMessage::Notice(n) = message {
                kept.lock().unwrap().push((
                    n.severity().to_string(),
                    n.code().code().to_string(),
                    n.message().to_string(),
                ));
            }
        }
    });
    (client, seen)
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
