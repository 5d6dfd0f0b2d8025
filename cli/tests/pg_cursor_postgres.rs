//! Results read in pages through mdbd over three PostgreSQL servers (#16): a portal
//! executed with a row limit is a cursor on one backend, so mdbd holds a page at a time
//! whatever the result's size; its pages come in order, it sees its transaction's writes,
//! and it ends with its portal or its transaction.

mod common;

use common::{client, peak_memory, start, stop, Three};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_row_result_read_in_pages_holds_one_page_in_mdbd() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let mut c = client(port).await;
    c.simple_query("SELECT 1").await.unwrap();
    let before = peak_memory(daemon.id());

    // 100,000 rows of a kilobyte each: about 100 MB of result.
    let tx = c.transaction().await.unwrap();
    let portal = tx
        .bind(
            "SELECT i, repeat('x', 1000) AS pad FROM generate_series(1, 100000) AS i",
            &[],
        )
        .await
        .unwrap();
    let mut next = 1;
    loop {
        let rows = tx.query_portal(&portal, 1000).await.unwrap();
        if rows.is_empty() {
            break;
        }
        for row in rows {
            assert_eq!(row.get::<_, i32>(0), next, "pages in order, none lost");
            assert_eq!(row.get::<_, &str>(1).len(), 1000);
            next += 1;
        }
    }
    assert_eq!(next, 100_001);
    tx.commit().await.unwrap();

    let grown = peak_memory(daemon.id()).saturating_sub(before);
    eprintln!("mdbd peak memory grew by {} MB", grown >> 20);
    // Held whole, the result alone would be over 100 MB (the rows as values, then as
    // messages); a page is about 1 MB.
    assert!(
        grown < 40 << 20,
        "mdbd's peak memory grew by {} MB reading 100 MB in pages",
        grown >> 20
    );
    drop(c);
    stop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paged_read_sees_its_transactions_writes_and_ends_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let mut c = client(port).await;
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        .await
        .unwrap();

    let tx = c.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 25) AS i",
        &[],
    )
    .await
    .unwrap();
    let statement = tx
        .prepare("SELECT id FROM t WHERE id > $1 ORDER BY id")
        .await
        .unwrap();
    let portal = tx.bind(&statement, &[&5i32]).await.unwrap();
    let mut pages = Vec::new();
    let mut seen = Vec::new();
    loop {
        let rows = tx.query_portal(&portal, 7).await.unwrap();
        pages.push(rows.len());
        if rows.is_empty() {
            break;
        }
        seen.extend(rows.iter().map(|r| r.get::<_, i32>(0)));
    }
    assert_eq!(pages, vec![7, 7, 6, 0]);
    assert_eq!(seen, (6..=25).collect::<Vec<i32>>());
    // A portal left half read ends with its transaction; the session goes on.
    let half = tx.bind(&statement, &[&0i32]).await.unwrap();
    assert_eq!(tx.query_portal(&half, 3).await.unwrap().len(), 3);
    tx.rollback().await.unwrap();
    let left = c.query_one("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(left.get::<_, i64>(0), 0, "rolled back on the backends");

    // In transactions that write nothing (no backend transaction: WITH HOLD cursors),
    // many times over one session: every cursor is closed, and reads and writes go on.
    c.batch_execute("INSERT INTO t SELECT i, 'w' FROM generate_series(1, 50) AS i")
        .await
        .unwrap();
    for round in 0..20 {
        let tx = c.transaction().await.unwrap();
        let portal = tx.bind("SELECT id FROM t ORDER BY id", &[]).await.unwrap();
        let first = tx.query_portal(&portal, 10).await.unwrap();
        assert_eq!(
            first.first().map(|r| r.get::<_, i32>(0)),
            Some(1),
            "round {round}"
        );
        tx.commit().await.unwrap();
    }
    c.execute("UPDATE t SET v = 'x' WHERE id = 1", &[])
        .await
        .unwrap();
    let row = c
        .query_one("SELECT v FROM t WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "x");
    drop(c);
    stop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_cursor_is_a_read_and_holds_no_writer_back() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let mut a = client(port).await;
    let b = client(port).await;
    b.batch_execute("CREATE TABLE w (id int PRIMARY KEY)")
        .await
        .unwrap();

    // psycopg's named cursors: DECLARE, then FETCHes, in the simple and the extended
    // protocol (the latter described where the cursor is).
    let tx = a.transaction().await.unwrap();
    tx.batch_execute("DECLARE \"Big\" CURSOR FOR SELECT i FROM generate_series(1, 1000) AS i")
        .await
        .unwrap();
    let first = tx.simple_query("FETCH 100 FROM \"Big\"").await.unwrap();
    let rows = first
        .iter()
        .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
        .count();
    assert_eq!(rows, 100);

    // Another client writes meanwhile: the cursor holds no write turn.
    let write = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        b.execute("INSERT INTO w VALUES (1)", &[]),
    )
    .await;
    assert!(
        matches!(write, Ok(Ok(1))),
        "a writer waited on a reader's cursor: {write:?}"
    );

    let rest = tx.query("FETCH ALL FROM \"Big\"", &[]).await.unwrap();
    let got: Vec<i32> = rest.iter().map(|r| r.get(0)).collect();
    assert_eq!(got, (101..=1000).collect::<Vec<i32>>());
    tx.batch_execute("CLOSE \"Big\"").await.unwrap();
    tx.commit().await.unwrap();

    // Declared WITH HOLD it outlives the transaction, until CLOSE; without a
    // transaction the server's own refusal stands.
    a.batch_execute("BEGIN; DECLARE h CURSOR WITH HOLD FOR SELECT id FROM w; COMMIT")
        .await
        .unwrap();
    let held = a.query("FETCH ALL FROM h", &[]).await.unwrap();
    assert_eq!(held.len(), 1);
    a.batch_execute("CLOSE h").await.unwrap();
    let e = a
        .batch_execute("DECLARE n CURSOR FOR SELECT 1")
        .await
        .unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("25P01"), "{e}");
    drop((a, b));
    stop(daemon);
}
