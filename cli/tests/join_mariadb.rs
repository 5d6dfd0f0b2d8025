//! Online joins on a cluster of three throwaway MariaDB servers, through the daemon
//! (PostgreSQL wire protocol) with real clients.

mod common;

use common::join::{join_loses, join_under_load, rejoin_after_rolled_back_draws, rejoin_by_delta};
use common::Three;

#[tokio::test(flavor = "multi_thread")]
async fn join_online_under_load() {
    let dir = tempfile::tempdir().unwrap();
    join_under_load(&Three::mariadb(), dir.path(), "online", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn join_detach_under_load() {
    let dir = tempfile::tempdir().unwrap();
    join_under_load(&Three::mariadb(), dir.path(), "detach", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn join_survives_kill_in_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    join_under_load(&Three::mariadb(), dir.path(), "online", Some("snapshot")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn join_survives_kill_in_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    join_under_load(&Three::mariadb(), dir.path(), "detach", Some("catch_up")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn join_survives_kill_in_switch_over() {
    let dir = tempfile::tempdir().unwrap();
    join_under_load(&Three::mariadb(), dir.path(), "online", Some("switch_over")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stopped_server_rejoins_by_delta_only() {
    let dir = tempfile::tempdir().unwrap();
    rejoin_by_delta(&mut Three::mariadb(), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn donor_dying_mid_snapshot_aborts_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    join_loses(&mut Three::mariadb(), dir.path(), "donor").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn joiner_dying_mid_snapshot_aborts_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    join_loses(&mut Three::mariadb(), dir.path(), "joiner").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejoined_server_draws_the_keys_the_others_draw_after_rolled_back_inserts() {
    let dir = tempfile::tempdir().unwrap();
    rejoin_after_rolled_back_draws(&mut Three::mariadb(), dir.path()).await;
}
