//! `keyed` ordering over three PostgreSQL servers (#13): the randomized conflict test.
//!
//! CI runs the seeds in `MDBD_KEYED_SEEDS` (default `1,2`), each for `MDBD_KEYED_SECS`
//! seconds (default 6) with 16 clients, and the first of them under the `serial` turn;
//! `benches/keyed_seeds.sh` runs many.

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
        let o = common::keyed::run_seed(consistency, seed, 16, secs()).await;
        println!(
            "{consistency} seed {seed}: {} committed, {} rolled back ({} after an error: {:?}), {} statements rolled back to a savepoint; {} deadlock victims, {} unforeseen backend waits: identical",
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
async fn random_conflicting_transactions_leave_identical_backends_and_a_replayable_log() {
    run_seeds("keyed", &seeds()).await;
}

/// The same workload under the `serial` turn: the draws of rolled-back transactions and
/// of statements rolled back to a savepoint are logged there too, so a server replayed
/// from the log draws the same serial keys as the live ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_transactions_under_the_serial_turn_leave_a_replayable_log() {
    run_seeds("serial", &seeds()[..1]).await;
}

/// The join tests' online join under load (`common::join`), with the cluster in `keyed`
/// mode: clients inserting and reading their own rows back see no error and lose nothing
/// while a server is snapshotted, caught up and switched over. (Every PostgreSQL daemon
/// test runs in `keyed` mode with `MDBD_TEST_CONSISTENCY=keyed`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_online_join_under_keyed_load_loses_nothing() {
    // Read by the shared config writer; this test binary runs no test that wants serial.
    std::env::set_var("MDBD_TEST_CONSISTENCY", "keyed");
    let dir = tempfile::tempdir().unwrap();
    let three = common::Three::postgres();
    common::join::join_under_load(&three, dir.path(), "online", None).await;
}
