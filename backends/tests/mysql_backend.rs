//! The MySQL backend against throwaway MariaDB servers: statements, errors, transactions,
//! the applied-LSN marker (and its DDL intent path), and snapshot/restore through the codec
//! with `mariadb-dump` and the `mariadb` client.

mod common;

use mdbd_backends::mysql::{MysqlBackend, MysqlOptions};
use mdbd_engine::backend::{Backend, BackendError, Outcome};
use mdbd_engine::log::{Lsn, Statement, Value, WriteTxn};
use mdbd_testkit::MariaDb;

fn backend(server: &MariaDb, name: &str) -> MysqlBackend {
    MysqlBackend::new(name, MysqlOptions::new(&server.url("app"))).unwrap()
}

fn write(sql: &str, params: Vec<Value>) -> WriteTxn {
    WriteTxn {
        settings: vec![],
        statements: vec![Statement::with_params(sql, params)],
    }
}

#[tokio::test]
async fn statements_errors_transactions_and_the_marker() {
    let server = MariaDb::start().unwrap();
    let b = backend(&server, "maria-a");
    b.ensure_marker().await.unwrap();
    let mut s = b.open_session().await.unwrap();
    s.execute("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50) NOT NULL UNIQUE, amount DECIMAL(10,2), born DATE, raw VARBINARY(10), f DOUBLE)", &[]).await.unwrap();
    let params = vec![
        Value::Text("Zoë 世界".into()),
        Value::Text("12.50".into()),
        Value::Text("2024-02-29".into()),
        Value::Bytes(vec![0, 255]),
        Value::Float(0.1),
    ];
    let ins = s
        .execute(
            "INSERT INTO t (name, amount, born, raw, f) VALUES (?, ?, ?, ?, ?)",
            &params,
        )
        .await
        .unwrap();
    assert_eq!(
        ins,
        Outcome::Command {
            tag: "INSERT 0 1".into(),
            rows: 1,
            last_insert_id: Some(1)
        }
    );
    let expected = vec![
        Value::Int(1),
        Value::Text("Zoë 世界".into()),
        Value::Text("12.50".into()),
        Value::Text("2024-02-29".into()),
        Value::Bytes(vec![0, 255]),
        Value::Float(0.1),
    ];
    // Same values through the binary (prepared) and the text protocol.
    let Outcome::Rows(rs) = s
        .execute(
            "SELECT id, name, amount, born, raw, f FROM t WHERE id = ?",
            &[Value::Int(1)],
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(rs.rows[0], expected);
    let Outcome::Rows(rs) = s
        .execute(
            "SELECT id, name, amount, born, raw, f FROM t WHERE id = 1",
            &[],
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(rs.rows[0], expected);

    let BackendError::Db(e) = s
        .execute("INSERT INTO t (name) VALUES ('Zoë 世界')", &[])
        .await
        .unwrap_err()
    else {
        panic!()
    };
    assert_eq!((e.code.as_str(), e.sqlstate.as_str()), ("1062", "23000"));
    assert_eq!(e.message, "Duplicate entry 'Zoë 世界' for key 'name'");
    let BackendError::Db(e) = s.execute("SELEC 1", &[]).await.unwrap_err() else {
        panic!()
    };
    assert_eq!((e.code.as_str(), e.sqlstate.as_str()), ("1064", "42000"));

    s.begin().await.unwrap();
    s.execute("INSERT INTO t (name) VALUES ('gone')", &[])
        .await
        .unwrap();
    s.rollback().await.unwrap();
    s.begin().await.unwrap();
    s.execute("INSERT INTO t (name) VALUES ('kept')", &[])
        .await
        .unwrap();
    s.commit(Some(Lsn(9))).await.unwrap();
    assert_eq!(
        server
            .client(
                Some("app"),
                "SELECT GROUP_CONCAT(name ORDER BY id) FROM t WHERE id > 1"
            )
            .unwrap(),
        "kept"
    );
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(9));

    // apply: exactly once, atomic with the marker.
    assert!(b
        .apply(
            Lsn(10),
            &write(
                "INSERT INTO t (name) VALUES (?)",
                vec![Value::Text("ten".into())]
            )
        )
        .await
        .unwrap());
    assert!(!b
        .apply(
            Lsn(10),
            &write(
                "INSERT INTO t (name) VALUES (?)",
                vec![Value::Text("ten".into())]
            )
        )
        .await
        .unwrap());
    let bad = WriteTxn {
        settings: vec![],
        statements: vec![
            Statement::new("INSERT INTO t (name) VALUES ('x')"),
            Statement::new("INSERT INTO t (name) VALUES ('ten')"),
        ],
    };
    assert!(b.apply(Lsn(11), &bad).await.unwrap_err().is_db_error());
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(10));
    assert_eq!(
        server
            .client(Some("app"), "SELECT count(*) FROM t WHERE name = 'x'")
            .unwrap(),
        "0"
    );
}

