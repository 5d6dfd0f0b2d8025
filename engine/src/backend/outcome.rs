//! What a statement returns, uniformly across engines.

use crate::log::Value;
use std::fmt;

/// A column of a result set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Column {
    /// Column name as the database reports it.
    pub name: String,
    /// The database's own type name (`int8`, `varchar`, `INTEGER`, ...), or empty when the
    /// engine does not know it (SQLite expressions).
    pub type_name: String,
    /// What else the database says about the column, for front ends that owe their
    /// clients the server's own description; empty when the engine says nothing more.
    pub meta: ColumnMeta,
}

impl Column {
    /// A column with a name and type name and nothing more said about it.
    pub fn new(name: impl Into<String>, type_name: impl Into<String>) -> Self {
        Column {
            name: name.into(),
            type_name: type_name.into(),
            meta: ColumnMeta::default(),
        }
    }
}

/// A column's description beyond its name and type, in the engine's own terms (MySQL's
/// column definition); `None` where the engine does not say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnMeta {
    /// Display length (MySQL: `TINYINT(1)` is 1, which drivers read as a boolean).
    pub length: Option<u32>,
    /// Digits after the decimal point (`DECIMAL(12,2)`: 2).
    pub decimals: Option<u8>,
    /// Column flags (MySQL: NOT NULL, PRIMARY KEY, UNSIGNED, BINARY, ...).
    pub flags: Option<u16>,
    /// Character set (collation) number.
    pub charset: Option<u16>,
    /// The database's own id of a type defined in it (PostgreSQL: an enum's oid), for
    /// front ends that announce it; `None` for built-in types, whose ids are fixed.
    pub type_oid: Option<u32>,
    /// The column holds JSON in a type that does not say so (MariaDB's `JSON` is a
    /// `LONGTEXT` with a `json_valid` check): front ends whose clients can be told (MariaDB's
    /// extended column metadata) tell them.
    pub json: bool,
}

/// Rows returned by a query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResultSet {
    /// The columns, in order.
    pub columns: Vec<Column>,
    /// The rows; each has one value per column.
    pub rows: Vec<Vec<Value>>,
}

/// Some column has a type of the database's own ([`ColumnMeta::type_oid`]), whose id is
/// only the answering backend's.
pub fn has_database_types(columns: &[Column]) -> bool {
    columns.iter().any(|c| c.meta.type_oid.is_some())
}

/// The successful result of a statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// A statement without a result set.
    Command {
        /// PostgreSQL-style command tag: `INSERT 0 3`, `UPDATE 2`, `CREATE TABLE`, ...
        tag: String,
        /// Rows affected.
        rows: u64,
        /// Last auto-generated id, where the engine reports one (MySQL, SQLite).
        last_insert_id: Option<u64>,
    },
    /// A result set.
    Rows(ResultSet),
}

impl Outcome {
    /// Rows affected or returned: what outcome comparison between backends looks at.
    pub fn row_count(&self) -> u64 {
        match self {
            Outcome::Command { rows, .. } => *rows,
            Outcome::Rows(rs) => rs.rows.len() as u64,
        }
    }
}

/// A notification the server sent to a connection that listens on its channel
/// (PostgreSQL's LISTEN/NOTIFY).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The server process of the session that notified.
    pub process_id: i32,
    /// The channel.
    pub channel: String,
    /// The payload (empty when none was given).
    pub payload: String,
}

/// An error the database returned, kept verbatim.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbError {
    /// The engine's own code: a SQLSTATE for PostgreSQL, the error number for MySQL, the
    /// extended result code name for SQLite (`SQLITE_CONSTRAINT_UNIQUE`).
    pub code: String,
    /// The SQLSTATE: PostgreSQL's and MySQL's own, a close mapping for SQLite.
    pub sqlstate: String,
    /// The message, exactly as the database wrote it.
    pub message: String,
    /// What else the database said about it (PostgreSQL's ErrorResponse fields); `None`
    /// for engines that say nothing more. Boxed: errors travel in `Result`s everywhere.
    pub fields: Option<Box<ErrorFields>>,
}

