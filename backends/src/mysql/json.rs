//! MariaDB's JSON columns. MariaDB stores `JSON` as `LONGTEXT` with a `json_valid` check
//! constraint named after the column, and tells clients it is JSON only in its extended
//! column metadata, which mysql_async does not ask for. The check constraints tell it too:
//! a table's JSON columns are read from `information_schema` the first time a text
//! column of that table is returned, and kept until the next DDL statement on the
//! backend. On MySQL (whose JSON is a type of its own) the lookup finds nothing.

use mdbd_engine::backend::Column;
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The character set number of binary strings (BLOB, not TEXT).
const BINARY: u16 = 63;

/// The JSON columns of each (schema, table) looked up.
type Known = HashMap<(String, String), Arc<HashSet<String>>>;

/// JSON columns by (schema, table), for one backend; shared by its sessions.
#[derive(Clone, Default)]
pub struct JsonColumns(Arc<Mutex<Known>>);

impl JsonColumns {
    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets what it knows when `sql` may change a table's definition.
    pub fn after(&self, sql: &[u8]) {
        let start = sql
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        let head = &sql[start..];
        let ddl = ["create", "alter", "drop", "rename"].iter().any(|w| {
            head.get(..w.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(w.as_bytes()))
        });
        if ddl {
            self.known().clear();
        }
    }

    /// Marks the columns of `out` that are JSON among the tables already known, and gives
    /// the tables not known yet (to [`learn`](Self::learn) on another connection: a
    /// streamed result holds the session's).
    pub fn mark_known(
        &self,
        columns: &[mysql_async::Column],
        out: &mut [Column],
    ) -> Vec<(String, String)> {
        let known = self.known();
        let mut unknown = Vec::new();
        for (column, out) in columns.iter().zip(out.iter_mut()) {
            let Some(key) = table_of(column) else {
                continue;
            };
            match known.get(&key) {
                Some(json) => out.meta.json = json.contains(column.org_name_str().as_ref()),
                None if !unknown.contains(&key) => unknown.push(key),
                None => {}
            }
        }
        unknown
    }

    /// Looks up the JSON columns of `tables` on `conn`.
    pub async fn learn(&self, conn: &mut Conn, tables: Vec<(String, String)>) {
        for key in tables {
            let json = Arc::new(lookup(conn, &key.0, &key.1).await);
            self.known().insert(key, json);
        }
    }

    /// Marks the columns of `out` that are JSON, looking up (on `conn`) the tables not
    /// yet known. A lookup that fails marks nothing.
    pub async fn mark(&self, conn: &mut Conn, columns: &[mysql_async::Column], out: &mut [Column]) {
        let unknown = self.mark_known(columns, out);
        if !unknown.is_empty() {
            self.learn(conn, unknown).await;
            self.mark_known(columns, out);
        }
    }
}

/// The (schema, table) of a text column that may be JSON (a LONGTEXT of a table).
fn table_of(column: &mysql_async::Column) -> Option<(String, String)> {
    if !matches!(
        column.column_type(),
        ColumnType::MYSQL_TYPE_BLOB | ColumnType::MYSQL_TYPE_LONG_BLOB
    ) || column.character_set() == BINARY
    {
        return None;
    }
    let table = column.org_table_str();
    if table.is_empty() {
        return None;
    }
    Some((column.schema_str().into_owned(), table.into_owned()))
}

/// The columns of `schema.table` whose check is `json_valid(column)`.
async fn lookup(conn: &mut Conn, schema: &str, table: &str) -> HashSet<String> {
    let found: Result<Vec<(String, String)>, _> = conn
        .exec(
            "SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
            (schema, table),
        )
        .await;
    match found {
        Ok(rows) => rows
            .into_iter()
            .filter(|(name, clause)| clause == &format!("json_valid(`{name}`)"))
            .map(|(name, _)| name)
            .collect(),
        Err(e) => {
            tracing::debug!(schema, table, error = %e, "no JSON columns known for the table");
            HashSet::new()
        }
    }
}
