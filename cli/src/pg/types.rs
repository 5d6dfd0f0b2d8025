//! Wire types: which PostgreSQL type a column or parameter is announced as, how values are
//! encoded for it (text or binary, as the client asked), and how parameters are decoded.
//!
//! Values cross the cluster as [`Value`]s. On PostgreSQL clusters a column is announced
//! with the backend's own type whenever mdbd can send it in the format the client asked
//! for ([`described_type`]): the types mdbd holds as PostgreSQL's text (numeric, dates,
//! uuid, json, ...) in either format (binary re-encoded by the backend's one codec,
//! `mdbd_backends::postgres::binary_form`), other built-in types (arrays, interval, ...)
//! in binary, where mdbd holds the server's own bytes. Other engines' columns keep the
//! closest wire type. Binary parameters are decoded for every type a statement's
//! ParameterDescription announces (arrays and intervals as the server's text of them);
//! binary parameters of other types (ranges, geometric types, ...) are refused with 0A000.

use bytes::Bytes;
use mdbd_engine::log::Value;
use pgwire::api::results::{DataRowEncoder, FieldFormat};
use pgwire::api::Type;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use postgres_types::FromSql;

/// The wire type for an engine's type name (PostgreSQL, MySQL or SQLite spelling).
pub fn wire_type(type_name: &str) -> Type {
    match type_name.to_ascii_lowercase().as_str() {
        "bool" | "boolean" => Type::BOOL,
        "int2" | "smallint" | "short" | "tiny" => Type::INT2,
        "int4" | "long" | "int24" => Type::INT4,
        "int8" | "bigint" | "integer" | "int" | "longlong" => Type::INT8,
        "float4" | "float" => Type::FLOAT4,
        "float8" | "double" | "real" | "double precision" => Type::FLOAT8,
        "varchar" | "var_string" => Type::VARCHAR,
        "bpchar" => Type::BPCHAR,
        "name" => Type::NAME,
        "bytea" | "blob" | "tiny_blob" | "medium_blob" | "long_blob" => Type::BYTEA,
        _ => Type::TEXT,
    }
}

/// The type a parameter is announced as (ParameterDescription): the backend's own when
/// [`decode`] takes it in binary (asyncpg and others encode by what is announced, so a
/// numeric announced as text would get a Decimal's text where a number is due), else the
/// closest wire type. On PostgreSQL clusters (`postgres`) arrays of the common types and
/// intervals are announced as theirs too: [`decode`] prints a binary one as the server's
/// text, which the backend parses back.
pub fn parameter_type(type_name: &str, postgres: bool) -> Type {
    text_type(type_name)
        .or_else(|| printed_type(type_name).filter(|_| postgres))
        .unwrap_or_else(|| wire_type(type_name))
}

/// The PostgreSQL type named `type_name` (PostgreSQL's own spelling, as a PostgreSQL
/// backend reports a column) when mdbd's value of it is exactly PostgreSQL's text output,
/// so a text-format column can be announced with its real type: integers, floats,
/// booleans, numeric, dates and timestamps (UTC), uuid, json, jsonb, the string types.
/// Types whose value mdbd holds as raw binary (arrays, interval, ...) are not among them.
pub fn text_type(type_name: &str) -> Option<Type> {
    Some(match type_name {
        "bool" => Type::BOOL,
        "int2" => Type::INT2,
        "int4" => Type::INT4,
        "int8" => Type::INT8,
        "oid" => Type::OID,
        "float4" => Type::FLOAT4,
        "float8" => Type::FLOAT8,
        "numeric" => Type::NUMERIC,
        "date" => Type::DATE,
        "time" => Type::TIME,
        "timetz" => Type::TIMETZ,
        "timestamp" => Type::TIMESTAMP,
        "timestamptz" => Type::TIMESTAMPTZ,
        "uuid" => Type::UUID,
        "json" => Type::JSON,
        "jsonb" => Type::JSONB,
        "text" => Type::TEXT,
        "varchar" => Type::VARCHAR,
        "bpchar" => Type::BPCHAR,
        "name" => Type::NAME,
        "char" => Type::CHAR,
        _ => return None,
    })
}

/// A type's size as RowDescription gives it (`pg_type.typlen`): the bytes of a
/// fixed-size type, -1 for variable-length ones, -2 for C strings.
pub fn type_size(oid: u32) -> i16 {
    match Type::from_oid(oid) {
        Some(Type::BOOL | Type::CHAR) => 1,
        Some(Type::INT2) => 2,
        Some(Type::INT4 | Type::OID | Type::FLOAT4 | Type::DATE | Type::REGCLASS | Type::XID) => 4,
        Some(
            Type::INT8
            | Type::FLOAT8
            | Type::TIME
            | Type::TIMESTAMP
            | Type::TIMESTAMPTZ
            | Type::MONEY
            | Type::PG_LSN,
        ) => 8,
        Some(Type::TIMETZ) => 12,
        Some(Type::UUID | Type::INTERVAL | Type::POINT) => 16,
        Some(Type::NAME) => 64,
        Some(Type::CSTRING) => -2,
        Some(_) => -1,
        // The only types mdbd announces by an oid of the database's own are enums
        // ([`user_type`]), four bytes each.
        None if oid >= 16_384 => 4,
        None => -1,
    }
}

