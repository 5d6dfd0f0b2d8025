use super::*;
use crate::backend::catalog::{Catalog, ForeignKey, Table};
use Mode::{Exclusive as X, IntentExclusive as IX, Shared as S};

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A schema built to collide: plain keys, a composite key, a unique key, a drawn key, a
/// foreign key, a table without a key and one with a trigger.
fn catalog() -> Catalog {
    let mut c = Catalog::default();
    c.add(
        "accounts",
        Table {
            columns: strings(&["id", "owner", "balance"]),
            primary_key: strings(&["id"]),
            ..Table::default()
        },
    );
    c.add(
        "users",
        Table {
            columns: strings(&["id", "email", "name"]),
            primary_key: strings(&["id"]),
            unique_keys: vec![("users_email_key".into(), strings(&["email"]))],
            drawn: vec![("id".into(), "users_id_seq".into())],
            ..Table::default()
        },
    );
    c.add(
        "orders",
        Table {
            columns: strings(&["id", "user_id", "total"]),
            primary_key: strings(&["id"]),
            drawn: vec![("id".into(), "orders_id_seq".into())],
            foreign_keys: vec![ForeignKey {
                columns: strings(&["user_id"]),
                parent: "users".into(),
                parent_columns: strings(&["id"]),
            }],
            ..Table::default()
        },
    );
    c.add(
        "pairs",
        Table {
            columns: strings(&["a", "b", "v"]),
            primary_key: strings(&["a", "b"]),
            ..Table::default()
        },
    );
    c.add(
        "history",
        Table {
            columns: strings(&["aid", "delta"]),
            ..Table::default()
        },
    );
    c.add(
        "audited",
        Table {
            columns: strings(&["id"]),
            primary_key: strings(&["id"]),
            opaque: true,
            ..Table::default()
        },
    );
    c
}

fn pg(sql: &str) -> Footprint {
    footprint(sql, Flavor::Postgres, &catalog(), &[])
}

fn my(sql: &str, params: &[Value]) -> Footprint {
    footprint(sql, Flavor::MySql, &catalog(), params)
}

fn row(table: &str, index: &str, key: &str) -> Resource {
    let mut bytes = index.as_bytes().to_vec();
    bytes.push(0);
    bytes.extend_from_slice(key.as_bytes());
    Resource::Row {
        table: table.into(),
        key: bytes,
    }
}

fn table(name: &str) -> Resource {
    Resource::Table(name.into())
}

fn seq(name: &str) -> Resource {
    Resource::Sequence(name.into())
}

fn locks(fp: &Footprint) -> Vec<(Resource, Mode)> {
    assert_eq!(fp.global_because, None, "went global");
    let mut l = fp.locks.clone();
    l.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    l
}

fn sorted(mut l: Vec<(Resource, Mode)>) -> Vec<(Resource, Mode)> {
    l.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    l
}

fn is_global(fp: &Footprint) -> bool {
    fp.locks == vec![(Resource::Global, X)] && fp.global_because.is_some()
}

#[test]
fn an_update_by_primary_key_locks_that_row_only() {
    let fp = pg("UPDATE accounts SET balance = balance + 5 WHERE id = 7");
    assert_eq!(locks(&fp), vec![(row("accounts", "pk", "7"), X)]);
}

#[test]
fn a_key_written_as_a_string_a_negative_or_a_parameter_is_the_same_row() {
    let seven = vec![(row("accounts", "pk", "7"), X)];
    assert_eq!(
        locks(&pg("UPDATE accounts SET balance = 0 WHERE id = '7'")),
        seven
    );
    assert_eq!(
        locks(&pg("UPDATE accounts SET balance = 0 WHERE (7 = id)")),
        seven
    );
    let fp = footprint(
        "UPDATE accounts SET balance = $2 WHERE id = $1",
        Flavor::Postgres,
        &catalog(),
        &[Value::Int(7), Value::Int(100)],
    );
    assert_eq!(locks(&fp), seven);
    // MySQL's `?` are numbered by their place in the text.
    let fp = my(
        "UPDATE accounts SET balance = ? WHERE id = ?",
        &[Value::Int(100), Value::Text("7".into())],
    );
    assert_eq!(locks(&fp), seven);
    assert_eq!(
        locks(&pg("DELETE FROM accounts WHERE id = -3")),
        vec![(row("accounts", "pk", "-3"), X)]
    );
}

