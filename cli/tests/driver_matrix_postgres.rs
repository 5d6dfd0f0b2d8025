//! The driver matrix over PostgreSQL (#16): psycopg 3, psycopg2, asyncpg, SQLAlchemy 2,
//! node-postgres (pg-cursor, pg-copy-streams) and pgjdbc, each run through every cell of
//! `drivers/` against one server directly and against mdbd over three servers. Every cell
//! that works directly must work through mdbd, except the known gaps listed here with
//! their reason; a known gap that starts to work fails the test until it is struck off.

mod common;

use common::drivers::{self, Known, Target};
use common::{start, stop, Three};

/// Cells known to fail through mdbd, and why (see docs/clients.md).
const KNOWN: &[Known] = &[];

#[test]
fn every_cell_that_works_directly_works_through_mdbd() {
    let drivers = drivers::postgres_drivers();
    if drivers.is_empty() {
        eprintln!("SKIPPED: no driver could be installed (reasons above)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let three = Three::postgres();
    let servers = three.pg_servers();
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let direct = Target {
        port: servers[0].port(),
        user: "postgres".into(),
        password: "unused".into(),
        dbname: "postgres".into(),
        dialect: "postgres",
    };
    let through = Target {
        port,
        user: "demo".into(),
        password: "unused".into(),
        dbname: "app".into(),
        dialect: "postgres",
    };
    let mut want = Vec::new();
    let mut got = Vec::new();
    for d in &drivers {
        want.push(drivers::run(d, &direct));
        got.push(drivers::run(d, &through));
    }
    stop(daemon);
    drivers::compare(
        "Driver matrix over PostgreSQL",
        &drivers,
        &want,
        &got,
        KNOWN,
    );
}
