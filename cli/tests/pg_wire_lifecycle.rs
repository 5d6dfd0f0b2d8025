//! The life of a PostgreSQL client connection on the wire, byte for byte, as drivers rely
//! on it (over the SQLite default; the front end is the same for every engine): Terminate
//! closes the socket, a refused login is one FATAL and nothing else, bytes that are not a
//! message end the connection with 08P01, and a connection survives an ordinary error.

mod common;

use common::wire::{answers, connect, field, logged_in, next, send, startup_to, until_ready};
use common::{start, Three};

fn daemon(dir: &std::path::Path) -> (common::Running, u16) {
    let port = common::free_port();
    let config = Three::sqlite(dir).config(dir, port);
    (start(&config, port), port)
}

#[test]
fn terminate_closes_the_socket_so_a_polite_close_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, port) = daemon(dir.path());
    let mut socket = logged_in(port);
    assert!(answers(&mut socket, "SELECT 1"));
    send(&mut socket, b'X', b"");
    assert_eq!(
        next(&mut socket),
        None,
        "the server must hang up after Terminate"
    );
    // The daemon goes on serving others.
    assert!(answers(&mut logged_in(port), "SELECT 2"));
    common::stop(daemon);
}

#[test]
fn a_refused_login_is_one_fatal_error_and_then_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, port) = daemon(dir.path());
    let mut socket = connect(port);
    // A trust user asking for a database the cluster does not have.
    startup_to(&mut socket, "demo", "nowhere");
    let mut got = Vec::new();
    while let Some(m) = next(&mut socket) {
        got.push(m);
    }
    assert_eq!(got.len(), 1, "only the FATAL error, nothing after: {got:?}");
    let (kind, body) = &got[0];
    assert_eq!(*kind, b'E');
    assert_eq!(field(body, b'S'), "FATAL");
    assert_eq!(field(body, b'C'), "3D000");
    assert_eq!(field(body, b'M'), "database \"nowhere\" does not exist");
    common::stop(daemon);
}

#[test]
fn bytes_that_are_not_a_message_end_the_connection_with_08p01() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, port) = daemon(dir.path());
    let mut socket = logged_in(port);
    // No frontend message has type 'y'.
    send(&mut socket, b'y', b"junk");
    let got = next(&mut socket).expect("an error before the close");
    assert_eq!(got.0, b'E', "{got:?}");
    assert_eq!(field(&got.1, b'S'), "FATAL");
    assert_eq!(field(&got.1, b'C'), "08P01");
    assert_eq!(next(&mut socket), None);
    assert!(answers(&mut logged_in(port), "SELECT 3"));
    common::stop(daemon);
}

#[test]
fn an_error_in_the_extended_protocol_skips_to_sync_and_the_connection_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, port) = daemon(dir.path());
    let mut socket = logged_in(port);
    // A statement that fails, then one that would succeed, in one pipeline: everything
    // after the error up to Sync is skipped, so the second never runs.
    send(&mut socket, b'P', b"\0SELEC nonsense\0\0\0");
    send(&mut socket, b'B', b"\0\0\0\0\0\0\0\0");
    send(&mut socket, b'E', b"\0\0\0\0\0");
    send(&mut socket, b'P', b"\0SELECT 9\0\0\0");
    send(&mut socket, b'B', b"\0\0\0\0\0\0\0\0");
    send(&mut socket, b'E', b"\0\0\0\0\0");
    send(&mut socket, b'S', b"");
    let got = until_ready(&mut socket);
    let kinds: Vec<u8> = got.iter().map(|m| m.0).collect();
    assert_eq!(kinds.iter().filter(|k| **k == b'E').count(), 1, "{got:?}");
    assert!(
        !kinds.contains(&b'D'),
        "nothing after the error runs: {got:?}"
    );
    assert_eq!(kinds.last(), Some(&b'Z'), "{got:?}");
    let error = got.iter().find(|m| m.0 == b'E').unwrap();
    assert_eq!(field(&error.1, b'S'), "ERROR");
    assert!(answers(&mut socket, "SELECT 4"));
    drop(socket);
    common::stop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_executed_with_a_row_limit_is_read_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, port) = daemon(dir.path());
    let mut client = common::client(port).await;
    client
        .batch_execute(
            "CREATE TABLE n (x INTEGER); \
             INSERT INTO n WITH RECURSIVE c(x) AS \
             (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 25) SELECT x FROM c",
        )
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    let statement = tx.prepare("SELECT x FROM n ORDER BY x").await.unwrap();
    let portal = tx.bind(&statement, &[]).await.unwrap();
    let mut pages = Vec::new();
    let mut seen = Vec::new();
    loop {
        let rows = tx.query_portal(&portal, 10).await.unwrap();
        pages.push(rows.len());
        if rows.is_empty() {
            break;
        }
        seen.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
    }
    assert_eq!(pages, vec![10, 10, 5, 0]);
    assert_eq!(seen, (1..=25).collect::<Vec<i64>>());
    // Another portal of the same statement starts from the beginning.
    let again = tx.bind(&statement, &[]).await.unwrap();
    let first = tx.query_portal(&again, 3).await.unwrap();
    assert_eq!(
        first.iter().map(|r| r.get::<_, i64>(0)).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    tx.commit().await.unwrap();
    drop(client);
    common::stop(daemon);
}