/// PostgreSQL's optional error fields, kept so that a client sees an error as it would
/// from the server directly: drivers read the constraint, table and column (an ORM's
/// "duplicate key" handling), tools show DETAIL, HINT and the position in the statement.
/// Whether two backends agree is decided by the SQLSTATE alone, never by these.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorFields {
    /// `S`/`V` of a notice (`NOTICE`, `WARNING`, `INFO`, ...); errors are `ERROR`.
    pub severity: Option<String>,
    /// `D`: the secondary message (`Key (id)=(1) already exists.`).
    pub detail: Option<String>,
    /// `H`: a suggestion.
    pub hint: Option<String>,
    /// `P`: 1-based character position in the statement the client sent.
    pub position: Option<u32>,
    /// `p` and `q`: a position in, and the text of, an internally generated statement.
    pub internal_position: Option<u32>,
    pub internal_query: Option<String>,
    /// `W`: the context (a PL/pgSQL call stack).
    pub context: Option<String>,
    /// `s`, `t`, `c`, `d`, `n`: the objects the error is about.
    pub schema: Option<String>,
    pub table: Option<String>,
    pub column: Option<String>,
    pub datatype: Option<String>,
    pub constraint: Option<String>,
    /// `F`, `L`, `R`: where in the server's source the error was raised.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub routine: Option<String>,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, SQLSTATE {})",
            self.message, self.code, self.sqlstate
        )
    }
}

/// A PostgreSQL-style command tag for engines that do not report one (SQLite, MySQL):
/// `INSERT 0 n`, `UPDATE n`, `DELETE n`, `SELECT n`, `CREATE TABLE`, `BEGIN`, ...
pub fn command_tag(sql: &str, rows: u64) -> String {
    let words: Vec<String> = strip_leading_comments(sql)
        .split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .filter(|w| !w.is_empty())
        .take(3)
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let first = words.first().map(String::as_str).unwrap_or("");
    match first {
        "INSERT" => format!("INSERT 0 {rows}"),
        "UPDATE" | "DELETE" | "SELECT" | "MERGE" | "COPY" | "FETCH" | "MOVE" => {
            format!("{first} {rows}")
        }
        "CREATE" | "DROP" | "ALTER" => {
            let object: Vec<&str> = words[1..]
                .iter()
                .map(String::as_str)
                .take_while(|w| {
                    matches!(
                        *w,
                        "TABLE"
                            | "INDEX"
                            | "VIEW"
                            | "TRIGGER"
                            | "SCHEMA"
                            | "SEQUENCE"
                            | "UNIQUE"
                            | "TEMP"
                            | "TEMPORARY"
                            | "DATABASE"
                            | "FUNCTION"
                            | "PROCEDURE"
                            | "EVENT"
                            | "TYPE"
                            | "EXTENSION"
                    )
                })
                .filter(|w| !matches!(*w, "UNIQUE" | "TEMP" | "TEMPORARY"))
                .collect();
            match object.first() {
                Some(o) => format!("{first} {o}"),
                None => first.to_string(),
            }
        }
        "" => "EMPTY".to_string(),
        other => other.to_string(),
    }
}

/// `sql` after leading white space and comments (`--`, `/* */`).
pub fn strip_leading_comments(mut sql: &str) -> &str {
    loop {
        sql = sql.trim_start();
        if let Some(rest) = sql.strip_prefix("--") {
            sql = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(rest) = sql.strip_prefix("/*") {
            sql = rest.split_once("*/").map_or("", |(_, r)| r);
        } else {
            return sql;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::command_tag;

    #[test]
    fn tags_look_like_postgres() {
        assert_eq!(command_tag("insert into t values (1)", 1), "INSERT 0 1");
        assert_eq!(
            command_tag("  -- hi\n/* x */ UPDATE t SET a=1", 3),
            "UPDATE 3"
        );
        assert_eq!(
            command_tag("CREATE UNIQUE INDEX i ON t(a)", 0),
            "CREATE INDEX"
        );
        assert_eq!(
            command_tag("create table if not exists t(a int)", 0),
            "CREATE TABLE"
        );
        assert_eq!(command_tag("begin", 0), "BEGIN");
    }
}