#[test]
fn a_key_that_is_not_a_plain_integer_or_a_range_locks_the_table() {
    for sql in [
        "UPDATE accounts SET balance = 0 WHERE id > 5",
        "UPDATE accounts SET balance = 0 WHERE id = 5.0",
        "UPDATE accounts SET balance = 0 WHERE id = '05'",
        "UPDATE accounts SET balance = 0 WHERE id = 5 OR id = 6",
        "UPDATE accounts SET balance = 0 WHERE owner = 'x'",
        "UPDATE accounts SET balance = 0",
    ] {
        assert_eq!(locks(&pg(sql)), vec![(table("accounts"), X)], "{sql}");
    }
}

#[test]
fn a_small_integer_range_or_list_of_the_key_locks_each_key_of_it() {
    let keys = |ks: &[&str]| -> Vec<(Resource, Mode)> {
        sorted(ks.iter().map(|k| (row("accounts", "pk", k), X)).collect())
    };
    assert_eq!(
        locks(&pg(
            "UPDATE accounts SET balance = balance - 3 WHERE id BETWEEN 4 AND 7"
        )),
        keys(&["4", "5", "6", "7"])
    );
    assert_eq!(
        locks(&pg(
            "DELETE FROM accounts WHERE balance < 0 AND id IN (9, '2', -1)"
        )),
        keys(&["9", "2", "-1"])
    );
    let fp = my(
        "UPDATE accounts SET balance = 0 WHERE id BETWEEN ? AND ?",
        &[Value::Int(1), Value::Int(2)],
    );
    assert_eq!(locks(&fp), keys(&["1", "2"]));
    // Too many keys, a negated or open range, a non-integer bound: the table.
    for sql in [
        "UPDATE accounts SET balance = 0 WHERE id BETWEEN 1 AND 65",
        "UPDATE accounts SET balance = 0 WHERE id BETWEEN 7 AND 4",
        "UPDATE accounts SET balance = 0 WHERE id NOT BETWEEN 1 AND 3",
        "UPDATE accounts SET balance = 0 WHERE id NOT IN (1, 2)",
        "UPDATE accounts SET balance = 0 WHERE id BETWEEN 1 AND 2.5",
        "UPDATE accounts SET balance = 0 WHERE id IN (1, owner)",
        "UPDATE accounts SET balance = 0 WHERE id BETWEEN 1 AND 3 OR owner = 'x'",
    ] {
        assert_eq!(locks(&pg(sql)), vec![(table("accounts"), X)], "{sql}");
    }
    // A composite key: the table.
    assert_eq!(
        locks(&pg("UPDATE pairs SET v = 1 WHERE a BETWEEN 1 AND 2")),
        vec![(table("pairs"), X)]
    );
}

#[test]
fn a_composite_key_needs_every_column_fixed() {
    assert_eq!(
        locks(&pg(
            "UPDATE pairs SET v = 1 WHERE a = 1 AND b = 2 AND v < 9"
        )),
        vec![(row("pairs", "pk", "1\u{0}2"), X)]
    );
    assert_eq!(
        locks(&pg("UPDATE pairs SET v = 1 WHERE a = 1")),
        vec![(table("pairs"), X)]
    );
}

#[test]
fn setting_a_key_column_locks_the_table_and_the_tables_that_refer_to_it() {
    assert_eq!(
        locks(&pg("UPDATE accounts SET id = 9 WHERE id = 7")),
        vec![(table("accounts"), X)]
    );
    assert_eq!(
        locks(&pg("UPDATE users SET email = 'x' WHERE id = 7")),
        sorted(vec![(table("users"), X), (table("orders"), X)])
    );
}

#[test]
fn an_insert_locks_each_rows_key() {
    let fp = pg("INSERT INTO accounts (id, owner, balance) VALUES (1, 'a', 0), (2, 'b', 0)");
    assert_eq!(
        locks(&fp),
        sorted(vec![
            (row("accounts", "pk", "1"), X),
            (row("accounts", "pk", "2"), X),
            (table("accounts"), IX),
        ])
    );
    // Without a column list the table's order applies.
    let fp = pg("INSERT INTO accounts VALUES (3, 'c', 0)");
    assert!(
        fp.locks.contains(&(row("accounts", "pk", "3"), X)),
        "{fp:?}"
    );
}

#[test]
fn an_insert_drawing_its_key_takes_the_sequence_and_its_unique_value() {
    let fp = pg("INSERT INTO users (email, name) VALUES ('A@x.org', 'n')");
    assert_eq!(
        locks(&fp),
        sorted(vec![
            (seq("users_id_seq"), X),
            (row("users", "users_email_key", "sA@x.org"), X),
            (table("users"), IX),
        ])
    );
    // MySQL compares text without case or trailing spaces by default.
    let fp = my(
        "INSERT INTO users (email, name) VALUES ('A@x.org  ', 'n')",
        &[],
    );
    assert!(
        fp.locks
            .contains(&(row("users", "users_email_key", "sa@x.org"), X)),
        "{fp:?}"
    );
}

