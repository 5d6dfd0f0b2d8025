//! The randomized conflict workload of `keyed` ordering (#13): clients run random
//! transactions on a schema built to collide, then the backends, a server replayed from
//! the log alone, and the set of acknowledged commits are checked.

use super::{free_port, psql, start, stop, Three};
use mdbd_engine::backend::Backend;
use mdbd_engine::log::{DeltaLog, LogOptions, Lsn, Payload};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;

/// Single and composite keys, a unique secondary key, a parent and a child with ON DELETE
/// CASCADE, serial keys, a table with a trigger, a table without a key, and the `acked`
/// table every committed transaction writes its own row into.
pub const SCHEMA: &str = "
CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, 20) g;
CREATE TABLE pairs (a int, b int, v bigint NOT NULL, PRIMARY KEY (a, b));
CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL, name text);
CREATE TABLE orders (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES users (id) ON DELETE CASCADE, total int);
CREATE TABLE history (aid int, delta int);
CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL);
INSERT INTO counters VALUES (1, 0);
CREATE TABLE audited (id int PRIMARY KEY, note text);
CREATE FUNCTION count_audit() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN UPDATE counters SET n = n + 1 WHERE id = 1; RETURN NEW; END$$;
CREATE TRIGGER counted AFTER INSERT OR UPDATE ON audited FOR EACH ROW EXECUTE FUNCTION count_audit();
CREATE TABLE acked (client int, seq int, PRIMARY KEY (client, seq));
";

/// A random statement of the workload; `k` is a hot-biased account key. Values stay
/// bounded (modulo a prime) while each update still depends on the order it runs in.
fn statement(rng: &mut StdRng) -> String {
    let k = if rng.gen_bool(0.25) {
        1
    } else {
        rng.gen_range(1..=20)
    };
    let d = rng.gen_range(1..=9);
    let u = rng.gen_range(0..30);
    match rng.gen_range(0..13) {
        0 | 1 => format!("UPDATE accounts SET balance = balance + {d} WHERE id = {k}"),
        2 => format!(
            "UPDATE accounts SET balance = balance - {d} WHERE id BETWEEN {k} AND {}",
            k + 3
        ),
        3 => format!(
            "INSERT INTO pairs VALUES ({}, {}, {d}) ON CONFLICT (a, b) DO UPDATE SET v = (pairs.v * 2 + excluded.v) % 1000003",
            k % 4,
            d % 3
        ),
        4 => format!(
            "UPDATE pairs SET v = (v * 3 + 1) % 1000003 WHERE a = {} AND b = {}",
            k % 4,
            d % 3
        ),
        5 => format!("INSERT INTO users (email, name) VALUES ('u{u}@x', 'n{d}')"),
        6 => format!(
            "INSERT INTO orders (user_id, total) SELECT id, {d} FROM users WHERE email = 'u{u}@x'"
        ),
        7 => format!("DELETE FROM users WHERE email = 'u{u}@x'"),
        8 => format!(
            "UPDATE accounts SET balance = balance + (SELECT count(*) FROM orders) WHERE id = {k}"
        ),
        9 => format!("INSERT INTO history VALUES ({k}, {d})"),
        10 => format!(
            "UPDATE accounts a SET balance = (a.balance * 2 - p.v) % 1000003 FROM pairs p WHERE p.a = a.id AND p.b = {}",
            d % 3
        ),
        11 => format!(
            "INSERT INTO audited VALUES ({k}, 'n{d}') ON CONFLICT (id) DO UPDATE SET note = left(excluded.note || audited.note, 40)"
        ),
        _ => format!("INSERT INTO history SELECT id, balance % 7 FROM accounts WHERE id < {k}"),
    }
}

/// Errors a transaction of this workload may meet and then roll back.
fn expected(e: &tokio_postgres::Error) -> bool {
    let Some(code) = e.code() else { return false };
    [
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::LOCK_NOT_AVAILABLE,
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::UNIQUE_VIOLATION,
        SqlState::FOREIGN_KEY_VIOLATION,
        SqlState::IN_FAILED_SQL_TRANSACTION,
    ]
    .contains(code)
}

#[derive(Default)]
pub struct ClientLog {
    pub committed: BTreeSet<(i32, i32)>,
    pub rolled_back: BTreeSet<(i32, i32)>,
    pub errors: usize,
    /// Errors by SQLSTATE.
    pub codes: BTreeMap<String, usize>,
    /// Failed statements rolled back to their savepoint, their transaction going on.
    pub savepoint_rollbacks: usize,
}

impl ClientLog {
    fn error(&mut self, e: &tokio_postgres::Error) {
        let code = e.code().map_or("?".into(), |c| c.code().to_string());
        *self.codes.entry(code).or_default() += 1;
    }
}

