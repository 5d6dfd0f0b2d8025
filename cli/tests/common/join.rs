//! The online-join scenarios of issue #5, shared by the SQLite, PostgreSQL and MariaDB
//! test files: a join under load (both donor modes), the daemon SIGKILLed in each phase,
//! a delta-only rejoin, a donor or joiner dying mid-snapshot.

use super::{admin, free_port, psql, start, start_with, stop, Three, NAMES};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What each client ended with: inserts acknowledged, and its first error if any.
pub type ClientResult = (i64, Option<String>);

/// `n` clients, each inserting `(writer, seq)` rows into `acked` and every fourth time
/// reading its own count back (which must equal what was acknowledged), until `stop` or
/// their first error.
pub async fn load(port: u16, n: i32, stop: Arc<AtomicBool>) -> Vec<ClientResult> {
    let mut tasks = Vec::new();
    for w in 0..n {
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let conn = tokio_postgres::connect(
                &format!("host=127.0.0.1 port={port} user=demo dbname=app"),
                tokio_postgres::NoTls,
            )
            .await;
            let (c, conn) = match conn {
                Ok(x) => x,
                Err(e) => return (0, Some(format!("connect: {e}"))),
            };
            tokio::spawn(conn);
            let mut acked = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let sql = format!("INSERT INTO acked VALUES ({w}, {acked})");
                if let Err(e) = c.simple_query(&sql).await {
                    return (acked, Some(format!("insert: {e}")));
                }
                acked += 1;
                if acked % 4 == 0 {
                    let q = format!("SELECT count(*) FROM acked WHERE writer = {w}");
                    match c.simple_query(&q).await {
                        Ok(rows) => {
                            let seen = rows.iter().find_map(|m| match m {
                                tokio_postgres::SimpleQueryMessage::Row(r) => {
                                    r.get(0).map(str::to_string)
                                }
                                _ => None,
                            });
                            if seen.as_deref() != Some(acked.to_string().as_str()) {
                                return (acked, Some(format!("read {seen:?} of {acked} rows")));
                            }
                        }
                        Err(e) => return (acked, Some(format!("select: {e}"))),
                    }
                }
            }
            (acked, None)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Every acknowledged insert is there.
pub fn all_present(port: u16, results: &[ClientResult]) {
    let acked: Vec<(i64, bool)> = results.iter().map(|(n, e)| (*n, e.is_some())).collect();
    super::workload::all_acknowledged_present(port, &acked);
}

/// No client saw an error.
pub fn no_errors(results: &[ClientResult]) {
    let errors: Vec<&String> = results.iter().filter_map(|(_, e)| e.as_ref()).collect();
    assert!(errors.is_empty(), "client errors: {errors:?}");
    assert!(results.iter().all(|(n, _)| *n > 0), "a client did nothing");
}

/// A daemon and where it listens.
pub struct Daemon {
    pub cfg: PathBuf,
    pub port: u16,
    pub admin: u16,
    pub child: super::Running,
}

/// Starts the daemon over `names` with `env`, creates `acked` and some bulk data.
pub fn daemon(three: &Three, dir: &Path, names: &[&str], env: &[(&str, &str)]) -> Daemon {
    let (port, admin_port) = (free_port(), free_port());
    let cfg = three.config_of(dir, port, admin_port, names, "");
    let child = start_with(&cfg, port, env);
    let (ok, out) = psql(
        port,
        "CREATE TABLE acked (writer int4, seq int4, PRIMARY KEY (writer, seq))",
    );
    assert!(ok, "{out}");
    let rows: Vec<String> = (0..2000)
        .map(|i| format!("({i}, 'bulk row {i} {}')", "x".repeat(i % 50)))
        .collect();
    let (ok, out) = psql(
        port,
        &format!(
            "CREATE TABLE bulk (id int4 PRIMARY KEY, note varchar(200)); INSERT INTO bulk VALUES {}",
            rows.join(",")
        ),
    );
    assert!(ok, "{out}");
    Daemon {
        cfg,
        port,
        admin: admin_port,
        child,
    }
}

/// Polls join `id` until `done` says so (or 120 s pass).
pub fn wait_join(admin_port: u16, id: u64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, j) = admin(admin_port, "GET", &format!("/v1/joins/{id}"));
        assert_eq!(status, 200, "{j}");
        if done(&j) {
            return j;
        }
        assert!(Instant::now() < deadline, "join {id} stuck: {j}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The join has ended.
pub fn ended(j: &Value) -> bool {
    matches!(j["phase"].as_str(), Some("finished" | "aborted"))
}

/// Requests a join of `name`; returns its id.
pub fn request_join(admin_port: u16, name: &str, query: &str) -> u64 {
    let (status, j) = admin(
        admin_port,
        "POST",
        &format!("/v1/backends/{name}/join?{query}"),
    );
    assert_eq!(status, 202, "{j}");
    j["id"].as_u64().unwrap()
}

/// Adds backend c to the config and reloads: c is registered detached.
fn add_c(three: &Three, dir: &Path, d: &Daemon) {
    three.config_of(dir, d.port, d.admin, &NAMES, "");
    let (status, body) = admin(d.admin, "POST", "/v1/reload");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["added"], serde_json::json!(["c"]));
    let (_, s) = admin(d.admin, "GET", "/v1/status");
    assert_eq!(s["backends"][2]["state"], "detached", "{s}");
}

/// The backends hold identical content and the same applied LSN.
pub async fn converged(three: &Three, which: &[usize]) {
    three.identical(which).await;
    let mut markers = Vec::new();
    for &i in which {
        markers.push(three.backend(i).applied_lsn().await.unwrap());
    }
    assert!(
        markers.windows(2).all(|w| w[0] == w[1]),
        "applied LSNs differ: {markers:?}"
    );
}

/// An empty server c is added to a running a+b cluster and joined in donor mode `mode`
/// under 8 clients' load. With `kill_in` (`snapshot`, `catch_up`, `switch_over`) the
/// daemon is SIGKILLed while the join is in that phase and restarted; the join resumes.
pub async fn join_under_load(three: &Three, dir: &Path, mode: &str, kill_in: Option<&str>) {
    let failpoint = match kill_in {
        Some("snapshot") => "join-snapshot=4000",
        Some("catch_up") => "join-catch-up=4000",
        Some("switch_over") => "join-switch-over=4000",
        _ => "",
    };
    let mut d = daemon(three, dir, &["a", "b"], &[("MDBD_FAILPOINTS", failpoint)]);
    let stop_flag = Arc::new(AtomicBool::new(false));
    let clients = tokio::spawn(load(d.port, 8, stop_flag.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    add_c(three, dir, &d);
    let id = request_join(d.admin, "c", &format!("mode={mode}"));
    let joined = match kill_in {
        None => {
            let j = wait_join(d.admin, id, ended);
            tokio::time::sleep(Duration::from_millis(500)).await;
            stop_flag.store(true, Ordering::Relaxed);
            let results = clients.await.unwrap();
            no_errors(&results);
            all_present(d.port, &results);
            j
        }
        Some(phase) => {
            let admin_port = d.admin;
            let at = wait_join(admin_port, id, |j| match phase {
                "switch_over" => j["switching"] == true,
                p => j["phase"] == p,
            });
            tokio::time::sleep(Duration::from_millis(200)).await;
            d.child.kill().unwrap(); // SIGKILL
            d.child.wait().unwrap();
            stop_flag.store(true, Ordering::Relaxed);
            let results = clients.await.unwrap();
            assert!(results.iter().map(|(n, _)| n).sum::<i64>() > 0);
            d.child = start(&d.cfg, d.port);
            let j = wait_join(admin_port, id, ended);
            assert!(
                at["phase"] != "finished",
                "the kill came after the join: {at}"
            );
            all_present(d.port, &results);
            // A snapshot interrupted by the kill is redone from the start; a catch-up or a
            // switch-over continues without a second snapshot.
            let attempts = if phase == "snapshot" { 2 } else { 1 };
            assert_eq!(j["snapshot"]["attempts"], attempts, "{j}");
            j
        }
    };
    eprintln!("join: {joined}");
    assert_eq!(joined["phase"], "finished", "{joined}");
    assert_eq!(joined["delta_only"], false, "{joined}");
    let (_, s) = admin(d.admin, "GET", "/v1/status");
    for b in s["backends"].as_array().unwrap() {
        assert_eq!(b["state"], "active", "{s}");
    }
    stop(d.child);
    converged(three, &[0, 1, 2]).await;
}

/// Waits until backend `i` shows `state` in the status (30 s at most); returns it.
pub fn wait_state(admin_port: u16, i: usize, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, s) = admin(admin_port, "GET", "/v1/status");
        if s["backends"][i]["state"] == state {
            return s["backends"][i].clone();
        }
        assert!(Instant::now() < deadline, "backend {i} never {state}: {s}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Backend b leaves for a few seconds under load (its server stopped and restarted; for
/// SQLite, which has no server, detached by the operator), then is joined again: by delta
/// replay alone, without a snapshot. (A clean stop: the test servers run with relaxed
/// durability, under which a crash loses committed transactions but not DDL, leaving a
/// marker behind a table that exists.)
pub async fn rejoin_by_delta(three: &mut Three, dir: &Path) {
    let d = daemon(three, dir, &NAMES, &[]);
    let stop_flag = Arc::new(AtomicBool::new(false));
    let clients = tokio::spawn(load(d.port, 8, stop_flag.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sqlite = matches!(three, Three::Sqlite(_));
    if sqlite {
        let (status, body) = admin(d.admin, "POST", "/v1/backends/b/detach");
        assert_eq!(status, 200, "{body}");
    } else {
        three.stop_server(1);
    }
    let b = wait_state(d.admin, 1, "detached");
    eprintln!("b detached: {b}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    if !sqlite {
        three.restart_server(1);
    }
    let id = request_join(d.admin, "b", "");
    let j = wait_join(d.admin, id, ended);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_flag.store(true, Ordering::Relaxed);
    let results = clients.await.unwrap();
    eprintln!("join: {j}");
    assert_eq!(j["phase"], "finished", "{j}");
    assert_eq!(j["delta_only"], true, "took a snapshot: {j}");
    assert_eq!(j["snapshot"]["attempts"], 0, "{j}");
    no_errors(&results);
    all_present(d.port, &results);
    stop(d.child);
    converged(three, &[0, 1, 2]).await;
}

/// Backend b is away while inserts that draw generated keys are rolled back or fail on
/// a and c (their sequence or `AUTO_INCREMENT` moves; the log holds no such insert), then
/// rejoins by delta replay: once active it draws the same keys as the others for new
/// inserts, and all three end identical (keys, rows and key generators).
pub async fn rejoin_after_rolled_back_draws(three: &mut Three, dir: &Path) {
    let d = daemon(three, dir, &NAMES, &[]);
    let table = match three {
        Three::Mariadb(_) => {
            "CREATE TABLE drawn (id int AUTO_INCREMENT PRIMARY KEY, note varchar(20) UNIQUE)"
        }
        _ => "CREATE TABLE drawn (id serial PRIMARY KEY, note varchar(20) UNIQUE)",
    };
    let (ok, out) = psql(d.port, table);
    assert!(ok, "{out}");
    let (ok, out) = psql(d.port, "INSERT INTO drawn (note) VALUES ('first')");
    assert!(ok, "{out}");
    three.stop_server(1);
    wait_state(d.admin, 1, "detached");
    let c = super::client(d.port).await;
    c.simple_query("INSERT INTO drawn (note) VALUES ('while b was away')")
        .await
        .unwrap();
    for i in 0..3 {
        c.simple_query(&format!(
            "BEGIN; INSERT INTO drawn (note) VALUES ('rolled back {i}'); ROLLBACK"
        ))
        .await
        .unwrap();
    }
    // A duplicate: the insert fails after drawing its key.
    assert!(c
        .simple_query("INSERT INTO drawn (note) VALUES ('first')")
        .await
        .is_err());
    // The last thing before b returns: no later logged insert carries a/c's position.
    three.restart_server(1);
    let id = request_join(d.admin, "b", "");
    let j = wait_join(d.admin, id, ended);
    assert_eq!(j["phase"], "finished", "{j}");
    assert_eq!(j["delta_only"], true, "took a snapshot: {j}");
    for note in ["after the join", "and once more"] {
        c.simple_query(&format!("INSERT INTO drawn (note) VALUES ('{note}')"))
            .await
            .unwrap();
    }
    let (_, s) = admin(d.admin, "GET", "/v1/status");
    for b in s["backends"].as_array().unwrap() {
        assert_eq!(b["state"], "active", "{s}");
    }
    drop(c);
    stop(d.child);
    converged(three, &[0, 1, 2]).await;
}

/// A `detach`-mode join of c from donor b, where the donor's or the joiner's server
/// (`victim`) dies during the snapshot: the join is aborted with the reason, clients see
/// no error, the cluster keeps serving with the others.
pub async fn join_loses(three: &mut Three, dir: &Path, victim: &str) {
    let d = daemon(
        three,
        dir,
        &["a", "b"],
        &[("MDBD_FAILPOINTS", "join-snapshot-start=3000")],
    );
    let stop_flag = Arc::new(AtomicBool::new(false));
    let clients = tokio::spawn(load(d.port, 8, stop_flag.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    add_c(three, dir, &d);
    let id = request_join(d.admin, "c", "mode=detach&donor=b");
    wait_join(d.admin, id, |j| j["phase"] == "snapshot");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (server, expected) = match victim {
        "donor" => (1, "donor snapshot failed"),
        _ => (2, "joiner restore failed"),
    };
    three.kill_server(server);
    let j = wait_join(d.admin, id, ended);
    eprintln!("join: {j}");
    assert_eq!(j["phase"], "aborted", "{j}");
    let reason = j["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(expected),
        "reason {reason:?} lacks {expected:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_flag.store(true, Ordering::Relaxed);
    let results = clients.await.unwrap();
    no_errors(&results);
    all_present(d.port, &results);
    let (_, s) = admin(d.admin, "GET", "/v1/status");
    let state = |i: usize| {
        s["backends"][i]["state"]
            .as_str()
            .unwrap_or("?")
            .to_string()
    };
    let why = |i: usize| {
        s["backends"][i]["reason"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(state(0), "active", "{s}");
    assert_eq!(state(server), "detached", "{s}");
    assert!(why(server).contains(&format!("join {id} aborted")), "{s}");
    // A dead joiner leaves the donor to come back by replaying its delta.
    let serving: Vec<usize> = if victim == "donor" {
        vec![0]
    } else {
        vec![0, 1]
    };
    if victim != "donor" {
        assert_eq!(state(1), "active", "the donor did not return: {s}");
    }
    let (ok, out) = psql(d.port, "INSERT INTO acked VALUES (999, 0)");
    assert!(ok, "the cluster stopped serving: {out}");
    stop(d.child);
    converged(three, &serving).await;
}

/// With `auto_join = true`, a backend added by a reload is joined without a request; a
/// backend the operator detached is left alone.
pub async fn auto_join(three: &Three, dir: &Path) {
    let extra = "[join]\nauto_join = true\n\n[health]\ninterval = \"200ms\"\n";
    let (port, admin_port) = (free_port(), free_port());
    let cfg = three.config_of(dir, port, admin_port, &["a", "b"], extra);
    let daemon = start(&cfg, port);
    let (ok, out) = psql(port, "CREATE TABLE t (id int4 PRIMARY KEY)");
    assert!(ok, "{out}");
    assert!(psql(port, "INSERT INTO t VALUES (1)").0);
    three.config_of(dir, port, admin_port, &NAMES, extra);
    let (status, body) = admin(admin_port, "POST", "/v1/reload");
    assert_eq!(status, 200, "{body}");
    wait_state(admin_port, 2, "active");
    let (_, joins) = admin(admin_port, "GET", "/v1/joins");
    assert_eq!(joins["joins"][0]["joiner"], "c", "{joins}");
    assert_eq!(joins["joins"][0]["phase"], "finished", "{joins}");
    let (status, body) = admin(admin_port, "POST", "/v1/backends/b/detach");
    assert_eq!(status, 200, "{body}");
    assert!(psql(port, "INSERT INTO t VALUES (2)").0);
    std::thread::sleep(Duration::from_secs(1));
    let (_, s) = admin(admin_port, "GET", "/v1/status");
    assert_eq!(s["backends"][1]["state"], "detached", "auto-joined: {s}");
    stop(daemon);
    converged(three, &[0, 2]).await;
}

/// `DELETE /v1/joins/{id}` during the snapshot aborts the join: the joiner stays
/// detached with the reason, a `detach`-mode donor comes back, a second cancel is refused.
pub async fn cancel_join(three: &Three, dir: &Path) {
    let d = daemon(
        three,
        dir,
        &["a", "b"],
        &[("MDBD_FAILPOINTS", "join-snapshot-start=3000")],
    );
    add_c(three, dir, &d);
    let id = request_join(d.admin, "c", "mode=detach");
    wait_join(d.admin, id, |j| j["phase"] == "snapshot");
    let (status, body) = admin(d.admin, "DELETE", &format!("/v1/joins/{id}"));
    assert_eq!(status, 202, "{body}");
    let j = wait_join(d.admin, id, ended);
    assert_eq!(j["phase"], "aborted", "{j}");
    assert!(
        j["reason"].as_str().unwrap_or("").contains("cancelled"),
        "{j}"
    );
    let (status, body) = admin(d.admin, "DELETE", &format!("/v1/joins/{id}"));
    assert_eq!(status, 409, "{body}");
    let (status, _) = admin(d.admin, "GET", "/v1/joins/999");
    assert_eq!(status, 404);
    let (status, body) = admin(d.admin, "POST", "/v1/backends/nope/join");
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("nope"),
        "{body}"
    );
    let (status, body) = admin(d.admin, "POST", "/v1/backends/a/join");
    assert_eq!(status, 409, "{body}");
    wait_state(d.admin, 1, "active");
    let (_, s) = admin(d.admin, "GET", "/v1/status");
    assert_eq!(s["backends"][2]["state"], "detached", "{s}");
    assert!(psql(d.port, "INSERT INTO acked VALUES (1, 1)").0);
    stop(d.child);
    converged(three, &[0, 1]).await;
}
