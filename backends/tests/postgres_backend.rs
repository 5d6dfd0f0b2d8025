//! The PostgreSQL backend against throwaway PostgreSQL 15 servers: statements, errors,
//! transactions, the applied-LSN marker, non-transactional statements, and snapshot/restore
//! through the codec with `pg_dump`/`pg_restore`.

mod common;

use mdbd_backends::postgres::{PgBackend, PgOptions};
use mdbd_engine::backend::{Backend, BackendError, Outcome};
use mdbd_engine::log::{Lsn, Statement, Value, WriteTxn};
use mdbd_testkit::PgServer;

fn backend(server: &PgServer, name: &str) -> PgBackend {
    let mut o = PgOptions::new(&server.conninfo("postgres"));
    o.pg_dump = server.bin().join("pg_dump");
    o.pg_restore = server.bin().join("pg_restore");
    PgBackend::new(name, o).unwrap()
}

fn write(sql: &str, params: Vec<Value>) -> WriteTxn {
    WriteTxn {
        settings: vec![],
        statements: vec![Statement::with_params(sql, params)],
    }
}

#[tokio::test]
async fn statements_errors_transactions_and_the_marker() {
    let server = PgServer::start().unwrap();
    let b = backend(&server, "pg-a");
    b.ensure_marker().await.unwrap();
    let mut s = b.open_session().await.unwrap();
    s.execute("CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL, amount numeric(10,2), born date, raw bytea, ok bool, f float8)", &[]).await.unwrap();
    let params = vec![
        Value::Int(1),
        Value::Text("Zoë 世界".into()),
        Value::Text("12.50".into()),
        Value::Text("2024-02-29".into()),
        Value::Bytes(vec![0, 255]),
        Value::Bool(true),
        Value::Float(0.1),
    ];
    let ins = s
        .execute("INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7)", &params)
        .await
        .unwrap();
    assert_eq!(
        ins,
        Outcome::Command {
            tag: "INSERT 0 1".into(),
            rows: 1,
            last_insert_id: None
        }
    );
    let Outcome::Rows(rs) = s
        .execute(
            "SELECT id, name, amount, born, raw, ok, f FROM t WHERE id = $1",
            &[Value::Int(1)],
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        rs.columns
            .iter()
            .map(|c| c.type_name.as_str())
            .collect::<Vec<_>>(),
        ["int4", "text", "numeric", "date", "bytea", "bool", "float8"]
    );
    assert_eq!(
        rs.rows[0],
        vec![
            Value::Int(1),
            Value::Text("Zoë 世界".into()),
            Value::Text("12.50".into()),
            Value::Text("2024-02-29".into()),
            Value::Bytes(vec![0, 255]),
            Value::Bool(true),
            Value::Float(0.1)
        ]
    );

    let BackendError::Db(e) = s
        .execute("INSERT INTO t (id, name) VALUES (1, 'dup')", &[])
        .await
        .unwrap_err()
    else {
        panic!()
    };
    assert_eq!(e.sqlstate, "23505");
    assert_eq!(
        e.message,
        "duplicate key value violates unique constraint \"t_pkey\""
    );
    let BackendError::Db(e) = s.execute("SELEC 1", &[]).await.unwrap_err() else {
        panic!()
    };
    assert_eq!(
        (e.sqlstate.as_str(), e.message.as_str()),
        ("42601", "syntax error at or near \"SELEC\"")
    );

    s.begin().await.unwrap();
    s.execute("INSERT INTO t (id, name) VALUES (2, 'gone')", &[])
        .await
        .unwrap();
    s.rollback().await.unwrap();
    s.begin().await.unwrap();
    s.execute("INSERT INTO t (id, name) VALUES (3, 'kept')", &[])
        .await
        .unwrap();
    s.commit(Some(Lsn(9))).await.unwrap();
    let Outcome::Rows(rs) = s
        .execute("SELECT id FROM t ORDER BY id", &[])
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(rs.rows, vec![vec![Value::Int(1)], vec![Value::Int(3)]]);
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(9));

    // apply: exactly once, atomic with the marker.
    assert!(b
        .apply(
            Lsn(10),
            &write(
                "INSERT INTO t (id, name) VALUES ($1, 'ten')",
                vec![Value::Int(10)]
            )
        )
        .await
        .unwrap());
    assert!(!b
        .apply(
            Lsn(10),
            &write(
                "INSERT INTO t (id, name) VALUES ($1, 'ten')",
                vec![Value::Int(10)]
            )
        )
        .await
        .unwrap());
    let bad = WriteTxn {
        settings: vec![],
        statements: vec![
            Statement::new("INSERT INTO t (id, name) VALUES (11, 'x')"),
            Statement::new("INSERT INTO t (id, name) VALUES (1, 'dup')"),
        ],
    };
    assert!(b.apply(Lsn(11), &bad).await.unwrap_err().is_db_error());
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(10));
    // Logged settings apply to the replayed write only.
    let with_path = WriteTxn {
        settings: vec![("search_path".into(), "other, public".into())],
        statements: vec![
            Statement::new("CREATE SCHEMA other"),
            Statement::new("CREATE TABLE in_other (v int)"),
        ],
    };
    b.apply(Lsn(12), &with_path).await.unwrap();
    assert_eq!(
        server
            .psql("postgres", "SELECT count(*) FROM other.in_other")
            .unwrap(),
        "0"
    );
    // Non-transactional statements run alone, and a repeat after a crash is harmless.
    b.apply(
        Lsn(13),
        &write("CREATE INDEX CONCURRENTLY t_name ON t (name)", vec![]),
    )
    .await
    .unwrap();
    server
        .psql("postgres", "UPDATE mdbd_state SET lsn = 12")
        .unwrap();
    assert!(b
        .apply(
            Lsn(13),
            &write("CREATE INDEX CONCURRENTLY t_name ON t (name)", vec![])
        )
        .await
        .unwrap());
    b.apply(Lsn(14), &write("VACUUM t", vec![])).await.unwrap();
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(14));
}

