//! The randomized conflict workload of `keyed.rs` on MariaDB, through the MySQL listener:
//! the same schema built to collide and the same thirteen statement shapes in MySQL's SQL,
//! then the backends, a server replayed from the log alone, and the set of acknowledged
//! commits are checked.

use super::keyed::{gather, lock_counters, replay_log, ClientLog, LockCounters, Outcome};
use super::{free_port, start, stop, Three};
use mdbd_backends::mysql::{Mysql, MysqlBackend, MysqlOptions};
use mdbd_engine::backend::{Backend, Dialect, OwnError, TableChecksum};
use mysql_async::prelude::Queryable;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// ER_DUP_ENTRY.
const DUPLICATE_KEY: u16 = 1062;
/// ER_NO_REFERENCED_ROW_2: a child row without its parent.
const NO_PARENT: u16 = 1452;
/// ER_LOCK_DEADLOCK (InnoDB's own).
const DEADLOCK: u16 = 1213;
/// ER_LOCK_WAIT_TIMEOUT (InnoDB's own).
const LOCK_WAIT_TIMEOUT: u16 = 1205;

/// `keyed.rs`'s schema in MariaDB's SQL, one statement at a time: single and composite
/// keys, a unique secondary key, a parent and a child with ON DELETE CASCADE,
/// AUTO_INCREMENT keys, a table with triggers, a table without a key, and the `acked`
/// table every committed transaction writes its own row into. Sent through the daemon,
/// triggers included, so every backend has them.
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB",
    "INSERT INTO accounts VALUES (1, 1000), (2, 1000), (3, 1000), (4, 1000), (5, 1000), \
     (6, 1000), (7, 1000), (8, 1000), (9, 1000), (10, 1000), (11, 1000), (12, 1000), \
     (13, 1000), (14, 1000), (15, 1000), (16, 1000), (17, 1000), (18, 1000), (19, 1000), \
     (20, 1000)",
    "CREATE TABLE pairs (a INT, b INT, v BIGINT NOT NULL, PRIMARY KEY (a, b)) ENGINE=InnoDB",
    "CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(64) UNIQUE NOT NULL, \
     name VARCHAR(64)) ENGINE=InnoDB",
    "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, user_id INT NOT NULL, total INT, \
     FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE) ENGINE=InnoDB",
    "CREATE TABLE history (aid INT, delta INT) ENGINE=InnoDB",
    "CREATE TABLE counters (id INT PRIMARY KEY, n BIGINT NOT NULL) ENGINE=InnoDB",
    "INSERT INTO counters VALUES (1, 0)",
    "CREATE TABLE audited (id INT PRIMARY KEY, note VARCHAR(64)) ENGINE=InnoDB",
    // MariaDB has no `AFTER INSERT OR UPDATE`: one trigger per event.
    "CREATE TRIGGER audited_insert AFTER INSERT ON audited FOR EACH ROW \
     UPDATE counters SET n = n + 1 WHERE id = 1",
    "CREATE TRIGGER audited_update AFTER UPDATE ON audited FOR EACH ROW \
     UPDATE counters SET n = n + 1 WHERE id = 1",
    "CREATE TABLE acked (client INT, seq INT, PRIMARY KEY (client, seq)) ENGINE=InnoDB",
];