#[test]
fn an_explicit_key_moves_mysqls_auto_increment_as_a_maximum_and_a_drawn_one_in_order() {
    let sql = "INSERT INTO users (id, email, name) VALUES (5, 'a', 'n')";
    let on_pg = pg(sql);
    assert!(on_pg.locks.contains(&(seq("users_id_seq"), S)), "{on_pg:?}");
    assert!(on_pg.locks.contains(&(row("users", "pk", "5"), X)));
    // Explicit keys move the counter to their maximum in any order: shared.
    let on_my = my(sql, &[]);
    assert!(on_my.locks.contains(&(seq("users_id_seq"), S)), "{on_my:?}");
    assert!(on_my.locks.contains(&(row("users", "pk", "5"), X)));
    let by_param = my(
        "INSERT INTO users (id, email, name) VALUES (?, 'a', 'n')",
        &[Value::Int(7)],
    );
    assert!(
        by_param.locks.contains(&(seq("users_id_seq"), S)),
        "{by_param:?}"
    );
    // A NULL parameter draws: exclusive, like a drawn key.
    let null = my(
        "INSERT INTO users (id, email, name) VALUES (?, 'a', 'n')",
        &[Value::Null],
    );
    assert!(null.locks.contains(&(seq("users_id_seq"), X)), "{null:?}");
    let drawn = my("INSERT INTO users (email, name) VALUES ('a', 'n')", &[]);
    assert!(drawn.locks.contains(&(seq("users_id_seq"), X)), "{drawn:?}");
    // 0 and NULL draw a value in MySQL.
    let zero = my(
        "INSERT INTO users (id, email, name) VALUES (0, 'a', 'n')",
        &[],
    );
    assert!(
        !zero.locks.contains(&(row("users", "pk", "0"), X)),
        "{zero:?}"
    );
}

#[test]
fn a_child_row_takes_its_parent_row_shared() {
    let fp = pg("INSERT INTO orders (user_id, total) VALUES (3, 10)");
    assert_eq!(
        locks(&fp),
        sorted(vec![
            (seq("orders_id_seq"), X),
            (row("users", "pk", "3"), S),
            // A row of users: ordered against inserts drawing users' ids.
            (seq("users_id_seq"), S),
            (table("orders"), IX),
        ])
    );
}

#[test]
fn a_delete_from_a_parent_or_a_table_with_unique_keys_locks_whole_tables() {
    assert_eq!(
        locks(&pg("DELETE FROM users WHERE id = 3")),
        sorted(vec![(table("users"), X), (table("orders"), X)])
    );
    assert_eq!(
        locks(&pg("DELETE FROM accounts WHERE id = 3")),
        vec![(row("accounts", "pk", "3"), X)]
    );
}

#[test]
fn tables_read_by_a_write_are_locked_shared() {
    let fp = pg("UPDATE accounts SET balance = (SELECT sum(total) FROM orders) WHERE id = 1");
    assert_eq!(
        locks(&fp),
        sorted(vec![(row("accounts", "pk", "1"), X), (table("orders"), S)])
    );
    // Reading its own table in a subquery: the table too, shared.
    let fp = pg("UPDATE accounts SET balance = (SELECT max(balance) FROM accounts) WHERE id = 1");
    assert_eq!(
        locks(&fp),
        sorted(vec![
            (row("accounts", "pk", "1"), X),
            (table("accounts"), S)
        ])
    );
    let fp = pg("INSERT INTO history SELECT id, balance FROM accounts");
    assert_eq!(
        locks(&fp),
        sorted(vec![(table("history"), X), (table("accounts"), S)])
    );
}

