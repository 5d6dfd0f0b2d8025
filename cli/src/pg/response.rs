//! Cluster outcomes and errors as PostgreSQL wire responses.

use super::types;
use futures_util::stream;
use mdbd_engine::backend::{Column, Outcome, ResultSet};
use mdbd_engine::cluster::ClusterError;
use mdbd_engine::log::{LogError, Value};
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::Type;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::response::{ErrorResponse, NoticeResponse};
use pgwire::messages::PgWireBackendMessage;
use std::sync::Arc;

/// The wire type of a text-format column: the backend's own type where mdbd's values of
/// it are PostgreSQL's text output (a PostgreSQL column: int4 stays int4, numeric stays
/// numeric) or one mdbd prints as the server does (arrays, interval: `postgres` clusters
/// only), else from its values when they agree (SQLite columns are dynamically typed),
/// else from the declared type name, else text.
fn column_type(rs: &ResultSet, i: usize, postgres: bool) -> Type {
    if let Some(t) = types::user_type(&rs.columns[i]) {
        return t;
    }
    if let Some(t) = types::text_type(&rs.columns[i].type_name) {
        return t;
    }
    if let Some(t) = types::printed_type(&rs.columns[i].type_name).filter(|_| postgres) {
        return t;
    }
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

/// Fields for a simple-query result (text format; see [`column_type`]).
pub fn simple_fields(rs: &ResultSet, postgres: bool) -> Vec<FieldInfo> {
    (0..rs.columns.len())
        .map(|i| {
            FieldInfo::new(
                rs.columns[i].name.clone(),
                None,
                None,
                column_type(rs, i, postgres),
                FieldFormat::Text,
            )
        })
        .collect()
}

/// Fields for the extended protocol: types from the column type names alone, so Describe
/// (which has no rows) and Execute announce the same; formats as the client asked (see
/// [`types::described_type`]; `postgres`: the cluster's backends are PostgreSQL).
pub fn described_fields(
    columns: &[Column],
    format: Option<&Format>,
    postgres: bool,
) -> Vec<FieldInfo> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let asked = format.map(|f| f.format_for(i));
            FieldInfo::new(
                c.name.clone(),
                None,
                None,
                types::user_type(c)
                    .unwrap_or_else(|| types::described_type(&c.type_name, asked, postgres)),
                asked.unwrap_or(FieldFormat::Text),
            )
        })
        .collect()
}

