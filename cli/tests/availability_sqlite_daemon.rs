//! Availability of the daemon on the embedded default (three SQLite files, issue #15):
//! a session setting SQLite lacks is the client's error, a client whose process is frozen
//! inside a transaction stops no other writer for longer than the idle timeout, and
//! half-sent admin requests cannot hold the admin API.

mod common;

use common::{admin, free_port, start, Three};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
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
async fn a_set_sqlite_lacks_is_the_clients_error_and_detaches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (d, port, admin_port) = daemon(dir.path(), "");
    // What pgjdbc sends at connect: once detached every SQLite backend.
    let client = common::client(port).await;
    assert!(client
        .batch_execute("SET extra_float_digits = 3")
        .await
        .is_err());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_client_holding_a_transaction_stops_others_at_most_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (d, port, admin_port) = daemon(dir.path(), "idle_in_transaction_timeout = \"2s\"");
    let setup = common::client(port).await;
    setup
        .batch_execute(
            "CREATE TABLE f (id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO f VALUES (1, 0)",
        )
        .await
        .unwrap();
    // psql opens a write transaction, then its process is frozen (its host "died").
    let mut psql = Command::new("psql")
        .args([
            "-X",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "demo",
            "-d",
            "app",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    psql.stdin
        .as_mut()
        .unwrap()
        .write_all(b"BEGIN;\nUPDATE f SET v = 1 WHERE id = 1;\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    Command::new("kill")
        .args(["-STOP", &psql.id().to_string()])
        .status()
        .unwrap();
    let t = Instant::now();
    setup
        .batch_execute("INSERT INTO f VALUES (2, 0)")
        .await
        .unwrap();
    let waited = t.elapsed();
    Command::new("kill")
        .args(["-KILL", &psql.id().to_string()])
        .status()
        .unwrap();
    let _ = psql.wait();
    assert!(
        waited < Duration::from_secs(4),
        "the other writer waited {waited:?}"
    );
    let v = setup
        .query_one("SELECT v FROM f WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(
        v.get::<_, i64>(0),
        0,
        "the frozen client's update was rolled back"
    );
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
