use super::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(5);
const SETTLE: Duration = Duration::from_millis(50);

fn row(table: &str, key: &str) -> Resource {
    Resource::Row {
        table: table.into(),
        key: key.as_bytes().to_vec(),
    }
}

fn table(name: &str) -> Resource {
    Resource::Table(name.into())
}

/// Asks for a lock in a task of its own, so the test can watch it wait.
fn ask(
    locks: &Arc<LockManager>,
    txn: TxnId,
    resource: Resource,
    mode: Mode,
) -> JoinHandle<Result<(), LockError>> {
    let locks = Arc::clone(locks);
    tokio::spawn(async move { locks.lock(txn, &resource, mode, WAIT).await })
}

async fn still_waiting(task: &JoinHandle<Result<(), LockError>>) -> bool {
    tokio::time::sleep(SETTLE).await;
    !task.is_finished()
}

async fn granted(task: JoinHandle<Result<(), LockError>>) {
    let result = tokio::time::timeout(WAIT, task)
        .await
        .expect("not granted")
        .expect("task panicked");
    assert_eq!(result, Ok(()));
}

#[test]
fn modes_are_compatible_as_in_the_classic_matrix() {
    let modes = [IS, IX, S, SIX, X];
    // Rows and columns in the order of `modes`.
    let expected = [
        [true, true, true, true, false],
        [true, true, false, false, false],
        [true, false, true, false, false],
        [true, false, false, false, false],
        [false, false, false, false, false],
    ];
    for (i, a) in modes.iter().enumerate() {
        for (j, b) in modes.iter().enumerate() {
            assert_eq!(a.compatible(*b), expected[i][j], "{a:?} with {b:?}");
        }
    }
    assert_eq!(S.join(IX), SIX);
    assert_eq!(IS.join(IX), IX);
    assert_eq!(S.join(X), X);
    assert!(SIX.covers(S) && SIX.covers(IX) && !S.covers(IX) && X.covers(SIX));
}

#[tokio::test]
async fn a_row_lock_takes_intention_locks_on_its_table_and_the_cluster() {
    let locks = LockManager::default();
    locks.lock(1, &row("t", "a"), X, WAIT).await.unwrap();
    let held = locks.held_by(1);
    assert_eq!(held.get(&row("t", "a")), Some(&X));
    assert_eq!(held.get(&table("t")), Some(&IX));
    assert_eq!(held.get(&Resource::Global), Some(&IX));
    assert_eq!(held.len(), 3);
}

#[tokio::test]
async fn writers_of_different_rows_of_one_table_are_granted_together() {
    let locks = LockManager::default();
    let quick = Duration::from_millis(1);
    locks.lock(1, &row("t", "a"), X, quick).await.unwrap();
    locks.lock(2, &row("t", "b"), X, quick).await.unwrap();
    locks.lock(3, &row("u", "a"), X, quick).await.unwrap();
}

#[tokio::test]
async fn a_second_writer_of_one_row_waits_until_the_first_releases_everything() {
    let locks = Arc::new(LockManager::default());
    locks.lock(1, &row("t", "a"), X, WAIT).await.unwrap();
    let second = ask(&locks, 2, row("t", "a"), X);
    assert!(still_waiting(&second).await, "two writers held one row");
    locks.release_all(1);
    granted(second).await;
    assert!(locks.held_by(1).is_empty());
}

#[tokio::test]
async fn a_table_read_waits_for_a_row_writer_in_that_table_only() {
    let locks = Arc::new(LockManager::default());
    locks.lock(1, &row("t", "a"), X, WAIT).await.unwrap();
    let other_table = ask(&locks, 2, table("u"), S);
    granted(other_table).await;
    let same_table = ask(&locks, 3, table("t"), S);
    assert!(
        still_waiting(&same_table).await,
        "read a table a writer was changing"
    );
    locks.release_all(1);
    granted(same_table).await;
}

#[tokio::test]
async fn a_global_exclusive_waits_for_every_writer_and_holds_back_later_ones() {
    let locks = Arc::new(LockManager::default());
    locks.lock(1, &row("t", "a"), X, WAIT).await.unwrap();
    let quiesce = ask(&locks, 2, Resource::Global, X);
    assert!(still_waiting(&quiesce).await, "quiesced under a writer");
    // A writer of another row now queues behind the quiesce (the queue is fair).
    let later = ask(&locks, 3, row("u", "z"), X);
    assert!(
        still_waiting(&later).await,
        "a writer passed a waiting quiesce"
    );
    locks.release_all(1);
    granted(quiesce).await;
    assert!(still_waiting(&later).await, "a writer ran while quiesced");
    locks.release_all(2);
    granted(later).await;
}

