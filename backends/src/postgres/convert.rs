//! Between tokio-postgres and the engine's uniform types.
//!
//! Parameters are sent in **text** format, so the server parses them with the input
//! function of whatever type it inferred (numeric, date, jsonb, ...), exactly as if the
//! client had typed the literal; only bytea goes binary. Results arrive in binary; common
//! types decode to native values, numeric/date/timestamp to their canonical text, and any
//! other type to its raw binary form (deterministic, so checksums still compare).

use super::{binary, datetime};
use bytes::BytesMut;
use mdbd_engine::backend::{BackendError, DbError, ErrorFields};
use mdbd_engine::log::Value;
use postgres_types::{to_sql_checked, Format, FromSql, IsNull, Kind, ToSql, Type};
use std::error::Error;

type BoxError = Box<dyn Error + Sync + Send>;

/// A parameter, sent in text format (binary for bytea).
#[derive(Debug)]
pub struct PgParam<'a>(pub &'a Value);

impl ToSql for PgParam<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let text = match self.0 {
            Value::Null => return Ok(IsNull::Yes),
            Value::Bytes(b) if *ty == Type::BYTEA => {
                out.extend_from_slice(b);
                return Ok(IsNull::No);
            }
            Value::Bytes(b) => format!(
                "\\x{}",
                b.iter().map(|x| format!("{x:02x}")).collect::<String>()
            ),
            Value::Bool(b) => if *b { "t" } else { "f" }.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) if f.is_nan() => "NaN".into(),
            Value::Float(f) if f.is_infinite() => {
                if *f > 0.0 { "Infinity" } else { "-Infinity" }.into()
            }
            Value::Float(f) => format!("{f:?}"),
            Value::Text(t) => t.clone(),
        };
        out.extend_from_slice(text.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, ty: &Type) -> Format {
        if matches!(self.0, Value::Bytes(_)) && *ty == Type::BYTEA {
            Format::Binary
        } else {
            Format::Text
        }
    }

    to_sql_checked!();
}

/// A result value of any type.
pub struct PgValue(pub Value);

fn be<const N: usize>(raw: &[u8]) -> Result<[u8; N], BoxError> {
    raw.try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", raw.len()).into())
}