fn rows(rs: ResultSet, fields: Vec<FieldInfo>) -> PgWireResult<Response<'static>> {
    let fields = Arc::new(fields);
    let mut out = Vec::with_capacity(rs.rows.len());
    for row in rs.rows {
        let mut enc = DataRowEncoder::new(fields.clone());
        for (v, f) in row.iter().zip(fields.iter()) {
            types::encode(&mut enc, v, f.datatype(), f.format())?;
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

/// One statement's response; an error is returned as `Err` (see [`failure`]).
pub fn outcome(
    result: Result<Outcome, ClusterError>,
    fields: impl FnOnce(&ResultSet) -> Vec<FieldInfo>,
) -> PgWireResult<Response<'static>> {
    match result {
        Ok(Outcome::Rows(rs)) => {
            let f = fields(&rs);
            rows(rs, f)
        }
        Ok(Outcome::Command { tag: t, rows, .. }) => Ok(match t.as_str() {
            "BEGIN" => Response::TransactionStart(Tag::new("BEGIN")),
            "COMMIT" | "ROLLBACK" => Response::TransactionEnd(Tag::new(&t)),
            _ => Response::Execution(tag(&t, rows)),
        }),
        Err(e) => Err(failure(&e)),
    }
}

/// An error as PostgreSQL's ErrorResponse fields, every one the server sent, in its order.
/// Carried through pgwire as an `ApiError` (pgwire's own `ErrorInfo` has no room for the
/// schema, table, column, type and constraint fields) and written by `serve.rs`.
#[derive(Debug)]
pub struct WireError(pub Vec<(u8, String)>);

impl WireError {
    /// The severity field: `ERROR` or `FATAL`.
    pub fn severity(&self) -> &str {
        self.0
            .iter()
            .find(|(code, _)| *code == b'S')
            .map_or("ERROR", |(_, v)| v.as_str())
    }

    /// A FATAL error ends the connection after it is sent.
    pub fn is_fatal(&self) -> bool {
        self.severity() == "FATAL"
    }

    /// The fields of any error pgwire returns, ours with all of them.
    pub fn from_pgwire(e: PgWireError) -> WireError {
        match e {
            PgWireError::ApiError(inner) => match inner.downcast::<WireError>() {
                Ok(ours) => *ours,
                Err(other) => WireError::from_info(PgWireError::ApiError(other).into()),
            },
            other => WireError::from_info(other.into()),
        }
    }

    /// Counts a reported position from the start of `text`, the whole string the client
    /// sent, instead of from the start of `statement`, a part of it.
    pub fn shift_position(&mut self, text: &str, statement: &str) {
        let start = (statement.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
        let Some(before) = text.get(..start) else {
            return;
        };
        let offset = before.chars().count();
        for (code, value) in &mut self.0 {
            if *code == b'P' {
                if let Ok(p) = value.parse::<usize>() {
                    *value = (p + offset).to_string();
                }
            }
        }
    }

    fn from_info(info: ErrorInfo) -> WireError {
        WireError(ErrorResponse::from(info).fields)
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let field = |c: u8| {
            self.0
                .iter()
                .find(|(k, _)| *k == c)
                .map(|(_, v)| v.as_str())
        };
        write!(
            f,
            "{}: {} ({})",
            self.severity(),
            field(b'M').unwrap_or(""),
            field(b'C').unwrap_or("")
        )
    }
}

impl std::error::Error for WireError {}

/// A cluster error as a pgwire error carrying every field (see [`WireError`]).
pub fn failure(e: &ClusterError) -> PgWireError {
    PgWireError::ApiError(Box::new(wire_error(e)))
}

/// The optional fields of an error or notice that the server sent, in PostgreSQL's codes.
fn optional_fields(f: &mdbd_engine::backend::ErrorFields) -> Vec<(u8, String)> {
    let position = f.position.map(|p| p.to_string());
    let text = [
        (b'D', f.detail.clone()),
        (b'H', f.hint.clone()),
        (b'P', position),
        (b'p', f.internal_position.map(|p| p.to_string())),
        (b'q', f.internal_query.clone()),
        (b'W', f.context.clone()),
        (b's', f.schema.clone()),
        (b't', f.table.clone()),
        (b'c', f.column.clone()),
        (b'd', f.datatype.clone()),
        (b'n', f.constraint.clone()),
        (b'F', f.file.clone()),
        (b'L', f.line.map(|l| l.to_string())),
        (b'R', f.routine.clone()),
    ];
    text.into_iter()
        .filter_map(|(c, v)| v.map(|v| (c, v)))
        .collect()
}

/// A backend's notice, with every field it sent (`RAISE NOTICE`, "... skipping").
/// Sends `notices` (a request's, before its result) to the client.
pub async fn send_notices<C>(
    client: &mut C,
    notices: Vec<mdbd_engine::backend::DbError>,
) -> PgWireResult<()>
where
    C: futures_util::Sink<PgWireBackendMessage> + Unpin,
    PgWireError: From<C::Error>,
{
    use futures_util::SinkExt;
    for n in &notices {
        client
            .feed(PgWireBackendMessage::NoticeResponse(notice(n)))
            .await?;
    }
    Ok(())
}

pub fn notice(db: &mdbd_engine::backend::DbError) -> NoticeResponse {
    let severity = db
        .fields
        .as_deref()
        .and_then(|f| f.severity.clone())
        .unwrap_or_else(|| "NOTICE".into());
    let mut out = vec![
        (b'S', severity.clone()),
        (b'V', severity),
        (b'C', db.sqlstate.clone()),
        (b'M', db.message.clone()),
    ];
    if let Some(f) = db.fields.as_deref() {
        out.extend(optional_fields(f));
    }
    NoticeResponse::new(out)
}

/// A cluster error as PostgreSQL's fields: the backend's SQLSTATE, message and every
/// optional field verbatim.
fn wire_error(e: &ClusterError) -> WireError {
    let ClusterError::Db(db) = e else {
        return WireError::from_info(error(e));
    };
    let Some(f) = db.fields.as_deref() else {
        return WireError::from_info(error(e));
    };
    let info = error(e);
    let mut out = vec![
        (b'S', info.severity.clone()),
        (b'V', info.severity),
        (b'C', info.code),
        (b'M', info.message),
    ];
    out.extend(optional_fields(f));
    WireError(out)
}

/// A cluster error as a PostgreSQL error: the backend's SQLSTATE and message verbatim.
fn error(e: &ClusterError) -> ErrorInfo {
    match e {
        // A transaction ended by a timeout ends the connection too, as on PostgreSQL.
        ClusterError::Db(db) if matches!(db.sqlstate.as_str(), "25P03" | "25P04") => {
            ErrorInfo::new("FATAL".into(), db.sqlstate.clone(), db.message.clone())
        }
        ClusterError::Db(db) => {
            ErrorInfo::new("ERROR".into(), db.sqlstate.clone(), db.message.clone())
        }
        ClusterError::State(msg) => ErrorInfo::new("ERROR".into(), "25P02".into(), msg.clone()),
        ClusterError::Log(LogError::WriteFailed { disk_full, .. }) => ErrorInfo::new(
            "ERROR".into(),
            if *disk_full { "53100" } else { "58030" }.into(),
            e.to_string(),
        ),
        ClusterError::NoActiveBackend(msg) => ErrorInfo::new(
            "ERROR".into(),
            "57P03".into(),
            format!("no active backend: {msg}"),
        ),
        other => ErrorInfo::new("ERROR".into(), "XX000".into(), other.to_string()),
    }
}
