//! `keyed` ordering over three MariaDB servers, through the MySQL listener (#13): the
//! randomized conflict test of `keyed_postgres.rs` in MySQL's SQL (`common::keyed_mysql`).
//!
//! CI runs the seeds in `MDBD_KEYED_SEEDS` (default `1,2`), each for `MDBD_KEYED_SECS`
//! seconds (default 6) with 16 clients, and the first of them under the `serial` turn.

mod common;

fn seeds() -> Vec<u64> {
    std::env::var("MDBD_KEYED_SEEDS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn secs() -> u64 {
    std::env::var("MDBD_KEYED_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6)
}

async fn run_seeds(consistency: &str, seeds: &[u64]) {
    for &seed in seeds {
        let o = common::keyed_mysql::run_seed(consistency, seed, 16, secs()).await;
        println!(
            "mariadb {consistency} seed {seed}: {} committed, {} rolled back ({} after an error: {:?}), {} statements rolled back to a savepoint; {} deadlock victims, {} unforeseen backend waits: identical",
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_conflicting_transactions_on_mariadb_leave_identical_backends_and_a_replayable_log()
{
    run_seeds("keyed", &seeds()).await;
}

/// The same workload under the `serial` turn: the AUTO_INCREMENT values drawn by
/// rolled-back transactions and by statements rolled back to a savepoint must come out
/// the same on a server replayed from the log as on the live ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_transactions_on_mariadb_under_the_serial_turn_leave_a_replayable_log() {
    run_seeds("serial", &seeds()[..1]).await;
}
