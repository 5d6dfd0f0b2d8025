//! The MySQL wire protocol front end over three throwaway MariaDB servers, with real
//! clients: mysql_async and the `mariadb` command-line client.

mod common;

use common::join::{converged, ended, no_errors, request_join, wait_join};
use common::mysql::{self, cli, connect};
use common::{admin, stop, Three};
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const TABLE: &str = "CREATE TABLE item (id INT AUTO_INCREMENT PRIMARY KEY, qty INT NOT NULL, \
    price DECIMAL(10,2), ratio DOUBLE, name VARCHAR(50) UNIQUE, data BLOB, at DATETIME)";

/// Three MariaDB servers, mdbd over them, a client on its MySQL listener that has run
/// `ddl` (unless empty).
async fn cluster(dir: &std::path::Path, ddl: &str) -> (Three, mysql::Daemon, mysql_async::Conn) {
    let three = Three::mariadb();
    let d = mysql::daemon(&three, dir, &["a", "b", "c"]);
    let mut c = connect(d.my).await;
    if !ddl.is_empty() {
        c.query_drop(ddl).await.unwrap();
    }
    (three, d, c)
}

/// Disconnects, stops mdbd (cleanly) and checks the three backends are identical.
async fn finish(three: Three, d: mysql::Daemon, c: mysql_async::Conn) {
    c.disconnect().await.unwrap();
    stop(d.child);
    three.identical(&[0, 1, 2]).await;
}