/// A query without parameters that returns no rows still owes the client its columns;
/// learning them must not run it a second time (a data-modifying `WITH` would change the
/// data twice).
#[tokio::test]
async fn an_empty_result_of_a_data_modifying_query_runs_it_once() {
    let server = PgServer::start().unwrap();
    let b = backend(&server, "pg-a");
    let mut s = b.open_session().await.unwrap();
    s.execute("CREATE TABLE c (v int NOT NULL)", &[])
        .await
        .unwrap();
    s.execute("INSERT INTO c VALUES (0)", &[]).await.unwrap();
    let Outcome::Rows(rs) = s
        .execute(
            "WITH u AS (UPDATE c SET v = v + 1 RETURNING v) SELECT v AS bumped FROM u WHERE false",
            &[],
        )
        .await
        .unwrap()
    else {
        panic!("expected a result set");
    };
    assert!(rs.rows.is_empty());
    assert_eq!(rs.columns.len(), 1);
    assert_eq!(rs.columns[0].name, "bumped");
    assert_eq!(server.psql("postgres", "SELECT v FROM c").unwrap(), "1");
}

/// Replay sends parameterless statements without waiting for each answer: they must still
/// run in the log's order, a statement with parameters must wait for those before it, and a
/// failure must be reported as itself (not as the aborted transaction every later request
/// meets), leaving neither the writes nor the marker moved.
#[tokio::test]
async fn a_pipelined_replay_runs_in_log_order_and_reports_the_first_failure() {
    let server = PgServer::start().unwrap();
    let b = backend(&server, "pg-a");
    b.ensure_marker().await.unwrap();
    b.apply(
        Lsn(1),
        &write(
            "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)",
            vec![],
        ),
    )
    .await
    .unwrap();
    let txn = |statements: Vec<Statement>| WriteTxn {
        settings: vec![],
        statements,
    };
    let batch = [
        txn(vec![
            Statement::new("INSERT INTO t VALUES (1, 1)"),
            Statement::new("UPDATE t SET v = v * 10 WHERE id = 1"),
            Statement::with_params("INSERT INTO t VALUES ($1, 0)", vec![Value::Int(2)]),
            Statement::new("UPDATE t SET v = (SELECT v FROM t WHERE id = 1) WHERE id = 2"),
        ]),
        txn(vec![
            Statement::new("UPDATE t SET v = v + 1 WHERE id = 1"),
            // Rows come back and are dropped.
            Statement::new("SELECT * FROM t"),
        ]),
        txn(vec![Statement::new("UPDATE t SET v = v * 2 WHERE id = 1")]),
    ];
    /// Each write with its LSN, from `first` on.
    fn numbered(writes: &[WriteTxn], first: u64) -> Vec<(Lsn, &WriteTxn)> {
        (first..).map(Lsn).zip(writes).collect()
    }
    let values = || {
        server
            .psql(
                "postgres",
                "SELECT string_agg(v::text, ',' ORDER BY id) FROM t",
            )
            .unwrap()
    };
    assert_eq!(b.apply_batch(&numbered(&batch, 2)).await.unwrap(), 3);
    assert_eq!(values(), "22,10");
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(4));

    // The second write of a run fails in its first statement: the run is refused with
    // that statement's own error, and nothing of it stays.
    let failing = [
        txn(vec![Statement::new("UPDATE t SET v = 0")]),
        txn(vec![
            Statement::new("INSERT INTO t VALUES (1, 5)"),
            Statement::new("UPDATE t SET v = 1"),
        ]),
        txn(vec![Statement::new("INSERT INTO t VALUES (3, 3)")]),
    ];
    for result in [
        b.apply_batch(&numbered(&failing, 5)).await,
        b.apply(Lsn(6), &failing[1]).await.map(u64::from),
    ] {
        match result {
            Err(BackendError::Db(db)) => assert_eq!(db.sqlstate, "23505", "{db:?}"),
            other => panic!("expected the unique violation, got {other:?}"),
        }
    }
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(4));
    assert_eq!(values(), "22,10");
}

