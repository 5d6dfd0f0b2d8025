//! MySQL clients on SQLite and PostgreSQL clusters: the SQL goes through as sent, `?`
//! placeholders become `$n` for PostgreSQL, result types are mapped, errors keep the
//! backend's SQLSTATE.

mod common;

use common::mysql;
use common::{stop, Three};
use mysql_async::prelude::Queryable;

async fn exercise(three: &Three, dir: &std::path::Path, database: &str) {
    let (pg, my, admin) = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    let cfg = mysql::config(three, dir, (pg, my, admin), &["a", "b", "c"]);
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "protocol = \"mysql\"\n",
        &format!("protocol = \"mysql\"\ndatabase = \"{database}\"\n"),
    );
    std::fs::write(&cfg, text).unwrap();
    let daemon = common::start(&cfg, my);
    let opts = mysql_async::OptsBuilder::from_opts(mysql::opts(my)).db_name(Some(database));
    let mut c = mysql_async::Conn::new(opts).await.unwrap();
    c.query_drop("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL)")
        .await
        .unwrap();
    c.exec_drop("INSERT INTO t VALUES (?, ?, ?)", (1, "one", 1.5))
        .await
        .unwrap();
    c.exec_drop(
        "INSERT INTO t VALUES (?, ?, ?)",
        (2, "two", mysql_async::Value::NULL),
    )
    .await
    .unwrap();
    let rows: Vec<(i64, String, Option<f64>)> = c
        .exec(
            "SELECT id, name, score FROM t WHERE id >= ? ORDER BY id",
            (1,),
        )
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![(1, "one".into(), Some(1.5)), (2, "two".into(), None)]
    );
    let text: Vec<(i64, String)> = c.query("SELECT id, name FROM t ORDER BY id").await.unwrap();
    assert_eq!(text.len(), 2);
    let e = c
        .query_drop("INSERT INTO t VALUES (1, 'dup', 0)")
        .await
        .unwrap_err();
    match e {
        mysql_async::Error::Server(s) => {
            assert_eq!(s.code, 1105, "{s:?}");
            assert!(s.state.starts_with("23"), "{s:?}");
        }
        other => panic!("{other}"),
    }
    // Bytes that are not UTF-8 (a binary literal): these engines take only UTF-8, so
    // the client gets PostgreSQL's own error for them; nothing is stored or detached.
    let e = c
        .query_drop(&b"INSERT INTO t VALUES (3, '\x00\x01\xff', 0)"[..])
        .await
        .unwrap_err();
    match e {
        mysql_async::Error::Server(s) => {
            assert_eq!(s.state, "22021", "{s:?}");
            assert!(s.message.contains("0xff"), "{s:?}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(common::states(admin), vec!["active"; 3]);
    let n: Option<i64> = c.query_first("SELECT count(*) FROM t").await.unwrap();
    assert_eq!(n, Some(2));
    c.disconnect().await.unwrap();
    stop(daemon);
    three.identical(&[0, 1, 2]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_clients_on_a_sqlite_cluster() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&Three::sqlite(dir.path()), dir.path(), "main").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_clients_on_a_postgres_cluster() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&Three::postgres(), dir.path(), "postgres").await;
}
