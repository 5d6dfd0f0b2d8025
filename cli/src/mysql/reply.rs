//! Cluster outcomes and errors as MySQL packets.

use super::packet::Packets;
use super::Conn;
use mdbd::mysql_wire::buf::put_lenenc_int;
use mdbd::mysql_wire::results::{self, ColumnDef};
use mdbd::mysql_wire::status;
use mdbd_engine::backend::{Column, Outcome, ResultSet, RowSink};
use mdbd_engine::cluster::ClusterError;
use mdbd_engine::log::LogError;
use mdbd_engine::log::Value;

/// Large result sets go out in pieces of about this size.
const SEND_AT: usize = 256 * 1024;

/// The code prefix of errors the front end raises itself.
pub const OWN: &str = "mdbd-mysql:";

/// The error number, SQLSTATE and message for a client. MySQL backends' errors pass
/// through verbatim; PostgreSQL and SQLite errors keep their SQLSTATE and message under
/// MySQL's "unknown error" number 1105, with PostgreSQL's code in the message.
pub fn error(e: &ClusterError, mysql_backends: bool) -> (u16, String, String) {
    match e {
        ClusterError::Db(db) if db.code.starts_with(OWN) => (
            db.code[OWN.len()..].parse().unwrap_or(1105),
            db.sqlstate.clone(),
            db.message.clone(),
        ),
        ClusterError::Db(db) => match db.code.parse::<u16>() {
            Ok(code) if mysql_backends => (code, db.sqlstate.clone(), db.message.clone()),
            _ => (
                1105,
                db.sqlstate.clone(),
                format!("{} ({})", db.message, db.code),
            ),
        },
        ClusterError::State(msg) => (1180, "HY000".into(), msg.clone()),
        ClusterError::Log(LogError::WriteFailed { disk_full, .. }) => (
            if *disk_full { 1021 } else { 1030 },
            "HY000".into(),
            e.to_string(),
        ),
        ClusterError::NoActiveBackend(msg) => {
            (2013, "HY000".into(), format!("no active backend: {msg}"))
        }
        other => (1105, "HY000".into(), other.to_string()),
    }
}

/// A read's result written to the client as the backend sends it (see
/// `ClusterSession::execute_streaming`): the column definitions and their EOF, then the
/// text rows, flushed every [`SEND_AT`] bytes; the final EOF (or an error) is the
/// caller's, once the statement's outcome is known.
pub(super) struct Streamed<'a> {
    packets: &'a mut Packets,
    extended_metadata: bool,
    status: u16,
    started: bool,
    failed: Option<std::io::Error>,
}

impl<'a> Streamed<'a> {
    pub(super) fn new(packets: &'a mut Packets, extended_metadata: bool, status: u16) -> Self {
        Streamed {
            packets,
            extended_metadata,
            status,
            started: false,
            failed: None,
        }
    }

    /// Whether rows went out, and the socket's error if writing failed.
    pub(super) fn finish(self) -> (bool, Option<std::io::Error>) {
        (self.started, self.failed)
    }
}

#[async_trait::async_trait]
impl RowSink for Streamed<'_> {
    async fn columns(&mut self, columns: &[Column]) {
        self.started = true;
        let shape = ResultSet {
            columns: columns.to_vec(),
            rows: Vec::new(),
        };
        let defs = results::columns(&shape, false);
        let mut count = Vec::new();
        put_lenenc_int(&mut count, defs.len() as u64);
        self.packets.push(&count);
        for d in &defs {
            self.packets.push(&d.encode(self.extended_metadata));
        }
        self.packets.push(&results::eof(self.status));
    }

    async fn row(&mut self, row: Vec<Value>) {
        if self.failed.is_some() {
            return;
        }
        self.packets.push(&results::text_row(&row));
        if self.packets.queued() >= SEND_AT {
            if let Err(e) = self.packets.flush().await {
                self.failed = Some(e);
            }
        }
    }

    fn started(&self) -> bool {
        self.started
    }
}

impl Conn {
    /// Ends a streamed result set: its final EOF (`more` when another result follows).
    pub(super) fn streamed_end(&mut self, more: bool) {
        let mut st = self.status();
        if more {
            st |= status::MORE_RESULTS_EXISTS;
        }
        self.packets.push(&results::eof(st));
    }

    pub(super) fn error(&mut self, e: &ClusterError) {
        let (code, state, message) = error(e, self.frontend.is_mysql);
        self.packets.push(&results::err(code, &state, &message));
    }

    /// Sends one statement's result; `more` when another result follows.
    pub(super) async fn outcome(
        &mut self,
        outcome: Outcome,
        binary: bool,
        more: bool,
    ) -> std::io::Result<()> {
        let mut st = self.status();
        if more {
            st |= status::MORE_RESULTS_EXISTS;
        }
        match outcome {
            Outcome::Command {
                rows,
                last_insert_id,
                ..
            } => {
                self.packets
                    .push(&results::ok(rows, last_insert_id.unwrap_or(0), st));
            }
            Outcome::Rows(rs) => {
                let columns = results::columns(&rs, binary);
                let mut count = Vec::new();
                put_lenenc_int(&mut count, columns.len() as u64);
                self.packets.push(&count);
                for c in &columns {
                    self.packets.push(&c.encode(self.login.extended_metadata));
                }
                self.packets.push(&results::eof(st));
                for row in &rs.rows {
                    let packet = if binary {
                        results::binary_row(row, &columns)
                    } else {
                        results::text_row(row)
                    };
                    self.packets.push(&packet);
                    if self.packets.queued() >= SEND_AT {
                        self.packets.flush().await?;
                    }
                }
                self.packets.push(&results::eof(st));
            }
        }
        Ok(())
    }

    /// The metadata of a prepared statement (params and columns).
    pub(super) fn defs(&mut self, defs: &[ColumnDef]) {
        if defs.is_empty() {
            return;
        }
        for d in defs {
            self.packets.push(&d.encode(self.login.extended_metadata));
        }
        let st = self.status();
        self.packets.push(&results::eof(st));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdbd_engine::backend::DbError;

    fn db(code: &str, state: &str) -> ClusterError {
        ClusterError::Db(DbError {
            code: code.into(),
            sqlstate: state.into(),
            message: "m".into(),
            ..Default::default()
        })
    }

    #[test]
    fn numbers_pass_through_from_mysql_backends_only() {
        assert_eq!(error(&db("1062", "23000"), true).0, 1062);
        // PostgreSQL's 23505 is a SQLSTATE, not a MySQL error number.
        let (code, state, message) = error(&db("23505", "23505"), false);
        assert_eq!((code, state.as_str()), (1105, "23505"));
        assert!(message.contains("23505"));
        assert_eq!(error(&db("mdbd-mysql:1049", "42000"), false).0, 1049);
    }
}
