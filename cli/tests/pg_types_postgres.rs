//! Types as PostgreSQL clients see them through mdbd over three PostgreSQL servers,
//! compared with one of the servers directly: the type OIDs of result columns and
//! parameters, and the bytes of values in text and in binary.

mod common;

use common::wire::{logged_in, query, send, until_ready};
use common::{start, stop, Three};
use tokio_postgres::types::{FromSql, Type};

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
    // Values mdbd holds as the server's binary bytes (arrays, intervals) or as numbers
    // (floats) are printed as the server prints them, with their own types.
    let printed = "SELECT ARRAY[1, NULL, 3]::int4[], ARRAY['a', 'b c', '', 'a\"b\\', 'null'], \
        ARRAY[[1, 2], [3, 4]], '[0:1]={5,6}'::int[], '{}'::int[], \
        interval '1 year 2 mons -3 days 04:05:06.5', interval '-1 day +2 hours', \
        1e20::float8, 0.1::float4, 1e-5::float8, 123456.789::float8, '-0'::float8, \
        timestamp '2024-02-29 12:34:56.789', timestamp '2024-01-01 00:00:00', \
        timestamptz '2024-02-29 12:34:56+05', ARRAY[1.50, NULL], ARRAY['\\x00ff'::bytea], \
        ARRAY[true, false], ARRAY[interval '1 day'], ARRAY[timestamp '2024-01-01 10:00'], \
        ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid], ARRAY['{\"a\": 1}'::jsonb], \
        ARRAY[1e20::float8, 0.1], ARRAY[0.1::float4], ARRAY[date '2024-02-29']";
    for socket in [&mut through, &mut direct] {
        query(socket, "SET TimeZone = 'UTC'");
    }
    let (got_oids, got_values) = described(&query(&mut through, printed));
    let (want_oids, want_values) = described(&query(&mut direct, printed));
    assert_eq!(got_oids.len(), 25, "{got_oids:?}");
    for (i, (got, want)) in got_values.iter().zip(&want_values).enumerate() {
        assert_eq!((got_oids[i], got), (want_oids[i], want), "column {}", i + 1);
    }
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
async fn binary_parameters_of_every_common_type_are_described_and_taken_as_the_server_does() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let servers = three.pg_servers();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let sql = "SELECT $1::numeric::text, $2::uuid::text, $3::jsonb::text, $4::numeric::text, \
               $5::int4[]::text, $6::interval::text, $7::text[]::text";
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
    // int4[] {1,NULL}, interval 1 mon -2 days 00:00:01.5, text[] {"a b",""}.
    let mut ints = Vec::new();
    for w in [1i32, 1, 23, 2, 1, 4, 1, -1] {
        ints.extend_from_slice(&w.to_be_bytes());
    }
    let mut interval = 1_500_000i64.to_be_bytes().to_vec();
    interval.extend_from_slice(&(-2i32).to_be_bytes());
    interval.extend_from_slice(&1i32.to_be_bytes());
    let mut texts = Vec::new();
    for w in [1i32, 0, 25, 2, 1, 3] {
        texts.extend_from_slice(&w.to_be_bytes());
    }
    texts.extend_from_slice(b"a b");
    texts.extend_from_slice(&0i32.to_be_bytes());
    let params: [&[u8]; 7] = [
        &n1,
        &uuid,
        b"\x01{\"k\": [1, 2]}",
        &n2,
        &ints,
        &interval,
        &texts,
    ];
    let mut through = logged_in(port);
    let got = binary_parameters(&mut through, sql, &params);
    let mut direct = std::net::TcpStream::connect(("127.0.0.1", servers[0].port())).unwrap();
    common::wire::startup_to(&mut direct, "postgres", "postgres");
    until_ready(&mut direct);
    let want = binary_parameters(&mut direct, sql, &params);
    assert_eq!(
        got.0,
        vec![1700, 2950, 3802, 1700, 1007, 1186, 1009],
        "numeric, uuid, jsonb, numeric, int4[], interval, text[]"
    );
    assert_eq!(got, want);
    assert_eq!(got.1[0].as_deref(), Some("12345.678"));
    assert_eq!(got.1[3].as_deref(), Some("-0.0005"));
    assert_eq!(got.1[4].as_deref(), Some("{1,NULL}"));
    assert_eq!(got.1[5].as_deref(), Some("1 mon -2 days +00:00:01.5"));
    drop((through, direct));
    stop(daemon);
}

