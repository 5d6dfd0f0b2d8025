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

/// The type OIDs of a RowDescription body, and the text of each field of the first row.
fn described(messages: &[common::wire::Message]) -> (Vec<u32>, Vec<Option<String>>) {
    let mut oids = Vec::new();
    if let Some((_, body)) = messages.iter().find(|m| m.0 == b'T') {
        let count = u16::from_be_bytes([body[0], body[1]]);
        let mut at = 2;
        for _ in 0..count {
            at += body[at..].iter().position(|b| *b == 0).unwrap() + 1 + 6;
            oids.push(u32::from_be_bytes(body[at..at + 4].try_into().unwrap()));
            at += 4 + 2 + 4 + 2;
        }
    }
    let mut values = Vec::new();
    if let Some((_, body)) = messages.iter().find(|m| m.0 == b'D') {
        let mut at = 2;
        for _ in 0..u16::from_be_bytes([body[0], body[1]]) {
            let len = i32::from_be_bytes(body[at..at + 4].try_into().unwrap());
            at += 4;
            if len < 0 {
                values.push(None);
                continue;
            }
            let len = len as usize;
            values.push(Some(
                String::from_utf8_lossy(&body[at..at + len]).into_owned(),
            ));
            at += len;
        }
    }
    (oids, values)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_query_columns_carry_the_servers_own_types() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let servers = three.pg_servers();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let setup = common::client(port).await;
    setup
        .batch_execute(
            "CREATE TABLE typed (i2 int2, i4 int4, i8 int8, n numeric(12,2), f float8, \
             b bool, d date, u uuid, j jsonb, t text, v varchar(9)); \
             INSERT INTO typed VALUES (1, 2, 3, 1234.50, 0.25, true, '2024-02-29', \
             'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"k\": [1, 2]}', 'x', 'y')",
        )
        .await
        .unwrap();
    let sql = "SELECT i2, i4, i8, n, f, b, d, u, j, t, v, 7 AS lit, i4 + 1 AS expr FROM typed";
    let mut through = logged_in(port);
    let (got_oids, got_values) = described(&query(&mut through, sql));
    // The same query on one server directly, on the raw wire as well.
    let mut direct = std::net::TcpStream::connect(("127.0.0.1", servers[0].port())).unwrap();
    common::wire::startup_to(&mut direct, "postgres", "postgres");
    until_ready(&mut direct);
    let (want_oids, want_values) = described(&query(&mut direct, sql));
    assert_eq!(got_oids.len(), 13, "{got_oids:?}");
    assert_eq!(got_oids, want_oids, "column types");
    assert_eq!(got_values, want_values, "column text");
    // A cursor made with SQL DECLARE is described at the protocol level, as psycopg 3's
    // named cursors do before they FETCH.
    query(
        &mut through,
        "BEGIN; DECLARE cur CURSOR FOR SELECT i4, t FROM typed",
    );
    send(&mut through, b'D', b"Pcur\0");
    send(&mut through, b'S', b"");
    let described_cursor = until_ready(&mut through);
    let kinds: Vec<u8> = described_cursor.iter().map(|m| m.0).collect();
    assert_eq!(kinds, vec![b'T', b'Z'], "{described_cursor:?}");
    assert_eq!(described(&described_cursor).0, vec![23, 25], "int4, text");
    let fetched = query(&mut through, "FETCH 1 FROM cur");
    assert_eq!(
        described(&fetched).1,
        vec![Some("2".into()), Some("x".into())]
    );
    query(&mut through, "COMMIT");
    drop((setup, through, direct));
    stop(daemon);
}

/// Parse (no declared types), Describe and Bind with every parameter in binary; the
/// ParameterDescription's type OIDs and the row's text.
fn binary_parameters(
    socket: &mut std::net::TcpStream,
    sql: &str,
    params: &[&[u8]],
) -> (Vec<u32>, Vec<Option<String>>) {
    let mut parse = b"\0".to_vec();
    parse.extend_from_slice(sql.as_bytes());
    parse.extend_from_slice(b"\0\0\0");
    send(socket, b'P', &parse);
    send(socket, b'D', b"S\0");
    let mut bind = b"\0\0".to_vec();
    bind.extend_from_slice(&1i16.to_be_bytes());
    bind.extend_from_slice(&1i16.to_be_bytes());
    bind.extend_from_slice(&(params.len() as i16).to_be_bytes());
    for p in params {
        bind.extend_from_slice(&(p.len() as i32).to_be_bytes());
        bind.extend_from_slice(p);
    }
    bind.extend_from_slice(&0i16.to_be_bytes());
    send(socket, b'B', &bind);
    send(socket, b'E', b"\0\0\0\0\0");
    send(socket, b'S', b"");
    let messages = until_ready(socket);
    let (_, body) = messages
        .iter()
        .find(|m| m.0 == b't')
        .unwrap_or_else(|| panic!("no ParameterDescription: {messages:?}"));
    let count = u16::from_be_bytes([body[0], body[1]]) as usize;
    let oids = (0..count)
        .map(|i| u32::from_be_bytes(body[2 + 4 * i..6 + 4 * i].try_into().unwrap()))
        .collect();
    assert!(messages.iter().all(|m| m.0 != b'E'), "{messages:?}");
    (oids, described(&messages).1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_numeric_uuid_and_jsonb_parameters_are_described_and_taken_as_the_server_does() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let servers = three.pg_servers();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let sql = "SELECT $1::numeric::text, $2::uuid::text, $3::jsonb::text, $4::numeric::text";
    // 12345.678 and -0.0005 in numeric's binary form, a uuid, jsonb version 1.
    let mut n1 = Vec::new();
    for w in [3i16, 1, 0, 3, 1, 2345, 6780] {
        n1.extend_from_slice(&w.to_be_bytes());
    }
    let mut n2 = Vec::new();
    for w in [1i16, -1, 0x4000, 4, 5] {
        n2.extend_from_slice(&w.to_be_bytes());
    }
    let uuid: [u8; 16] = [
        0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a,
        0x11,
    ];
    let params: [&[u8]; 4] = [&n1, &uuid, b"\x01{\"k\": [1, 2]}", &n2];
    let mut through = logged_in(port);
    let got = binary_parameters(&mut through, sql, &params);
    let mut direct = std::net::TcpStream::connect(("127.0.0.1", servers[0].port())).unwrap();
    common::wire::startup_to(&mut direct, "postgres", "postgres");
    until_ready(&mut direct);
    let want = binary_parameters(&mut direct, sql, &params);
    assert_eq!(
        got.0,
        vec![1700, 2950, 3802, 1700],
        "numeric, uuid, jsonb, numeric"
    );
    assert_eq!(got, want);
    assert_eq!(got.1[0].as_deref(), Some("12345.678"));
    assert_eq!(got.1[3].as_deref(), Some("-0.0005"));
    drop((through, direct));
    stop(daemon);
}
