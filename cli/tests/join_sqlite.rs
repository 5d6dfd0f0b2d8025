//! Online joins on a cluster of SQLite files, through the daemon with real clients.

mod common;

use common::join::{auto_join, cancel_join, join_under_load, rejoin_by_delta};
use common::Three;

#[tokio::test(flavor = "multi_thread")]
async fn join_online_under_load() {
    let dir = tempfile::tempdir().unwrap();
    join_under_load(&Three::sqlite(dir.path()), dir.path(), "online", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn join_detach_under_load() {
    let dir = tempfile::tempdir().unwrap();
    join_under_load(&Three::sqlite(dir.path()), dir.path(), "detach", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn join_survives_kill_in_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    join_under_load(
        &Three::sqlite(dir.path()),
        dir.path(),
        "detach",
        Some("snapshot"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn join_survives_kill_in_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    join_under_load(
        &Three::sqlite(dir.path()),
        dir.path(),
        "online",
        Some("catch_up"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn join_survives_kill_in_switch_over() {
    let dir = tempfile::tempdir().unwrap();
    join_under_load(
        &Three::sqlite(dir.path()),
        dir.path(),
        "detach",
        Some("switch_over"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rejoin_after_operator_detach_replays_delta_only() {
    let dir = tempfile::tempdir().unwrap();
    rejoin_by_delta(&mut Three::sqlite(dir.path()), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_join_joins_added_backends_but_not_operator_detached_ones() {
    let dir = tempfile::tempdir().unwrap();
    auto_join(&Three::sqlite(dir.path()), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_join_leaves_the_joiner_detached_and_the_donor_back() {
    let dir = tempfile::tempdir().unwrap();
    cancel_join(&Three::sqlite(dir.path()), dir.path()).await;
}
