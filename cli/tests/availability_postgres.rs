//! Availability under ordinary faults and load (issue #15), over three throwaway
//! PostgreSQL servers: nothing a client sends and no limit being reached detaches a
//! backend; a hung server is detached within the deadline and writes go on; a client that
//! stops talking inside a transaction ends only its own transaction.

mod common;

use common::{admin, free_port, start, Three};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A config over `three` with `[server]` keys `server` and per-backend keys `backend`.
fn config(
    three: &Three,
    dir: &Path,
    port: u16,
    admin: u16,
    server: &str,
    backend: &str,
) -> PathBuf {
    let backends = three.backend_toml(&common::NAMES).replace(
        "kind = \"postgres\"\n",
        &format!("kind = \"postgres\"\n{backend}\n"),
    );
    let text = format!(
        "[server]\nadmin_listen = \"127.0.0.1:{admin}\"\ndata_dir = \"{}/data\"\n{server}\n\n[[listener]]\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:{port}\"\ndatabase = \"app\"\n\n[[user]]\nname = \"demo\"\nauth = \"trust\"\n{backends}",
        dir.display()
    );
    let path = dir.join("mdbd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Three servers and a daemon over them with `[server]` keys `server`.
fn up(server: &str) -> (Three, tempfile::TempDir, u16, u16, common::Running) {
    let three = Three::postgres();
    let dir = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let conf = config(&three, dir.path(), port, admin_port, server, "");
    let daemon = start(&conf, port);
    (three, dir, port, admin_port, daemon)
}

fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("connection: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_writers_and_320_readers_over_servers_allowing_50_detach_nothing() {
    let mut three = Three::postgres();
    // Servers that allow 50 connections (mdbd's default pool is 40 per backend).
    if let Three::Postgres(servers) = &mut three {
        for server in servers.iter_mut() {
            server.restart_with_max_connections(50).unwrap();
            let limit = server.psql("postgres", "SHOW max_connections").unwrap();
            assert_eq!(limit.trim(), "50");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let conf = config(
        &three,
        dir.path(),
        port,
        admin_port,
        "pool_timeout = \"2s\"",
        "",
    );
    let daemon = start(&conf, port);
    common::client(port)
        .await
        .batch_execute("CREATE TABLE w (id int PRIMARY KEY)")
        .await
        .unwrap();
    // Each client connects, writes once and stays connected until all have written.
    let mut clients = Vec::new();
    for _ in 0..200 {
        let (client, conn) = tokio_postgres::connect(
            &format!("host=127.0.0.1 port={port} user=demo dbname=app"),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        clients.push(client);
    }
    let writes = clients.iter().enumerate().map(|(i, c)| async move {
        c.execute("INSERT INTO w VALUES ($1)", &[&(i as i32)])
            .await
            .map_err(|e| {
                format!(
                    "{} {:?}",
                    sqlstate(&e),
                    e.as_db_error().map(|d| d.message())
                )
            })
    });
    let results = futures_util::future::join_all(writes).await;
    let acknowledged = results.iter().filter(|r| r.is_ok()).count();
    let refused: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        refused.iter().all(|s| s.starts_with("53300")),
        "only 53300 may refuse a write: {refused:?}"
    );
    assert!(acknowledged > 0);
    assert_eq!(
        common::states(admin_port),
        ["active", "active", "active"],
        "no backend may be detached"
    );
    let rows: i64 = common::client(port)
        .await
        .query_one("SELECT count(*) FROM w", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        rows as usize, acknowledged,
        "every acknowledged write is there, nothing else"
    );
    // 320 more clients, each reading once while all stay connected.
    let mut readers = Vec::new();
    for _ in 0..320 {
        readers.push(common::client(port).await);
    }
    let reads = readers.iter().map(|c| async move {
        c.query_one("SELECT count(*) FROM w", &[])
            .await
            .map_err(|e| sqlstate(&e))
    });
    let results = futures_util::future::join_all(reads).await;
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.iter().all(|s| *s == "53300"),
        "only 53300 may refuse a read: {failed:?}"
    );
    assert!(results.iter().filter(|r| r.is_ok()).count() > 0);
    assert_eq!(common::states(admin_port), ["active", "active", "active"]);
    drop(readers);
    drop(clients);
    common::stop(daemon);
    three.identical(&[0, 1, 2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_set_is_the_clients_error_and_detaches_nothing() {
    let (three, _dir, port, admin_port, daemon) = up("");
    let client = common::client(port).await;
    client
        .batch_execute("CREATE TABLE s (id int)")
        .await
        .unwrap();
    let fresh = common::client(port).await;
    let e = fresh
        .batch_execute("SET work_mem = 'lots'")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e), "22023", "{e}");
    // The session goes on, its valid settings work, and its writes reach every backend.
    fresh
        .batch_execute("SET search_path = \"$user\", public")
        .await
        .unwrap();
    fresh
        .batch_execute("INSERT INTO s VALUES (1)")
        .await
        .unwrap();
    assert_eq!(common::states(admin_port), ["active", "active", "active"]);
    common::stop(daemon);
    three.identical(&[0, 1, 2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_backend_is_detached_within_backend_timeout_and_writes_go_on() {
    let three = Three::postgres();
    let dir = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    // Health checks slow enough to leave the detach to the write path's deadline.
    let conf = config(
        &three,
        dir.path(),
        port,
        admin_port,
        "backend_timeout = \"1s\"",
        "",
    );
    let text = std::fs::read_to_string(&conf).unwrap() + "\n[health]\ninterval = \"60s\"\n";
    std::fs::write(&conf, text).unwrap();
    let daemon = start(&conf, port);
    common::client(port)
        .await
        .batch_execute("CREATE TABLE h (writer int, seq int, PRIMARY KEY (writer, seq))")
        .await
        .unwrap();
    let last_ack = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (last_ack, stop) = (last_ack.clone(), stop.clone());
        let client = common::client(port).await;
        writers.push(tokio::spawn(async move {
            let (mut seq, mut errors, mut longest) = (0, Vec::new(), Duration::ZERO);
            let mut previous = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                seq += 1;
                match client
                    .execute("INSERT INTO h VALUES ($1, $2)", &[&w, &seq])
                    .await
                {
                    Ok(_) => {
                        longest = longest.max(previous.elapsed());
                        previous = Instant::now();
                        last_ack.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
                    }
                    Err(e) => errors.push(sqlstate(&e)),
                }
            }
            (seq, errors, longest)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let servers = three.pg_servers();
    servers[1].pause();
    let paused = Instant::now();
    // The status page answers during the hang.
    let status_took = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        admin(admin_port, "GET", "/v1/status");
        t.elapsed()
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for w in writers {
        outcomes.push(w.await);
    }
    servers[1].resume();
    let mut longest = Duration::ZERO;
    for outcome in outcomes {
        let (_, errors, l) = outcome.unwrap();
        assert!(errors.is_empty(), "no client error: {errors:?}");
        longest = longest.max(l);
    }
    let detached_at = paused.elapsed();
    assert!(
        status_took < Duration::from_secs(5),
        "status took {status_took:?}"
    );
    assert!(
        longest <= Duration::from_secs(2),
        "writes stalled {longest:?}: more than backend_timeout + 1 s"
    );
    assert!(detached_at < Duration::from_secs(10));
    assert_eq!(common::states(admin_port), ["active", "detached", "active"]);
    let (_, status) = admin(admin_port, "GET", "/v1/status");
    let reason = status["backends"][1]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    // Unreachable mid-statement, or commit-failed when the hang met a commit: either way
    // the deadline decided it.
    assert!(
        reason.contains("no answer within the backend timeout"),
        "{reason}"
    );
    common::stop(daemon);
    three.identical(&[0, 2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_transaction_holder_is_ended_and_other_writers_wait_at_most_the_timeout() {
    let (three, _dir, port, admin_port, daemon) = up("idle_in_transaction_timeout = \"2s\"");
    let holder = common::client(port).await;
    holder
        .batch_execute("CREATE TABLE i (id int PRIMARY KEY, v int); INSERT INTO i VALUES (1, 0)")
        .await
        .unwrap();
    holder
        .batch_execute("BEGIN; UPDATE i SET v = v + 1 WHERE id = 1")
        .await
        .unwrap();
    // The holder now sleeps; another writer must get through within the timeout.
    let other = common::client(port).await;
    let t = Instant::now();
    other
        .execute("INSERT INTO i VALUES (2, 0)", &[])
        .await
        .unwrap();
    let waited = t.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "the other writer waited {waited:?}"
    );
    let e = holder.batch_execute("COMMIT").await.unwrap_err();
    assert!(
        sqlstate(&e) == "25P03" || holder.is_closed(),
        "the holder is told: {e}"
    );
    let v: i32 = other
        .query_one("SELECT v FROM i WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 0, "the ended transaction was rolled back");
    assert_eq!(common::states(admin_port), ["active", "active", "active"]);
    let (_, metrics) = common::admin_text(admin_port, "GET", "/metrics");
    assert!(
        metrics.contains("mdbd_idle_in_transaction_timeouts_total 1"),
        "{metrics}"
    );
    common::stop(daemon);
    three.identical(&[0, 1, 2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_stops_the_statement_on_every_backend() {
    let (three, _dir, port, admin_port, daemon) = up("");
    let client = common::client(port).await;
    client
        .batch_execute("CREATE TABLE c (id int PRIMARY KEY, v int); INSERT INTO c VALUES (1, 0)")
        .await
        .unwrap();
    for sql in [
        "SELECT pg_sleep(30)",
        "UPDATE c SET v = v + 1 WHERE pg_sleep(30) IS NOT NULL",
    ] {
        let token = client.cancel_token();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            token.cancel_query(tokio_postgres::NoTls).await.unwrap();
        });
        let t = Instant::now();
        let e = client.batch_execute(sql).await.unwrap_err();
        canceller.await.unwrap();
        assert_eq!(sqlstate(&e), "57014", "{sql}: {e}");
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{sql} ran {:?}",
            t.elapsed()
        );
    }
    // Nothing of the cancelled update remains, and writes go on at once.
    let t = Instant::now();
    common::client(port)
        .await
        .execute("UPDATE c SET v = 5", &[])
        .await
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(common::states(admin_port), ["active", "active", "active"]);
    common::stop(daemon);
    three.identical(&[0, 1, 2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advisory_unlock_runs_on_every_backend() {
    let (_three, _dir, port, admin_port, daemon) = up("");
    let a = common::client(port).await;
    a.batch_execute("SELECT pg_advisory_lock(42)")
        .await
        .unwrap();
    a.batch_execute("SELECT pg_advisory_unlock(42)")
        .await
        .unwrap();
    // Another session takes the lock at once on every backend (a write runs on all).
    let b = common::client(port).await;
    let got: bool = tokio::time::timeout(
        Duration::from_secs(10),
        b.query_one("SELECT pg_try_advisory_lock(42)", &[]),
    )
    .await
    .expect("the lock is free")
    .unwrap()
    .get(0);
    assert!(got);
    assert_eq!(common::states(admin_port), ["active", "active", "active"]);
    common::stop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_unfinished_startup_packets_are_refused_in_bounded_memory() {
    use std::io::{Read, Write};
    let (_three, _dir, port, _admin_port, daemon) = up("authentication_timeout = \"1s\"");
    let before = common::rss(daemon.id());
    // 50 clients announce a 2 GB startup packet and send 5 bytes of it.
    let mut sockets = Vec::new();
    for _ in 0..50 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(&(2_000_000_000i32).to_be_bytes()).unwrap();
        s.write_all(&[0, 3, 0, 0, b'u']).unwrap();
        sockets.push(s);
    }
    for s in &mut sockets {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        assert_eq!(
            reply.first(),
            Some(&b'E'),
            "an ErrorResponse, then the socket closes"
        );
        assert!(String::from_utf8_lossy(&reply).contains("08P01"));
    }
    // A client that sends half a startup packet is closed after authentication_timeout.
    let mut half = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    half.write_all(&[0, 0]).unwrap();
    half.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let n = half.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        t.elapsed()
    );
    let grown = common::rss(daemon.id()).saturating_sub(before);
    assert!(grown < 50 << 20, "RSS grew by {grown} bytes");
    // Clients still log in.
    common::client(port)
        .await
        .batch_execute("SELECT 1")
        .await
        .unwrap();
    common::stop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_has_its_statement_cancelled_and_its_queued_write_dropped() {
    let (three, _dir, port, admin_port, daemon) = up("");
    let client = common::client(port).await;
    client
        .batch_execute("CREATE TABLE g (id int PRIMARY KEY, v int); INSERT INTO g VALUES (1, 0)")
        .await
        .unwrap();
    let psql = |sql: &str| {
        std::process::Command::new("psql")
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
            .args(["-c", sql])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // A slow write whose client is killed: it stops on every backend at once.
    let mut slow = psql("UPDATE g SET v = v + 1 WHERE pg_sleep(30) IS NOT NULL");
    tokio::time::sleep(Duration::from_secs(1)).await;
    slow.kill().unwrap();
    let _ = slow.wait();
    let t = Instant::now();
    client
        .execute("UPDATE g SET v = v + 10", &[])
        .await
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the next write waited {:?}",
        t.elapsed()
    );
    // A write queued behind the turn whose client leaves never runs.
    client
        .batch_execute("BEGIN; UPDATE g SET v = v + 100")
        .await
        .unwrap();
    let mut queued = psql("INSERT INTO g VALUES (2, 2)");
    tokio::time::sleep(Duration::from_secs(1)).await;
    queued.kill().unwrap();
    let _ = queued.wait();
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.batch_execute("COMMIT").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows = client
        .query("SELECT id, v FROM g ORDER BY id", &[])
        .await
        .unwrap();
    let got: Vec<(i32, i32)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, [(1, 110)], "nothing of the clients that left ran");
    assert_eq!(common::states(admin_port), ["active", "active", "active"]);
    common::stop(daemon);
    three.identical(&[0, 1, 2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_client_holding_a_transaction_stops_others_at_most_the_idle_timeout() {
    let (three, _dir, port, admin_port, daemon) = up("idle_in_transaction_timeout = \"2s\"");
    let setup = common::client(port).await;
    setup
        .batch_execute("CREATE TABLE f (id int PRIMARY KEY, v int); INSERT INTO f VALUES (1, 0)")
        .await
        .unwrap();
    // psql opens a write transaction, then its process is frozen (its host "died").
    let mut psql = std::process::Command::new("psql")
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
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = psql.stdin.as_mut().unwrap();
        stdin
            .write_all(b"BEGIN;\nUPDATE f SET v = 1 WHERE id = 1;\n")
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pid = psql.id().to_string();
    std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap();
    let t = Instant::now();
    let inserted = setup.batch_execute("INSERT INTO f VALUES (2, 0)").await;
    let waited = t.elapsed();
    std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap();
    let _ = psql.wait();
    inserted.unwrap();
    assert!(
        waited < Duration::from_secs(4),
        "the other writer waited {waited:?}"
    );
    let v: i32 = setup
        .query_one("SELECT v FROM f WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 0, "the frozen client's update was rolled back");
    assert_eq!(common::states(admin_port), ["active", "active", "active"]);
    common::stop(daemon);
    three.identical(&[0, 1, 2]).await;
}
