//! `[[backend]]`: one database server (or SQLite file) of the cluster.

use serde::Deserialize;
use std::path::PathBuf;

/// `[[backend]]`.
// Parsed and checked now; `marker_table` and the tool paths are read when `mdbd run`
// builds the backends (issue #4).
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    pub name: String,
    pub kind: Kind,
    /// SQLite: the database file.
    pub path: Option<PathBuf>,
    /// PostgreSQL: the libpq connection string.
    pub conninfo: Option<String>,
    /// MySQL/MariaDB: `mysql://user:password@host:port/database`.
    pub url: Option<String>,
    #[serde(default = "one")]
    pub weight: u32,
    /// Connections to this backend for client sessions (default 40).
    pub max_connections: Option<usize>,
    #[serde(default = "marker")]
    pub marker_table: String,
    /// PostgreSQL: `pg_dump` and `pg_restore`; MySQL: `mariadb-dump` and `mariadb`.
    pub dump_tool: Option<PathBuf>,
    pub restore_tool: Option<PathBuf>,
}

fn one() -> u32 {
    1
}

fn marker() -> String {
    mdbd_engine::backend::DEFAULT_MARKER_TABLE.into()
}

/// The engine of a backend.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Postgres,
    Mysql,
    Sqlite,
}

impl BackendConfig {
    /// The database this backend holds: the MySQL URL's path, PostgreSQL's `dbname`
    /// (default: the user name, else `postgres`), `main` for SQLite.
    pub fn database(&self) -> String {
        match self.kind {
            Kind::Sqlite => "main".into(),
            Kind::Mysql => self
                .url
                .as_deref()
                .and_then(|u| u.split_once("://").map(|(_, rest)| rest))
                .and_then(|rest| rest.split_once('/').map(|(_, path)| path))
                .map(|path| path.split('?').next().unwrap_or("").to_string())
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| "mysql".into()),
            Kind::Postgres => {
                let info = self.conninfo.as_deref().unwrap_or("");
                let value = |key: &str| {
                    info.split_whitespace()
                        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                        .map(|v| v.trim_matches('\'').to_string())
                };
                value("dbname")
                    .or_else(|| value("user"))
                    .unwrap_or_else(|| "postgres".into())
            }
        }
    }
}