#[tokio::test]
async fn a_killed_connection_moves_neither_write_nor_marker() {
    let server = PgServer::start().unwrap();
    let b = backend(&server, "pg-a");
    b.ensure_marker().await.unwrap();
    b.apply(Lsn(1), &write("CREATE TABLE t (v int)", vec![]))
        .await
        .unwrap();
    let mut s = b.open_session().await.unwrap();
    s.begin().await.unwrap();
    s.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    s.execute("UPDATE mdbd_state SET lsn = 2", &[])
        .await
        .unwrap();
    // Kill the server-side backend process of that connection mid-transaction.
    let pid = server
        .psql(
            "postgres",
            "SELECT pid FROM pg_stat_activity WHERE state = 'idle in transaction'",
        )
        .unwrap();
    assert!(!pid.is_empty(), "no open transaction found");
    server
        .psql("postgres", &format!("SELECT pg_terminate_backend({pid})"))
        .unwrap();
    assert!(s.commit(None).await.is_err());
    assert_eq!(b.applied_lsn().await.unwrap(), Lsn(1));
    assert_eq!(
        server.psql("postgres", "SELECT count(*) FROM t").unwrap(),
        "0"
    );
}

#[tokio::test]
async fn a_snapshot_restored_into_an_empty_server_is_identical() {
    let (donor_server, joiner_server) = (PgServer::start().unwrap(), PgServer::start().unwrap());
    let donor = backend(&donor_server, "donor");
    donor.ensure_marker().await.unwrap();
    let schema = "
        CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE, avatar bytea, balance numeric(12,2), joined timestamptz DEFAULT '2026-01-01 00:00:00+00');
        CREATE TABLE orders (id bigserial PRIMARY KEY, customer int REFERENCES customers(id), total numeric, note text, tags jsonb);
        CREATE INDEX orders_by_customer ON orders (customer);
        CREATE VIEW big_orders AS SELECT o.id, c.name, o.total FROM orders o JOIN customers c ON c.id = o.customer WHERE o.total > 100;
        CREATE SEQUENCE invoice_no START 1000;";
    donor_server.psql("postgres", schema).unwrap();
    let mut lsn = 1;
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
                    "INSERT INTO customers (name, email, avatar, balance) VALUES ($1, $2, $3, $4)",
                    vec![Value::Text(format!("顧客 {i} — Zoë")), email, Value::Bytes((0..(i % 50) as u8).collect()), Value::Text(format!("{}.{:02}", i * 3, i % 100))],
                ),
                Statement::with_params(
                    "INSERT INTO orders (customer, total, note, tags) VALUES (currval('customers_id_seq'), $1, $2, $3)",
                    vec![Value::Int(i * 5), if i % 2 == 0 { Value::Null } else { Value::Text("rush".into()) }, Value::Text(format!("{{\"n\": {i}}}"))],
                ),
                Statement::new("SELECT nextval('invoice_no')"),
            ],
        };
        donor.apply(Lsn(lsn), &txn).await.unwrap();
    }
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
        [
            ("public.customers", 300),
            ("public.orders", 300),
            ("(sequences)", 3)
        ]
    );
    joiner
        .apply(Lsn(lsn + 1), &write("SELECT nextval('invoice_no')", vec![]))
        .await
        .unwrap();
    assert_ne!(
        donor.checksums().await.unwrap(),
        joiner.checksums().await.unwrap(),
        "the checksum missed a sequence moving"
    );
}

