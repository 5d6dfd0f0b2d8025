//! `keyed` ordering over three PostgreSQL servers (#13): the randomized conflict test.
//!
//! CI runs the seeds in `MDBD_KEYED_SEEDS` (default `1,2`), each for `MDBD_KEYED_SECS`
//! seconds (default 6) with 16 clients, and the first of them under the `serial` turn;
//! `benches/keyed_seeds.sh` runs many.

mod common;

async fn run_seeds(consistency: &str, seeds: &[u64]) {
    let label = format!("postgres {consistency}");
    common::keyed::run_seeds(&label, seeds, |seed| {
        common::keyed::run_seed(consistency, seed, 16, common::keyed::secs())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_conflicting_transactions_leave_identical_backends_and_a_replayable_log() {
    run_seeds("keyed", &common::keyed::seeds()).await;
}

/// The same workload under the `serial` turn: the draws of rolled-back transactions and
/// of statements rolled back to a savepoint are logged there too, so a server replayed
/// from the log draws the same serial keys as the live ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_transactions_under_the_serial_turn_leave_a_replayable_log() {
    run_seeds("serial", &common::keyed::seeds()[..1]).await;
}

/// The join tests' online join under load (`common::join`), with the cluster in `keyed`
/// mode: clients inserting and reading their own rows back see no error and lose nothing
/// while a server is snapshotted, caught up and switched over. (Every PostgreSQL daemon
/// test runs in `keyed` mode with `MDBD_TEST_CONSISTENCY=keyed`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_online_join_under_keyed_load_loses_nothing() {
    // Read by the shared config writer (the seeds above name their own mode).
    std::env::set_var("MDBD_TEST_CONSISTENCY", "keyed");
    let dir = tempfile::tempdir().unwrap();
    let three = common::Three::postgres();
    common::join::join_under_load(&three, dir.path(), "online", None).await;
}
