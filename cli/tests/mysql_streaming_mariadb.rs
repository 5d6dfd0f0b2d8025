//! Reads streamed through mdbd's MySQL front end over three MariaDB servers (#16): a
//! text-protocol read's rows go to the client as the backend sends them, so an unbuffered
//! client (PyMySQL's SSCursor, mysql2's `stream()`, Connector/J's streaming result sets)
//! reads a result of any size while mdbd holds a few hundred kilobytes of it.

mod common;

use common::mysql::{self, connect};
use common::{peak_memory, stop, Three};
use mysql_async::prelude::Queryable;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_row_result_streams_through_mdbd_holding_little_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::mariadb();
    let d = mysql::daemon(&three, dir.path(), &["a", "b", "c"]);
    let mut c = connect(d.my).await;
    c.query_drop("SELECT 1").await.unwrap();
    let before = peak_memory(d.child.id());

    // 100,000 rows of a kilobyte each (MariaDB's sequence engine): about 100 MB.
    let mut result = c
        .query_iter("SELECT seq, REPEAT('x', 1000) AS pad FROM seq_1_to_100000")
        .await
        .unwrap();
    let mut next = 1u64;
    while let Some(row) = result.next().await.unwrap() {
        let (seq, pad): (u64, String) = mysql_async::from_row(row);
        assert_eq!(seq, next, "rows in order, none lost");
        assert_eq!(pad.len(), 1000);
        next += 1;
    }
    drop(result);
    assert_eq!(next, 100_001);

    let grown = peak_memory(d.child.id()).saturating_sub(before);
    eprintln!("mdbd peak memory grew by {} MB", grown >> 20);
    // Held whole, the result would be over 100 MB in mdbd (as values, then as packets).
    assert!(
        grown < 40 << 20,
        "mdbd's peak memory grew by {} MB streaming 100 MB",
        grown >> 20
    );

    // Several statements in one query, a streamed read among them, then an error: each
    // result in order, the error where the server would put it.
    let mut result = c
        .query_iter("SELECT seq FROM seq_1_to_3; SELECT 'a' AS x")
        .await
        .unwrap();
    let first: Vec<u64> = result.collect().await.unwrap();
    let second: Vec<String> = result.collect().await.unwrap();
    drop(result);
    assert_eq!((first, second), (vec![1, 2, 3], vec!["a".to_string()]));
    let e = c
        .query_drop("SELECT * FROM no_such_table")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("1146"), "{e}");
    let n: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM seq_1_to_10")
        .await
        .unwrap();
    assert_eq!(n, Some(10), "the session goes on");
    c.disconnect().await.unwrap();
    stop(d.child);
}
