//! What PostgreSQL clients see through mdbd over three PostgreSQL servers, compared with
//! what the same statement gets from one of the servers directly: errors with every field
//! (DETAIL, HINT, position, schema, table, column, constraint, ...), positions counted in
//! the whole query string, and COPY interrupted by a stray message.

mod common;

use common::wire::{field, logged_in, next, query, send, until_ready};
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
    let servers = three.pg_servers();
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
    query(&mut socket, "CREATE TABLE c (a int)");
    send(&mut socket, b'Q', b"COPY c FROM STDIN\0");
    let got = next(&mut socket).expect("CopyInResponse");
    assert_eq!(got.0, b'G', "{got:?}");
    send(&mut socket, b'd', b"1\n");
    let got = query(&mut socket, "SELECT 5");
    let kinds: Vec<u8> = got.iter().map(|m| m.0).collect();
    assert_eq!(kinds, vec![b'E', b'Z'], "{got:?}");
    assert_eq!(field(&got[0].1, b'C'), "08P01");
    // The connection goes on, and the failed copy added no row anywhere.
    let answer = query(&mut socket, "SELECT count(*) FROM c");
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

/// One simple query on the raw connection: (SQLSTATE of its error or "", command tags,
/// ReadyForQuery status byte).
fn run(socket: &mut std::net::TcpStream, sql: &str) -> (String, Vec<String>, u8) {
    let got = query(socket, sql);
    let error = got
        .iter()
        .find(|m| m.0 == b'E')
        .map(|m| field(&m.1, b'C'))
        .unwrap_or_default();
    let tags = got
        .iter()
        .filter(|m| m.0 == b'C')
        .map(|m| {
            String::from_utf8_lossy(&m.1)
                .trim_end_matches('\0')
                .to_string()
        })
        .collect();
    let status = got.last().and_then(|m| m.1.first().copied()).unwrap_or(0);
    (error, tags, status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_undo_part_of_a_transaction_everywhere_and_in_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let (port, admin) = (common::free_port(), common::free_port());
    let config = three.config_of(dir.path(), port, admin, &common::NAMES, "");
    let daemon = start(&config, port);
    // c leaves first: it gets the transaction only by replaying the log.
    let (status, body) = common::admin(admin, "POST", "/v1/backends/c/detach");
    assert_eq!(status, 200, "{body}");
    let mut socket = logged_in(port);
    // (statement, its error's SQLSTATE or "", ReadyForQuery status after it)
    let steps = [
        // A setting in a spelling replay must not take literally: it is logged as the
        // server holds it (`app, public`), and the replay creates `s` in `app` too.
        ("CREATE SCHEMA app", "", b'I'),
        ("SET search_path TO 'app', public", "", b'I'),
        ("CREATE TABLE s (id int PRIMARY KEY)", "", b'I'),
        ("BEGIN", "", b'T'),
        ("INSERT INTO s VALUES (1)", "", b'T'),
        ("SAVEPOINT a", "", b'T'),
        ("INSERT INTO s VALUES (2)", "", b'T'),
        ("INSERT INTO s VALUES (1)", "23505", b'E'),
        ("SELECT 1", "25P02", b'E'),
        ("INSERT INTO s VALUES (7)", "25P02", b'E'),
        ("ROLLBACK TO SAVEPOINT a", "", b'T'),
        ("INSERT INTO s VALUES (3)", "", b'T'),
        ("SAVEPOINT b", "", b'T'),
        // A read's error: it ran on one backend, but the transaction fails everywhere.
        ("SELECT 1/0", "22012", b'E'),
        ("INSERT INTO s VALUES (5)", "25P02", b'E'),
        ("ROLLBACK TRANSACTION TO b", "", b'T'),
        ("INSERT INTO s VALUES (4)", "", b'T'),
        ("RELEASE SAVEPOINT b", "", b'T'),
        ("COMMIT", "", b'I'),
        (
            "BEGIN; INSERT INTO s VALUES (9); SELECT nosuch",
            "42703",
            b'E',
        ),
        ("ROLLBACK TO SAVEPOINT nosuch", "3B001", b'E'),
    ];
    for (sql, error, status) in steps {
        let (got_error, tags, got_status) = run(&mut socket, sql);
        assert_eq!(
            (got_error.as_str(), got_status as char),
            (error, status as char),
            "{sql}: {tags:?}"
        );
    }
    // COMMIT of a failed transaction rolls it back, as PostgreSQL answers it.
    let (error, tags, status) = run(&mut socket, "COMMIT");
    assert_eq!((error.as_str(), status), ("", b'I'));
    assert_eq!(tags, vec!["ROLLBACK".to_string()]);
    assert_eq!(
        common::states(admin)[..2],
        ["active", "active"],
        "nothing detached"
    );

    let (_, tags, _) = run(
        &mut socket,
        "SELECT string_agg(id::text, ',' ORDER BY id) FROM s",
    );
    assert_eq!(tags, vec!["SELECT 1".to_string()]);
    let id = common::join::request_join(admin, "c", "");
    let j = common::join::wait_join(admin, id, common::join::ended);
    assert_eq!(j["phase"], "finished", "{j}");
    assert_eq!(j["delta_only"], true, "{j}");
    drop(socket);
    stop(daemon);
    let sums = three.identical(&[0, 1, 2]).await;
    assert!(
        sums.iter().any(|t| t.table.ends_with(".s") && t.rows == 3),
        "{sums:?}"
    );
    let servers = three.pg_servers();
    let c = connect(&servers[2].conninfo("postgres")).await;
    let ids: Vec<i32> = c
        .query("SELECT id FROM app.s ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        ids,
        vec![1, 3, 4],
        "the replay undid what the savepoints undid"
    );
}

/// `psql -X -c command` against `port` as `user` (database `app` through mdbd, `postgres`
/// directly): its output, or the failure.
fn psql_as(port: u16, user: &str, command: &str) -> String {
    let database = if user == "demo" { "app" } else { "postgres" };
    let out = std::process::Command::new("timeout")
        .args([
            "20",
            "psql",
            "-X",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .args(["-U", user, "-d", database, "-c", command])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "psql {command}: {text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_describes_objects_as_it_does_directly_though_object_ids_differ() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let servers = three.pg_servers();
    // Each server numbers its objects differently: b and c used up some ids first.
    for (i, spent) in [(1, 3), (2, 7)] {
        let c = connect(&servers[i].conninfo("postgres")).await;
        for n in 0..spent {
            c.batch_execute(&format!("CREATE TABLE spent{n} (); DROP TABLE spent{n}"))
                .await
                .unwrap();
        }
    }
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let through = common::client(port).await;
    through
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL DEFAULT 'x'); \
             CREATE INDEX t_name ON t (name); \
             CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql AS 'SELECT a + 1'",
        )
        .await
        .unwrap();
    let oids: Vec<u32> = {
        let mut v = Vec::new();
        for s in servers.iter() {
            let c = connect(&s.conninfo("postgres")).await;
            v.push(
                c.query_one("SELECT 't'::regclass::oid", &[])
                    .await
                    .unwrap()
                    .get(0),
            );
        }
        v
    };
    assert!(
        oids[0] != oids[1] && oids[1] != oids[2],
        "ids must differ: {oids:?}"
    );
    // Each describe is several queries; reads go round the backends, so without one
    // backend per session for catalog reads most of these would mix ids.
    for command in [
        "\\d t", "\\dt", "\\df f", "\\dn", "\\l", "\\d t", "\\di", "\\d t",
    ] {
        let through = psql_as(port, "demo", command);
        let direct = psql_as(servers[0].port(), "postgres", command);
        assert_eq!(through, direct, "{command}");
    }
    drop(through);
    stop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_copy_in_and_out_reach_every_backend_and_come_back_intact() {
    use futures_util::{pin_mut, TryStreamExt};
    use tokio_postgres::binary_copy::{BinaryCopyInWriter, BinaryCopyOutStream};
    use tokio_postgres::types::Type;
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let servers = three.pg_servers();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let client = common::client(port).await;
    client
        .batch_execute("CREATE TABLE bin (id int4 PRIMARY KEY, note text)")
        .await
        .unwrap();
    let rows: Vec<(i32, Option<String>)> = (1..=500)
        .map(|i| (i, (i % 7 != 0).then(|| format!("row {i} \u{e9}\t\\"))))
        .collect();
    let sink = client
        .copy_in("COPY bin FROM STDIN (FORMAT BINARY)")
        .await
        .unwrap();
    let writer = BinaryCopyInWriter::new(sink, &[Type::INT4, Type::TEXT]);
    pin_mut!(writer);
    for (id, note) in &rows {
        writer.as_mut().write(&[id, note]).await.unwrap();
    }
    assert_eq!(writer.finish().await.unwrap(), 500, "rows copied in");
    // Every backend holds exactly the rows sent.
    for server in servers {
        let direct = connect(&server.conninfo("postgres")).await;
        let stored: Vec<(i32, Option<String>)> = direct
            .query("SELECT id, note FROM bin ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert_eq!(stored, rows, "backend on port {}", server.port());
    }
    let stream = client
        .copy_out("COPY bin TO STDOUT (FORMAT BINARY)")
        .await
        .unwrap();
    let out = BinaryCopyOutStream::new(stream, &[Type::INT4, Type::TEXT]);
    pin_mut!(out);
    let mut back = Vec::new();
    while let Some(row) = out.try_next().await.unwrap() {
        back.push((row.get::<i32>(0), row.get::<Option<String>>(1)));
    }
    back.sort();
    assert_eq!(back, rows, "rows copied out");
    // The command tag counts tuples, not newlines (the notes hold none).
    let mut raw = logged_in(port);
    let messages = query(&mut raw, "COPY bin TO STDOUT (FORMAT BINARY)");
    let response = messages
        .iter()
        .find(|m| m.0 == b'H')
        .expect("CopyOutResponse");
    assert_eq!(response.1[0], 1, "binary overall format");
    let done = messages
        .iter()
        .find(|m| m.0 == b'C')
        .expect("CommandComplete");
    assert_eq!(done.1, b"COPY 500\0");
    drop((client, raw));
    stop(daemon);
}
