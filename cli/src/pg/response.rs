//! Cluster outcomes and errors as PostgreSQL wire responses.

use futures_util::stream;
use mdbd_engine::backend::{Outcome, ResultSet};
use mdbd_engine::cluster::ClusterError;
use mdbd_engine::log::Value;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::Type;
use pgwire::error::{ErrorInfo, PgWireResult};
use std::sync::Arc;

/// The wire type of a column: from its values when they agree (SQLite columns are
/// dynamically typed), else from the declared type name, else text.
fn column_type(rs: &ResultSet, i: usize) -> Type {
    let mut seen: Option<Type> = None;
    for row in &rs.rows {
        let t = match &row[i] {
            Value::Null => continue,
            Value::Bool(_) => Type::BOOL,
            Value::Int(_) => Type::INT8,
            Value::Float(_) => Type::FLOAT8,
            Value::Text(_) => Type::TEXT,
            Value::Bytes(_) => Type::BYTEA,
        };
        match &seen {
            None => seen = Some(t),
            Some(s) if *s == t => {}
            Some(_) => return Type::TEXT,
        }
    }
    seen.unwrap_or_else(
        || match rs.columns[i].type_name.to_ascii_lowercase().as_str() {
            "int2" | "int4" | "int8" | "integer" | "int" | "bigint" | "smallint" | "long"
            | "longlong" | "tiny" | "short" => Type::INT8,
            "float4" | "float8" | "real" | "double" | "float" => Type::FLOAT8,
            "bool" | "boolean" => Type::BOOL,
            "bytea" | "blob" => Type::BYTEA,
            _ => Type::TEXT,
        },
    )
}

fn rows(rs: ResultSet) -> PgWireResult<Response<'static>> {
    let fields: Vec<FieldInfo> = (0..rs.columns.len())
        .map(|i| {
            FieldInfo::new(
                rs.columns[i].name.clone(),
                None,
                None,
                column_type(&rs, i),
                FieldFormat::Text,
            )
        })
        .collect();
    let fields = Arc::new(fields);
    let mut out = Vec::with_capacity(rs.rows.len());
    for row in rs.rows {
        let mut enc = DataRowEncoder::new(fields.clone());
        for v in row {
            match v {
                Value::Null => enc.encode_field(&None::<i64>)?,
                Value::Bool(b) => enc.encode_field(&b)?,
                Value::Int(i) => enc.encode_field(&i)?,
                Value::Float(f) => enc.encode_field(&f)?,
                Value::Text(t) => enc.encode_field(&t)?,
                Value::Bytes(b) => enc.encode_field(&b)?,
            }
        }
        out.push(enc.finish());
    }
    Ok(Response::Query(QueryResponse::new(
        fields,
        stream::iter(out),
    )))
}

fn tag(tag: &str, rows: u64) -> Tag {
    let word = tag.split_whitespace().next().unwrap_or("");
    match word {
        "INSERT" => Tag::new("INSERT").with_oid(0).with_rows(rows as usize),
        "UPDATE" | "DELETE" | "SELECT" | "MERGE" | "COPY" | "FETCH" | "MOVE" => {
            Tag::new(word).with_rows(rows as usize)
        }
        _ => Tag::new(tag),
    }
}

/// One statement's response.
pub fn outcome(result: Result<Outcome, ClusterError>) -> PgWireResult<Response<'static>> {
    match result {
        Ok(Outcome::Rows(rs)) => rows(rs),
        Ok(Outcome::Command { tag: t, rows, .. }) => Ok(match t.as_str() {
            "BEGIN" => Response::TransactionStart(Tag::new("BEGIN")),
            "COMMIT" | "ROLLBACK" => Response::TransactionEnd(Tag::new(&t)),
            _ => Response::Execution(tag(&t, rows)),
        }),
        Err(e) => Ok(Response::Error(Box::new(error(&e)))),
    }
}

/// A cluster error as a PostgreSQL error: the backend's SQLSTATE and message verbatim.
pub fn error(e: &ClusterError) -> ErrorInfo {
    match e {
        ClusterError::Db(db) => {
            ErrorInfo::new("ERROR".into(), db.sqlstate.clone(), db.message.clone())
        }
        ClusterError::State(msg) => ErrorInfo::new("ERROR".into(), "25P02".into(), msg.clone()),
        ClusterError::NoActiveBackend(msg) => ErrorInfo::new(
            "ERROR".into(),
            "57P03".into(),
            format!("no active backend: {msg}"),
        ),
        other => ErrorInfo::new("ERROR".into(), "XX000".into(), other.to_string()),
    }
}
