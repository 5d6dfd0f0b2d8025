use super::*;
use std::time::Duration;
use tokio::time::timeout;

const SHORT: Duration = Duration::from_millis(50);

#[tokio::test]
async fn serial_grants_one_write_turn_at_a_time() {
    let order = WriteOrder::new(Consistency::Serial);
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
    let order = WriteOrder::new(Consistency::Serial);
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
    let order = WriteOrder::new(Consistency::Serial);
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
