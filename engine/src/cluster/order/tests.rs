use super::*;
use crate::log::Lsn;
use std::time::Duration;
use tokio::time::timeout;

const SHORT: Duration = Duration::from_millis(50);

#[tokio::test]
async fn serial_grants_one_write_turn_at_a_time() {
    let order = WriteOrder::serial();
    let first = order.write_turn().await;
    assert!(
        timeout(SHORT, order.write_turn()).await.is_err(),
        "a second writer got the turn while the first held it"
    );
    drop(first);
    timeout(SHORT, order.write_turn())
        .await
        .expect("the turn was not given back when dropped");
}

#[tokio::test]
async fn a_quiesce_waits_for_the_writer_holding_the_turn_and_holds_later_writers() {
    let order = WriteOrder::serial();
    let writer = order.write_turn().await;
    let quiesce = tokio::spawn({
        let order = order.clone();
        async move { order.quiesce().await }
    });
    tokio::task::yield_now().await;
    // A writer that asks after the quiesce is queued behind it.
    let later = tokio::spawn({
        let order = order.clone();
        async move { order.write_turn().await }
    });
    tokio::time::sleep(SHORT).await;
    assert!(
        !quiesce.is_finished(),
        "quiesced while a writer held the turn"
    );
    drop(writer);
    let quiesced = timeout(SHORT, quiesce)
        .await
        .expect("quiesce not granted")
        .unwrap();
    tokio::time::sleep(SHORT).await;
    assert!(
        !later.is_finished(),
        "a writer ran while the cluster was quiesced"
    );
    drop(quiesced);
    timeout(SHORT, later)
        .await
        .expect("later writer starved")
        .unwrap();
}

#[tokio::test]
async fn waits_and_holds_are_counted_in_their_histograms() {
    let order = WriteOrder::serial();
    let turn = order.write_turn().await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    drop(turn);
    drop(order.quiesce().await);
    let stats = order.stats();
    assert_eq!(stats.turn_wait.snapshot().count, 1);
    let hold = stats.turn_hold.snapshot();
    assert_eq!(hold.count, 1);
    assert!(hold.sum_micros >= 2_000, "hold of {} us", hold.sum_micros);
    // 2 ms and more is above the 1 ms bound.
    assert_eq!(hold.cumulative[1], (1_000, 0));
    assert_eq!(
        (
            stats.quiesce_wait.snapshot().count,
            stats.quiesce_hold.snapshot().count
        ),
        (1, 1)
    );
}

#[test]
fn a_histogram_counts_each_observation_in_its_bucket_and_every_wider_one() {
    let h = Histogram::default();
    h.record(Duration::from_micros(50));
    h.record(Duration::from_micros(100)); // on the bound: inside it
    h.record(Duration::from_millis(5));
    h.record(Duration::from_secs(60)); // above every bound
    let s = h.snapshot();
    assert_eq!(s.count, 4);
    assert_eq!(s.sum_micros, 50 + 100 + 5_000 + 60_000_000);
    assert_eq!(s.cumulative[0], (100, 2));
    assert_eq!(s.cumulative[1], (1_000, 2));
    assert_eq!(s.cumulative[2], (10_000, 3));
    assert_eq!(s.cumulative.last(), Some(&(30_000_000, 3)));
}

fn keyed() -> WriteOrder {
    let order = WriteOrder::keyed(KeyedOptions {
        flavor: Flavor::Postgres,
        lock_wait: Duration::from_secs(5),
    });
    let mut catalog = Catalog::default();
    catalog.add(
        "accounts",
        crate::backend::catalog::Table {
            columns: vec!["id".into(), "balance".into()],
            primary_key: vec!["id".into()],
            ..Default::default()
        },
    );
    order.set_catalog(catalog);
    order
}

const ROW_1: &str = "UPDATE accounts SET balance = balance + 1 WHERE id = 1";
const ROW_2: &str = "UPDATE accounts SET balance = balance + 1 WHERE id = 2";

#[tokio::test]
async fn keyed_runs_writers_of_different_rows_together_and_orders_writers_of_one_row() {
    let order = keyed();
    let mut first = order.write_turn().await;
    first.acquire(ROW_1, &[]).await.unwrap();
    let mut second = order.write_turn().await;
    timeout(SHORT, second.acquire(ROW_2, &[]))
        .await
        .expect("a writer of another row waited")
        .unwrap();
    let third = tokio::spawn({
        let order = order.clone();
        async move {
            let mut turn = order.write_turn().await;
            turn.acquire(ROW_1, &[]).await.map(|()| turn)
        }
    });
    tokio::time::sleep(SHORT).await;
    assert!(!third.is_finished(), "two writers of one row ran together");
    drop(first);
    timeout(SHORT, third)
        .await
        .expect("the row was not given back")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn keyed_quiesce_waits_for_writers_holding_locks_and_holds_back_new_statements() {
    let order = keyed();
    let mut writer = order.write_turn().await;
    writer.acquire(ROW_1, &[]).await.unwrap();
    let quiesce = tokio::spawn({
        let order = order.clone();
        async move { order.quiesce().await }
    });
    tokio::time::sleep(SHORT).await;
    assert!(!quiesce.is_finished(), "quiesced under a writer");
    let later = tokio::spawn({
        let order = order.clone();
        async move {
            let mut turn = order.write_turn().await;
            turn.acquire(ROW_2, &[]).await.map(|()| turn)
        }
    });
    tokio::time::sleep(SHORT).await;
    assert!(!later.is_finished(), "a statement passed a waiting quiesce");
    drop(writer);
    let quiesced = timeout(SHORT, quiesce).await.expect("no quiesce").unwrap();
    tokio::time::sleep(SHORT).await;
    assert!(!later.is_finished(), "a statement ran while quiesced");
    drop(quiesced);
    timeout(SHORT, later)
        .await
        .expect("starved")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn keyed_statements_not_understood_hold_everything() {
    let order = keyed();
    let mut ddl = order.write_turn().await;
    ddl.acquire("ALTER TABLE accounts ADD COLUMN note text", &[])
        .await
        .unwrap();
    assert!(ddl.holds_everything());
    let mut row = order.write_turn().await;
    assert!(timeout(SHORT, row.acquire(ROW_1, &[])).await.is_err());
    assert_eq!(order.global_statements(), 1);
}

fn range(start: u64, end: u64) -> LsnRange {
    LsnRange {
        start: Lsn(start),
        end: Lsn(end),
    }
}

#[tokio::test]
async fn keyed_commits_go_to_the_backends_in_lsn_order() {
    let order = keyed();
    order.order_commits_from(Lsn(5));
    // LSN 7 was appended first, but 5 and 6 commit before it.
    let seventh = tokio::spawn({
        let order = order.clone();
        async move {
            let _slot = order.commit_slot(range(7, 8)).await;
        }
    });
    tokio::time::sleep(SHORT).await;
    assert!(!seventh.is_finished(), "7 committed before 5");
    let fifth = order.commit_slot(range(5, 6)).await;
    order.passed(range(6, 7)); // a control record: commits nowhere
    tokio::time::sleep(SHORT).await;
    assert!(!seventh.is_finished(), "7 committed while 5 was committing");
    drop(fifth);
    timeout(SHORT, seventh)
        .await
        .expect("7 never committed")
        .unwrap();
}

#[tokio::test]
async fn serial_commits_are_never_held_by_the_sequencer() {
    let order = WriteOrder::serial();
    order.order_commits_from(Lsn(5));
    timeout(SHORT, order.commit_slot(range(9, 10)))
        .await
        .expect("serial commit waited");
}