/// One client: random transactions until `secs` pass.
async fn client(port: u16, id: i32, seed: u64, secs: u64) -> ClientLog {
    let c = super::client(port).await;
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1000) + id as u64);
    let mut log = ClientLog::default();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut seq = 0;
    while Instant::now() < end {
        seq += 1;
        // Each statement, and whether it runs under a savepoint: a constraint violation
        // there is rolled back to it and the transaction goes on (what it drew from a
        // sequence stays drawn, and the log must say so).
        let mut sql = vec![("BEGIN".to_string(), false)];
        for _ in 0..rng.gen_range(1..=4) {
            sql.push((statement(&mut rng), rng.gen_bool(0.15)));
        }
        // A read-modify-write of the transaction's own: read after a write, write back.
        let rmw = rng.gen_bool(0.2).then(|| rng.gen_range(1..=20));
        sql.push((format!("INSERT INTO acked VALUES ({id}, {seq})"), false));
        let mut failed = false;
        for (s, savepoint) in &sql {
            if *savepoint {
                if let Err(e) = c.simple_query("SAVEPOINT sp").await {
                    assert!(expected(&e), "client {id}: SAVEPOINT: {e:?}");
                    log.error(&e);
                    failed = true;
                    break;
                }
            }
            let Err(e) = c.simple_query(s).await else {
                continue;
            };
            assert!(expected(&e), "client {id}: {s}: {e:?}");
            log.error(&e);
            let constraint = [SqlState::UNIQUE_VIOLATION, SqlState::FOREIGN_KEY_VIOLATION]
                .iter()
                .any(|c| e.code() == Some(c));
            if *savepoint && constraint {
                match c.simple_query("ROLLBACK TO SAVEPOINT sp").await {
                    Ok(_) => {
                        log.savepoint_rollbacks += 1;
                        continue;
                    }
                    Err(e) => {
                        assert!(expected(&e), "client {id}: ROLLBACK TO: {e:?}");
                        log.error(&e);
                    }
                }
            }
            failed = true;
            break;
        }
        if let (false, Some(k)) = (failed, rmw) {
            let read = c
                .simple_query(&format!("SELECT balance FROM accounts WHERE id = {k}"))
                .await;
            if let Err(e) = &read {
                assert!(expected(e), "client {id}: read of read-modify-write: {e:?}");
                log.error(e);
            }
            let balance = read.ok().and_then(|m| {
                m.into_iter().find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => {
                        r.get(0).and_then(|v| v.parse::<i64>().ok())
                    }
                    _ => None,
                })
            });
            let write = match balance {
                None => {
                    failed = true;
                    Ok(())
                }
                Some(b) => c
                    .simple_query(&format!(
                        "UPDATE accounts SET balance = {} WHERE id = {k}",
                        b + 1
                    ))
                    .await
                    .map(|_| ()),
            };
            if let Err(e) = write {
                assert!(expected(&e), "client {id}: read-modify-write: {e:?}");
                log.error(&e);
                failed = true;
            }
        }
        let rollback = failed || rng.gen_bool(0.1);
        if rollback {
            c.simple_query("ROLLBACK").await.unwrap();
            log.rolled_back.insert((id, seq));
            log.errors += usize::from(failed);
            continue;
        }
        match c.simple_query("COMMIT").await {
            Ok(_) => {
                log.committed.insert((id, seq));
            }
            Err(e) => {
                assert!(expected(&e), "client {id}: COMMIT: {e:?}");
                log.error(&e);
                let _ = c.simple_query("ROLLBACK").await;
                log.rolled_back.insert((id, seq));
                log.errors += 1;
            }
        }
    }
    log
}

/// What one seed did.
pub struct Outcome {
    pub committed: usize,
    pub rolled_back: usize,
    pub errors: usize,
    pub codes: BTreeMap<String, usize>,
    pub savepoint_rollbacks: usize,
    /// mdbd's own counts: deadlock victims of its lock manager, transactions rolled back
    /// for a backend lock wait it did not foresee.
    pub deadlocks: usize,
    pub unexpected_waits: usize,
}