/// A value as the server sent it in binary, whatever its type.
#[derive(Debug, PartialEq)]
struct Raw(Option<Vec<u8>>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw.to_vec())))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Column types (OIDs) and every row's binary values of `query`, as tokio-postgres
/// reads them: statement Describe first, then results in binary.
async fn binary_rows(client: &tokio_postgres::Client, query: &str) -> (Vec<u32>, Vec<Vec<Raw>>) {
    let statement = client.prepare(query).await.unwrap();
    let oids = statement
        .columns()
        .iter()
        .map(|c| c.type_().oid())
        .collect();
    let rows = client
        .query(&statement, &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (0..row.len()).map(|i| row.get::<_, Raw>(i)).collect())
        .collect();
    (oids, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_results_carry_the_servers_own_types_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let servers = three.pg_servers();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let through = common::client(port).await;
    through
        .batch_execute(
            "CREATE TABLE typed (i2 int2, i4 int4, i8 int8, n numeric(14,4), f float8, b bool, \
             d date, ts timestamp, tz timestamptz, u uuid, j json, jb jsonb, o oid, \
             ai int4[], at text[], iv interval, t text, by bytea); \
             INSERT INTO typed VALUES \
             (1, 2, 3, 1234.5, 0.25, true, '2024-02-29', '2024-02-29 12:34:56.789', \
              '2024-02-29 12:34:56.789+05', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', \
              '{\"k\": [1, 2]}', '{\"k\": [1, 2]}', 16576, '{1,NULL,3}', '{a,\"b c\"}', \
              '1 day 02:03:04', 'x', '\\x00ff'), \
             (-32768, -2147483648, -9223372036854775808, -0.0001, -1e300, false, \
              '4713-01-01 BC', 'infinity', '-infinity', '00000000-0000-0000-0000-000000000000', \
              '[]', 'null', 0, '{}', '{}', '-1 mon', '', ''), \
             (0, 0, 0, 'NaN', 'NaN', NULL, '5874897-12-31', '0001-01-01 00:00:00 BC', \
              '1999-12-31 23:59:59.999999+00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), \
             (NULL, NULL, NULL, 99999999.9999, 'Infinity', NULL, 'infinity', NULL, NULL, \
              NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        )
        .await
        .unwrap();
    let query = "SELECT *, n * 2 AS expr, ARRAY[d] AS dates FROM typed ORDER BY i8 NULLS LAST";
    let (got_oids, got_rows) = binary_rows(&through, query).await;
    let direct =
        tokio_postgres::connect(&servers[0].conninfo("postgres"), tokio_postgres::NoTls).await;
    let direct = match direct {
        Ok((client, conn)) => {
            tokio::spawn(conn);
            client
        }
        Err(e) => panic!("direct connection: {e}"),
    };
    let (want_oids, want_rows) = binary_rows(&direct, query).await;
    assert_eq!(got_oids.len(), 20, "{got_oids:?}");
    assert_eq!(got_oids, want_oids, "column types");
    assert_eq!(got_rows.len(), 4);
    for (i, (got, want)) in got_rows.iter().zip(&want_rows).enumerate() {
        for (c, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g, w, "row {i}, column {c} (oid {})", want_oids[c]);
        }
    }
    drop((through, direct));
    stop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_reads_native_rust_types_in_binary_through_mdbd() {
    use chrono::{DateTime, NaiveDate, Utc};
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let client = common::client(port).await;
    client
        .batch_execute(
            "CREATE TABLE native (i2 int2, i4 int4, i8 int8, n numeric(14,4), d date, \
             tz timestamptz, u uuid, jb jsonb, ai int4[], at text[]); \
             INSERT INTO native VALUES (-7, 2147483647, -9223372036854775808, 1234.5678, \
             '2024-02-29', '2024-02-29 12:34:56.789+05', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', \
             '{\"k\": [1, 2]}', '{1,NULL,3}', '{a,\"b c\"}')",
        )
        .await
        .unwrap();
    // `query` prepares the statement and asks for every result column in binary.
    let rows = client
        .query(
            "SELECT i2, i4, i8, n, d, tz, u, jb, ai, at FROM native",
            &[],
        )
        .await
        .unwrap();
    let row = &rows[0];
    let types: Vec<&str> = row.columns().iter().map(|c| c.type_().name()).collect();
    assert_eq!(
        types,
        [
            "int2",
            "int4",
            "int8",
            "numeric",
            "date",
            "timestamptz",
            "uuid",
            "jsonb",
            "_int4",
            "_text"
        ]
    );
    assert_eq!(row.get::<_, i16>(0), -7);
    assert_eq!(row.get::<_, i32>(1), i32::MAX);
    assert_eq!(row.get::<_, i64>(2), i64::MIN);
    assert_eq!(
        row.get::<_, rust_decimal::Decimal>(3),
        "1234.5678".parse::<rust_decimal::Decimal>().unwrap()
    );
    assert_eq!(
        row.get::<_, NaiveDate>(4),
        NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
    );
    let tz: DateTime<Utc> = row.get(5);
    assert_eq!(tz.to_rfc3339(), "2024-02-29T07:34:56.789+00:00");
    assert_eq!(
        row.get::<_, uuid::Uuid>(6).to_string(),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    assert_eq!(
        row.get::<_, serde_json::Value>(7),
        serde_json::json!({"k": [1, 2]})
    );
    assert_eq!(row.get::<_, Vec<Option<i32>>>(8), [Some(1), None, Some(3)]);
    assert_eq!(row.get::<_, Vec<String>>(9), ["a", "b c"]);
    drop(client);
    stop(daemon);
}
