//! Which statements are reads, which are writes, which control a transaction.
//!
//! Anything not recognised as a read is a write: sending a read to every backend costs a
//! little, treating a write as a read would make backends diverge. A read that calls a
//! function with side effects (`nextval`, `setval`, advisory locks; configurable) or locks
//! rows (`FOR UPDATE`) is a write.

/// What a statement is, for routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Goes to one backend.
    Read,
    /// A read of the system catalogs or of object ids (`pg_catalog`, `information_schema`,
    /// `::regclass`, `oid`): goes to one backend, the same one for the whole session.
    CatalogRead,
    /// Goes to every active backend, in the global order, and is logged.
    Write,
    /// `BEGIN` / `START TRANSACTION`.
    Begin,
    /// `COMMIT` / `END`.
    Commit,
    /// `ROLLBACK` / `ABORT` (but not `ROLLBACK TO SAVEPOINT`).
    Rollback,
    /// `SET` of a session variable: every backend's connection, not logged on its own.
    Set,
    /// `LISTEN` / `UNLISTEN`: one backend's connection, the session's listening one, not
    /// logged (see `listen.rs`).
    Listen,
}

/// Functions that make a `SELECT` a write, by default.
pub const DEFAULT_WRITE_FUNCTIONS: [&str; 21] = [
    "nextval",
    "setval",
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_advisory_unlock",
    "pg_advisory_unlock_shared",
    "pg_advisory_unlock_all",
    "pg_advisory_xact_lock",
    "pg_advisory_xact_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
    "pg_try_advisory_xact_lock",
    "pg_try_advisory_xact_lock_shared",
    // Notifies the listeners of every backend (a session listens on one).
    "pg_notify",
    "set_config",
    "lo_create",
    "lo_unlink",
    "get_lock",
    "release_lock",
    "release_all_locks",
    "is_free_lock",
];

/// Classifies statements.
#[derive(Clone, Debug)]
pub struct Classifier {
    write_functions: Vec<String>,
}

impl Default for Classifier {
    fn default() -> Self {
        Classifier::new(
            DEFAULT_WRITE_FUNCTIONS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        )
    }
}

/// Its words, lower-cased, lazily: most statements are decided by the first two.
fn words(sql: &str) -> impl Iterator<Item = String> + '_ {
    crate::backend::strip_leading_comments(sql)
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
}

/// `ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name`: undoes part of the transaction,
/// which goes on; a write like any other (every backend, logged), and the one statement
/// a failed PostgreSQL transaction accepts besides `ROLLBACK`.
pub fn rolls_back_to_savepoint(sql: &str) -> bool {
    let mut w = words(sql);
    if w.next().as_deref() != Some("rollback") {
        return false;
    }
    let mut next = w.next();
    if matches!(next.as_deref(), Some("work" | "transaction")) {
        next = w.next();
    }
    next.as_deref() == Some("to")
}

/// A word that names the system catalogs or object ids, whose values differ between
/// backends (each server numbers its own objects).
fn is_catalog_word(w: &str) -> bool {
    w.starts_with("pg_")
        || w.starts_with("reg")
            && matches!(
                &w[3..],
                "class"
                    | "type"
                    | "proc"
                    | "procedure"
                    | "oper"
                    | "operator"
                    | "namespace"
                    | "role"
                    | "config"
                    | "dictionary"
                    | "collation"
            )
        || matches!(
            w,
            "oid" | "information_schema" | "sqlite_master" | "sqlite_schema"
        )
}

impl Classifier {
    /// A classifier with these side-effecting functions (lower case).
    pub fn new(write_functions: Vec<String>) -> Self {
        Classifier {
            write_functions: write_functions
                .into_iter()
                .map(|f| f.to_ascii_lowercase())
                .collect(),
        }
    }