/// A built-in PostgreSQL type by its name as tokio-postgres reports it (`_int4` for
/// `int4[]`); user-defined types (enums, domains) have no fixed oid and are not found.
fn builtin_type(name: &str) -> Option<Type> {
    static BY_NAME: std::sync::OnceLock<std::collections::HashMap<String, Type>> =
        std::sync::OnceLock::new();
    BY_NAME
        .get_or_init(|| {
            // Every built-in oid is below FirstNormalObjectId (16384).
            (0..16_384)
                .filter_map(Type::from_oid)
                .map(|t| (t.name().to_string(), t))
                .collect()
        })
        .get(name)
        .cloned()
}

/// A built-in type (an array of a common type, interval) whose values mdbd holds as the
/// server's binary bytes but prints as the server would (`text_form`).
pub fn printed_type(type_name: &str) -> Option<Type> {
    builtin_type(type_name).filter(mdbd_backends::postgres::has_text_form)
}

/// A type defined in the database that the backend announced by its oid (an enum, whose
/// values are text in both formats), announced to the client as the backend did. Only
/// PostgreSQL backends give such oids.
pub fn user_type(column: &mdbd_engine::backend::Column) -> Option<Type> {
    let oid = column.meta.type_oid?;
    Some(Type::new(
        column.type_name.clone(),
        oid,
        postgres_types::Kind::Enum(Vec::new()),
        String::new(),
    ))
}

/// The type an extended-protocol column is announced as, for a client that asked for
/// `format` (`None`: a statement's Describe, before formats are chosen). On PostgreSQL
/// clusters (`postgres`) the backend's own type where mdbd can send it in that format:
/// text-held types always, other built-in types in binary (mdbd holds their binary
/// bytes), and in text those it can print ([`printed_type`]); the rest stay `text`.
/// Other engines: the closest wire type.
pub fn described_type(type_name: &str, format: Option<FieldFormat>, postgres: bool) -> Type {
    if !postgres {
        return wire_type(type_name);
    }
    if let Some(t) = text_type(type_name) {
        return t;
    }
    match format {
        Some(FieldFormat::Text) => printed_type(type_name).unwrap_or_else(|| wire_type(type_name)),
        _ => builtin_type(type_name).unwrap_or_else(|| wire_type(type_name)),
    }
}

fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message,
    )))
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "t" } else { "f" }.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Text(t) => t.clone(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Text(t) => t.trim().parse().ok(),
        _ => None,
    }
}

fn float_of(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        Value::Text(t) => t.trim().parse().ok(),
        _ => None,
    }
}

/// Bytes written as they are, in either format: text or binary mdbd has already made as
/// the server would (pgwire's own `String` quotes a whole array's text as one element).
#[derive(Debug)]
struct Verbatim<'a>(&'a [u8]);

impl postgres_types::ToSql for Verbatim<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0);
        Ok(postgres_types::IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres_types::to_sql_checked!();
}

impl pgwire::types::ToSqlText for Verbatim<'_> {
    fn to_sql_text(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0);
        Ok(postgres_types::IsNull::No)
    }
}

/// Encodes `v` as the next field, whose announced type is `t`, in `format`.
pub fn encode(
    enc: &mut DataRowEncoder,
    v: &Value,
    t: &Type,
    format: FieldFormat,
) -> PgWireResult<()> {
    if matches!(v, Value::Null) {
        return enc.encode_field(&None::<i64>);
    }
    if format == FieldFormat::Binary {
        if let Some(binary) = mdbd_backends::postgres::binary_form(t, v) {
            let bytes = binary.map_err(|e| {
                user_error(
                    "22P03",
                    format!(
                        "value {:?} cannot be sent as binary {}: {e}",
                        text_of(v),
                        t.name()
                    ),
                )
            })?;
            return enc.encode_field(&Verbatim(&bytes));
        }
        if let Value::Bytes(b) = v {
            // The server's own binary form of a type mdbd does not decode (arrays,
            // interval, ...), announced as that type: passed on as it came.
            return enc.encode_field(&Verbatim(b));
        }
    } else if let Value::Bytes(b) = v {
        if let Some(text) = mdbd_backends::postgres::text_form(t, b) {
            let text = text.map_err(|e| {
                user_error(
                    "22P03",
                    format!("a {} value cannot be printed: {e}", t.name()),
                )
            })?;
            return enc.encode_field(&Verbatim(text.as_bytes()));
        }
    }
    let mismatch = || {
        user_error(
            "22P02",
            format!("value {:?} cannot be sent as {}", text_of(v), t.name()),
        )
    };
    match *t {
        Type::BOOL => match v {
            Value::Bool(b) => enc.encode_field(b),
            other => enc.encode_field(&(int_of(other).ok_or_else(mismatch)? != 0)),
        },
        Type::INT2 => {
            let i = int_of(v).and_then(|i| i16::try_from(i).ok());
            enc.encode_field(&i.ok_or_else(mismatch)?)
        }
        Type::INT4 => {
            let i = int_of(v).and_then(|i| i32::try_from(i).ok());
            enc.encode_field(&i.ok_or_else(mismatch)?)
        }
        Type::INT8 => enc.encode_field(&int_of(v).ok_or_else(mismatch)?),
        Type::FLOAT4 | Type::FLOAT8 if format == FieldFormat::Text => {
            let f = float_of(v).ok_or_else(mismatch)?;
            let text = mdbd_backends::postgres::float_text(f, *t == Type::FLOAT4);
            enc.encode_field(&Verbatim(text.as_bytes()))
        }
        Type::FLOAT4 => enc.encode_field(&(float_of(v).ok_or_else(mismatch)? as f32)),
        Type::FLOAT8 => enc.encode_field(&float_of(v).ok_or_else(mismatch)?),
        Type::BYTEA => match v {
            Value::Bytes(b) => enc.encode_field(b),
            other => enc.encode_field(&text_of(other).into_bytes()),
        },
        _ => enc.encode_field(&Verbatim(text_of(v).as_bytes())),
    }
}

