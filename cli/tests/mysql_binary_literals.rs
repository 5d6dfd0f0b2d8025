//! Statements are bytes: a MySQL driver that inlines binary values into the query text
//! (mysql-connector-python sends `b"\x00\x01\xff"` as raw bytes between quotes, escaping
//! only `\0 \n \r \\ ' " \x1a`) must find exactly those bytes on every backend and after a
//! replay of the delta log, never U+FFFD in their place.

mod common;

use common::join::{request_join, wait_join};
use common::mysql::{self, connect};
use common::{admin, stop, Three};
use mdbd_engine::backend::Outcome;
use mdbd_engine::log::Value;
use mysql_async::prelude::Queryable;

/// `data` as a quoted MySQL string literal the way mysql-connector-python writes it:
/// backslash escapes for the seven bytes MySQL's lexer cares about, every other byte raw.
fn literal(data: &[u8]) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in data {
        match b {
            0 => out.extend_from_slice(b"\\0"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\'' => out.extend_from_slice(b"\\'"),
            b'"' => out.extend_from_slice(b"\\\""),
            0x1a => out.extend_from_slice(b"\\Z"),
            other => out.push(other),
        }
    }
    out.push(b'\'');
    out
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02X}")).collect()
}

/// What backend `i` holds, as (id, HEX(data)) rows, read directly from the server.
async fn stored(three: &Three, i: usize) -> Vec<(i64, String)> {
    let mut s = three.backend(i).open_session().await.unwrap();
    let Outcome::Rows(rs) = s
        .execute("SELECT id, HEX(data) FROM bl ORDER BY id", &[])
        .await
        .unwrap()
    else {
        panic!("no rows");
    };
    rs.rows
        .into_iter()
        .map(|r| match (&r[0], &r[1]) {
            (Value::Int(id), Value::Text(h)) => (*id, h.clone()),
            other => panic!("unexpected row {other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_literals_reach_every_backend_and_the_replay_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let three = Three::mariadb();
    let d = mysql::daemon(&three, dir.path(), &["a", "b", "c"]);
    let mut c = connect(d.my).await;
    c.query_drop("CREATE TABLE bl (id INT PRIMARY KEY, data BLOB)")
        .await
        .unwrap();
    // c leaves before the writes: it gets them only by replaying the log.
    let (status, body) = admin(d.admin, "POST", "/v1/backends/c/detach");
    assert_eq!(status, 200, "{body}");

    let every_byte: Vec<u8> = (0..=255u8).collect();
    let issue_example = b"\x00\x01\xff".to_vec();
    let not_utf8 = b"\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc".to_vec();

    // A single statement, autocommit.
    let mut one = b"INSERT INTO bl VALUES (1, ".to_vec();
    one.extend(literal(&issue_example));
    one.push(b')');
    c.query_drop(&one[..]).await.unwrap();
    // Several in one COM_QUERY (split on bytes), inside a transaction, one a `;` inside
    // the literal's raw bytes.
    let mut many = b"BEGIN; INSERT INTO bl VALUES (2, ".to_vec();
    many.extend(literal(&every_byte));
    many.extend_from_slice(b"); INSERT INTO bl VALUES (3, ");
    many.extend(literal(&not_utf8));
    many.extend_from_slice(b"); COMMIT");
    c.query_drop(&many[..]).await.unwrap();
    // A WHERE clause that matches only if the bytes are intact.
    let mut update = b"UPDATE bl SET id = 4 WHERE data = ".to_vec();
    update.extend(literal(&not_utf8));
    c.query_drop(&update[..]).await.unwrap();
    assert_eq!(c.affected_rows(), 1, "the literal in WHERE did not match");
    // A prepared statement whose text holds the literal, with a parameter beside it.
    let mut prepared = b"INSERT INTO bl VALUES (?, ".to_vec();
    prepared.extend(literal(b"\xfe\xff\x00?"));
    prepared.push(b')');
    c.exec_drop(&prepared[..], (5,)).await.unwrap();
    // Read back through mdbd.
    let mut select = b"SELECT HEX(data) FROM bl WHERE data = ".to_vec();
    select.extend(literal(&every_byte));
    let through: Option<String> = c.query_first(&select[..]).await.unwrap();
    assert_eq!(through.as_deref(), Some(hex(&every_byte).as_str()));

    let want = vec![
        (1, hex(&issue_example)),
        (2, hex(&every_byte)),
        (4, hex(&not_utf8)),
        (5, hex(b"\xfe\xff\x00?")),
    ];
    assert_eq!(stored(&three, 0).await, want, "backend a");
    assert_eq!(stored(&three, 1).await, want, "backend b");

    let id = request_join(d.admin, "c", "");
    let j = wait_join(d.admin, id, common::join::ended);
    assert_eq!(j["phase"], "finished", "{j}");
    assert_eq!(j["delta_only"], true, "{j}");
    assert_eq!(stored(&three, 2).await, want, "backend c, from the log");
    c.disconnect().await.unwrap();
    stop(d.child);
    three.identical(&[0, 1, 2]).await;
}
