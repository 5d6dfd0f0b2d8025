//! The SQLite backend against real database files: statements, errors, transactions, the
//! applied-LSN marker, and snapshot/restore through the codec.

mod common;

use mdbd_backends::sqlite::{SqliteBackend, SqliteOptions};
use mdbd_engine::backend::{Backend, BackendError, Outcome};
use mdbd_engine::log::{Lsn, Statement, Value, WriteTxn};
use std::path::Path;

fn backend(dir: &Path, name: &str) -> SqliteBackend {
    SqliteBackend::new(
        name,
        &dir.join(format!("{name}.db")),
        SqliteOptions::default(),
    )
    .unwrap()
}

fn write(sql: &str, params: Vec<Value>) -> WriteTxn {
    WriteTxn {
        settings: vec![],
        statements: vec![Statement::with_params(sql, params)],
    }
}

#[tokio::test]
async fn statements_return_rows_tags_and_verbatim_errors() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path(), "a");
    let mut s = b.open_session().await.unwrap();
    let created = s
        .execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, raw BLOB)",
            &[],
        )
        .await
        .unwrap();
    assert!(
        matches!(created, Outcome::Command { ref tag, .. } if tag == "CREATE TABLE"),
        "{created:?}"
    );
    let params = vec![
        Value::Int(1),
        Value::Text("ünï".into()),
        Value::Float(2.5),
        Value::Bytes(vec![0, 1, 255]),
    ];
    let inserted = s
        .execute("INSERT INTO t VALUES ($1, $2, $3, $4)", &params)
        .await
        .unwrap();
    assert_eq!(
        inserted,
        Outcome::Command {
            tag: "INSERT 0 1".into(),
            rows: 1,
            last_insert_id: Some(1)
        }
    );
    // Parameters bound by number even when they appear out of order.
    s.execute(
        "INSERT INTO t (name, id) VALUES ($2, $1)",
        &[Value::Int(2), Value::Text("second".into())],
    )
    .await
    .unwrap();
    let Outcome::Rows(rs) = s
        .execute(
            "SELECT id, name, score, raw FROM t WHERE id >= $1 ORDER BY id",
            &[Value::Int(1)],
        )
        .await
        .unwrap()
    else {
        panic!("no rows")
    };
    assert_eq!(
        rs.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["id", "name", "score", "raw"]
    );
    assert_eq!(rs.columns[1].type_name, "TEXT");
    assert_eq!(rs.rows[0], params);
    assert_eq!(
        rs.rows[1],
        vec![
            Value::Int(2),
            Value::Text("second".into()),
            Value::Null,
            Value::Null
        ]
    );
    let updated = s
        .execute("UPDATE t SET score = 1 WHERE id > 0", &[])
        .await
        .unwrap();
    assert!(matches!(updated, Outcome::Command { ref tag, rows: 2, .. } if tag == "UPDATE 2"));

    let dup = s
        .execute("INSERT INTO t (id, name) VALUES (1, 'x')", &[])
        .await
        .unwrap_err();
    let BackendError::Db(e) = dup else {
        panic!("not a database error: {dup}")
    };
    assert_eq!(
        (e.code.as_str(), e.sqlstate.as_str()),
        ("SQLITE_CONSTRAINT_PRIMARYKEY", "23505")
    );
    assert_eq!(e.message, "UNIQUE constraint failed: t.id");
    let BackendError::Db(e) = s.execute("SELEC 1", &[]).await.unwrap_err() else {
        panic!()
    };
    assert_eq!(e.sqlstate, "42601");
    assert!(e.message.contains("syntax error"), "{}", e.message);
    // The session is still usable after errors.
    assert!(s.execute("SELECT count(*) FROM t", &[]).await.is_ok());
}

