//! The driver matrix on the embedded default (#16): the PostgreSQL drivers against mdbd
//! over SQLite behind its PostgreSQL front end, the README's first command. SQLite has no
//! COPY, arrays, enums, intervals or `pg_sleep`, so there is no direct run to compare
//! with: the cells listed here per driver must work (among them `crud`, the cell written
//! in SQL both engines take: every driver the issue names connects and runs CRUD with
//! parameters, booleans read back as booleans), every other one is reported in the table
//! and its failure printed. What keeps the rest from working is in docs/clients.md:
//! PostgreSQL casts (`x::int`, which the Node and Java programs and SQLAlchemy send),
//! types SQLite lacks, expression columns typed only by their first value.

mod common;

use common::drivers::{self, Target};
use common::{start, stop, Three};

/// The cells psycopg, psycopg2 and asyncpg share on SQLite.
const PYTHON: &[&str] = &[
    "connect",
    "crud",
    "type_int2",
    "type_int4",
    "type_int8",
    "type_text",
    "rollback",
    "savepoint_rollback",
    "savepoint_release",
    "close",
];

/// The cells that must work on SQLite, per driver. (asyncpg's executemany reads an
/// aggregate of a table in binary: SQLite cannot say its type before it runs, so it is
/// announced, and sent, as text.)
const EXPECTED: &[(&str, &[&[&str]])] = &[
    ("psycopg", &[PYTHON, &["executemany"]]),
    (
        "psycopg2",
        &[PYTHON, &["executemany", "prepared_reuse", "pool_reuse"]],
    ),
    ("asyncpg", &[PYTHON, &["cursor_100k"]]),
    (
        "pg",
        &[&[
            "connect",
            "crud",
            "savepoint_rollback",
            "savepoint_release",
            "cursor_100k",
        ]],
    ),
    (
        "pgjdbc",
        &[&[
            "connect",
            "crud",
            "savepoint_rollback",
            "savepoint_release",
            "cursor_100k",
            "prepared_reuse",
        ]],
    ),
];

#[test]
fn the_cells_sqlite_allows_work_through_mdbd() {
    let drivers = drivers::postgres_drivers();
    if drivers.is_empty() {
        eprintln!("SKIPPED: no driver could be installed (reasons above)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let three = Three::sqlite(dir.path());
    let port = common::free_port();
    let daemon = start(&three.config(dir.path(), port), port);
    let target = Target {
        port,
        user: "demo".into(),
        password: "unused".into(),
        dbname: "app".into(),
        dialect: "sqlite",
    };
    let runs: Vec<_> = drivers.iter().map(|d| drivers::run(d, &target)).collect();
    stop(daemon);
    let mut table = String::from("Driver matrix on SQLite\n\n| cell |");
    for d in &drivers {
        table.push_str(&format!(" {} |", d.name));
    }
    table.push('\n');
    let mut problems = Vec::new();
    for cell in runs[0].keys() {
        table.push_str(&format!("| {cell} |"));
        for (d, run) in drivers.iter().zip(&runs) {
            let status = run.get(cell).map_or("missing", |c| c.status.as_str());
            table.push_str(&format!(" {status} |"));
            let expected = EXPECTED
                .iter()
                .filter(|(driver, _)| *driver == d.name)
                .flat_map(|(_, lists)| lists.iter())
                .any(|cells| cells.contains(&cell.as_str()));
            if expected && status != "ok" {
                problems.push(format!("{}/{cell}: {}", d.name, run[cell].detail));
            } else if status == "fail" {
                eprintln!("not on SQLite: {}/{cell}: {}", d.name, run[cell].detail);
            }
        }
        table.push('\n');
    }
    println!("{table}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
