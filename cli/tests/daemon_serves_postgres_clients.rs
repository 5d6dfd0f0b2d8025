//! `mdbd run` over three SQLite files, driven by real PostgreSQL clients (`psql` and
//! tokio-postgres): statements, errors with SQLSTATE, transactions, identical backends,
//! SIGKILL and restart with every acknowledged write kept, graceful SIGTERM, the extended
//! protocol, 16 concurrent clients.

mod common;

use common::{mdbd, psql, start, Three};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn config(dir: &Path, port: u16) -> std::path::PathBuf {
    Three::sqlite(dir).config(dir, port)
}

async fn identical(dir: &Path) -> Vec<mdbd_engine::backend::TableChecksum> {
    Three::sqlite(dir).identical(&[0, 1, 2]).await
}

fn free_port() -> u16 {
    common::free_port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_extended_protocol_carries_parameters_of_several_types() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let daemon = start(&config(dir.path(), port), port);
    common::workload::extended_protocol(port).await;
    common::stop(daemon);
    identical(dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_clients_of_mixed_reads_and_writes_leave_identical_backends() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let daemon = start(&config(dir.path(), port), port);
    common::workload::mixed_load(port, 16, 20).await;
    common::stop(daemon);
    let sums = identical(dir.path()).await;
    assert!(
        sums.iter().any(|t| t.table == "events" && t.rows == 320),
        "{sums:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_and_tokio_postgres_work_and_every_backend_gets_the_writes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(dir.path(), port);
    let mut daemon = start(&cfg, port);

    assert_eq!(
        psql(
            port,
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL)"
        ),
        (true, "CREATE TABLE".into())
    );
    assert!(
        psql(
            port,
            "INSERT INTO t VALUES (1, 'uno', 1.5); INSERT INTO t VALUES (2, 'dös', NULL)"
        )
        .0
    );
    assert_eq!(
        psql(port, "SELECT id, name, score FROM t ORDER BY id"),
        (true, "1|uno|1.5\n2|dös|".into())
    );
    let (ok, text) = psql(port, "INSERT INTO t VALUES (1, 'dup', 0)");
    assert!(
        !ok && text.contains("UNIQUE constraint failed: t.id"),
        "{text}"
    );

    let client = common::client(port).await;
    client
        .simple_query("BEGIN; INSERT INTO t VALUES (3, 'tres', 3); ROLLBACK")
        .await
        .unwrap();
    client
        .simple_query("BEGIN; INSERT INTO t VALUES (4, 'cuatro', 4); COMMIT")
        .await
        .unwrap();
    let err = client
        .simple_query("INSERT INTO t VALUES (4, 'again', 0)")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23505"), "{err}");
    let err = client.simple_query("SELEC 1").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42601"), "{err}");
    // The session is still usable after errors.
    let rows = client.simple_query("SELECT count(*) FROM t").await.unwrap();
    let count = rows.iter().find_map(|m| {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            r.get(0).map(str::to_string)
        } else {
            None
        }
    });
    assert_eq!(count.as_deref(), Some("3"));
    drop(client);

    let sums = identical(dir.path()).await;
    assert!(
        sums.iter().any(|t| t.table == "t" && t.rows == 3),
        "{sums:?}"
    );
    // SIGTERM: a graceful stop.
    Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    let status = daemon.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_load_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::sqlite(dir.path());
    common::workload::kill_daemon_mid_load(&three, dir.path(), 4, Duration::from_millis(600)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_mid_transaction_is_rolled_back_and_frees_the_write_turn() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(dir.path(), port);
    let daemon = start(&cfg, port);
    assert!(psql(port, "CREATE TABLE t (v INTEGER)").0);
    // A psql that opens a transaction, writes (taking the write turn), then is killed.
    let mut client = Command::new("psql")
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
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::{BufRead, Write};
        let mut stdin = client.stdin.take().unwrap();
        writeln!(stdin, "BEGIN;\nINSERT INTO t VALUES (1);\n\\echo WROTE").unwrap();
        stdin.flush().unwrap();
        let mut lines = std::io::BufReader::new(client.stdout.take().unwrap()).lines();
        assert!(
            lines.any(|l| l.unwrap().contains("WROTE")),
            "psql never wrote"
        );
        client.kill().unwrap();
        client.wait().unwrap();
        drop(stdin);
    }
    // Another client can write at once (the turn was released) and sees no trace of it.
    let t = Instant::now();
    assert!(psql(port, "INSERT INTO t VALUES (2)").0);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the write turn was not released"
    );
    assert_eq!(
        psql(port, "SELECT group_concat(v) FROM t"),
        (true, "2".into())
    );
    common::stop(daemon);
    identical(dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_shows_status_detaches_and_checks_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(dir.path(), port);
    let text = std::fs::read_to_string(&cfg).unwrap().replacen(
        "[server]\n",
        "[server]\nadmin_token = \"s3cret\"\n",
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let mut daemon = start(&cfg, port);
    let c = cfg.to_str().unwrap();
    assert!(psql(port, "CREATE TABLE t (v INTEGER)").0);
    let (ok, status) = mdbd(&["status", "--config", c]);
    assert!(ok, "{status}");
    assert_eq!(
        status.lines().filter(|l| l.contains(" active ")).count(),
        3,
        "{status}"
    );
    let cfg_text = std::fs::read_to_string(&cfg).unwrap();
    let admin_addr = cfg_text
        .lines()
        .find(|l| l.starts_with("admin_listen"))
        .unwrap()
        .split('"')
        .nth(1)
        .unwrap()
        .to_string();
    // Without the token the API refuses.
    let (ok, refused) = mdbd(&["status", "--admin", &admin_addr]);
    assert!(!ok && refused.contains("HTTP 401"), "{refused}");

    let (ok, out) = mdbd(&["detach", "b", "--config", c]);
    assert!(ok, "{out}");
    assert!(psql(port, "INSERT INTO t VALUES (1)").0);
    let (_, status) = mdbd(&["status", "--config", c]);
    let b = status.lines().find(|l| l.starts_with("b ")).unwrap();
    assert!(
        b.contains("detached") && b.contains("detached by the operator") && b.contains(" 1  "),
        "{status}"
    );
    let (ok, out) = mdbd(&["detach", "nosuch", "--config", c]);
    assert!(!ok && out.contains("no backend named"), "{out}");
    Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    daemon.wait().unwrap();
}
