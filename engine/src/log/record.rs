//! The record model: what one entry of the delta log says.
//!
//! A record is either a whole client **write transaction** (ordered statements with typed
//! parameters, plus the session settings replay needs to reproduce it) or a **control**
//! record that the join protocol writes into the same order (join started at L0, backend
//! joined, ...). The LSN is not part of the encoded record: it is implied by the record's
//! position in its frame (see [`frame`](super::frame)), so it can never disagree with it.

use super::lsn::Lsn;
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// A typed statement parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// Any integer that fits in 64 bits.
    Int(i64),
    /// A double-precision float.
    Float(f64),
    /// Text (also used for types sent in text form: numeric, dates, json, ...).
    Text(String),
    /// Raw bytes.
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
}

/// One SQL statement of a logged write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Statement {
    /// The SQL text, exactly as the client sent it.
    pub sql: String,
    /// Positional parameters, in order.
    pub params: Vec<Value>,
    /// Data a `COPY ... FROM STDIN` statement reads, in the wire format the client used.
    /// May be hundreds of megabytes: the log splits such a record across frames.
    #[serde(with = "serde_bytes")]
    pub copy_data: Option<Vec<u8>>,
}

impl Statement {
    /// A statement without parameters.
    pub fn new(sql: impl Into<String>) -> Self {
        Statement {
            sql: sql.into(),
            params: Vec::new(),
            copy_data: None,
        }
    }

    /// A statement with positional parameters.
    pub fn with_params(sql: impl Into<String>, params: Vec<Value>) -> Self {
        Statement {
            sql: sql.into(),
            params,
            copy_data: None,
        }
    }
}

/// A whole client write transaction: replayed atomically, in one backend transaction.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct WriteTxn {
    /// Session settings that change how the statements behave (`search_path`, `TimeZone`,
    /// ...), as (name, value) pairs, applied before the statements on replay.
    pub settings: Vec<(String, String)>,
    /// The statements, in the order the client sent them.
    pub statements: Vec<Statement>,
}

/// Markers the join protocol writes into the global order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Control {
    /// A join started: `donor` was cut at this record's LSN (L0) to be snapshotted for
    /// `joiner`. The log must keep every record from here until the join ends.
    JoinStarted {
        join_id: u64,
        donor: String,
        joiner: String,
    },
    /// `backend` replayed everything before this LSN and became active.
    BackendJoined { join_id: u64, backend: String },
    /// Both donor and joiner are active again: the join is over.
    JoinFinished { join_id: u64 },
    /// The join was cancelled or failed.
    JoinAborted { join_id: u64, reason: String },
}

/// What a record carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Payload {
    /// A client write transaction.
    Write(WriteTxn),
    /// A join-protocol marker.
    Control(Control),
}

/// A record as appended: everything but the LSN, which the log assigns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Record {
    /// The client session (connection) the write came from; 0 for control records.
    pub session: u64,
    /// When the mediator received the write, in microseconds since the Unix epoch.
    pub timestamp_micros: u64,
    /// The write or marker itself.
    pub payload: Payload,
}

impl Record {
    /// A record stamped with the current time.
    pub fn now(session: u64, payload: Payload) -> Self {
        let timestamp_micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        Record {
            session,
            timestamp_micros,
            payload,
        }
    }

    /// A write transaction record stamped with the current time.
    pub fn write(session: u64, statements: Vec<Statement>) -> Self {
        Self::now(
            session,
            Payload::Write(WriteTxn {
                settings: Vec::new(),
                statements,
            }),
        )
    }
}

/// A record read back from the log, with the LSN it was assigned.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedRecord {
    /// The record's position in the global order.
    pub lsn: Lsn,
    /// The record.
    pub record: Record,
}