fn server_error(e: mysql_async::Error) -> (u16, String) {
    match e {
        mysql_async::Error::Server(s) => (s.code, s.state),
        other => panic!("not a server error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_answer_with_types_affected_rows_and_insert_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (three, d, mut c) = cluster(dir.path(), TABLE).await;
    c.query_drop("INSERT INTO item (qty, price, ratio, name, at) VALUES (3, 9.99, 0.5, 'pen', '2024-02-29 13:14:15'), (5, NULL, NULL, 'ink', NULL)")
        .await
        .unwrap();
    assert_eq!(c.affected_rows(), 2);
    assert_eq!(c.last_insert_id(), Some(1));
    c.query_drop("UPDATE item SET qty = qty + 1").await.unwrap();
    assert_eq!(c.affected_rows(), 2);

    let mut result = c
        .query_iter("SELECT id, qty, price, ratio, name, at FROM item ORDER BY id")
        .await
        .unwrap();
    let types: Vec<ColumnType> = result
        .columns()
        .unwrap()
        .iter()
        .map(|col| col.column_type())
        .collect();
    let rows: Vec<Row> = result.collect().await.unwrap();
    assert_eq!(
        types,
        vec![
            ColumnType::MYSQL_TYPE_LONG,
            ColumnType::MYSQL_TYPE_LONG,
            ColumnType::MYSQL_TYPE_NEWDECIMAL,
            ColumnType::MYSQL_TYPE_DOUBLE,
            ColumnType::MYSQL_TYPE_VAR_STRING,
            ColumnType::MYSQL_TYPE_DATETIME,
        ]
    );
    let first: (i64, i64, String, f64, String, String) = mysql_async::from_row(rows[0].clone());
    assert_eq!(
        first,
        (
            1,
            4,
            "9.99".into(),
            0.5,
            "pen".into(),
            "2024-02-29 13:14:15".into()
        )
    );
    let second: (
        i64,
        i64,
        Option<String>,
        Option<f64>,
        String,
        Option<String>,
    ) = mysql_async::from_row(rows[1].clone());
    assert_eq!(second, (2, 6, None, None, "ink".into(), None));

    // Several statements in one query: one result each.
    let mut multi = c
        .query_iter(
            "INSERT INTO item (qty, name) VALUES (1, 'cap'); SELECT count(*) FROM item; SELECT 'x'",
        )
        .await
        .unwrap();
    let mut sets = Vec::new();
    while !multi.is_empty() {
        let rows: Vec<Row> = multi.collect().await.unwrap();
        sets.push(rows.len());
    }
    assert_eq!(sets, vec![0, 1, 1]);
    let n: Option<i64> = c.query_first("SELECT count(*) FROM item").await.unwrap();
    assert_eq!(n, Some(3));
    let socket: Option<Option<String>> = c.query_first("SELECT @@socket").await.unwrap();
    assert_eq!(
        socket,
        Some(None),
        "a backend's socket leaked to the client"
    );
    finish(three, d, c).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prepared_statements_take_parameters_of_several_types() {
    let dir = tempfile::tempdir().unwrap();
    let (three, d, mut c) = cluster(dir.path(), TABLE).await;
    let insert = "INSERT INTO item (qty, price, ratio, name, data, at) VALUES (?, ?, ?, ?, ?, ?)";
    let blob: Vec<u8> = vec![0, 1, 2, 0xfe, 0xff, b'\'', b'\\'];
    c.exec_drop(
        insert,
        (
            7i64,
            "12.50",
            2.25f64,
            "caf\u{e9} \u{2615}",
            blob.clone(),
            Value::Date(2024, 2, 29, 13, 14, 15, 250),
        ),
    )
    .await
    .unwrap();
    assert_eq!(c.last_insert_id(), Some(1));
    c.exec_drop(
        insert,
        (
            -3i32,
            Value::NULL,
            Value::NULL,
            "neg",
            Value::NULL,
            Value::NULL,
        ),
    )
    .await
    .unwrap();
    c.exec_drop(
        insert,
        (
            u32::MAX as i64,
            0.0f32,
            -1e300f64,
            "big",
            vec![0u8; 70_000],
            "2000-01-01 00:00:00",
        ),
    )
    .await
    .unwrap_err(); // 70 kB into a BLOB (64 KiB) is an error from the server...
    let (code, state) = server_error(
        c.exec_drop(
            insert,
            (
                1i64,
                Value::NULL,
                Value::NULL,
                "neg",
                Value::NULL,
                Value::NULL,
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((code, state.as_str()), (1062, "23000")); // ...and so is a duplicate name.

    let select = "SELECT qty, price, ratio, name, data, at FROM item WHERE name = ? AND qty > ?";
    let row: Row = c
        .exec_first(select, ("caf\u{e9} \u{2615}", 0i64))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<i64, _>(0), Some(7));
    assert_eq!(row.get::<String, _>(1).as_deref(), Some("12.50"));
    assert_eq!(row.get::<f64, _>(2), Some(2.25));
    assert_eq!(row.get::<Vec<u8>, _>(4), Some(blob));
    assert_eq!(
        row.as_ref(5),
        Some(&Value::Date(2024, 2, 29, 13, 14, 15, 0)),
        "DATETIME without fractional digits drops the microseconds"
    );
    let neg: Option<(i64, Option<f64>)> = c
        .exec_first("SELECT qty, ratio FROM item WHERE name = ?", ("neg",))
        .await
        .unwrap();
    assert_eq!(neg, Some((-3, None)));
    // The same statement again, with the types the client bound the first time.
    let stmt = c
        .prep("SELECT count(*) FROM item WHERE qty < ?")
        .await
        .unwrap();
    for (bound, want) in [(0i64, 1i64), (100, 2)] {
        let n: Option<i64> = c.exec_first(&stmt, (bound,)).await.unwrap();
        assert_eq!(n, Some(want));
    }
    c.close(stmt).await.unwrap();
    finish(three, d, c).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_commit_and_roll_back_with_and_without_autocommit() {
    let dir = tempfile::tempdir().unwrap();
    let (three, d, mut c) = cluster(dir.path(), TABLE).await;
    let count = |name: &'static str| format!("SELECT count(*) FROM item WHERE name = '{name}'");

    c.query_drop("START TRANSACTION").await.unwrap();
    c.exec_drop("INSERT INTO item (qty, name) VALUES (?, ?)", (1, "gone"))
        .await
        .unwrap();
    c.query_drop("ROLLBACK").await.unwrap();
    c.query_drop("BEGIN").await.unwrap();
    c.exec_drop("INSERT INTO item (qty, name) VALUES (?, ?)", (1, "kept"))
        .await
        .unwrap();
    c.query_drop("COMMIT").await.unwrap();

    c.query_drop("SET autocommit = 0").await.unwrap();
    c.query_drop("INSERT INTO item (qty, name) VALUES (2, 'implicit-gone')")
        .await
        .unwrap();
    c.query_drop("ROLLBACK").await.unwrap();
    c.query_drop("INSERT INTO item (qty, name) VALUES (2, 'implicit-kept')")
        .await
        .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    c.query_drop("INSERT INTO item (qty, name) VALUES (3, 'committed-by-autocommit-on')")
        .await
        .unwrap();
    c.query_drop("SET autocommit = 1").await.unwrap();
    // mysql_async's own transaction API (START TRANSACTION ... COMMIT).
    let mut tx = c
        .start_transaction(mysql_async::TxOpts::default())
        .await
        .unwrap();
    tx.exec_drop("INSERT INTO item (qty, name) VALUES (?, ?)", (4, "tx"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // MariaDB Connector/J's SET when it connects: autocommit among other variables.
    c.query_drop("SET autocommit=0, sql_mode = concat(@@sql_mode, ',STRICT_TRANS_TABLES')")
        .await
        .unwrap();
    c.query_drop("INSERT INTO item (qty, name) VALUES (5, 'split-gone')")
        .await
        .unwrap();
    c.query_drop("ROLLBACK").await.unwrap();
    c.query_drop("SET autocommit=1, @x = 1").await.unwrap();
    let mode: Option<String> = c.query_first("SELECT @@sql_mode").await.unwrap();
    assert!(mode.unwrap().contains("STRICT_TRANS_TABLES"));
    // The greeting names the backends' own version (MariaDB's, which drivers look for).
    assert!(c.server_version() >= (10, 0, 0), "{:?}", c.server_version());

    for (name, want) in [
        ("gone", 0),
        ("kept", 1),
        ("implicit-gone", 0),
        ("implicit-kept", 1),
        ("committed-by-autocommit-on", 1),
        ("tx", 1),
        ("split-gone", 0),
    ] {
        let n: Option<i64> = c.query_first(count(name)).await.unwrap();
        assert_eq!(n, Some(want), "{name}");
    }
    // A second session sees only what was committed.
    let mut other = connect(d.my).await;
    let n: Option<i64> = other
        .query_first("SELECT count(*) FROM item")
        .await
        .unwrap();
    assert_eq!(n, Some(4));
    c.disconnect().await.unwrap();
    other.disconnect().await.unwrap();
    stop(d.child);
    three.identical(&[0, 1, 2]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_keep_their_codes_and_the_session_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let (three, d, mut c) = cluster(dir.path(), TABLE).await;
    c.query_drop("INSERT INTO item (qty, name) VALUES (1, 'one')")
        .await
        .unwrap();
    for (sql, code, state) in [
        (
            "INSERT INTO item (qty, name) VALUES (2, 'one')",
            1062,
            "23000",
        ),
        ("SELEC 1", 1064, "42000"),
        ("SELECT * FROM nowhere", 1146, "42S02"),
        (
            "INSERT INTO item (qty, name) VALUES (NULL, 'x')",
            1048,
            "23000",
        ),
        ("USE elsewhere", 1049, "42000"),
    ] {
        let e = c.query_drop(sql).await.unwrap_err();
        assert_eq!(server_error(e), (code, state.to_string()), "{sql}");
        let one: Option<i64> = c.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1), "the session broke after {sql}");
    }
    // At prepare time, and inside a transaction (which stays open and commits).
    let e = c.prep("SELECT nope FROM item").await.unwrap_err();
    assert_eq!(server_error(e), (1054, "42S22".to_string()));
    c.query_drop("BEGIN").await.unwrap();
    let e = c
        .exec_drop("INSERT INTO item (qty, name) VALUES (?, ?)", (1, "one"))
        .await
        .unwrap_err();
    assert_eq!(server_error(e).0, 1062);
    c.query_drop("INSERT INTO item (qty, name) VALUES (5, 'two')")
        .await
        .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    let n: Option<i64> = c.query_first("SELECT count(*) FROM item").await.unwrap();
    assert_eq!(n, Some(2));
    // A wrong password is refused with 1045.
    let mut bad = mysql::opts(d.my);
    bad = mysql_async::OptsBuilder::from_opts(bad)
        .pass(Some("wrong"))
        .into();
    let e = mysql_async::Conn::new(bad).await.unwrap_err();
    assert_eq!(server_error(e).0, 1045);
    finish(three, d, c).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sixteen_concurrent_clients_leave_identical_backends() {
    let dir = tempfile::tempdir().unwrap();
    let (three, d, mut c) = cluster(dir.path(), "").await;
    c.query_drop("CREATE TABLE account (id INT PRIMARY KEY, balance BIGINT NOT NULL, touched INT NOT NULL DEFAULT 0)")
        .await
        .unwrap();
    let rows: Vec<String> = (0..100).map(|i| format!("({i}, 1000, 0)")).collect();
    c.query_drop(format!("INSERT INTO account VALUES {}", rows.join(",")))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..16i64 {
        let port = d.my;
        tasks.push(tokio::spawn(async move {
            let mut c = connect(port).await;
            for i in 0..40i64 {
                let (from, to) = ((w * 7 + i) % 100, (w * 13 + i * 3 + 1) % 100);
                let mut tx = c
                    .start_transaction(mysql_async::TxOpts::default())
                    .await
                    .unwrap();
                tx.exec_drop(
                    "UPDATE account SET balance = balance - ?, touched = touched + 1 WHERE id = ?",
                    (i + 1, from),
                )
                .await
                .unwrap();
                tx.exec_drop(
                    "UPDATE account SET balance = balance + ?, touched = touched + 1 WHERE id = ?",
                    (i + 1, to),
                )
                .await
                .unwrap();
                tx.commit().await.unwrap();
                if i % 5 == 0 {
                    c.query_drop(format!(
                        "UPDATE account SET touched = touched + {w} WHERE id = {i}"
                    ))
                    .await
                    .unwrap();
                }
            }
            c.disconnect().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total: Option<i64> = c
        .query_first("SELECT sum(balance) FROM account")
        .await
        .unwrap();
    assert_eq!(total, Some(100_000));
    // 16 x 40 transfers and 16 x 8 single updates, plus the set-up: all committed.
    let (status, metrics) = common::admin_text(d.admin, "GET", "/metrics");
    assert_eq!(status, 200);
    let commits: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("mdbd_commits_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no commit counter in {metrics}"));
    assert!(commits >= 16 * 48, "{commits} commits");
    assert!(metrics.contains("# TYPE mdbd_backends_active gauge\nmdbd_backends_active 3\n"));
    // Every committed transaction took the write turn and gave it back: both are in the
    // turn's histograms, each bucket counting what is at or below its bound.
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    let held = value("mdbd_write_turn_hold_seconds_count");
    assert!(held >= commits, "{held} turns held for {commits} commits");
    let waited = value("mdbd_write_turn_wait_seconds_count");
    assert!(waited >= held, "{waited} turns granted, {held} given back");
    assert_eq!(
        value("mdbd_write_turn_wait_seconds_bucket{le=\"+Inf\"}"),
        waited
    );
    assert!(value("mdbd_write_turn_wait_seconds_bucket{le=\"0.0001\"}") <= waited);
    finish(three, d, c).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mariadb_client_works_through_mdbd() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::mariadb();
    let d = mysql::daemon(&three, dir.path(), &["a", "b", "c"]);
    let (ok, out) = cli(
        d.my,
        &["app"],
        "CREATE TABLE note (id INT PRIMARY KEY, body TEXT); INSERT INTO note VALUES (1, 'hello'), (2, NULL); SELECT id, body FROM note ORDER BY id",
    );
    assert!(ok, "{out}");
    assert_eq!(out, "id\tbody\n1\thello\n2\tNULL");
    let (ok, out) = cli(d.my, &["-D", "app", "-N"], "SELECT count(*) FROM note");
    assert!(ok, "{out}");
    assert_eq!(out, "2");
    let (ok, out) = cli(d.my, &["app"], "INSERT INTO note VALUES (1, 'again')");
    assert!(!ok);
    assert!(out.contains("ERROR 1062 (23000)"), "{out}");
    let (ok, out) = cli(d.my, &["elsewhere"], "SELECT 1");
    assert!(!ok);
    assert!(out.contains("ERROR 1049 (42000)"), "{out}");
    // The same cluster through the PostgreSQL listener.
    let (ok, out) = common::psql(d.pg, "SELECT body FROM note WHERE id = 1");
    assert!(ok, "{out}");
    assert_eq!(out, "hello");
    stop(d.child);
    three.identical(&[0, 1, 2]).await;
}

/// The join scenario of issue #5 with its clients on the MySQL front end: c is added to a
/// running a+b cluster and joined online under 8 clients' load.
#[tokio::test(flavor = "multi_thread")]
async fn online_join_under_mysql_clients() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::mariadb();
    let d = mysql::daemon(&three, dir.path(), &["a", "b"]);
    let mut c = connect(d.my).await;
    c.query_drop("CREATE TABLE acked (writer INT, seq INT, PRIMARY KEY (writer, seq))")
        .await
        .unwrap();
    c.query_drop(format!(
        "CREATE TABLE bulk (id INT PRIMARY KEY, note VARCHAR(200)); INSERT INTO bulk VALUES {}",
        (0..2000)
            .map(|i| format!("({i}, 'bulk row {i}')"))
            .collect::<Vec<_>>()
            .join(",")
    ))
    .await
    .unwrap();
    let stop_flag = Arc::new(AtomicBool::new(false));
    let clients = tokio::spawn(mysql::load(d.my, 8, stop_flag.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    mysql::config(&three, dir.path(), (d.pg, d.my, d.admin), &["a", "b", "c"]);
    let (status, body) = admin(d.admin, "POST", "/v1/reload");
    assert_eq!(status, 200, "{body}");
    let id = request_join(d.admin, "c", "mode=online");
    let j = wait_join(d.admin, id, ended);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_flag.store(true, Ordering::Relaxed);
    let results = clients.await.unwrap();
    eprintln!("join: {j}");
    assert_eq!(j["phase"], "finished", "{j}");
    assert_eq!(j["delta_only"], false, "{j}");
    no_errors(&results);
    mysql::all_present(d.my, &results).await;
    c.disconnect().await.unwrap();
    stop(d.child);
    converged(&three, &[0, 1, 2]).await;
}

/// `NOW()`, `CURRENT_TIMESTAMP` defaults and `UNIX_TIMESTAMP()` store one instant per
/// transaction on every backend, live and when a detached backend replays the log; the
/// clock is real again after the transaction.
#[tokio::test(flavor = "multi_thread")]
async fn current_time_is_the_same_on_every_backend_and_in_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (three, d, mut c) = cluster(dir.path(), "").await;
    c.query_drop(
        "CREATE TABLE clock (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(20), \
         made DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), at DATETIME(6), unix BIGINT)",
    )
    .await
    .unwrap();
    let write = |note: &str| {
        format!("INSERT INTO clock (note, at, unix) VALUES ('{note}', NOW(6), UNIX_TIMESTAMP())")
    };
    c.query_drop(write("alone")).await.unwrap();
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(write("txn-1")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.query_drop(write("txn-2")).await.unwrap();
    c.query_drop("COMMIT").await.unwrap();
    let distinct: Option<i64> = c
        .query_first("SELECT count(DISTINCT at) FROM clock WHERE note LIKE 'txn-%'")
        .await
        .unwrap();
    assert_eq!(distinct, Some(1), "one instant per transaction");
    let later: Option<i64> = c
        .query_first(
            "SELECT TIMESTAMPDIFF(MICROSECOND, (SELECT max(at) FROM clock), NOW(6)) > 250000",
        )
        .await
        .unwrap();
    assert_eq!(later, Some(1), "the clock stayed pinned after COMMIT");

    // c leaves; writes go on; c rejoins by replaying them.
    let (status, body) = admin(d.admin, "POST", "/v1/backends/c/detach");
    assert_eq!(status, 200, "{body}");
    for i in 0..5 {
        c.query_drop(write(&format!("while-away-{i}")))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.exec_drop("UPDATE clock SET at = NOW(6) WHERE id = ?", (1,))
        .await
        .unwrap();
    let id = request_join(d.admin, "c", "");
    let j = wait_join(d.admin, id, ended);
    assert_eq!(j["phase"], "finished", "{j}");
    assert_eq!(j["delta_only"], true, "{j}");
    finish(three, d, c).await;
}
