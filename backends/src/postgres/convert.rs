//! Between tokio-postgres and the engine's uniform types.
//!
//! Parameters are sent in **text** format, so the server parses them with the input
//! function of whatever type it inferred (numeric, date, jsonb, ...), exactly as if the
//! client had typed the literal; only bytea goes binary. Results arrive in binary; common
//! types decode to native values, numeric/date/timestamp to their canonical text, and any
//! other type to its raw binary form (deterministic, so checksums still compare).

use bytes::BytesMut;
use mdbd_engine::backend::{BackendError, DbError, ErrorFields};
use mdbd_engine::log::Value;
use postgres_types::{to_sql_checked, Format, FromSql, IsNull, ToSql, Type};
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

/// Days since 2000-01-01 as `YYYY-MM-DD` (proleptic Gregorian).
fn date(days: i64) -> String {
    let z = days + 10_957 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{m:02}-{d:02}", yoe + era * 400 + i64::from(m <= 2))
}

fn timestamp(micros: i64) -> String {
    let (days, rem) = (
        micros.div_euclid(86_400_000_000),
        micros.rem_euclid(86_400_000_000),
    );
    let (s, us) = (rem / 1_000_000, rem % 1_000_000);
    format!(
        "{} {:02}:{:02}:{:02}.{us:06}",
        date(days),
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// PostgreSQL's binary numeric (digit count, weight, sign, display scale, then base-10000
/// digits) as its exact text, which PostgreSQL parses back to the same value. Checked
/// throughout: the bytes may come from a client's binary parameter.
fn numeric(raw: &[u8]) -> Result<String, BoxError> {
    let word = |i: usize| -> Result<i16, BoxError> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "short numeric".into())
    };
    let ndigits = usize::try_from(word(0)?).map_err(|_| "negative numeric digit count")?;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    let dscale = usize::try_from(word(3)?).map_err(|_| "negative numeric scale")?;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        0x0000 | 0x4000 => {}
        _ => return Err("bad numeric sign".into()),
    }
    if raw.len() != 8 + ndigits * 2 {
        return Err("numeric length mismatch".into());
    }
    let mut digits = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        let d = word(4 + i)?;
        if !(0..10_000).contains(&d) {
            return Err("numeric digit out of range".into());
        }
        digits.push(d);
    }
    let digit = |i: i32| -> i16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                out.push_str(&digit(i).to_string());
            } else {
                out.push_str(&format!("{:04}", digit(i)));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut i = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit(i)));
            i += 1;
        }
        fraction.truncate(dscale);
        out.push('.');
        out.push_str(&fraction);
    }
    Ok(out)
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
            Type::NUMERIC => Value::Text(numeric(raw)?),
            Type::DATE => Value::Text(date(i32::from_be_bytes(be(raw)?) as i64)),
            Type::TIMESTAMP => Value::Text(timestamp(i64::from_be_bytes(be(raw)?))),
            Type::TIMESTAMPTZ => {
                Value::Text(format!("{}+00", timestamp(i64::from_be_bytes(be(raw)?))))
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
            _ => Value::Bytes(raw.to_vec()),
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
        Some(db) => BackendError::Db(DbError {
            code: db.code().code().to_string(),
            sqlstate: db.code().code().to_string(),
            message: db.message().to_string(),
            fields: Some(Box::new(error_fields(db))),
        }),
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

    #[test]
    fn decodes_numeric_dates_and_timestamps() {
        // 1234.5600 = weight 0 digits [1234, 5600], dscale 4
        let raw = [0, 2, 0, 0, 0, 0, 0, 4, 0x04, 0xD2, 0x15, 0xE0];
        assert_eq!(numeric(&raw).unwrap(), "1234.5600");
        // -0.05 = weight -1, digits [500], dscale 2, negative
        let raw = [0, 1, 0xFF, 0xFF, 0x40, 0, 0, 2, 0x01, 0xF4];
        assert_eq!(numeric(&raw).unwrap(), "-0.05");
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(9190), "2025-02-28");
        assert_eq!(timestamp(-1), "1999-12-31 23:59:59.999999");
    }
}
