//! Between rusqlite and the engine's uniform types: values, errors, identifiers.

use mdbd_engine::backend::{BackendError, DbError};
use mdbd_engine::log::Value;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::ToSql;

/// A parameter bound to a SQLite statement.
pub struct Param<'a>(pub &'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Value::Bool(b) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*b as i64)),
            Value::Int(i) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*i)),
            Value::Float(f) => ToSqlOutput::Owned(rusqlite::types::Value::Real(*f)),
            Value::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

/// A SQLite value as an engine value. Text that is not UTF-8 comes back as bytes.
pub fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Value::Text(s.to_string()),
            Err(_) => Value::Bytes(t.to_vec()),
        },
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

/// The extended result code's name, for the error code.
fn code_name(extended: i32) -> String {
    match extended {
        1 => "SQLITE_ERROR".into(),
        5 => "SQLITE_BUSY".into(),
        6 => "SQLITE_LOCKED".into(),
        8 => "SQLITE_READONLY".into(),
        11 => "SQLITE_CORRUPT".into(),
        13 => "SQLITE_FULL".into(),
        19 => "SQLITE_CONSTRAINT".into(),
        20 => "SQLITE_MISMATCH".into(),
        26 => "SQLITE_NOTADB".into(),
        275 => "SQLITE_CONSTRAINT_CHECK".into(),
        787 => "SQLITE_CONSTRAINT_FOREIGNKEY".into(),
        1299 => "SQLITE_CONSTRAINT_NOTNULL".into(),
        1555 => "SQLITE_CONSTRAINT_PRIMARYKEY".into(),
        2067 => "SQLITE_CONSTRAINT_UNIQUE".into(),
        other => format!("SQLITE_{other}"),
    }
}

/// The closest SQLSTATE, so PostgreSQL clients see a meaningful class.
fn sqlstate(extended: i32, message: &str) -> &'static str {
    match extended {
        1555 | 2067 => "23505",
        1299 => "23502",
        787 => "23503",
        275 => "23514",
        19 => "23000",
        5 | 6 => "55P03",
        8 => "25006",
        13 => "53100",
        11 | 26 => "XX001",
        _ if message.contains("syntax error") || message.contains("incomplete input") => "42601",
        _ if message.starts_with("no such table") => "42P01",
        _ if message.starts_with("no such column") => "42703",
        _ if message.contains("already exists") => "42P07",
        _ => "XX000",
    }
}

/// A rusqlite error as a backend error: database errors verbatim, the rest as I/O.
pub fn error(e: rusqlite::Error) -> BackendError {
    match e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let message = msg.unwrap_or_else(|| f.to_string());
            BackendError::Db(DbError {
                code: code_name(f.extended_code),
                sqlstate: sqlstate(f.extended_code, &message).into(),
                message,
                ..Default::default()
            })
        }
        // Prepare errors carry the offending offset: keep SQLite's message verbatim.
        rusqlite::Error::SqlInputError { error: f, msg, .. } => BackendError::Db(DbError {
            code: code_name(f.extended_code),
            sqlstate: sqlstate(f.extended_code, &msg).into(),
            message: msg,
            ..Default::default()
        }),
        rusqlite::Error::InvalidParameterCount(given, expected) => BackendError::Db(DbError {
            code: "MDBD_PARAMS".into(),
            sqlstate: "08P01".into(),
            message: format!("the statement has {expected} parameters but {given} were given"),
            ..Default::default()
        }),
        rusqlite::Error::MultipleStatement => BackendError::Db(DbError {
            code: "MDBD_MULTI".into(),
            sqlstate: "42601".into(),
            message: "one statement at a time: split multi-statement strings first".into(),
            ..Default::default()
        }),
        other => BackendError::Db(DbError {
            code: "SQLITE".into(),
            sqlstate: "XX000".into(),
            message: other.to_string(),
            ..Default::default()
        }),
    }
}

/// Checks an identifier used in generated SQL (the marker table name).
pub fn identifier(name: &str) -> Result<String, BackendError> {
    crate::tool::identifier(name, 63)
}

/// Double-quotes an identifier for SQLite.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