/// A random statement of the workload (`keyed.rs`'s shapes); `k` is a hot-biased account
/// key. Values stay bounded (modulo a prime) while each update still depends on the
/// order it runs in.
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
            "INSERT INTO pairs VALUES ({}, {}, {d}) ON DUPLICATE KEY UPDATE v = MOD(v * 2 + VALUES(v), 1000003)",
            k % 4,
            d % 3
        ),
        4 => format!(
            "UPDATE pairs SET v = MOD(v * 3 + 1, 1000003) WHERE a = {} AND b = {}",
            k % 4,
            d % 3
        ),
        5 => format!("INSERT INTO users (email, name) VALUES ('u{u}@x', 'n{d}')"),
        6 => format!(
            "INSERT INTO orders (user_id, total) SELECT id, {d} FROM users WHERE email = 'u{u}@x'"
        ),
        7 => format!("DELETE FROM users WHERE email = 'u{u}@x'"),
        // MySQL refuses a subquery on the table being updated; this one reads another.
        8 => format!(
            "UPDATE accounts SET balance = balance + (SELECT count(*) FROM orders) WHERE id = {k}"
        ),
        9 => format!("INSERT INTO history VALUES ({k}, {d})"),
        10 => format!(
            "UPDATE accounts a JOIN pairs p ON p.a = a.id SET a.balance = MOD(a.balance * 2 - p.v, 1000003) WHERE p.b = {}",
            d % 3
        ),
        11 => format!(
            "INSERT INTO audited VALUES ({k}, 'n{d}') ON DUPLICATE KEY UPDATE note = LEFT(CONCAT(VALUES(note), note), 40)"
        ),
        _ => format!(
            "INSERT INTO history SELECT id, MOD(balance, 7) FROM accounts WHERE id < {k}"
        ),
    }
}

/// The server error code of `e`, if it is one.
fn code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// The code mdbd gives MySQL clients for its own `error`.
fn own(error: OwnError) -> u16 {
    let (code, _) = Mysql.error_code(error);
    code.parse()
        .unwrap_or_else(|_| panic!("{error:?}: code {code:?}"))
}

/// Errors a transaction of this workload may meet: InnoDB's and mdbd's deadlocks, lock
/// wait timeouts and serialization failures (rolled back), and constraint violations.
fn expected(e: &mysql_async::Error) -> bool {
    let Some(code) = code(e) else { return false };
    [DUPLICATE_KEY, NO_PARENT, DEADLOCK, LOCK_WAIT_TIMEOUT].contains(&code)
        || [
            OwnError::Deadlock,
            OwnError::LockTimeout,
            OwnError::SerializationFailure,
        ]
        .into_iter()
        .any(|o| own(o) == code)
}

/// A constraint violation: MySQL undoes the statement alone, the transaction stays open.
fn constraint(e: &mysql_async::Error) -> bool {
    matches!(code(e), Some(DUPLICATE_KEY | NO_PARENT))
}

/// Counts `e` by its error code.
fn count(log: &mut ClientLog, e: &mysql_async::Error) {
    let code = code(e).map_or_else(|| "?".to_string(), |c| c.to_string());
    *log.codes.entry(code).or_default() += 1;
}

