//! A session on a SQLite file: one rusqlite connection, used from blocking tasks.

use super::convert::{self, Param};
use mdbd_engine::backend::{
    command_tag, BackendError, Column, Description, Outcome, ResultSet, Session,
};
use mdbd_engine::log::{Lsn, Value};
use rusqlite::Connection;
use std::sync::{Arc, Mutex};

/// Runs `f` on the connection in a blocking task.
pub async fn on_conn<T, F>(conn: &Arc<Mutex<Connection>>, f: F) -> Result<T, BackendError>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T, BackendError> + Send + 'static,
{
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    })
    .await
    .map_err(|e| BackendError::Io(std::io::Error::other(format!("sqlite task: {e}"))))?
}

/// Binds `$n` parameters by number (SQLite treats `$1` as a name) and `?` by position.
fn bind(stmt: &mut rusqlite::Statement<'_>, params: &[Value]) -> Result<(), BackendError> {
    for i in 1..=stmt.parameter_count() {
        let index = match stmt
            .parameter_name(i)
            .and_then(|n| n.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) if n >= 1 => n - 1,
            _ => i - 1,
        };
        let value = params.get(index).ok_or_else(|| {
            convert::error(rusqlite::Error::InvalidParameterCount(
                params.len(),
                stmt.parameter_count(),
            ))
        })?;
        stmt.raw_bind_parameter(i, Param(value))
            .map_err(convert::error)?;
    }
    Ok(())
}