#[tokio::test]
async fn the_catalog_names_keys_foreign_keys_drawn_columns_and_opaque_tables() {
    use mdbd_engine::backend::catalog::ForeignKey;
    let server = PgServer::start().unwrap();
    let b = backend(&server, "pg-a");
    b.ensure_marker().await.unwrap();
    let mut s = b.open_session().await.unwrap();
    for sql in [
        "CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance int)",
        "CREATE TABLE users (id serial PRIMARY KEY, \"E,mail\" text UNIQUE, name text)",
        "CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
         user_id int REFERENCES users (id) ON DELETE CASCADE, total int)",
        "CREATE TABLE pairs (a int, b int, v int, PRIMARY KEY (b, a)) ",
        "CREATE TABLE history (aid int, delta int)",
        "CREATE SEQUENCE ticket_seq",
        "CREATE TABLE tickets (id int PRIMARY KEY, seqno bigint DEFAULT nextval('ticket_seq'))",
        "CREATE TABLE audited (id int PRIMARY KEY)",
        "CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$",
        "CREATE TRIGGER touch BEFORE INSERT ON audited FOR EACH ROW EXECUTE FUNCTION noop()",
        "CREATE TABLE partial (id int PRIMARY KEY, code text)",
        "CREATE UNIQUE INDEX partial_code ON partial (code) WHERE code IS NOT NULL",
        "CREATE SCHEMA other",
        "CREATE TABLE other.pairs (x int)",
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
    assert_eq!(users.primary_key, ["id"]);
    assert_eq!(users.unique_keys.len(), 1);
    assert_eq!(users.unique_keys[0].1, ["e,mail"]);
    assert_eq!(
        users.drawn,
        [("id".to_string(), "users_id_seq".to_string())]
    );
    let orders = table("orders");
    assert_eq!(
        orders.drawn,
        [("id".to_string(), "orders_id_seq".to_string())]
    );
    assert_eq!(
        orders.foreign_keys,
        [ForeignKey {
            columns: vec!["user_id".into()],
            parent: "users".into(),
            parent_columns: vec!["id".into()],
        }]
    );
    assert_eq!(
        table("tickets").drawn,
        [("seqno".to_string(), "ticket_seq".to_string())]
    );
    assert!(table("history").primary_key.is_empty());
    assert!(table("audited").opaque, "a table with a trigger");
    assert!(table("partial").opaque, "a partial unique index");
    // A foreign key's internal triggers do not make a table opaque.
    assert!(!users.opaque && !orders.opaque);
    // Two schemas hold a `pairs`: the name is ambiguous, so it is not listed.
    assert!(catalog.table("pairs").is_none());
}
