//! `mdbd run` over three throwaway PostgreSQL servers, driven by `psql` and
//! tokio-postgres: the extended protocol, 16 concurrent clients, a backend killed under
//! load, the daemon killed under load, COPY, and VACUUM.

mod common;

use common::{psql, start, stop, Three};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_extended_protocol_carries_parameters_of_several_types() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    common::workload::extended_protocol(port).await;
    stop(daemon);
    three.identical(&[0, 1, 2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_clients_of_mixed_reads_and_writes_leave_identical_backends() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    common::workload::mixed_load(port, 16, 20).await;
    stop(daemon);
    let sums = three.identical(&[0, 1, 2]).await;
    assert!(
        sums.iter()
            .any(|t| t.table.ends_with("events") && t.rows == 320),
        "{sums:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_killed_mid_load_is_detached_and_no_client_sees_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut three = Three::postgres();
    let port = common::free_port();
    let cfg = three.config(dir.path(), port);
    let daemon = start(&cfg, port);
    let stop_at = Instant::now() + Duration::from_millis(2500);
    let load = tokio::spawn(common::workload::writers(port, 8, stop_at));
    tokio::time::sleep(Duration::from_millis(800)).await;
    if let Three::Postgres(servers) = &mut three {
        servers[1].kill();
    }
    let acked = load.await.unwrap();
    assert!(
        acked.iter().all(|(_, failed)| !failed),
        "a client saw an error: {acked:?}"
    );
    assert!(acked.iter().map(|(n, _)| n).sum::<i64>() > 0);
    common::workload::all_acknowledged_present(port, &acked);
    let (ok, status) = common::mdbd(&["status", "--config", cfg.to_str().unwrap()]);
    assert!(ok, "{status}");
    let b = status.lines().find(|l| l.starts_with("b ")).unwrap();
    assert!(b.contains("detached"), "{status}");
    stop(daemon);
    three.identical(&[0, 2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_load_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    common::workload::kill_daemon_mid_load(&three, dir.path(), 8, Duration::from_millis(1200))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_and_vacuum_reach_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    assert!(
        psql(
            port,
            "CREATE TABLE c (id int PRIMARY KEY, name text, at timestamptz DEFAULT '2026-01-01')"
        )
        .0
    );
    // COPY FROM STDIN as psql's \copy sends it, 20,000 rows in many CopyData messages.
    let data: String = (0..20_000).map(|i| format!("{i}\tname {i}\n")).collect();
    let file = dir.path().join("rows.tsv");
    std::fs::write(&file, data).unwrap();
    let (ok, out) = psql(
        port,
        &format!("\\copy c (id, name) FROM '{}'", file.display()),
    );
    assert!(ok && out.contains("COPY 20000"), "{out}");
    // A COPY that fails (duplicate key) fails everywhere and changes nothing.
    let (ok, out) = psql(
        port,
        &format!("\\copy c (id, name) FROM '{}'", file.display()),
    );
    assert!(!ok && out.contains("duplicate key"), "{out}");
    // COPY TO STDOUT is a read.
    let (ok, out) = psql(
        port,
        "COPY (SELECT id FROM c WHERE id < 3 ORDER BY id) TO STDOUT",
    );
    assert!(ok && out == "0\n1\n2", "{out}");
    // Timestamps are pinned: every backend stores the same now().
    assert!(psql(port, "UPDATE c SET at = now() WHERE id < 100").0);
    let (ok, out) = psql(port, "VACUUM ANALYZE c");
    assert!(ok && out == "VACUUM", "{out}");
    stop(daemon);
    let sums = three.identical(&[0, 1, 2]).await;
    assert!(
        sums.iter()
            .any(|t| t.table.ends_with(".c") || t.table == "c"),
        "{sums:?}"
    );
    assert!(sums.iter().any(|t| t.rows == 20_000), "{sums:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_backend_that_dies_is_detached_by_the_health_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut three = Three::postgres();
    let port = common::free_port();
    let cfg = three.config(dir.path(), port);
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[[user]]",
        "[health]\ninterval = \"200ms\"\ntimeout = \"1s\"\n\n[[user]]",
    );
    std::fs::write(&cfg, text).unwrap();
    let daemon = start(&cfg, port);
    if let Three::Postgres(servers) = &mut three {
        servers[2].kill();
    }
    // No client traffic at all: only the health check can notice.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, status) = common::mdbd(&["status", "--config", cfg.to_str().unwrap()]);
        let c = status
            .lines()
            .find(|l| l.starts_with("c "))
            .unwrap_or_default()
            .to_string();
        if c.contains("detached") {
            assert!(c.contains("health check"), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "c was never detached: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(psql(port, "CREATE TABLE after (v int)").0);
    stop(daemon);
    three.identical(&[0, 1]).await;
}
