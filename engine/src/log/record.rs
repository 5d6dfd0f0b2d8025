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

/// A statement's text exactly as the client sent it: bytes, not a `String`.
///
/// SQL arrives in the connection's character set, which need not be UTF-8, and MySQL
/// drivers inline binary literals raw (mysql-connector-python sends `b"\x00\xff"` as the
/// bytes between two quotes). Converting to text would put U+FFFD in their place, on every
/// backend and in every replay, silently; so the text stays bytes from the client socket
/// to the log and to the backend's driver. Engines whose protocol takes only UTF-8
/// (PostgreSQL's and SQLite's drivers) refuse a statement that is not, as a database
/// error to its client.
///
/// Encoded like a `String` (a length, then the bytes), so records written before this
/// type existed decode unchanged.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(transparent)]
pub struct Sql(#[serde(with = "serde_bytes")] Vec<u8>);

impl Sql {
    /// The bytes, as the client sent them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text, when it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The text with anything that is not UTF-8 shown as U+FFFD: for classifying (every
    /// keyword is ASCII) and for people (logs, `mdbd log show`), never to execute.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty statement.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl std::fmt::Debug for Sql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_str() {
            Some(s) => write!(f, "{s:?}"),
            None => write!(f, "b{:?}", self.text()),
        }
    }
}

impl From<String> for Sql {
    fn from(s: String) -> Self {
        Sql(s.into_bytes())
    }
}

impl From<&str> for Sql {
    fn from(s: &str) -> Self {
        Sql(s.as_bytes().to_vec())
    }
}

impl From<std::borrow::Cow<'_, str>> for Sql {
    fn from(s: std::borrow::Cow<'_, str>) -> Self {
        Sql::from(s.into_owned())
    }
}

impl From<Vec<u8>> for Sql {
    fn from(b: Vec<u8>) -> Self {
        Sql(b)
    }
}

impl From<&[u8]> for Sql {
    fn from(b: &[u8]) -> Self {
        Sql(b.to_vec())
    }
}

impl PartialEq<str> for Sql {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Sql {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

/// One SQL statement of a logged write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Statement {
    /// The SQL text, exactly as the client sent it.
    pub sql: Sql,
    /// Positional parameters, in order.
    pub params: Vec<Value>,
    /// Data a `COPY ... FROM STDIN` statement reads, in the wire format the client used.
    /// May be hundreds of megabytes: the log splits such a record across frames.
    #[serde(with = "serde_bytes")]
    pub copy_data: Option<Vec<u8>>,
}

impl Statement {
    /// A statement without parameters.
    pub fn new(sql: impl Into<Sql>) -> Self {
        Statement {
            sql: sql.into(),
            params: Vec::new(),
            copy_data: None,
        }
    }

    /// A statement with positional parameters.
    pub fn with_params(sql: impl Into<Sql>, params: Vec<Value>) -> Self {
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