#[tokio::test]
async fn a_transaction_rolls_back_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path(), "a");
    b.ensure_marker().await.unwrap();
    let mut s = b.open_session().await.unwrap();
    s.execute("CREATE TABLE t (v INTEGER)", &[]).await.unwrap();
    s.begin().await.unwrap();
    s.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    s.rollback().await.unwrap();
    s.begin().await.unwrap();
    s.execute("INSERT INTO t VALUES (2)", &[]).await.unwrap();
    s.commit(Some(Lsn(7))).await.unwrap();
    let Outcome::Rows(rs) = s.execute("SELECT v FROM t", &[]).await.unwrap() else {
        panic!()
    };
    assert_eq!(rs.rows, vec![vec![Value::Int(2)]]);
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(7));
}

#[tokio::test]
async fn apply_moves_the_marker_with_the_write_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path(), "a");
    b.ensure_marker().await.unwrap();
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(0));
    b.apply(Lsn(1), &write("CREATE TABLE t (v INTEGER UNIQUE)", vec![]))
        .await
        .unwrap();
    assert!(b
        .apply(
            Lsn(2),
            &write("INSERT INTO t VALUES ($1)", vec![Value::Int(10)])
        )
        .await
        .unwrap());
    // Replaying an applied LSN is a no-op.
    assert!(!b
        .apply(
            Lsn(2),
            &write("INSERT INTO t VALUES ($1)", vec![Value::Int(10)])
        )
        .await
        .unwrap());
    // A failing statement rolls back the whole transaction and leaves the marker.
    let two = WriteTxn {
        settings: vec![],
        statements: vec![
            Statement::with_params("INSERT INTO t VALUES (11)", vec![]),
            Statement::with_params("INSERT INTO t VALUES (10)", vec![]),
        ],
    };
    assert!(b.apply(Lsn(3), &two).await.unwrap_err().is_db_error());
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(2));
    let mut s = b.open_session().await.unwrap();
    let Outcome::Rows(rs) = s.execute("SELECT v FROM t ORDER BY v", &[]).await.unwrap() else {
        panic!()
    };
    assert_eq!(rs.rows, vec![vec![Value::Int(10)]]);
}

/// Started by the test below as a separate process: begins a transaction that writes and
/// moves the marker, reports it, and waits to be killed before committing.
#[test]
#[ignore = "child process of a_killed_connection_moves_neither_write_nor_marker; started by it"]
fn killed_mid_transaction_child() {
    let path = std::env::var("MDBD_SQLITE_CHILD_DB").expect("run only as the kill test's child");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let b = SqliteBackend::new("child", Path::new(&path), SqliteOptions::default()).unwrap();
        let mut s = b.open_session().await.unwrap();
        s.begin().await.unwrap();
        s.execute("INSERT INTO t VALUES (99)", &[]).await.unwrap();
        s.execute("UPDATE mdbd_state SET lsn = 5 WHERE id = 1", &[])
            .await
            .unwrap();
        println!("IN-TRANSACTION");
        std::thread::sleep(std::time::Duration::from_secs(60));
    });
}

#[tokio::test]
async fn a_killed_connection_moves_neither_write_nor_marker() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path(), "a");
    b.ensure_marker().await.unwrap();
    b.apply(Lsn(1), &write("CREATE TABLE t (v INTEGER)", vec![]))
        .await
        .unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "killed_mid_transaction_child",
            "--ignored",
            "--nocapture",
        ])
        .env("MDBD_SQLITE_CHILD_DB", b.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap().contains("IN-TRANSACTION")),
        "child never reached its transaction"
    );
    child.kill().unwrap(); // SIGKILL with the transaction open
    child.wait().unwrap();
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(1));
    let mut s = b.open_session().await.unwrap();
    let Outcome::Rows(rs) = s.execute("SELECT count(*) FROM t", &[]).await.unwrap() else {
        panic!()
    };
    assert_eq!(rs.rows, vec![vec![Value::Int(0)]]);
}