#[tokio::test]
async fn two_writers_taking_two_rows_in_opposite_orders_deadlock_and_one_is_the_victim() {
    let locks = Arc::new(LockManager::default());
    locks.lock(1, &row("t", "a"), X, WAIT).await.unwrap();
    locks.lock(2, &row("t", "b"), X, WAIT).await.unwrap();
    let first = ask(&locks, 1, row("t", "b"), X);
    assert!(still_waiting(&first).await);
    let victim = locks.lock(2, &row("t", "a"), X, WAIT).await;
    assert_eq!(
        victim,
        Err(LockError::Deadlock {
            txn: 2,
            resource: row("t", "a")
        })
    );
    // The victim is rolled back: its locks go, and the other goes on.
    locks.release_all(2);
    granted(first).await;
}

#[tokio::test]
async fn two_readers_upgrading_one_row_deadlock_and_the_second_is_the_victim() {
    let locks = Arc::new(LockManager::default());
    locks.lock(1, &row("t", "a"), S, WAIT).await.unwrap();
    locks.lock(2, &row("t", "a"), S, WAIT).await.unwrap();
    let first = ask(&locks, 1, row("t", "a"), X);
    assert!(
        still_waiting(&first).await,
        "upgraded beside another reader"
    );
    let second = locks.lock(2, &row("t", "a"), X, WAIT).await;
    assert!(
        matches!(second, Err(LockError::Deadlock { txn: 2, .. })),
        "{second:?}"
    );
    locks.release_all(2);
    granted(first).await;
    assert_eq!(locks.held_by(1).get(&row("t", "a")), Some(&X));
}

#[tokio::test]
async fn a_cycle_through_a_request_queued_behind_another_is_found() {
    let locks = Arc::new(LockManager::default());
    let seq = Resource::Sequence("s".into());
    locks.lock(1, &row("t", "a"), X, WAIT).await.unwrap(); // IX on t
    locks.lock(3, &seq, X, WAIT).await.unwrap();
    let reader = ask(&locks, 2, table("t"), S); // waits for 1
    assert!(still_waiting(&reader).await);
    // Compatible with what 1 holds, but queued behind 2's request: waits for 2.
    let queued = ask(&locks, 3, row("t", "c"), S);
    assert!(
        still_waiting(&queued).await,
        "passed a request queued before it"
    );
    // 1 -> 3 (holds the sequence) -> 2 (queued ahead) -> 1 (holds IX on t).
    let victim = locks.lock(1, &seq, X, WAIT).await;
    assert!(
        matches!(victim, Err(LockError::Deadlock { txn: 1, .. })),
        "{victim:?}"
    );
    locks.release_all(1);
    granted(reader).await;
    locks.release_all(2);
    granted(queued).await;
}

#[tokio::test]
async fn a_wait_past_the_limit_times_out_and_leaves_the_queue() {
    let locks = Arc::new(LockManager::default());
    locks.lock(1, &row("t", "a"), X, WAIT).await.unwrap();
    let limit = Duration::from_millis(20);
    let timed_out = locks.lock(2, &row("t", "a"), X, limit).await;
    assert_eq!(
        timed_out,
        Err(LockError::Timeout {
            resource: row("t", "a"),
            waited: limit
        })
    );
    // What it got before the wait stays until it is released.
    assert_eq!(locks.held_by(2).get(&table("t")), Some(&IX));
    assert!(!locks.held_by(2).contains_key(&row("t", "a")));
    locks.release_all(2);
    locks.release_all(1);
    // Nobody is left queued ahead of a new request.
    locks
        .lock(3, &row("t", "a"), X, Duration::from_millis(1))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_holder_asking_again_for_what_it_holds_is_granted_at_once() {
    let locks = Arc::new(LockManager::default());
    locks.lock(1, &row("t", "a"), X, WAIT).await.unwrap();
    // Another waits in the queue; the holder's own request must not queue behind it.
    let other = ask(&locks, 2, row("t", "a"), S);
    assert!(still_waiting(&other).await);
    let quick = Duration::from_millis(1);
    locks.lock(1, &row("t", "a"), S, quick).await.unwrap();
    locks.lock(1, &row("t", "a"), X, quick).await.unwrap();
    locks.release_all(1);
    granted(other).await;
}
