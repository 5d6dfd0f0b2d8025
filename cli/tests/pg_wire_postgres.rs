//! What PostgreSQL clients see through mdbd over three PostgreSQL servers, compared with
//! what the same statement gets from one of the servers directly: errors with every field
//! (DETAIL, HINT, position, schema, table, column, constraint, ...), positions counted in
//! the whole query string, and COPY interrupted by a stray message.

mod common;

use common::wire::{field, logged_in, next, send, until_ready};
use common::{start, stop, Three};
use tokio_postgres::error::DbError;

/// The fields of an error that a client can read, as one comparable value.
fn fields(e: &DbError) -> Vec<(&'static str, String)> {
    let pos = |p: Option<&tokio_postgres::error::ErrorPosition>| format!("{p:?}");
    vec![
        ("severity", e.severity().to_string()),
        ("code", e.code().code().to_string()),
        ("message", e.message().to_string()),
        ("detail", format!("{:?}", e.detail())),
        ("hint", format!("{:?}", e.hint())),
        ("position", pos(e.position())),
        ("where", format!("{:?}", e.where_())),
        ("schema", format!("{:?}", e.schema())),
        ("table", format!("{:?}", e.table())),
        ("column", format!("{:?}", e.column())),
        ("datatype", format!("{:?}", e.datatype())),
        ("constraint", format!("{:?}", e.constraint())),
        ("routine", format!("{:?}", e.routine())),
    ]
}

async fn connect(conninfo: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_reach_the_client_with_every_field_the_server_sent() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let Three::Postgres(servers) = &three else {
        unreachable!()
    };
    let through = common::client(port).await;
    let direct = connect(&servers[0].conninfo("postgres")).await;
    through
        .batch_execute(
            "CREATE TABLE u (id int PRIMARY KEY, v int CONSTRAINT v_positive CHECK (v > 0), \
             w int NOT NULL DEFAULT 0); INSERT INTO u VALUES (1, 1, 1)",
        )
        .await
        .unwrap();

    // Simple protocol (several statements in one string: the position counts from the
    // start of the string), then the extended protocol.
    let simple = [
        "INSERT INTO u VALUES (1, 2, 2)",
        "INSERT INTO u VALUES (2, -1, 0)",
        "INSERT INTO u VALUES (3, 1, NULL)",
        "SELECT 1; SELECT nosuch FROM u",
        "SELECT 1;\n  SELECT 'é'; SELECT 'x'::int",
        "SELECT * FROM nosuch",
        "DO $$ BEGIN RAISE EXCEPTION 'boom' USING DETAIL = 'd', HINT = 'h'; END $$",
    ];
    let mut checked = 0;
    for sql in simple {
        let got = through.batch_execute(sql).await.unwrap_err();
        let want = direct.batch_execute(sql).await.unwrap_err();
        let (got, want) = (got.as_db_error().unwrap(), want.as_db_error().unwrap());
        assert_eq!(fields(got), fields(want), "simple protocol: {sql}");
        checked += 1;
    }
    let extended = ["INSERT INTO u VALUES (1, 2, 2)", "SELECT nosuch FROM u"];
    for sql in extended {
        let got = through.query(sql, &[]).await.unwrap_err();
        let want = direct.query(sql, &[]).await.unwrap_err();
        let (got, want) = (got.as_db_error().unwrap(), want.as_db_error().unwrap());
        assert_eq!(fields(got), fields(want), "extended protocol: {sql}");
        checked += 1;
    }
    // The duplicate key, as an ORM reads it.
    let dup = through
        .execute("INSERT INTO u VALUES (1, 2, 2)", &[])
        .await
        .unwrap_err();
    let dup = dup.as_db_error().unwrap();
    assert_eq!(dup.constraint(), Some("u_pkey"));
    assert_eq!(dup.table(), Some("u"));
    assert_eq!(dup.detail(), Some("Key (id)=(1) already exists."));
    assert_eq!(checked, simple.len() + extended.len());
    // The session goes on after every error.
    let row = through
        .query_one("SELECT count(*) FROM u", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    drop((through, direct));
    stop(daemon);
    three.identical(&[0, 1, 2]).await;
}

#[test]
fn a_query_in_the_middle_of_copy_in_ends_the_copy_with_08p01() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let mut socket = logged_in(port);
    send(&mut socket, b'Q', b"CREATE TABLE c (a int)\0");
    until_ready(&mut socket);
    send(&mut socket, b'Q', b"COPY c FROM STDIN\0");
    let got = next(&mut socket).expect("CopyInResponse");
    assert_eq!(got.0, b'G', "{got:?}");
    send(&mut socket, b'd', b"1\n");
    send(&mut socket, b'Q', b"SELECT 5\0");
    let got = until_ready(&mut socket);
    let kinds: Vec<u8> = got.iter().map(|m| m.0).collect();
    assert_eq!(kinds, vec![b'E', b'Z'], "{got:?}");
    assert_eq!(field(&got[0].1, b'C'), "08P01");
    // The connection goes on, and the failed copy added no row anywhere.
    send(&mut socket, b'Q', b"SELECT count(*) FROM c\0");
    let answer = until_ready(&mut socket);
    let row = answer.iter().find(|m| m.0 == b'D').expect("a row");
    assert!(row.1.ends_with(b"\x01\x30"), "no row copied: {answer:?}");
    send(&mut socket, b'Q', b"COPY c FROM STDIN\0");
    assert_eq!(next(&mut socket).map(|m| m.0), Some(b'G'));
    send(&mut socket, b'd', b"7\n8\n");
    send(&mut socket, b'c', b"");
    let done = until_ready(&mut socket);
    let tag = done.iter().find(|m| m.0 == b'C').expect("CommandComplete");
    assert_eq!(tag.1, b"COPY 2\0");
    drop(socket);
    stop(daemon);
    let sums = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(three.identical(&[0, 1, 2]));
    assert!(
        sums.iter().any(|t| t.table.ends_with('c') && t.rows == 2),
        "{sums:?}"
    );
}
