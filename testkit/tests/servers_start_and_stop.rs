//! The test kit starts real servers on free ports, they answer, and dropping them stops
//! them (the port is free again).

use mdbd_testkit::{MariaDb, PgServer};
use std::net::TcpStream;

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn two_postgres_servers_start_answer_and_stop() {
    let a = PgServer::start().unwrap();
    let b = PgServer::start().unwrap();
    assert_ne!(a.port(), b.port());
    assert!(![5432, 3306].contains(&a.port()));
    assert_eq!(a.psql("postgres", "SELECT 40 + 2").unwrap(), "42");
    assert_eq!(b.psql("postgres", "SHOW fsync").unwrap(), "off");
    let port = a.port();
    drop(a);
    assert!(!listening(port), "PostgreSQL still listening after drop");
}

#[test]
fn a_mariadb_server_starts_answers_and_stops() {
    let m = MariaDb::start().unwrap();
    assert!(![5432, 3306].contains(&m.port()));
    assert_eq!(m.client(Some("app"), "SELECT DATABASE()").unwrap(), "app");
    let port = m.port();
    drop(m);
    assert!(!listening(port), "MariaDB still listening after drop");
}
