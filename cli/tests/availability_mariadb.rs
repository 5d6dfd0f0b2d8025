//! Availability through the MySQL listener over three throwaway MariaDB servers (issue
//! #15): what a client sends is that client's error, and detaches nothing.

mod common;

use common::{mysql, Three};
use mysql_async::prelude::Queryable;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn code(e: &mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        other => panic!("not a server error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_and_bad_local_infile_are_the_clients_errors() {
    let three = Three::mariadb();
    let dir = tempfile::tempdir().unwrap();
    let d = mysql::daemon(&three, dir.path(), &common::NAMES);
    let mut c = mysql::connect(d.my).await;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY)")
        .await
        .unwrap();
    // A fresh session whose first statement is an invalid setting.
    let mut fresh = mysql::connect(d.my).await;
    let e = fresh
        .query_drop("SET sql_mode = 'NO_SUCH_MODE'")
        .await
        .unwrap_err();
    assert_eq!(code(&e), 1231, "{e}");
    fresh.query_drop("INSERT INTO t VALUES (1)").await.unwrap();
    // LOAD DATA LOCAL is a write: the client's file reaches every backend. Into a table
    // that does not exist, every backend refuses it alike: the client's error.
    async fn file(text: &'static str) -> mysql_async::Result<mysql_async::InfileData> {
        let data: mysql_async::InfileData = Box::pin(futures_util::stream::once(async move {
            Ok(bytes::Bytes::from_static(text.as_bytes()))
        }));
        Ok(data)
    }
    fresh.set_infile_handler(file("3\n4\n"));
    fresh
        .query_drop("LOAD DATA LOCAL INFILE 'ids.txt' INTO TABLE t")
        .await
        .unwrap();
    assert_eq!(fresh.affected_rows(), 2);
    fresh.set_infile_handler(file("5\n"));
    let e = fresh
        .query_drop("LOAD DATA LOCAL INFILE 'ids.txt' INTO TABLE no_such_table")
        .await
        .unwrap_err();
    assert_eq!(code(&e), 1146, "{e}");
    fresh.query_drop("INSERT INTO t VALUES (2)").await.unwrap();
    for _ in 0..6 {
        let n: Option<i64> = fresh.query_first("SELECT count(*) FROM t").await.unwrap();
        assert_eq!(n, Some(4));
    }
    assert_eq!(common::states(d.admin), ["active", "active", "active"]);
    common::stop(d.child);
    three.identical(&[0, 1, 2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_mysql_transaction_is_ended_and_the_next_writer_goes_on() {
    let three = Three::mariadb();
    let dir = tempfile::tempdir().unwrap();
    let cfg = mysql::config(
        &three,
        dir.path(),
        (
            common::free_port(),
            common::free_port(),
            common::free_port(),
        ),
        &common::NAMES,
    );
    let text = std::fs::read_to_string(&cfg).unwrap().replacen(
        "[server]\n",
        "[server]\nidle_in_transaction_timeout = \"2s\"\n",
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap();
    let port_of = |proto: &str| -> u16 {
        let at = text.find(&format!("protocol = \"{proto}\"")).unwrap();
        let line = text[at..].lines().nth(1).unwrap();
        line.rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches('"')
            .parse()
            .unwrap()
    };
    let (my, pg) = (port_of("mysql"), port_of("postgres"));
    let admin_port: u16 = text
        .lines()
        .find(|l| l.starts_with("admin_listen"))
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('"')
        .parse()
        .unwrap();
    let daemon = common::start(&cfg, pg);
    let mut holder = mysql::connect(my).await;
    holder
        .query_drop("CREATE TABLE i (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    holder
        .query_drop("INSERT INTO i VALUES (1, 0)")
        .await
        .unwrap();
    holder.query_drop("START TRANSACTION").await.unwrap();
    holder
        .query_drop("UPDATE i SET v = v + 1 WHERE id = 1")
        .await
        .unwrap();
    // The same row: it waits for the holder in either ordering mode (the write turn in
    // `serial`, the row's lock in `keyed`) until the holder's transaction is ended.
    let mut other = mysql::connect(my).await;
    let t = Instant::now();
    other
        .query_drop("UPDATE i SET v = v + 10 WHERE id = 1")
        .await
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "waited {:?}",
        t.elapsed()
    );
    assert!(
        holder.query_drop("COMMIT").await.is_err(),
        "the holder's transaction was ended"
    );
    let v: Option<i32> = other
        .query_first("SELECT v FROM i WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(v, Some(10), "the holder's +1 was rolled back");
    assert_eq!(common::states(admin_port), ["active", "active", "active"]);
    common::stop(daemon);
    three.identical(&[0, 1, 2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_announcing_16_mib_costs_only_the_bytes_sent() {
    let three = Three::mariadb();
    let dir = tempfile::tempdir().unwrap();
    let d = mysql::daemon(&three, dir.path(), &common::NAMES);
    let before = common::rss(d.child.id());
    let mut sockets = Vec::new();
    for _ in 0..50 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", d.my)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // Read the greeting, then announce a 16 MiB handshake response and send 5 bytes.
        let mut greeting = [0u8; 512];
        let _ = s.read(&mut greeting).unwrap();
        s.write_all(&[0xff, 0xff, 0xff, 1, 1, 2, 3, 4, 5]).unwrap();
        sockets.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let grown = common::rss(d.child.id()).saturating_sub(before);
    assert!(grown < 50 << 20, "RSS grew by {grown} bytes");
    for mut s in sockets {
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    // Still serving.
    let mut c = mysql::connect(d.my).await;
    c.query_drop("SELECT 1").await.unwrap();
    common::stop(d.child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_through_the_front_end_stops_the_write_on_every_backend() {
    let three = Three::mariadb();
    let dir = tempfile::tempdir().unwrap();
    let d = mysql::daemon(&three, dir.path(), &common::NAMES);
    let mut a = mysql::connect(d.my).await;
    a.query_drop("CREATE TABLE k (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    a.query_drop("INSERT INTO k VALUES (1, 0)").await.unwrap();
    let id = a.id();
    let my = d.my;
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let mut b = mysql::connect(my).await;
        b.query_drop(format!("KILL QUERY {id}")).await.unwrap();
        let e = b.query_drop("KILL QUERY 999999").await.unwrap_err();
        assert_eq!(code(&e), 1094, "{e}");
    });
    let t = Instant::now();
    let e = a
        .query_drop("UPDATE k SET v = v + 1 WHERE SLEEP(30) = 0")
        .await
        .unwrap_err();
    killer.await.unwrap();
    assert_eq!(code(&e), 1317, "{e}");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "ran {:?}",
        t.elapsed()
    );
    a.query_drop("UPDATE k SET v = 5").await.unwrap();
    assert_eq!(common::states(d.admin), ["active", "active", "active"]);
    common::stop(d.child);
    three.identical(&[0, 1, 2]).await;
}