    /// The kind of `sql` (one statement).
    pub fn classify(&self, sql: &str) -> Kind {
        let mut head = words(sql);
        let first = head.next().unwrap_or_default();
        let second = head.next().unwrap_or_default();
        match first.as_str() {
            "begin" | "start" => return Kind::Begin,
            "commit" | "end" => return Kind::Commit,
            "rollback" if rolls_back_to_savepoint(sql) => return Kind::Write,
            "rollback" | "abort" => return Kind::Rollback,
            "listen" | "unlisten" => return Kind::Listen,
            "set"
                if !(matches!(second.as_str(), "transaction" | "session")
                    && head.next().is_some_and(|x| x == "characteristics")) =>
            {
                return Kind::Set
            }
            _ => {}
        }
        // Only what starts like a read needs the whole statement scanned; everything else
        // (a multi-megabyte INSERT included) is decided by its first word.
        if !matches!(
            first.as_str(),
            "select" | "show" | "values" | "table" | "with" | "explain" | "describe" | "desc"
        ) {
            return Kind::Write;
        }
        let all: Vec<String> = words(sql).collect();
        let writes_inside = all.iter().any(|x| {
            matches!(
                x.as_str(),
                "insert" | "update" | "delete" | "merge" | "into" | "analyze" | "copy"
            )
        }) || all
            .windows(2)
            .any(|p| p[0] == "for" && matches!(p[1].as_str(), "update" | "share" | "no" | "key"))
            || all
                .iter()
                .any(|x| self.write_functions.iter().any(|f| f == x));
        if writes_inside {
            Kind::Write
        } else if all.iter().any(|w| is_catalog_word(w)) {
            Kind::CatalogRead
        } else {
            Kind::Read
        }
    }
}

/// A query a cursor can hold: `SELECT`, `VALUES`, `TABLE` or `WITH` first.
pub fn is_query(sql: &str) -> bool {
    matches!(
        words(sql).next().as_deref(),
        Some("select" | "values" | "table" | "with")
    )
}