/// The seeds to run: `MDBD_KEYED_SEEDS` (default `1,2`).
pub fn seeds() -> Vec<u64> {
    std::env::var("MDBD_KEYED_SEEDS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// Seconds per seed: `MDBD_KEYED_SECS` (default 6).
pub fn secs() -> u64 {
    std::env::var("MDBD_KEYED_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6)
}

/// Runs each of `seeds` with `run`, prints its line (`label seed N: ...`, which
/// `benches/keyed_seeds.sh` greps) and checks that it did some work, savepoints included.
pub async fn run_seeds<F: std::future::Future<Output = Outcome>>(
    label: &str,
    seeds: &[u64],
    run: impl Fn(u64) -> F,
) {
    for &seed in seeds {
        let o = run(seed).await;
        println!(
            "{label} seed {seed}: {} committed, {} rolled back ({} after an error: {:?}), {} statements rolled back to a savepoint; {} deadlock victims, {} unforeseen backend waits: identical",
            o.committed, o.rolled_back, o.errors, o.codes, o.savepoint_rollbacks, o.deadlocks, o.unexpected_waits
        );
        assert!(
            o.committed > 50,
            "seed {seed}: only {} commits",
            o.committed
        );
        assert!(
            o.savepoint_rollbacks > 0,
            "seed {seed}: no statement was rolled back to a savepoint"
        );
    }
}

/// The clients' logs, joined.
pub async fn gather(tasks: Vec<tokio::task::JoinHandle<ClientLog>>) -> ClientLog {
    let mut all = ClientLog::default();
    for t in tasks {
        let log = t.await.unwrap();
        all.committed.extend(log.committed);
        all.rolled_back.extend(log.rolled_back);
        all.errors += log.errors;
        all.savepoint_rollbacks += log.savepoint_rollbacks;
        for (code, n) in log.codes {
            *all.codes.entry(code).or_default() += n;
        }
    }
    all
}

/// mdbd's lock counters from `GET /metrics`.
pub struct LockCounters {
    pub deadlocks: usize,
    pub timeouts: usize,
    pub unexpected_waits: usize,
}

pub fn lock_counters(admin: u16) -> LockCounters {
    let (_, metrics) = super::admin_text(admin, "GET", "/metrics");
    let metric = |name: &str| -> usize {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    LockCounters {
        deadlocks: metric("mdbd_lock_deadlocks_total"),
        timeouts: metric("mdbd_lock_timeouts_total"),
        unexpected_waits: metric("mdbd_unexpected_backend_waits_total"),
    }
}

/// One seed on three fresh PostgreSQL servers: `clients` clients for `secs` seconds under
/// `consistency` ordering (`"keyed"` or `"serial"`); panics on any divergence.
pub async fn run_seed(consistency: &str, seed: u64, clients: i32, secs: u64) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let (port, admin) = (free_port(), free_port());
    let cfg = three.config_with_server(
        dir.path(),
        port,
        admin,
        &super::NAMES,
        &format!("consistency = \"{consistency}\"\nlock_wait_timeout = \"2s\""),
        "",
    );
    let daemon = start(&cfg, port);
    let (ok, out) = psql(port, SCHEMA);
    assert!(ok, "{out}");
    let tasks: Vec<_> = (0..clients)
        .map(|id| tokio::spawn(client(port, id, seed, secs)))
        .collect();
    let all = gather(tasks).await;
    // Every victim of mdbd's lock manager was told so (40P01), every transaction rolled
    // back for an unforeseen backend wait too (40001).
    let counters = lock_counters(admin);
    let seen = |code: &str| all.codes.get(code).copied().unwrap_or(0);
    assert!(counters.deadlocks <= seen("40P01"));
    assert!(counters.unexpected_waits <= seen("40001"));
    assert!(counters.timeouts <= seen("55P03"));
    stop(daemon);
    // The three backends are identical.
    let content = three.identical(&[0, 1, 2]).await;
    // Every acknowledged commit is there, and no rolled-back transaction.
    let c = super::pg_direct(&three, 0).await;
    let acked: BTreeSet<(i32, i32)> = c
        .query("SELECT client, seq FROM acked", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(acked, all.committed, "seed {seed}: acknowledged commits");
    assert!(acked.is_disjoint(&all.rolled_back));
    // A fresh server replayed from the log alone holds the same content.
    let fresh = mdbd_testkit::PgServer::start().unwrap();
    let backend = mdbd_backends::postgres::PgBackend::new(
        "fresh",
        mdbd_backends::postgres::PgOptions::new(&fresh.conninfo("postgres")),
    )
    .unwrap();
    replay_log(&dir.path().join("data").join("log"), &backend).await;
    let replayed = backend.checksums().await.unwrap();
    let differ: Vec<_> = replayed
        .iter()
        .zip(&content)
        .filter(|(r, c)| r != c)
        .map(|(r, c)| format!("{r:?} vs backend a's {c:?}"))
        .collect();
    assert!(
        differ.is_empty() && replayed.len() == content.len(),
        "seed {seed}: a server replayed from the log differs: {differ:?}"
    );
    Outcome {
        committed: all.committed.len(),
        rolled_back: all.rolled_back.len(),
        errors: all.errors,
        codes: all.codes,
        savepoint_rollbacks: all.savepoint_rollbacks,
        deadlocks: counters.deadlocks,
        unexpected_waits: counters.unexpected_waits,
    }
}

/// Applies every write of the log at `dir` to `backend`, in LSN order (the MariaDB
/// twin, `keyed_mysql.rs`, replays with it too).
pub async fn replay_log(dir: &Path, backend: &dyn Backend) {
    let log = DeltaLog::open(dir, LogOptions::default()).unwrap();
    backend.ensure_marker().await.unwrap();
    for item in log.read_from(Lsn(1)).unwrap() {
        let logged = item.unwrap();
        if let Payload::Write(txn) = &logged.record.payload {
            backend.apply(logged.lsn, txn).await.unwrap();
        }
    }
}