#[tokio::test]
async fn ddl_replayed_after_a_crash_counts_as_applied_only_when_pending_names_it() {
    let server = MariaDb::start().unwrap();
    let b = backend(&server, "maria-a");
    b.ensure_marker().await.unwrap();
    assert!(b
        .apply(Lsn(1), &write("CREATE TABLE t (v INT)", vec![]))
        .await
        .unwrap());
    assert_eq!(
        server
            .client(
                Some("app"),
                "SELECT CONCAT(lsn, '/', IFNULL(pending, 'null')) FROM mdbd_state"
            )
            .unwrap(),
        "1/null"
    );
    // A crash between the DDL and the marker update: the DDL ran, pending names LSN 2.
    server
        .client(Some("app"), "ALTER TABLE t ADD COLUMN w INT")
        .unwrap();
    server
        .client(Some("app"), "UPDATE mdbd_state SET pending = 2")
        .unwrap();
    assert!(b
        .apply(Lsn(2), &write("ALTER TABLE t ADD COLUMN w INT", vec![]))
        .await
        .unwrap());
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(2));
    // Without the pending mark, the same error is a genuine one.
    let err = b
        .apply(Lsn(3), &write("ALTER TABLE t ADD COLUMN w INT", vec![]))
        .await
        .unwrap_err();
    assert!(err.is_db_error(), "{err}");
    assert_eq!(
        server
            .client(
                Some("app"),
                "SELECT CONCAT(lsn, '/', IFNULL(pending, 'null')) FROM mdbd_state"
            )
            .unwrap(),
        "2/null"
    );
}

#[tokio::test]
async fn ddl_logged_with_session_settings_replays_under_them() {
    let server = MariaDb::start().unwrap();
    let b = backend(&server, "maria-a");
    b.ensure_marker().await.unwrap();
    // Under ANSI_QUOTES "q" is an identifier; without the setting this is a syntax error.
    let txn = WriteTxn {
        settings: vec![("sql_mode".into(), "ANSI_QUOTES".into())],
        statements: vec![Statement::with_params("CREATE TABLE \"q\" (v INT)", vec![])],
    };
    assert!(b.apply(Lsn(1), &txn).await.unwrap());
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(1));
    assert_eq!(
        server.client(Some("app"), "SHOW TABLES LIKE 'q'").unwrap(),
        "q"
    );
}

#[tokio::test]
async fn a_killed_connection_moves_neither_write_nor_marker() {
    let server = MariaDb::start().unwrap();
    let b = backend(&server, "maria-a");
    b.ensure_marker().await.unwrap();
    b.apply(Lsn(1), &write("CREATE TABLE t (v INT)", vec![]))
        .await
        .unwrap();
    let mut s = b.open_session().await.unwrap();
    s.begin().await.unwrap();
    s.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    s.execute("UPDATE mdbd_state SET lsn = 2", &[])
        .await
        .unwrap();
    let Outcome::Rows(rs) = s.execute("SELECT CONNECTION_ID()", &[]).await.unwrap() else {
        panic!()
    };
    let Value::Int(id) = rs.rows[0][0] else {
        panic!()
    };
    server.client(None, &format!("KILL {id}")).unwrap();
    assert!(s.commit(None).await.is_err());
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(1));
    assert_eq!(
        server
            .client(Some("app"), "SELECT count(*) FROM t")
            .unwrap(),
        "0"
    );
}

