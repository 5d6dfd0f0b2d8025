//! Between mysql_async and the engine's uniform types.

use mdbd_engine::backend::{BackendError, DbError};
use mdbd_engine::log::Value;
use mysql_async::consts::ColumnType;
use mysql_async::Column;

/// The binary character set: byte strings, not text.
const BINARY_CHARSET: u16 = 63;

/// An engine value as a MySQL parameter.
pub fn param(v: &Value) -> mysql_async::Value {
    match v {
        Value::Null => mysql_async::Value::NULL,
        Value::Bool(b) => mysql_async::Value::Int(*b as i64),
        Value::Int(i) => mysql_async::Value::Int(*i),
        Value::Float(f) => mysql_async::Value::Double(*f),
        Value::Text(t) => mysql_async::Value::Bytes(t.as_bytes().to_vec()),
        Value::Bytes(b) => mysql_async::Value::Bytes(b.clone()),
    }
}

fn is_integer(t: ColumnType) -> bool {
    use ColumnType::*;
    matches!(
        t,
        MYSQL_TYPE_TINY
            | MYSQL_TYPE_SHORT
            | MYSQL_TYPE_LONG
            | MYSQL_TYPE_LONGLONG
            | MYSQL_TYPE_INT24
            | MYSQL_TYPE_YEAR
    )
}

/// String and blob types: with the binary character set they hold bytes. (Numbers and
/// dates also report the binary character set in the text protocol, but are text.)
fn is_string(t: ColumnType) -> bool {
    use ColumnType::*;
    matches!(
        t,
        MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_STRING
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_BIT
            | MYSQL_TYPE_GEOMETRY
    )
}

fn text_or_bytes(b: Vec<u8>, col: &Column) -> Value {
    if col.character_set() == BINARY_CHARSET && is_string(col.column_type()) {
        return Value::Bytes(b);
    }
    match String::from_utf8(b) {
        Ok(s) => Value::Text(s),
        Err(e) => Value::Bytes(e.into_bytes()),
    }
}

/// A MySQL result value (text or binary protocol) as an engine value.
pub fn value(v: mysql_async::Value, col: &Column) -> Value {
    use mysql_async::Value as M;
    match v {
        M::NULL => Value::Null,
        M::Int(i) => Value::Int(i),
        M::UInt(u) => i64::try_from(u)
            .map(Value::Int)
            .unwrap_or_else(|_| Value::Text(u.to_string())),
        M::Float(f) => Value::Float(f as f64),
        M::Double(f) => Value::Float(f),
        M::Date(y, mo, d, h, mi, s, us) => {
            Value::Text(if col.column_type() == ColumnType::MYSQL_TYPE_DATE {
                format!("{y:04}-{mo:02}-{d:02}")
            } else if us > 0 {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
            } else {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
            })
        }
        M::Time(neg, days, h, mi, s, us) => {
            let hours = days * 24 + h as u32;
            let sign = if neg { "-" } else { "" };
            Value::Text(if us > 0 {
                format!("{sign}{hours:02}:{mi:02}:{s:02}.{us:06}")
            } else {
                format!("{sign}{hours:02}:{mi:02}:{s:02}")
            })
        }
        // Text protocol: everything arrives as bytes; give numbers their type back.
        M::Bytes(b) if is_integer(col.column_type()) => match std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
        {
            Some(i) => Value::Int(i),
            None => text_or_bytes(b, col),
        },
        M::Bytes(b)
            if matches!(
                col.column_type(),
                ColumnType::MYSQL_TYPE_FLOAT | ColumnType::MYSQL_TYPE_DOUBLE
            ) =>
        {
            match std::str::from_utf8(&b)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
            {
                Some(f) => Value::Float(f),
                None => text_or_bytes(b, col),
            }
        }
        M::Bytes(b) => text_or_bytes(b, col),
    }
}

/// A row's values, typed by its columns.
pub fn row(row: mysql_async::Row, columns: &[mysql_async::Column]) -> Vec<Value> {
    row.unwrap()
        .into_iter()
        .zip(columns)
        .map(|(v, c)| value(v, c))
        .collect()
}

/// A result column as the server described it: its type and its column definition's
/// length, decimals, flags and character set, which clients read (`TINYINT(1)` as a
/// boolean, a `VARCHAR(40)` as a VARCHAR, not a LONGTEXT).
pub fn column(c: &mysql_async::Column) -> mdbd_engine::backend::Column {
    mdbd_engine::backend::Column {
        name: c.name_str().into_owned(),
        type_name: type_name(c.column_type()),
        meta: mdbd_engine::backend::ColumnMeta {
            length: Some(c.column_length()),
            decimals: Some(c.decimals()),
            flags: Some(c.flags().bits()),
            charset: Some(c.character_set()),
            type_oid: None,
            json: false,
        },
    }
}

/// `MYSQL_TYPE_LONG` -> `long`.
pub fn type_name(t: ColumnType) -> String {
    format!("{t:?}")
        .trim_start_matches("MYSQL_TYPE_")
        .to_ascii_lowercase()
}

/// A mysql_async error: the server's error verbatim (number, SQLSTATE, message), a
/// broken connection as unreachable.
pub fn error(backend: &str, e: mysql_async::Error) -> BackendError {
    match e {
        // 1053 server shutdown in progress, 1927 connection killed (MariaDB), 1077/1078
        // normal/abnormal shutdown: the server is going away, not disagreeing.
        mysql_async::Error::Server(s) if matches!(s.code, 1053 | 1077 | 1078 | 1927) => {
            BackendError::Connection {
                backend: backend.into(),
                reason: format!("{} ({})", s.message, s.code),
            }
        }
        mysql_async::Error::Server(s) => BackendError::Db(DbError {
            code: s.code.to_string(),
            sqlstate: s.state,
            message: s.message,
            ..Default::default()
        }),
        mysql_async::Error::Driver(d) => BackendError::Db(DbError {
            code: "MDBD_DRIVER".into(),
            sqlstate: "HY000".into(),
            message: d.to_string(),
            ..Default::default()
        }),
        other => BackendError::Connection {
            backend: backend.into(),
            reason: other.to_string(),
        },
    }
}

/// The server error number, if `e` is a server error.
pub fn server_code(e: &BackendError) -> Option<u16> {
    match e {
        BackendError::Db(d) => d.code.parse().ok(),
        _ => None,
    }
}

/// Checks an identifier used in generated SQL.
pub fn identifier(name: &str) -> Result<String, BackendError> {
    crate::tool::identifier(name, 64)
}

/// Backquotes an identifier.
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}