/// One client: random transactions until `secs` pass.
async fn client(port: u16, id: i32, seed: u64, secs: u64) -> ClientLog {
    let mut c = super::mysql::connect(port).await;
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1000) + id as u64);
    let mut log = ClientLog::default();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut seq = 0;
    while Instant::now() < end {
        seq += 1;
        // Each statement; whether it runs under a savepoint (a constraint violation there
        // is rolled back to it and the transaction goes on: what it drew from an
        // AUTO_INCREMENT stays drawn, and replay must draw the same); and whether, after a
        // constraint violation outside a savepoint, the transaction goes on anyway (MySQL
        // undid the statement alone) or rolls back. Drawn up front, so the random stream
        // does not depend on which statements failed.
        let mut sql = vec![("BEGIN".to_string(), false, false)];
        for _ in 0..rng.gen_range(1..=4) {
            let s = statement(&mut rng);
            sql.push((s, rng.gen_bool(0.15), rng.gen_bool(0.5)));
        }
        // A read-modify-write of the transaction's own: read after a write, write back.
        let rmw = rng.gen_bool(0.2).then(|| rng.gen_range(1..=20));
        sql.push((
            format!("INSERT INTO acked VALUES ({id}, {seq})"),
            false,
            false,
        ));
        let random_rollback = rng.gen_bool(0.1);
        let mut failed = false;
        for (s, savepoint, goes_on) in &sql {
            if *savepoint {
                if let Err(e) = c.query_drop("SAVEPOINT sp").await {
                    assert!(expected(&e), "client {id}: SAVEPOINT: {e:?}");
                    count(&mut log, &e);
                    failed = true;
                    break;
                }
            }
            let Err(e) = c.query_drop(s).await else {
                continue;
            };
            assert!(expected(&e), "client {id}: {s}: {e:?}");
            count(&mut log, &e);
            if constraint(&e) {
                if *savepoint {
                    match c.query_drop("ROLLBACK TO SAVEPOINT sp").await {
                        Ok(()) => {
                            log.savepoint_rollbacks += 1;
                            continue;
                        }
                        Err(e) => {
                            assert!(expected(&e), "client {id}: ROLLBACK TO: {e:?}");
                            count(&mut log, &e);
                        }
                    }
                } else if *goes_on {
                    continue;
                }
            }
            failed = true;
            break;
        }
        if let (false, Some(k)) = (failed, rmw) {
            let read = c
                .query_first::<i64, _>(format!("SELECT balance FROM accounts WHERE id = {k}"))
                .await;
            let balance = match read {
                Ok(balance) => balance,
                Err(e) => {
                    assert!(
                        expected(&e),
                        "client {id}: read of read-modify-write: {e:?}"
                    );
                    count(&mut log, &e);
                    None
                }
            };
            match balance {
                None => failed = true,
                Some(b) => {
                    let write = c
                        .query_drop(format!(
                            "UPDATE accounts SET balance = {} WHERE id = {k}",
                            b + 1
                        ))
                        .await;
                    if let Err(e) = write {
                        assert!(expected(&e), "client {id}: read-modify-write: {e:?}");
                        count(&mut log, &e);
                        failed = true;
                    }
                }
            }
        }
        if failed || random_rollback {
            c.query_drop("ROLLBACK").await.unwrap();
            log.rolled_back.insert((id, seq));
            log.errors += usize::from(failed);
            continue;
        }
        match c.query_drop("COMMIT").await {
            Ok(()) => {
                log.committed.insert((id, seq));
            }
            Err(e) => {
                assert!(expected(&e), "client {id}: COMMIT: {e:?}");
                count(&mut log, &e);
                let _ = c.query_drop("ROLLBACK").await;
                log.rolled_back.insert((id, seq));
                log.errors += 1;
            }
        }
    }
    let _ = c.disconnect().await;
    log
}

/// The checksum entry of the tables' AUTO_INCREMENT counters (the MySQL backend's).
const AUTO_INCREMENT: &str = "(auto_increment)";

/// Table by table, what differs between `replayed` and backend a's `content`, but for
/// the entry `skip`.
fn differences(
    replayed: &[TableChecksum],
    content: &[TableChecksum],
    skip: Option<&str>,
) -> Vec<String> {
    replayed
        .iter()
        .zip(content)
        .filter(|(r, c)| r != c && skip != Some(r.table.as_str()))
        .map(|(r, c)| format!("{r:?} vs backend a's {c:?}"))
        .collect()
}