#[tokio::test]
async fn a_snapshot_restored_into_an_empty_file_is_identical() {
    let dir = tempfile::tempdir().unwrap();
    let donor = backend(dir.path(), "donor");
    donor.ensure_marker().await.unwrap();
    let schema = [
        "CREATE TABLE customers (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT, avatar BLOB, balance REAL)",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER REFERENCES customers(id), total NUMERIC, note TEXT)",
        "CREATE INDEX orders_by_customer ON orders(customer)",
        "CREATE UNIQUE INDEX customers_email ON customers(email)",
        "CREATE VIEW big_orders AS SELECT o.id, c.name, o.total FROM orders o JOIN customers c ON c.id = o.customer WHERE o.total > 100",
    ];
    let mut lsn = 0;
    for sql in schema {
        lsn += 1;
        donor.apply(Lsn(lsn), &write(sql, vec![])).await.unwrap();
    }
    for i in 0..300i64 {
        lsn += 1;
        let email = if i % 7 == 0 {
            Value::Null
        } else {
            Value::Text(format!("user{i}@exämple.jp"))
        };
        let name = format!("顧客 {i} — Zoë");
        let avatar = Value::Bytes((0..(i % 50) as u8).map(|b| b.wrapping_mul(37)).collect());
        let txn = WriteTxn {
            settings: vec![],
            statements: vec![
                Statement::with_params("INSERT INTO customers (name, email, avatar, balance) VALUES ($1, $2, $3, $4)", vec![Value::Text(name), email, avatar, Value::Float(i as f64 * 1.25)]),
                Statement::with_params("INSERT INTO orders (customer, total, note) VALUES (last_insert_rowid(), $1, $2)", vec![Value::Int(i * 3), if i % 2 == 0 { Value::Null } else { Value::Text("rush".into()) }]),
            ],
        };
        donor.apply(Lsn(lsn), &txn).await.unwrap();
    }
    // Deleting rows leaves the AUTOINCREMENT counter ahead of the data: it must survive.
    lsn += 1;
    let delete = WriteTxn {
        settings: vec![],
        statements: vec![
            Statement::new("DELETE FROM orders WHERE customer > 295"),
            Statement::new("DELETE FROM customers WHERE id > 295"),
        ],
    };
    donor.apply(Lsn(lsn), &delete).await.unwrap();

    let joiner = backend(dir.path(), "joiner");
    assert_eq!(common::transfer(&donor, &joiner).await, Lsn(lsn));

    assert_eq!(joiner.applied_lsn().await.unwrap(), Lsn(lsn));
    let (a, b) = (
        donor.checksums().await.unwrap(),
        joiner.checksums().await.unwrap(),
    );
    assert_eq!(a, b);
    let tables: Vec<_> = a.iter().map(|t| (t.table.as_str(), t.rows)).collect();
    // Ids 1..=300 minus those above 295; the schema: 2 tables, 2 indexes, a view,
    // sqlite_sequence and the marker table.
    assert_eq!(
        tables,
        [
            ("(schema)", 7),
            ("customers", 295),
            ("orders", 295),
            ("sqlite_sequence", 1)
        ]
    );
    // And the checksum notices a difference.
    joiner
        .apply(
            Lsn(lsn + 1),
            &write("UPDATE orders SET note = 'x' WHERE id = 3", vec![]),
        )
        .await
        .unwrap();
    assert_ne!(
        donor.checksums().await.unwrap(),
        joiner.checksums().await.unwrap()
    );
}

#[tokio::test]
async fn a_restore_of_something_else_leaves_the_database_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let b = backend(dir.path(), "a");
    b.ensure_marker().await.unwrap();
    b.apply(Lsn(1), &write("CREATE TABLE t (v INTEGER)", vec![]))
        .await
        .unwrap();
    let garbage = vec![7u8; 10_000];
    let err = b
        .restore("sqlite/database", &mut garbage.as_slice())
        .await
        .unwrap_err();
    assert!(
        matches!(err, BackendError::Db(_) | BackendError::Config(_)),
        "{err}"
    );
    assert!(b
        .restore("pg_dump/custom", &mut garbage.as_slice())
        .await
        .is_err());
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(1));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("mdbd-restore"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}
