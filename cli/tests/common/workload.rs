//! Client workloads shared by the SQLite and PostgreSQL daemon tests. The SQL is the same
//! for both engines (SQLite accepts PostgreSQL's type names); SQLite cannot infer
//! parameter types, so statements with binary parameters of non-text types declare them.

use super::{client, psql};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_postgres::types::Type;
use tokio_postgres::{GenericClient, Statement};

/// A value of any type as PostgreSQL would print it: text as it is, numeric, dates and
/// timestamps (which mdbd announces with their own types on PostgreSQL clusters, and
/// tokio-postgres reads only with optional features) through the one decoder of their
/// binary forms.
struct Printed(String);

impl<'a> tokio_postgres::types::FromSql<'a> for Printed {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        use mdbd_engine::log::Value;
        Ok(Printed(
            match mdbd_backends::postgres::binary_value(ty, raw)? {
                Value::Text(t) => t,
                Value::Int(i) => i.to_string(),
                other => return Err(format!("not printable: {other:?}").into()),
            },
        ))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// An aggregate's value: PostgreSQL announces `count` as int8 and `sum` as numeric,
/// SQLite announces expressions as text.
fn number(row: &tokio_postgres::Row) -> i64 {
    row.try_get::<_, i64>(0)
        .or_else(|_| row.get::<_, Printed>(0).0.parse::<i64>())
        .unwrap()
}

/// Inserts a row of `kinds` with only id, name and time set.
async fn insert_plain(
    c: &impl GenericClient,
    insert: &Statement,
    id: i32,
    name: &str,
    at: SystemTime,
) -> Result<u64, tokio_postgres::Error> {
    let (no_int, no_text): (Option<i64>, Option<&str>) = (None, None);
    c.execute(
        insert,
        &[
            &id,
            &no_int,
            &0f64,
            &name,
            &true,
            &Vec::<u8>::new(),
            &no_text,
            &at,
            &no_text,
        ],
    )
    .await
}

/// The extended protocol with parameters of several types, named statements, commit and
/// rollback, errors with their SQLSTATE, and a session that stays usable.
pub async fn extended_protocol(port: u16) {
    let c = client(port).await;
    c.batch_execute(
        "CREATE TABLE kinds (id int4 PRIMARY KEY, big int8, f float8, name text, ok bool, \
         data bytea, amount numeric(10,2), at timestamptz, note text)",
    )
    .await
    .unwrap();
    let insert = c
        .prepare_typed(
            "INSERT INTO kinds VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                Type::INT4,
                Type::INT8,
                Type::FLOAT8,
                Type::TEXT,
                Type::BOOL,
                Type::BYTEA,
                Type::TEXT,
                Type::TIMESTAMPTZ,
                Type::TEXT,
            ],
        )
        .await
        .unwrap();
    let at = UNIX_EPOCH + Duration::from_secs(1_795_515_630); // 2026-11-24 10:20:30 UTC
    let n = c
        .execute(
            &insert,
            &[
                &1i32,
                &9_000_000_000i64,
                &1.25f64,
                &"héllo",
                &true,
                &vec![0u8, 1, 255],
                &"12.50",
                &at,
                &"first",
            ],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let none_i64: Option<i64> = None;
    let none_text: Option<&str> = None;
    c.execute(
        &insert,
        &[
            &2i32,
            &none_i64,
            &-0.5f64,
            &"zwei",
            &false,
            &Vec::<u8>::new(),
            &none_text,
            &at,
            &none_text,
        ],
    )
    .await
    .unwrap();

    let rows = c
        .query(
            "SELECT id, big, f, name, ok, data, amount, at, note FROM kinds ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get::<_, i32>(0), 1);
    assert_eq!(rows[0].get::<_, i64>(1), 9_000_000_000);
    assert_eq!(rows[0].get::<_, f64>(2), 1.25);
    assert_eq!(rows[0].get::<_, String>(3), "héllo");
    assert!(rows[0].get::<_, bool>(4));
    assert_eq!(rows[0].get::<_, Vec<u8>>(5), vec![0u8, 1, 255]);
    assert!(rows[0].get::<_, Printed>(6).0.starts_with("12.5"));
    let stored_at = rows[0].get::<_, Printed>(7).0;
    assert!(stored_at.contains("2026-11-24"), "{stored_at}");
    assert_eq!(rows[1].get::<_, Option<i64>>(1), None);
    assert_eq!(rows[1].get::<_, Option<String>>(8), None);

    // A named statement, used twice; a text parameter whose type the backend infers.
    let by_id = c
        .prepare_typed("SELECT name FROM kinds WHERE id = $1", &[Type::INT4])
        .await
        .unwrap();
    assert_eq!(
        c.query_one(&by_id, &[&1i32])
            .await
            .unwrap()
            .get::<_, String>(0),
        "héllo"
    );
    assert_eq!(
        c.query_one(&by_id, &[&2i32])
            .await
            .unwrap()
            .get::<_, String>(0),
        "zwei"
    );
    let by_name = c
        .query("SELECT id FROM kinds WHERE name = $1", &[&"zwei"])
        .await
        .unwrap();
    assert_eq!(by_name.len(), 1);

    // Transactions: rolled back leaves nothing, committed stays.
    let mut c = c;
    let tx = c.transaction().await.unwrap();
    insert_plain(&tx, &insert, 3, "drei", at).await.unwrap();
    tx.rollback().await.unwrap();
    let tx = c.transaction().await.unwrap();
    insert_plain(&tx, &insert, 4, "vier", at).await.unwrap();
    tx.commit().await.unwrap();

    // Errors arrive with their SQLSTATE; the session stays usable.
    let dup = insert_plain(&c, &insert, 1, "dup", at).await.unwrap_err();
    assert_eq!(dup.code().map(|s| s.code()), Some("23505"), "{dup}");
    let syntax = c.prepare("SELEC 1").await.unwrap_err();
    assert_eq!(syntax.code().map(|s| s.code()), Some("42601"), "{syntax}");
    c.batch_execute("INSERT INTO kinds (id, name) VALUES (5, 'fünf'); INSERT INTO kinds (id, name) VALUES (6, 'sechs')")
        .await
        .unwrap();
    let ids: Vec<i32> = c
        .query("SELECT id FROM kinds ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, vec![1, 2, 4, 5, 6]);
    // psql sees the same rows.
    assert_eq!(psql(port, "SELECT count(*) FROM kinds"), (true, "5".into()));
}

/// `clients` connections doing mixed reads and writes (parameters, contended updates,
/// rolled-back transactions) for `rounds` rounds each; every statement must succeed.
pub async fn mixed_load(port: u16, clients: i32, rounds: i32) {
    let setup = client(port).await;
    setup
        .batch_execute(
            "CREATE TABLE counters (id int4 PRIMARY KEY, n int8 NOT NULL); \
             INSERT INTO counters VALUES (0, 0), (1, 0), (2, 0), (3, 0); \
             CREATE TABLE events (client int4, seq int4, note text, PRIMARY KEY (client, seq))",
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for id in 0..clients {
        tasks.push(tokio::spawn(async move {
            let mut c = client(port).await;
            let insert = c
                .prepare_typed(
                    "INSERT INTO events VALUES ($1, $2, $3)",
                    &[Type::INT4, Type::INT4, Type::TEXT],
                )
                .await
                .unwrap();
            let update = c
                .prepare_typed("UPDATE counters SET n = n + 1 WHERE id = $1", &[Type::INT4])
                .await
                .unwrap();
            let count = c
                .prepare_typed(
                    "SELECT count(*) FROM events WHERE client = $1",
                    &[Type::INT4],
                )
                .await
                .unwrap();
            for seq in 0..rounds {
                c.execute(&insert, &[&id, &seq, &format!("c{id} s{seq}")])
                    .await
                    .unwrap();
                c.execute(&update, &[&(seq % 4)]).await.unwrap();
                let seen = number(&c.query_one(&count, &[&id]).await.unwrap());
                assert_eq!(seen, i64::from(seq) + 1, "client {id} lost its own write");
                if seq % 5 == 0 {
                    let tx = c.transaction().await.unwrap();
                    tx.execute(&insert, &[&id, &(-seq - 1), &"never"])
                        .await
                        .unwrap();
                    tx.execute("UPDATE counters SET n = n + 1000 WHERE id = 0", &[])
                        .await
                        .unwrap();
                    tx.rollback().await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = number(
        &setup
            .query_one("SELECT sum(n) FROM counters", &[])
            .await
            .unwrap(),
    );
    assert_eq!(total, i64::from(clients * rounds));
    let events = number(
        &setup
            .query_one("SELECT count(*) FROM events", &[])
            .await
            .unwrap(),
    );
    assert_eq!(events, i64::from(clients * rounds));
}

/// `writers` connections inserting (writer, seq) rows until `stop` or their first error;
/// returns, per writer, how many inserts were acknowledged and whether one failed.
pub async fn writers(port: u16, writers: i32, stop: Instant) -> Vec<(i64, bool)> {
    assert!(
        psql(
            port,
            "CREATE TABLE acked (writer int4, seq int4, PRIMARY KEY (writer, seq))"
        )
        .0
    );
    let mut tasks = Vec::new();
    for w in 0..writers {
        tasks.push(tokio::spawn(async move {
            let Ok((c, conn)) = tokio_postgres::connect(
                &format!("host=127.0.0.1 port={port} user=demo dbname=app"),
                tokio_postgres::NoTls,
            )
            .await
            else {
                return (0, true);
            };
            tokio::spawn(conn);
            let mut acked = 0;
            while Instant::now() < stop {
                match c
                    .simple_query(&format!("INSERT INTO acked VALUES ({w}, {acked})"))
                    .await
                {
                    Ok(_) => acked += 1,
                    Err(_) => return (acked, true),
                }
            }
            (acked, false)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Asserts every acknowledged insert of [`writers`] is there, through the daemon.
pub fn all_acknowledged_present(port: u16, acked: &[(i64, bool)]) {
    for (w, (n, _)) in acked.iter().enumerate() {
        let (_, text) = psql(
            port,
            &format!("SELECT count(*) FROM acked WHERE writer = {w} AND seq < {n}"),
        );
        assert_eq!(
            text,
            n.to_string(),
            "writer {w}: acknowledged writes missing"
        );
    }
}

/// `mdbd run` on `three`, SIGKILLed `after` into a load of `n` writers, restarted: every
/// acknowledged insert is there, and every backend holds the same content.
pub async fn kill_daemon_mid_load(
    three: &super::Three,
    dir: &std::path::Path,
    n: i32,
    after: Duration,
) {
    let port = super::free_port();
    let cfg = three.config(dir, port);
    let mut daemon = super::start(&cfg, port);
    let load = tokio::spawn(writers(port, n, Instant::now() + Duration::from_secs(30)));
    tokio::time::sleep(after).await;
    daemon.kill().unwrap(); // SIGKILL
    daemon.wait().unwrap();
    let acked = load.await.unwrap();
    assert!(
        acked.iter().map(|(n, _)| n).sum::<i64>() > 0,
        "nothing was acknowledged"
    );
    let daemon = super::start(&cfg, port);
    all_acknowledged_present(port, &acked);
    super::stop(daemon);
    three.identical(&[0, 1, 2]).await;
}