/// One seed on three fresh MariaDB servers, through the MySQL listener: `clients` clients
/// for `secs` seconds under `consistency` ordering (`"keyed"` or `"serial"`); panics on
/// any divergence.
pub async fn run_seed(consistency: &str, seed: u64, clients: i32, secs: u64) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::mariadb();
    let (pg, my, admin) = (free_port(), free_port(), free_port());
    let cfg = super::mysql::config_with_server(
        &three,
        dir.path(),
        (pg, my, admin),
        &super::NAMES,
        &format!("consistency = \"{consistency}\"\nlock_wait_timeout = \"2s\"\n"),
    );
    let daemon = start(&cfg, my);
    let mut setup = super::mysql::connect(my).await;
    for s in SCHEMA {
        setup
            .query_drop(*s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e:?}"));
    }
    setup.disconnect().await.unwrap();
    let tasks: Vec<_> = (0..clients)
        .map(|id| tokio::spawn(client(my, id, seed, secs)))
        .collect();
    let all = gather(tasks).await;
    // Every victim of mdbd's lock manager was told so, every transaction rolled back for
    // an unforeseen backend wait too, each with the code mdbd's MySQL dialect gives it.
    let seen = |code: u16| all.codes.get(&code.to_string()).copied().unwrap_or(0);
    let (deadlock, timeout, serialization) = (
        own(OwnError::Deadlock),
        own(OwnError::LockTimeout),
        own(OwnError::SerializationFailure),
    );
    let LockCounters {
        deadlocks,
        timeouts,
        unexpected_waits: waits,
    } = lock_counters(admin);
    assert!(
        deadlocks <= seen(deadlock),
        "{deadlocks} deadlocks, {:?}",
        all.codes
    );
    assert!(
        timeouts <= seen(timeout),
        "{timeouts} lock timeouts, {:?}",
        all.codes
    );
    assert!(
        waits <= seen(serialization),
        "{waits} unexpected backend waits, {:?}",
        all.codes
    );
    if deadlock == serialization {
        // One code for both (1213): each of them was still an error of its own.
        assert!(
            deadlocks + waits <= seen(deadlock),
            "{deadlocks} deadlocks and {waits} unexpected backend waits, {:?}",
            all.codes
        );
    }
    stop(daemon);
    // The three backends are identical.
    let content = three.identical(&[0, 1, 2]).await;
    // Every acknowledged commit is there, and no rolled-back transaction.
    let Three::Mariadb(servers) = &three else {
        panic!("not a MariaDB cluster");
    };
    let mut direct = mysql_async::Conn::from_url(servers[0].url("app"))
        .await
        .unwrap();
    let acked: BTreeSet<(i32, i32)> = direct
        .query::<(i32, i32), _>("SELECT client, seq FROM acked")
        .await
        .unwrap()
        .into_iter()
        .collect();
    // Where backend a's AUTO_INCREMENT counters stand, as statements that set them.
    let generators: Vec<String> = match Mysql.key_generators() {
        Some(query) => direct.query(query).await.unwrap(),
        None => Vec::new(),
    };
    direct.disconnect().await.unwrap();
    assert_eq!(acked, all.committed, "seed {seed}: acknowledged commits");
    assert!(acked.is_disjoint(&all.rolled_back));
    // A fresh server replayed from the log alone holds the same rows, keys drawn included.
    let fresh = mdbd_testkit::MariaDb::start().unwrap();
    let backend = MysqlBackend::new("fresh", MysqlOptions::new(&fresh.url("app"))).unwrap();
    replay_log(&dir.path().join("data").join("log"), &backend).await;
    let replayed = backend.checksums().await.unwrap();
    let differ = differences(&replayed, &content, Some(AUTO_INCREMENT));
    assert!(
        differ.is_empty() && replayed.len() == content.len(),
        "seed {seed}: a server replayed from the log differs: {differ:?}"
    );
    // Its counters stand where its own inserts left them: the live servers' moved on for
    // inserts that failed or rolled back, which the log does not hold. Set to backend
    // a's, as the cluster sets those of a server that caught up by replay, they agree too.
    let mut aligned = mysql_async::Conn::from_url(fresh.url("app")).await.unwrap();
    for s in &generators {
        aligned
            .query_drop(s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e:?}"));
    }
    aligned.disconnect().await.unwrap();
    let replayed = backend.checksums().await.unwrap();
    let differ = differences(&replayed, &content, None);
    assert!(
        differ.is_empty() && replayed.len() == content.len(),
        "seed {seed}: a server replayed from the log, its counters set, differs: {differ:?}"
    );
    Outcome {
        committed: all.committed.len(),
        rolled_back: all.rolled_back.len(),
        errors: all.errors,
        codes: all.codes,
        savepoint_rollbacks: all.savepoint_rollbacks,
        deadlocks,
        unexpected_waits: waits,
    }
}