#[tokio::test]
async fn a_snapshot_restored_into_an_empty_server_is_identical() {
    let (donor_server, joiner_server) = (MariaDb::start().unwrap(), MariaDb::start().unwrap());
    let donor = backend(&donor_server, "donor");
    donor.ensure_marker().await.unwrap();
    let ddl = [
        "CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(100) UNIQUE, avatar BLOB, balance DECIMAL(12,2)) CHARSET utf8mb4",
        "CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer INT, total DECIMAL(12,2), note TEXT, KEY by_customer (customer), FOREIGN KEY (customer) REFERENCES customers(id)) CHARSET utf8mb4",
        "CREATE VIEW big_orders AS SELECT o.id, c.name, o.total FROM orders o JOIN customers c ON c.id = o.customer WHERE o.total > 100",
    ];
    let mut lsn = 0;
    for sql in ddl {
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
        let txn = WriteTxn {
            settings: vec![],
            statements: vec![
                Statement::with_params(
                    "INSERT INTO customers (name, email, avatar, balance) VALUES (?, ?, ?, ?)",
                    vec![
                        Value::Text(format!("顧客 {i} — Zoë")),
                        email,
                        Value::Bytes((0..(i % 50) as u8).collect()),
                        Value::Text(format!("{}.{:02}", i * 3, i % 100)),
                    ],
                ),
                Statement::with_params(
                    "INSERT INTO orders (customer, total, note) VALUES (LAST_INSERT_ID(), ?, ?)",
                    vec![
                        Value::Int(i * 5),
                        if i % 2 == 0 {
                            Value::Null
                        } else {
                            Value::Text("rush".into())
                        },
                    ],
                ),
            ],
        };
        donor.apply(Lsn(lsn), &txn).await.unwrap();
    }
    // Deleted rows leave AUTO_INCREMENT ahead of the data: it must survive the snapshot.
    lsn += 1;
    let delete = WriteTxn {
        settings: vec![],
        statements: vec![
            Statement::new("DELETE FROM orders WHERE customer > 295"),
            Statement::new("DELETE FROM customers WHERE id > 295"),
        ],
    };
    donor.apply(Lsn(lsn), &delete).await.unwrap();

    let joiner = backend(&joiner_server, "joiner");
    assert_eq!(common::transfer(&donor, &joiner).await, Lsn(lsn));

    assert_eq!(joiner.applied_lsn().await.unwrap(), Lsn(lsn));
    let (a, b) = (
        donor.checksums().await.unwrap(),
        joiner.checksums().await.unwrap(),
    );
    assert_eq!(a, b);
    let tables: Vec<_> = a.iter().map(|t| (t.table.as_str(), t.rows)).collect();
    assert_eq!(
        tables[1..],
        [("customers", 295), ("orders", 295), ("(auto_increment)", 3)]
    );
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

/// Keeps what a streamed read gave it.
#[derive(Default)]
struct Kept {
    columns: Vec<mdbd_engine::backend::Column>,
    rows: Vec<Vec<Value>>,
}

#[async_trait::async_trait]
impl mdbd_engine::backend::RowSink for Kept {
    async fn columns(&mut self, columns: &[mdbd_engine::backend::Column]) {
        self.columns = columns.to_vec();
    }
    async fn row(&mut self, row: Vec<Value>) {
        self.rows.push(row);
    }
    fn started(&self) -> bool {
        !self.columns.is_empty()
    }
}

#[tokio::test]
async fn json_columns_are_marked_in_reads_streamed_or_not_from_the_first() {
    let server = MariaDb::start().unwrap();
    let b = backend(&server, "maria-a");
    let mut s = b.open_session().await.unwrap();
    s.execute(
        "CREATE TABLE j (id INT PRIMARY KEY, doc JSON, note LONGTEXT)",
        &[],
    )
    .await
    .unwrap();
    s.execute(r#"INSERT INTO j VALUES (1, '{"a": [1, 2]}', 'x')"#, &[])
        .await
        .unwrap();
    // The first read of the table is streamed: its lookup cannot use the connection the
    // result holds.
    let mut kept = Kept::default();
    let outcome = s
        .stream(b"SELECT id, doc, note FROM j", &[], &mut kept)
        .await
        .unwrap();
    let json: Vec<bool> = kept.columns.iter().map(|c| c.meta.json).collect();
    assert_eq!(json, [false, true, false]);
    assert_eq!(kept.rows.len(), 1);
    assert!(matches!(outcome, Outcome::Rows(rs) if rs.rows.is_empty()));
    // Read whole, after a DDL statement that could have changed it.
    s.execute("ALTER TABLE j ADD COLUMN more JSON", &[])
        .await
        .unwrap();
    let Outcome::Rows(rs) = s
        .execute("SELECT doc, more, note FROM j", &[])
        .await
        .unwrap()
    else {
        panic!("not rows");
    };
    let json: Vec<bool> = rs.columns.iter().map(|c| c.meta.json).collect();
    assert_eq!(json, [true, true, false]);
}

#[tokio::test]
async fn the_catalog_names_keys_foreign_keys_auto_increment_and_opaque_tables() {
    use mdbd_engine::backend::catalog::ForeignKey;
    let server = MariaDb::start().unwrap();
    let b = backend(&server, "my-a");
    b.ensure_marker().await.unwrap();
    let mut s = b.open_session().await.unwrap();
    for sql in [
        "CREATE TABLE accounts (id INT PRIMARY KEY, owner TEXT, balance INT)",
        "CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, Email VARCHAR(100), name TEXT, \
         UNIQUE KEY users_email (Email))",
        "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, user_id INT, total INT, \
         FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE) ENGINE=InnoDB",
        "CREATE TABLE pairs (a INT, b INT, v INT, PRIMARY KEY (a, b), UNIQUE KEY ab (b, v))",
        "CREATE TABLE history (aid INT, delta INT)",
        "CREATE TABLE audited (id INT PRIMARY KEY)",
        "CREATE TRIGGER touch BEFORE INSERT ON audited FOR EACH ROW SET NEW.id = NEW.id",
        "CREATE TABLE prefixed (id INT PRIMARY KEY, code TEXT, UNIQUE KEY code10 (code(10)))",
        "CREATE TABLE Mixed (id INT PRIMARY KEY)",
        "CREATE TABLE mixed (id INT PRIMARY KEY)",
    ] {
        s.execute(sql, &[]).await.unwrap();
    }
    let catalog = b.catalog().await.unwrap();
    let table = |name: &str| {
        catalog
            .table(name)
            .cloned()
            .unwrap_or_else(|| panic!("no table {name} in {catalog:?}"))
    };
    let accounts = table("accounts");
    assert_eq!(accounts.columns, ["id", "owner", "balance"]);
    assert_eq!(accounts.primary_key, ["id"]);
    assert!(accounts.drawn.is_empty() && !accounts.opaque);
    let users = table("users");
    assert_eq!(
        users.unique_keys,
        [("users_email".to_string(), vec!["email".to_string()])]
    );
    assert_eq!(
        users.drawn,
        [("id".to_string(), "users#auto_increment".to_string())]
    );
    assert_eq!(
        table("orders").foreign_keys,
        [ForeignKey {
            columns: vec!["user_id".into()],
            parent: "users".into(),
            parent_columns: vec!["id".into()],
        }]
    );
    let pairs = table("pairs");
    assert_eq!(pairs.primary_key, ["a", "b"]);
    assert_eq!(
        pairs.unique_keys,
        [("ab".to_string(), vec!["b".to_string(), "v".to_string()])]
    );
    assert!(table("history").primary_key.is_empty());
    assert!(table("audited").opaque, "a table with a trigger");
    assert!(table("prefixed").opaque, "a unique index on a prefix");
    assert!(!users.opaque);
    // `Mixed` and `mixed` fold to one name: ambiguous, not listed.
    assert!(catalog.table("mixed").is_none());
}