/// A text-format parameter for a cluster whose engine takes values rather than text to
/// parse (SQLite): the text of an integer, float or boolean parameter becomes that value,
/// so it is stored and compared as one (`'42'` in an expression stays text on SQLite, and
/// `'true'` is no boolean there). Text that does not parse stays text.
pub fn typed_text(v: Value, t: &Type) -> Value {
    let Value::Text(text) = &v else {
        return v;
    };
    let s = text.trim();
    let parsed = match *t {
        Type::INT2 | Type::INT4 | Type::INT8 => s.parse().ok().map(Value::Int),
        Type::FLOAT4 | Type::FLOAT8 => s.parse().ok().map(Value::Float),
        Type::BOOL => match s.to_ascii_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => Some(Value::Bool(true)),
            "f" | "false" | "n" | "no" | "off" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    };
    parsed.unwrap_or(v)
}

/// Decodes one bound parameter: text-format parameters stay text (the backend parses
/// them as it would a literal), binary ones are read by their type.
pub fn decode(raw: Option<&Bytes>, format: FieldFormat, t: &Type) -> PgWireResult<Value> {
    let Some(raw) = raw else {
        return Ok(Value::Null);
    };
    let bad = |e: Box<dyn std::error::Error + Sync + Send>| {
        user_error(
            "22P03",
            format!(
                "invalid binary value for parameter of type {}: {e}",
                t.name()
            ),
        )
    };
    if format == FieldFormat::Text {
        return String::from_utf8(raw.to_vec())
            .map(Value::Text)
            .map_err(|e| user_error("22021", format!("parameter is not UTF-8: {e}")));
    }
    Ok(match *t {
        Type::BOOL => Value::Bool(bool::from_sql(t, raw).map_err(bad)?),
        Type::INT2 => Value::Int(i16::from_sql(t, raw).map_err(bad)?.into()),
        Type::INT4 => Value::Int(i32::from_sql(t, raw).map_err(bad)?.into()),
        Type::INT8 => Value::Int(i64::from_sql(t, raw).map_err(bad)?),
        Type::FLOAT4 => Value::Float(f32::from_sql(t, raw).map_err(bad)?.into()),
        Type::FLOAT8 => Value::Float(f64::from_sql(t, raw).map_err(bad)?),
        Type::BYTEA => Value::Bytes(raw.to_vec()),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
            Value::Text(String::from_utf8(raw.to_vec()).map_err(|e| bad(Box::new(e)))?)
        }
        // PostgreSQL's binary forms as the PostgreSQL backend reads them (one decoder):
        // dates and timestamps become UTC text, numeric its exact digits.
        Type::OID
        | Type::CHAR
        | Type::JSONB
        | Type::UUID
        | Type::NUMERIC
        | Type::DATE
        | Type::TIME
        | Type::TIMETZ
        | Type::TIMESTAMP
        | Type::TIMESTAMPTZ => {
            match mdbd_backends::postgres::binary_value(t, raw).map_err(bad)? {
                Value::Bytes(_) => return Err(bad("not a value of this type".into())),
                v => v,
            }
        }
        // Arrays and intervals: the server's text of them, which the backend parses back.
        _ => match mdbd_backends::postgres::text_form(t, raw) {
            Some(text) => Value::Text(text.map_err(bad)?),
            None => {
                return Err(user_error(
                "0A000",
                format!(
                    "binary parameters of type {} are not supported; send this parameter in text format",
                    t.name()
                ),
            ))
            }
        },
    })
}

#[cfg(test)]
#[path = "types_tests.rs"]
mod tests;