impl<'a> FromSql<'a> for PgValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let v = match *ty {
            Type::BOOL => Value::Bool(raw.first().copied().unwrap_or(0) != 0),
            Type::INT2 => Value::Int(i16::from_be_bytes(be(raw)?) as i64),
            Type::INT4 => Value::Int(i32::from_be_bytes(be(raw)?) as i64),
            Type::INT8 => Value::Int(i64::from_be_bytes(be(raw)?)),
            Type::OID => Value::Int(u32::from_be_bytes(be(raw)?) as i64),
            Type::FLOAT4 => Value::Float(f32::from_be_bytes(be(raw)?) as f64),
            Type::FLOAT8 => Value::Float(f64::from_be_bytes(be(raw)?)),
            Type::BYTEA => Value::Bytes(raw.to_vec()),
            Type::NUMERIC => Value::Text(binary::numeric_text(raw)?),
            Type::DATE => Value::Text(datetime::date_text(i32::from_be_bytes(be(raw)?))),
            Type::TIME => Value::Text(datetime::time_text(i64::from_be_bytes(be(raw)?))),
            Type::TIMETZ => {
                let raw: [u8; 12] = be(raw)?;
                let micros = i64::from_be_bytes(raw[..8].try_into()?);
                let west = i32::from_be_bytes(raw[8..].try_into()?);
                Value::Text(datetime::timetz_text(micros, west))
            }
            Type::TIMESTAMP => Value::Text(datetime::timestamp_text(
                i64::from_be_bytes(be(raw)?),
                false,
            )),
            Type::TIMESTAMPTZ => {
                Value::Text(datetime::timestamp_text(i64::from_be_bytes(be(raw)?), true))
            }
            Type::UUID => {
                let h: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                if h.len() != 32 {
                    return Err("uuid of wrong length".into());
                }
                Value::Text(format!(
                    "{}-{}-{}-{}-{}",
                    &h[0..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                ))
            }
            // `"char"` (pg_class.relkind, ...): one byte, which is its text.
            Type::CHAR => Value::Text(String::from_utf8(raw.to_vec())?),
            Type::JSONB if raw.first() == Some(&1) => {
                Value::Text(String::from_utf8_lossy(&raw[1..]).into_owned())
            }
            Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::UNKNOWN
            | Type::JSON
            | Type::XML => Value::Text(String::from_utf8(raw.to_vec())?),
            // An enum's binary form is its label; a domain's is its base type's.
            _ if matches!(ty.kind(), Kind::Enum(_)) => {
                Value::Text(String::from_utf8(raw.to_vec())?)
            }
            _ => match ty.kind() {
                Kind::Domain(base) => return PgValue::from_sql(base, raw),
                _ => Value::Bytes(raw.to_vec()),
            },
        };
        Ok(PgValue(v))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(PgValue(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A tokio-postgres error: the server's own error verbatim, anything else as unreachable.
/// SQLSTATEs that say the server is going away or cannot serve (connection exceptions,
/// `admin_shutdown`, `crash_shutdown`, `cannot_connect_now`): the server is unreachable,
/// not disagreeing. A backend stopped under load answers its in-flight statements with
/// 57P01; counted as a result, it would look like divergence and lose its trusted marker.
pub fn unavailable(sqlstate: &str) -> bool {
    sqlstate.starts_with("08") || matches!(sqlstate, "57P01" | "57P02" | "57P03")
}

pub fn error(backend: &str, e: tokio_postgres::Error) -> BackendError {
    match e.as_db_error() {
        Some(db) if unavailable(db.code().code()) => BackendError::Connection {
            backend: backend.to_string(),
            reason: format!("{} ({})", db.message(), db.code().code()),
        },
        Some(db) => BackendError::Db(db_error(db)),
        None => {
            // tokio-postgres says "error performing TLS handshake" and keeps the why (a
            // certificate for another name, an unknown CA) in its source chain.
            let mut reason = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                reason.push_str(": ");
                reason.push_str(&cause.to_string());
                source = cause.source();
            }
            BackendError::Connection {
                backend: backend.to_string(),
                reason,
            }
        }
    }
}

/// Checks a possibly schema-qualified identifier (`mdbd_state`, `ops.mdbd_state`).
pub fn qualified_identifier(name: &str) -> Result<String, BackendError> {
    let ok = !name.is_empty()
        && name.split('.').count() <= 2
        && name.split('.').all(|part| {
            !part.is_empty()
                && part.len() <= 63
                && part
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if ok {
        Ok(name.to_string())
    } else {
        Err(BackendError::Config(format!(
            "marker table {name:?}: use [schema.]name in lower case letters, digits and _"
        )))
    }
}

/// The optional fields of a PostgreSQL error, as the server sent them.
/// A server's error as the engine's, with every field it sent.
fn db_error(db: &tokio_postgres::error::DbError) -> DbError {
    DbError {
        code: db.code().code().to_string(),
        sqlstate: db.code().code().to_string(),
        message: db.message().to_string(),
        fields: Some(Box::new(error_fields(db))),
    }
}

/// A notice (NoticeResponse) as the engine's error type, its severity kept.
pub fn notice(db: &tokio_postgres::error::DbError) -> DbError {
    let mut notice = db_error(db);
    if let Some(fields) = notice.fields.as_deref_mut() {
        fields.severity = Some(db.severity().to_string());
    }
    notice
}

fn error_fields(db: &tokio_postgres::error::DbError) -> ErrorFields {
    use tokio_postgres::error::ErrorPosition;
    let owned = |s: Option<&str>| s.map(str::to_string);
    let (position, internal_position, internal_query) = match db.position() {
        Some(ErrorPosition::Original(p)) => (Some(*p), None, None),
        Some(ErrorPosition::Internal { position, query }) => {
            (None, Some(*position), Some(query.clone()))
        }
        None => (None, None, None),
    };
    ErrorFields {
        severity: None,
        detail: owned(db.detail()),
        hint: owned(db.hint()),
        position,
        internal_position,
        internal_query,
        context: owned(db.where_()),
        schema: owned(db.schema()),
        table: owned(db.table()),
        column: owned(db.column()),
        datatype: owned(db.datatype()),
        constraint: owned(db.constraint()),
        file: owned(db.file()),
        line: db.line(),
        routine: owned(db.routine()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_and_connection_states_mean_unreachable() {
        for s in ["57P01", "57P02", "57P03", "08006", "08003"] {
            assert!(unavailable(s), "{s}");
        }
        for s in ["23505", "42P01", "40001", "57014"] {
            assert!(!unavailable(s), "{s}");
        }
    }
}
