//! The daemon with its delta log on NATS JetStream (`[log] store = "jetstream"`): what a
//! detached backend misses is kept off this machine's disk, survives a SIGKILL of the
//! daemon, and replays into the backend when it joins again; `mdbd log verify --config`
//! reads it beside the running daemon; NATS nodes lost one at a time under client load
//! cost no client an error.

mod common;

use common::join::{
    all_present, converged, ended, load, no_errors, request_join, wait_join, wait_state,
};
use common::{admin, admin_text, free_port, mdbd, psql, start, stop, Three, NAMES};
use mdbd_testkit::NatsCluster;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_backend_rejoins_from_the_jetstream_log_after_the_daemon_was_killed() {
    let nats = NatsCluster::single().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let three = Three::sqlite(dir.path());
    let (port, admin_port) = (free_port(), free_port());
    let extra = format!(
        "\n[log]\nstore = \"jetstream\"\n\n[log.jetstream]\nservers = [\"{}\"]\nname = \"daemon\"\n",
        nats.urls()[0]
    );
    let cfg = three.config_of(dir.path(), port, admin_port, &NAMES, &extra);
    let mut daemon = start(&cfg, port);
    let (ok, out) = psql(port, "CREATE TABLE t (id int4 PRIMARY KEY, note text)");
    assert!(ok, "{out}");
    let (status, body) = admin(admin_port, "POST", "/v1/backends/b/detach");
    assert_eq!(status, 200, "{body}");
    wait_state(admin_port, 1, "detached");
    let inserts: Vec<String> = (0..50)
        .map(|i| format!("INSERT INTO t VALUES ({i}, 'row {i}');"))
        .collect();
    let (ok, out) = psql(port, &inserts.join(" "));
    assert!(ok, "{out}");
    // A crash of the daemon: nothing of the log is on this machine's disk.
    daemon.0.kill().unwrap();
    daemon.0.wait().unwrap();
    assert!(
        !dir.path().join("data/log").exists(),
        "a sled log was created beside the JetStream one"
    );
    let daemon = start(&cfg, port);
    // The member states live in the JetStream bucket too.
    wait_state(admin_port, 1, "detached");
    let id = request_join(admin_port, "b", "");
    let j = wait_join(admin_port, id, ended);
    assert_eq!(j["phase"], "finished", "{j}");
    assert_eq!(j["delta_only"], true, "took a snapshot: {j}");
    let (ok, out) = psql(port, "SELECT count(*), sum(id) FROM t");
    assert!(ok && out.contains("50") && out.contains("1225"), "{out}");
    // An operator reads the log while the daemon writes it: the daemon is not fenced off.
    let (ok, out) = mdbd(&["log", "verify", "--config", cfg.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(
        out.contains("JetStream log \"daemon\"") && out.contains("status      OK"),
        "{out}"
    );
    let (ok, out) = psql(port, "INSERT INTO t VALUES (50, 'after the verify')");
    assert!(ok, "{out}");
    let (status, metrics) = admin_text(admin_port, "GET", "/metrics");
    assert_eq!(status, 200, "{metrics}");
    for line in ["mdbd_log_store_fenced 0", "mdbd_log_store_failures_total 0"] {
        assert!(metrics.contains(line), "no {line:?} in:\n{metrics}");
    }
    stop(daemon);
    converged(&three, &[0, 1, 2]).await;
}

/// Waits until the log's replicas are all current again (a restarted NATS node caught up).
fn wait_replicas_current(nats: &NatsCluster, name: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !mdbd_jetstream::replicas_current(&nats.urls(), name, Duration::from_secs(5))
        .unwrap_or(false)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "replicas never current"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_nats_nodes_one_at_a_time_under_load_costs_no_client_error() {
    let mut nats = NatsCluster::start(3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let three = Three::sqlite(dir.path());
    let (port, admin_port) = (free_port(), free_port());
    let servers: Vec<String> = nats.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let extra = format!(
        "\n[log]\nstore = \"jetstream\"\n\n[log.jetstream]\nservers = [{}]\nname = \"load\"\nreplicas = 3\n",
        servers.join(", ")
    );
    let cfg = three.config_of(dir.path(), port, admin_port, &NAMES, &extra);
    let daemon = start(&cfg, port);
    let (ok, out) = psql(
        port,
        "CREATE TABLE acked (writer int4, seq int4, PRIMARY KEY (writer, seq))",
    );
    assert!(ok, "{out}");
    tokio::task::block_in_place(|| wait_replicas_current(&nats, "load"));
    let stop_flag = Arc::new(AtomicBool::new(false));
    let clients = tokio::spawn(load(port, 4, stop_flag.clone()));
    // Each node in turn, the log's stream leader among them: writes wait through the
    // election (seconds), and no client sees an error.
    for victim in 0..3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        nats.kill(victim);
        tokio::time::sleep(Duration::from_secs(3)).await;
        tokio::task::block_in_place(|| {
            nats.restart(victim).unwrap();
            wait_replicas_current(&nats, "load");
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_flag.store(true, Ordering::Relaxed);
    let results = clients.await.unwrap();
    eprintln!("acknowledged inserts per client: {results:?}");
    if results.iter().any(|(_, e)| e.is_some()) {
        let log = std::fs::read_to_string(cfg.with_extension("stderr")).unwrap_or_default();
        let said: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect();
        eprintln!("the daemon said:\n{}", said.join("\n"));
    }
    no_errors(&results);
    all_present(port, &results);
    let (_, metrics) = admin_text(admin_port, "GET", "/metrics");
    assert!(
        metrics.contains("mdbd_log_store_failures_total 0"),
        "{metrics}"
    );
    stop(daemon);
    converged(&three, &[0, 1, 2]).await;
}