/// Statements that leave state on the backend connection beyond their transaction
/// (temporary tables, session-level locks, cursors and statements prepared in SQL,
/// `LISTEN`): the session keeps its connections from then on instead of giving them back
/// to the pool between transactions. Conservative: a false positive only costs a
/// connection.
pub fn pins_session(sql: &str) -> bool {
    let mut head = words(sql);
    let first = head.next().unwrap_or_default();
    let second = head.next().unwrap_or_default();
    if matches!(
        first.as_str(),
        "prepare" | "declare" | "listen" | "load" | "lock" | "handler" | "use"
    ) || (first == "create"
        && matches!(second.as_str(), "temp" | "temporary" | "local" | "global"))
    {
        return true;
    }
    // Session-level lock functions (not the transaction-scoped `_xact_` ones). Scanned
    // in place: this runs for every statement, and a statement may be megabytes.
    let has = |needle: &str| {
        sql.as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    (has("advisory") && !has("advisory_xact")) || has("get_lock") || has("temporary")
}

/// `LOAD DATA LOCAL INFILE` / `LOAD XML LOCAL INFILE`: the server would read a file from
/// the client, through mdbd's backend connection, which has no such file.
pub fn reads_client_file(sql: &str) -> bool {
    let mut w = words(sql);
    w.next().as_deref() == Some("load")
        && matches!(w.next().as_deref(), Some("data" | "xml"))
        && w.next().as_deref() == Some("local")
}

/// The error for [`reads_client_file`] statements, as the engine words a refused command.
pub fn client_file_refused(dialect: &dyn crate::backend::Dialect) -> crate::backend::DbError {
    let (code, sqlstate) = dialect.error_code(crate::backend::OwnError::NotAllowed);
    crate::backend::DbError {
        code: code.into(),
        sqlstate: sqlstate.into(),
        message: "The used command is not allowed through mdbd: LOAD DATA LOCAL INFILE reads a file on the client, which the backends cannot reach; load the file on a server, or use INSERT".into(),
        ..Default::default()
    }
}

/// Statements that cannot run inside a transaction block (PostgreSQL's `VACUUM`,
/// `CREATE INDEX CONCURRENTLY`, ...; SQLite's `VACUUM`): they run alone, in autocommit.
pub fn outside_transaction(sql: &str) -> bool {
    let words: Vec<String> = words(sql).take(4).collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    w(0) == "vacuum"
        || (w(0) == "reindex" && matches!(w(1), "database" | "system"))
        || (w(0) == "create"
            && (w(1) == "database"
                || w(1) == "tablespace"
                || (w(1) == "index" && w(2) == "concurrently")
                || (w(1) == "unique" && w(3) == "concurrently")))
        || (w(0) == "drop"
            && (w(1) == "database"
                || w(1) == "tablespace"
                || (w(1) == "index" && w(2) == "concurrently")))
        || (w(0) == "reindex" && words.iter().any(|x| x == "concurrently"))
        || (w(0) == "alter" && w(1) == "system")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_writes_and_transaction_control() {
        let c = Classifier::default();
        for (sql, kind) in [
            ("SELECT * FROM t", Kind::Read),
            ("  -- hi\n select 1", Kind::Read),
            (
                "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname = 't'",
                Kind::CatalogRead,
            ),
            ("SELECT 't'::regclass", Kind::CatalogRead),
            (
                "SELECT * FROM information_schema.columns",
                Kind::CatalogRead,
            ),
            (
                "SELECT attname FROM pg_attribute WHERE attrelid = 16576",
                Kind::CatalogRead,
            ),
            ("SELECT region FROM t", Kind::Read),
            ("WITH x AS (SELECT 1) SELECT * FROM x", Kind::Read),
            (
                "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
                Kind::Write,
            ),
            ("SELECT nextval('s')", Kind::Write),
            ("SELECT * FROM t FOR UPDATE", Kind::Write),
            ("SELECT * INTO t2 FROM t", Kind::Write),
            ("EXPLAIN ANALYZE DELETE FROM t", Kind::Write),
            ("INSERT INTO t VALUES (1)", Kind::Write),
            ("CREATE TABLE t (a int)", Kind::Write),
            ("VACUUM", Kind::Write),
            ("some unknown thing", Kind::Write),
            ("BEGIN", Kind::Begin),
            ("START TRANSACTION", Kind::Begin),
            ("commit", Kind::Commit),
            ("ROLLBACK", Kind::Rollback),
            ("ROLLBACK TO SAVEPOINT a", Kind::Write),
            ("rollback work to savepoint a", Kind::Write),
            ("ROLLBACK TRANSACTION TO a", Kind::Write),
            ("ROLLBACK WORK", Kind::Rollback),
            ("ROLLBACK TRANSACTION", Kind::Rollback),
            ("SET search_path = app", Kind::Set),
            ("LISTEN jobs", Kind::Listen),
            ("unlisten *", Kind::Listen),
            ("NOTIFY jobs, 'x'", Kind::Write),
            ("SELECT pg_notify('jobs', 'x')", Kind::Write),
        ] {
            assert_eq!(c.classify(sql), kind, "{sql}");
        }
        assert_eq!(
            Classifier::new(vec!["audit".into()]).classify("SELECT audit(1)"),
            Kind::Write
        );
    }

    #[test]
    fn only_plain_queries_are_held_by_a_cursor() {
        for sql in [
            "SELECT 1",
            "(select 1)",
            "VALUES (1)",
            "TABLE t",
            "WITH a AS (SELECT 1) SELECT * FROM a",
            "/* c */ select 2",
        ] {
            assert!(is_query(sql), "{sql}");
        }
        for sql in [
            "SHOW search_path",
            "EXPLAIN SELECT 1",
            "FETCH 10 FROM c",
            "",
            "INSERT INTO t VALUES (1) RETURNING id",
        ] {
            assert!(!is_query(sql), "{sql}");
        }
    }

    #[test]
    fn statements_that_refuse_a_transaction_block() {
        for sql in [
            "VACUUM",
            "vacuum analyze t",
            "CREATE INDEX CONCURRENTLY i ON t(a)",
            "ALTER SYSTEM SET x = 1",
        ] {
            assert!(outside_transaction(sql), "{sql}");
        }
        for sql in [
            "CREATE INDEX i ON t(a)",
            "ANALYZE t",
            "INSERT INTO vacuum VALUES (1)",
        ] {
            assert!(!outside_transaction(sql), "{sql}");
        }
    }
}