#[test]
fn a_plain_read_in_a_write_transaction_locks_nothing_and_a_locking_read_its_row_or_tables() {
    for sql in [
        "SELECT balance FROM accounts WHERE id = 4",
        "SELECT o.total FROM orders o JOIN users u ON u.id = o.user_id",
        "SELECT * FROM accounts WHERE id = 1 UNION SELECT * FROM accounts WHERE id = 2",
        "SELECT 1",
    ] {
        assert_eq!(locks(&pg(sql)), vec![], "{sql}");
    }
    assert_eq!(
        locks(&pg("SELECT balance FROM accounts WHERE id = 4 FOR UPDATE")),
        vec![(row("accounts", "pk", "4"), X)]
    );
    assert_eq!(
        locks(&my(
            "SELECT balance FROM accounts WHERE id BETWEEN 1 AND 2 FOR UPDATE",
            &[]
        )),
        sorted(vec![
            (row("accounts", "pk", "1"), X),
            (row("accounts", "pk", "2"), X)
        ])
    );
    assert_eq!(
        locks(&pg(
            "SELECT o.total FROM orders o JOIN users u ON u.id = o.user_id FOR UPDATE"
        )),
        sorted(vec![(table("orders"), X), (table("users"), X)])
    );
    // Not parsed here: the global lock.
    assert!(is_global(&my(
        "SELECT balance FROM accounts WHERE id = 1 LOCK IN SHARE MODE",
        &[]
    )));
    // It creates a table: not understood.
    assert!(is_global(&pg(
        "SELECT balance INTO TEMP copy FROM accounts WHERE id = 4"
    )));
}

#[test]
fn multi_table_writes_lock_every_table_and_their_children() {
    let fp = my(
        "UPDATE accounts a JOIN users u ON u.id = a.id SET a.balance = 0",
        &[],
    );
    assert_eq!(
        locks(&fp),
        sorted(vec![
            (table("accounts"), X),
            (table("users"), X),
            (table("orders"), X)
        ])
    );
}

#[test]
fn a_table_without_a_key_takes_inserts_together_and_other_writes_alone() {
    assert_eq!(
        locks(&pg("INSERT INTO history (aid, delta) VALUES (1, 5)")),
        vec![(table("history"), IX)]
    );
    assert_eq!(
        locks(&pg("DELETE FROM history WHERE aid = 1")),
        vec![(table("history"), X)]
    );
}

#[test]
fn a_column_drawn_from_a_sequence_orders_its_inserts_even_beside_a_given_key() {
    let mut c = catalog();
    c.add(
        "tickets",
        Table {
            columns: strings(&["id", "seqno"]),
            primary_key: strings(&["id"]),
            drawn: vec![("seqno".into(), "ticket_seq".into())],
            ..Table::default()
        },
    );
    let fp = footprint(
        "INSERT INTO tickets (id) VALUES (1)",
        Flavor::Postgres,
        &c,
        &[],
    );
    assert_eq!(
        locks(&fp),
        sorted(vec![
            (seq("ticket_seq"), X),
            (row("tickets", "pk", "1"), X),
            (table("tickets"), IX),
        ])
    );
}

#[test]
fn mysql_table_names_are_compared_in_lower_case_quoted_or_not() {
    let seven = vec![(row("accounts", "pk", "7"), X)];
    assert_eq!(
        locks(&my("UPDATE `Accounts` SET balance = 0 WHERE id = 7", &[])),
        seven
    );
    // PostgreSQL keeps a quoted name's case: "Accounts" is another table.
    assert!(is_global(&pg(
        "UPDATE \"Accounts\" SET balance = 0 WHERE id = 7"
    )));
}

#[test]
fn nextval_takes_its_sequence() {
    let fp =
        pg("INSERT INTO accounts (id, owner, balance) VALUES (nextval('public.acct_seq'), 'x', 0)");
    assert!(fp.locks.contains(&(seq("acct_seq"), X)), "{fp:?}");
    // The key is not known: the table.
    assert!(fp.locks.contains(&(table("accounts"), X)), "{fp:?}");
}

#[test]
fn anything_not_understood_takes_the_global_lock() {
    let mut ambiguous = catalog();
    ambiguous.add("accounts", Table::default());
    assert!(is_global(&footprint(
        "UPDATE accounts SET balance = 0 WHERE id = 1",
        Flavor::Postgres,
        &ambiguous,
        &[]
    )));
    for sql in [
        "ALTER TABLE accounts ADD COLUMN c int",
        "TRUNCATE accounts",
        "CREATE TABLE t (id int)",
        "UPDATE unknown_table SET x = 1 WHERE id = 1",
        "UPDATE audited SET id = 2 WHERE id = 1",
        "UPDATE accounts SET balance = random() WHERE id = 1",
        "UPDATE accounts SET balance = 1 WHERE id = 1; UPDATE accounts SET balance = 2 WHERE id = 2",
        "UPDATE accounts SET WHERE",
        "CALL transfer(1, 2)",
        "LOCK TABLE accounts",
        "WITH x AS (SELECT 1) UPDATE accounts SET balance = 0 WHERE id = 1",
        "WITH gone AS (DELETE FROM accounts WHERE id = 1 RETURNING id) SELECT * FROM gone",
    ] {
        assert!(is_global(&pg(sql)), "{sql}: {:?}", pg(sql));
    }
}
