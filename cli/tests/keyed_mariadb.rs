//! `keyed` ordering over three MariaDB servers, through the MySQL listener (#13): the
//! randomized conflict test of `keyed_postgres.rs` in MySQL's SQL (`common::keyed_mysql`).
//!
//! CI runs the seeds in `MDBD_KEYED_SEEDS` (default `1,2`), each for `MDBD_KEYED_SECS`
//! seconds (default 6) with 16 clients, and the first of them under the `serial` turn.

mod common;

async fn run_seeds(consistency: &str, seeds: &[u64]) {
    let label = format!("mariadb {consistency}");
    common::keyed::run_seeds(&label, seeds, |seed| {
        common::keyed_mysql::run_seed(consistency, seed, 16, common::keyed::secs())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_conflicting_transactions_on_mariadb_leave_identical_backends_and_a_replayable_log()
{
    run_seeds("keyed", &common::keyed::seeds()).await;
}

/// The same workload under the `serial` turn: the AUTO_INCREMENT values drawn by
/// rolled-back transactions and by statements rolled back to a savepoint must come out
/// the same on a server replayed from the log as on the live ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_transactions_on_mariadb_under_the_serial_turn_leave_a_replayable_log() {
    run_seeds("serial", &common::keyed::seeds()[..1]).await;
}
