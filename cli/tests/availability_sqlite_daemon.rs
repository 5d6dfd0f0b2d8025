//! Availability of the daemon on the embedded default (three SQLite files, issue #15):
//! a session setting SQLite lacks is the client's error, and half-sent admin requests
//! cannot hold the admin API.

mod common;

use common::{admin, free_port, start, Three};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn daemon(dir: &std::path::Path, server: &str) -> (common::Running, u16, u16) {
    let three = Three::sqlite(dir);
    let (port, admin_port) = (free_port(), free_port());
    let conf = three.config_of(dir, port, admin_port, &common::NAMES, "");
    let text = std::fs::read_to_string(&conf).unwrap().replacen(
        "[server]\n",
        &format!("[server]\n{server}\n"),
        1,
    );
    std::fs::write(&conf, text).unwrap();
    (start(&conf, port), port, admin_port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drivers_set_on_sqlite_is_remembered_and_detaches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (d, port, admin_port) = daemon(dir.path(), "");
    // What pgjdbc sends at connect: once detached every SQLite backend, then was refused.
    let client = common::client(port).await;
    client
        .batch_execute("SET extra_float_digits = 3")
        .await
        .unwrap();
    let shown = client
        .simple_query("SHOW extra_float_digits")
        .await
        .unwrap();
    let value = shown.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(value.as_deref(), Some("3"));
    // A setting nobody knows is the client's error, as on PostgreSQL.
    let e = client
        .batch_execute("SHOW no_such_setting")
        .await
        .unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("42704"));
    client
        .batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .await
        .unwrap();
    client
        .batch_execute("INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    assert_eq!(common::states(admin_port), ["active", "active", "active"]);
    common::stop(d);
}

#[test]
fn half_sent_admin_requests_cannot_hold_the_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let (d, _, admin_port) = daemon(dir.path(), "");
    let mut held = Vec::new();
    for _ in 0..200 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", admin_port)) {
            let _ = s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n");
            held.push(s);
        }
    }
    // The API answers meanwhile (once the half-sent ones time out at the latest).
    let t = Instant::now();
    let answered = loop {
        let attempt = std::panic::catch_unwind(|| admin(admin_port, "GET", "/v1/status").0);
        if let Ok(status) = attempt {
            break status;
        }
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "no answer for {:?}",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(answered, 200);
    // Every half-sent request is closed within the header timeout.
    let t = Instant::now();
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    assert!(
        t.elapsed() < Duration::from_secs(9),
        "closed after {:?}",
        t.elapsed()
    );
    common::stop(d);
}
