//! `keyed` ordering over three PostgreSQL servers (#13): the randomized conflict test.
//!
//! CI runs the seeds in `MDBD_KEYED_SEEDS` (default `1,2`), each for `MDBD_KEYED_SECS`
//! seconds (default 6) with 16 clients; `benches/keyed_seeds.sh` runs many.

mod common;

fn seeds() -> Vec<u64> {
    std::env::var("MDBD_KEYED_SEEDS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_conflicting_transactions_leave_identical_backends_and_a_replayable_log() {
    let secs = std::env::var("MDBD_KEYED_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    for seed in seeds() {
        let o = common::keyed::run_seed(seed, 16, secs).await;
        println!(
            "seed {seed}: {} committed, {} rolled back ({} after an error: {:?}): identical",
            o.committed, o.rolled_back, o.errors, o.codes
        );
        assert!(
            o.committed > 50,
            "seed {seed}: only {} commits",
            o.committed
        );
    }
}
