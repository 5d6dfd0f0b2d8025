//! Prepared statements: COM_STMT_PREPARE describes the statement on one backend (so a
//! syntax error arrives at prepare time, as from a real server); COM_STMT_EXECUTE runs it
//! through the cluster session with its parameters, answering in the binary protocol.

use super::{query, Conn};
use mdbd::mysql_wire::execute::{parse_params, statement_id, ParamType};
use mdbd::mysql_wire::results::{self, ColumnDef};
use mdbd::mysql_wire::split;
use mdbd_engine::backend::ResultSet;
use std::collections::HashMap;

/// A statement a client prepared.
pub struct Prepared {
    /// As the backends take it (`?` numbered `$n` for PostgreSQL), shared with every
    /// execution; the client's bytes, which need not be UTF-8.
    sql: std::sync::Arc<[u8]>,
    params: usize,
    bound: Vec<ParamType>,
    long_data: HashMap<u16, Vec<u8>>,
}

/// Statements the front end answers itself, or that MySQL cannot prepare: not described.
fn undescribed(sql: &str) -> bool {
    matches!(
        query::first_word(sql).as_str(),
        "use" | "set" | "begin" | "start" | "commit" | "rollback" | "savepoint" | "release"
    )
}

pub async fn prepare(conn: &mut Conn, sql: &[u8]) {
    let sql = sql.trim_ascii();
    let sql = sql.strip_suffix(b";").unwrap_or(sql).trim_ascii();
    let placeholders = split::placeholders(sql);
    // Numbered once here, not at every execution.
    let sql = if conn.frontend.numbered_placeholders {
        split::numbered(sql)
    } else {
        sql.to_vec()
    };
    // Described as text: a literal's bytes do not change what it takes or returns.
    let text = String::from_utf8_lossy(&sql);
    let answered_here =
        !conn.frontend.is_mysql && super::variables::answer(&text, conn.autocommit).is_some();
    let (params, columns) = if undescribed(&text) || answered_here {
        (placeholders, Vec::new())
    } else {
        match conn.session.describe(&text).await {
            Ok(d) => {
                let rs = ResultSet {
                    columns: d.columns,
                    rows: Vec::new(),
                };
                let columns = results::columns(&rs, true);
                (d.params.len().max(placeholders), columns)
            }
            Err(e) => return conn.error(&e),
        }
    };
    let id = conn.next_statement;
    conn.next_statement = conn.next_statement.wrapping_add(1).max(1);
    let mut ok = vec![0x00];
    ok.extend_from_slice(&id.to_le_bytes());
    ok.extend_from_slice(&(columns.len() as u16).to_le_bytes());
    ok.extend_from_slice(&(params as u16).to_le_bytes());
    ok.push(0);
    ok.extend_from_slice(&0u16.to_le_bytes());
    conn.packets.push(&ok);
    conn.defs(&vec![ColumnDef::param(); params]);
    conn.defs(&columns);
    conn.statements.insert(
        id,
        Prepared {
            sql: sql.into(),
            params,
            bound: Vec::new(),
            long_data: HashMap::new(),
        },
    );
}

fn unknown(conn: &mut Conn, id: Option<u32>) {
    conn.packets.push(&results::err(
        1243,
        "HY000",
        &format!(
            "Unknown prepared statement handler ({}) given to mysqld_stmt_execute",
            id.map_or("?".into(), |i| i.to_string())
        ),
    ));
}

pub async fn execute(conn: &mut Conn, body: &[u8]) -> std::io::Result<()> {
    let id = statement_id(body).ok();
    let Some(stmt) = id.and_then(|id| conn.statements.get_mut(&id)) else {
        unknown(conn, id);
        return Ok(());
    };
    let parsed = parse_params(body, stmt.params, &mut stmt.bound, &stmt.long_data);
    stmt.long_data.clear();
    let sql = stmt.sql.clone();
    let params = match parsed {
        Ok(p) => p,
        Err(e) => {
            conn.packets.push(&results::err(
                1210,
                "HY000",
                &format!("Incorrect arguments to mysqld_stmt_execute: {e}"),
            ));
            return Ok(());
        }
    };
    match query::statement(conn, &sql, &params, false).await {
        Ok(outcome) => conn.outcome(outcome, true, false).await,
        Err(e) => {
            conn.error(&e);
            Ok(())
        }
    }
}

/// COM_STMT_SEND_LONG_DATA: no reply, even on error (the protocol has none).
pub fn long_data(conn: &mut Conn, body: &[u8]) {
    let mut r = mdbd::mysql_wire::buf::Reader::new(body);
    let (Ok(id), Ok(param)) = (r.u32("statement id"), r.u16("parameter")) else {
        return;
    };
    if let Some(stmt) = conn.statements.get_mut(&id) {
        stmt.long_data
            .entry(param)
            .or_default()
            .extend_from_slice(r.rest());
    }
}

/// COM_STMT_CLOSE: no reply.
pub fn close(conn: &mut Conn, body: &[u8]) {
    if let Ok(id) = statement_id(body) {
        conn.statements.remove(&id);
    }
}

/// COM_STMT_RESET: forgets long data sent so far.
pub fn reset(conn: &mut Conn, body: &[u8]) {
    match statement_id(body)
        .ok()
        .and_then(|id| conn.statements.get_mut(&id))
    {
        Some(stmt) => {
            stmt.long_data.clear();
            conn.ok();
        }
        None => unknown(conn, statement_id(body).ok()),
    }
}