/// The parameters (`$n` by number, `?` by position) and columns of `sql`.
pub fn describe(conn: &Connection, sql: &str) -> Result<Description, BackendError> {
    let stmt = conn.prepare(sql).map_err(convert::error)?;
    let mut count = 0;
    for i in 1..=stmt.parameter_count() {
        let n = stmt
            .parameter_name(i)
            .and_then(|n| n.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(i);
        count = count.max(n);
    }
    let mut columns: Vec<Column> = stmt
        .columns()
        .iter()
        .map(|c| Column::new(c.name(), c.decl_type().unwrap_or("")))
        .collect();
    // An expression column (`SELECT 1`) has no declared type: a constant read runs
    // once, and its first row types them as `execute` will.
    if count == 0 && untyped(&columns) && constant_read(stmt.readonly(), sql) {
        let mut stmt = stmt;
        let mut raw = stmt.raw_query();
        if let Some(row) = raw.next().map_err(convert::error)? {
            let values = (0..columns.len())
                .map(|i| row.get_ref(i).map(convert::value))
                .collect::<Result<Vec<_>, _>>()
                .map_err(convert::error)?;
            type_expressions(&mut columns, &values);
        }
    }
    Ok(Description {
        params: super::params::types(conn, sql, count),
        columns,
    })
}

/// A read-only statement that names no table (`SELECT 1`, `SELECT version()`): its
/// first row, and with it the types of its expression columns, is the same at Describe
/// and at every Execute. (A read of a table is not: an empty table at Describe, rows
/// later, would announce one type and send another.)
fn constant_read(readonly: bool, sql: &str) -> bool {
    readonly && !super::params::names_a_table(sql)
}

/// Some column is an expression (no declared type).
fn untyped(columns: &[Column]) -> bool {
    columns.iter().any(|c| c.type_name.is_empty())
}

/// Gives the columns without a declared type (expressions) the type of their value in
/// `first`, the result's first row: `int8`, `float8`, `text` or `bytea` (a NULL says
/// nothing). Describe and execute type them alike (see [`constant_read`]).
fn type_expressions(columns: &mut [Column], first: &[Value]) {
    for (c, v) in columns.iter_mut().zip(first) {
        if c.type_name.is_empty() {
            c.type_name = match v {
                Value::Int(_) => "int8",
                Value::Float(_) => "float8",
                Value::Text(_) => "text",
                Value::Bytes(_) => "bytea",
                Value::Null | Value::Bool(_) => continue,
            }
            .into();
        }
    }
}

/// Runs one statement on `conn`.
pub fn execute(conn: &Connection, sql: &str, params: &[Value]) -> Result<Outcome, BackendError> {
    let mut stmt = conn.prepare(sql).map_err(convert::error)?;
    bind(&mut stmt, params)?;
    let readonly = stmt.readonly();
    if stmt.column_count() == 0 {
        let rows = stmt.raw_execute().map_err(convert::error)? as u64;
        let last = conn.last_insert_rowid();
        let tag = command_tag(sql, rows);
        let last_insert_id = (tag.starts_with("INSERT") && last > 0).then_some(last as u64);
        return Ok(Outcome::Command {
            tag,
            rows,
            last_insert_id,
        });
    }
    let mut columns: Vec<Column> = stmt
        .columns()
        .iter()
        .map(|c| Column::new(c.name(), c.decl_type().unwrap_or("")))
        .collect();
    // A BOOLEAN column holds 0 and 1: its values are booleans.
    let booleans: Vec<bool> = columns
        .iter()
        .map(|c| super::params::pg_type(&c.type_name) == Some("bool"))
        .collect();
    let n = columns.len();
    let mut rows = Vec::new();
    let mut raw = stmt.raw_query();
    while let Some(row) = raw.next().map_err(convert::error)? {
        let mut values = Vec::with_capacity(n);
        for (i, boolean) in booleans.iter().enumerate() {
            let v = convert::value(row.get_ref(i).map_err(convert::error)?);
            values.push(match v {
                Value::Int(b) if *boolean => Value::Bool(b != 0),
                v => v,
            });
        }
        rows.push(values);
    }
    // Tested in this order: the statement's text is scanned only for an expression read.
    if let Some(first) = rows.first() {
        if params.is_empty() && untyped(&columns) && constant_read(readonly, sql) {
            type_expressions(&mut columns, first);
        }
    }
    Ok(Outcome::Rows(ResultSet { columns, rows }))
}

/// Moves the marker to `lsn` (inside the caller's transaction).
pub fn set_marker(conn: &Connection, table: &str, lsn: Lsn) -> Result<(), BackendError> {
    let n = conn
        .execute(
            &format!("UPDATE {} SET lsn = ?1 WHERE id = 1", convert::quote(table)),
            [lsn.get() as i64],
        )
        .map_err(convert::error)?;
    if n != 1 {
        return Err(BackendError::Marker(format!(
            "table {table} has no row to update"
        )));
    }
    Ok(())
}

/// One client session (or replay session) on a SQLite file.
pub struct SqliteSession {
    pub(super) conn: Arc<Mutex<Connection>>,
    pub(super) marker: String,
    /// What the client `SET` (see `settings.rs`); `current_setting()` reads it too.
    pub(super) settings: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
}

#[async_trait::async_trait]
impl Session for SqliteSession {
    async fn execute_bytes(
        &mut self,
        sql: &[u8],
        params: &[Value],
    ) -> Result<Outcome, BackendError> {
        let sql = mdbd_engine::backend::utf8_statement(sql)?;
        if let Some(command) = super::settings::command(sql) {
            let mut settings = self.settings.lock().unwrap_or_else(|p| p.into_inner());
            return super::settings::run(&mut settings, command);
        }
        let (sql, params) = (
            super::functions::unqualified(sql).into_owned(),
            params.to_vec(),
        );
        on_conn(&self.conn, move |c| execute(c, &sql, &params)).await
    }

    async fn describe(&mut self, sql: &str) -> Result<Description, BackendError> {
        let sql = super::functions::unqualified(sql).into_owned();
        on_conn(&self.conn, move |c| describe(c, &sql)).await
    }

    async fn begin(&mut self) -> Result<(), BackendError> {
        // IMMEDIATE: take the write lock now, so a write transaction never fails later for
        // a lock another connection took in between.
        on_conn(&self.conn, |c| {
            c.execute_batch("BEGIN IMMEDIATE").map_err(convert::error)
        })
        .await
    }

    async fn commit(&mut self, marker: Option<Lsn>) -> Result<(), BackendError> {
        let table = self.marker.clone();
        on_conn(&self.conn, move |c| {
            if let Some(lsn) = marker {
                set_marker(c, &table, lsn)?;
            }
            c.execute_batch("COMMIT").map_err(convert::error)
        })
        .await
    }

    async fn rollback(&mut self) -> Result<(), BackendError> {
        on_conn(&self.conn, |c| {
            if c.is_autocommit() {
                return Ok(());
            }
            c.execute_batch("ROLLBACK").map_err(convert::error)
        })
        .await
    }
}
