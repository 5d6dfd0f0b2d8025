//! `SELECT @@name, ...` on PostgreSQL and SQLite clusters. MySQL drivers read system
//! variables after they connect (`@@max_allowed_packet`, `@@version_comment`, ...); those
//! backends have no such syntax, so the front end answers with what a MySQL server of
//! this front end's behaviour would (unknown names: NULL). MySQL clusters answer
//! themselves.

use mdbd_engine::backend::{Column, ResultSet};
use mdbd_engine::log::Value;

fn value(name: &str, autocommit: bool) -> Value {
    let name = name
        .trim_start_matches("session.")
        .trim_start_matches("global.")
        .trim_start_matches("local.");
    let text = |s: &str| Value::Text(s.into());
    match name {
        "max_allowed_packet" => Value::Int(super::packet::MAX_PACKET as i64),
        "wait_timeout" | "interactive_timeout" => Value::Int(28800),
        "net_write_timeout" => Value::Int(60),
        "net_read_timeout" => Value::Int(30),
        "autocommit" => Value::Int(i64::from(autocommit)),
        "version" => text(super::auth::VERSION),
        "version_comment" => text("mdbd"),
        "transaction_isolation" | "tx_isolation" => text("READ-COMMITTED"),
        "transaction_read_only" | "tx_read_only" | "lower_case_table_names" => Value::Int(0),
        "sql_mode" => text(""),
        "time_zone" => text("SYSTEM"),
        "system_time_zone" => text("UTC"),
        "auto_increment_increment" => Value::Int(1),
        "character_set_client"
        | "character_set_connection"
        | "character_set_results"
        | "character_set_server"
        | "character_set_database" => text("utf8mb4"),
        "collation_connection" | "collation_server" | "collation_database" => {
            text("utf8mb4_general_ci")
        }
        _ => Value::Null,
    }
}

/// The answer to `sql` when it only reads system variables.
pub fn answer(sql: &str, autocommit: bool) -> Option<ResultSet> {
    let s = sql.trim().trim_end_matches(';').trim();
    s.get(..6).filter(|h| h.eq_ignore_ascii_case("select"))?;
    let mut body = s[6..].trim();
    if !body.starts_with("@@") {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    if let Some(at) = lower.rfind(" limit ") {
        if lower[at + 7..].trim().chars().all(|c| c.is_ascii_digit()) {
            body = body[..at].trim();
        }
    }
    let mut columns = Vec::new();
    let mut row = Vec::new();
    for item in body.split(',') {
        let item = item.trim();
        let (expr, alias) = match item.to_ascii_lowercase().find(" as ") {
            Some(i) => (
                item[..i].trim(),
                Some(item[i + 4..].trim().trim_matches('`')),
            ),
            None => (item, None),
        };
        let name = expr.strip_prefix("@@")?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return None;
        }
        columns.push(Column::new(
            alias.unwrap_or(expr).to_string(),
            String::new(),
        ));
        row.push(value(&name.to_ascii_lowercase(), autocommit));
    }
    Some(ResultSet {
        columns,
        rows: vec![row],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_reads_are_answered_with_their_names_and_aliases() {
        let rs = answer(
            "SELECT @@max_allowed_packet, @@session.autocommit AS ac, @@nonesuch LIMIT 1;",
            false,
        )
        .unwrap();
        let names: Vec<&str> = rs.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["@@max_allowed_packet", "ac", "@@nonesuch"]);
        assert_eq!(
            rs.rows,
            vec![vec![Value::Int(64 << 20), Value::Int(0), Value::Null]]
        );
        assert!(answer("select @@version_comment limit 1", true).is_some());
    }

    #[test]
    fn anything_else_goes_to_the_backends() {
        for sql in [
            "SELECT 1",
            "SELECT @@x, 1",
            "SELECT @@x FROM t",
            "UPDATE t SET a = @@x",
        ] {
            assert!(answer(sql, true).is_none(), "{sql}");
        }
    }
}
