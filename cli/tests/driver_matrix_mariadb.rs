//! The driver matrix over MariaDB (#16): PyMySQL, mysql-connector-python, node mysql2 and
//! MariaDB Connector/J, each run through every cell of `drivers/` against one server
//! directly and against mdbd's MySQL front end over three servers. Every cell that works
//! directly must work through mdbd, except the known gaps listed here with their reason;
//! a known gap that starts to work fails the test until it is struck off.

mod common;

use common::drivers::{self, Known, Target};
use common::{stop, Three};

/// Cells known to fail through mdbd, and why (see docs/clients.md): none.
const KNOWN: &[Known] = &[];

#[test]
fn every_cell_that_works_directly_works_through_mdbd() {
    let drivers = drivers::mysql_drivers();
    if drivers.is_empty() {
        eprintln!("SKIPPED: no driver could be installed (reasons above)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let three = Three::mariadb();
    let server = match &three {
        Three::Mariadb(servers) => servers[0].port(),
        _ => unreachable!(),
    };
    let daemon = common::mysql::daemon(&three, dir.path(), &["a", "b", "c"]);
    let direct = Target {
        port: server,
        user: "root".into(),
        password: String::new(),
        dbname: "app".into(),
        dialect: "mysql",
    };
    let through = Target {
        port: daemon.my,
        user: "app".into(),
        password: common::mysql::PASSWORD.into(),
        dbname: "app".into(),
        dialect: "mysql",
    };
    let mut want = Vec::new();
    let mut got = Vec::new();
    for d in &drivers {
        want.push(drivers::run(d, &direct));
        got.push(drivers::run(d, &through));
    }
    stop(daemon.child);
    drivers::compare("Driver matrix over MariaDB", &drivers, &want, &got, KNOWN);
}
