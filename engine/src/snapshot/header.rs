//! What a snapshot says about itself.

use crate::log::Lsn;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which database engine a snapshot (or a backend) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum BackendKind {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    /// SQLite.
    Sqlite,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Postgres => "postgres",
            BackendKind::Mysql => "mysql",
            BackendKind::Sqlite => "sqlite",
        })
    }
}

/// The first frame of a snapshot stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SnapshotHeader {
    /// Engine of the source; a restore into another engine is refused.
    pub kind: BackendKind,
    /// Name of the backend the snapshot was taken from.
    pub source: String,
    /// The snapshot holds every write before this LSN. Taken with the donor out of service
    /// (or under the write turn) it holds none at or after it; taken online, it may hold
    /// some after it, and the applied-LSN marker inside the content says exactly which
    /// (replay into the restored server is exactly-once from that marker). The log is
    /// kept from here until the join ends.
    pub lsn: Lsn,
    /// When it was taken, microseconds since the Unix epoch.
    pub created_micros: u64,
    /// What the raw content is, e.g. `pg_dump/custom`, `mysqldump/sql`, `sqlite/database`.
    pub content_type: String,
}
