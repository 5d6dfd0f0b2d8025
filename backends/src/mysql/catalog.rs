//! The schema as `keyed` ordering needs it ([`mdbd_engine::backend::catalog`]), read from
//! `information_schema` for the connection's database. Table names are kept in lower case
//! (footprints fold MySQL names so; two tables differing only in case become ambiguous).

use mdbd_engine::backend::catalog::{Catalog, ForeignKey, Table};
use mdbd_engine::backend::BackendError;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use std::collections::BTreeMap;

/// The sequence footprints name for a table's `AUTO_INCREMENT` counter.
pub fn auto_increment(table: &str) -> String {
    format!("{table}#auto_increment")
}

/// Reads the catalog of the connection's database.
pub(super) async fn read(conn: &mut Conn, backend: &str) -> Result<Catalog, BackendError> {
    let err = |e| super::convert::error(backend, e);
    // By exact name: names differing only in case are made ambiguous by `Catalog::add`.
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let names: Vec<String> = conn
        .query(
            "SELECT TABLE_NAME FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
        )
        .await
        .map_err(err)?;
    for name in names {
        tables.insert(name, Table::default());
    }
    let columns: Vec<(String, String, String)> = conn
        .query(
            "SELECT TABLE_NAME, COLUMN_NAME, EXTRA FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION",
        )
        .await
        .map_err(err)?;
    for (table, column, extra) in columns {
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        let column = column.to_lowercase();
        if extra.to_lowercase().contains("auto_increment") {
            t.drawn
                .push((column.clone(), auto_increment(&table.to_lowercase())));
        }
        t.columns.push(column);
    }
    // Unique indexes, column by column; a prefix or a computed part makes the table
    // opaque (its uniqueness is not on the values a statement names).
    let unique: Vec<(String, String, Option<String>, Option<String>)> = conn
        .query(
            "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME, CAST(SUB_PART AS CHAR) \
             FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND NON_UNIQUE = 0 \
             ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        )
        .await
        .map_err(err)?;
    for (table, index, column, sub_part) in unique {
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        let Some(column) = column.filter(|_| sub_part.is_none()) else {
            t.opaque = true;
            continue;
        };
        let column = column.to_lowercase();
        if index == "PRIMARY" {
            t.primary_key.push(column);
        } else {
            match t.unique_keys.iter_mut().find(|(i, _)| *i == index) {
                Some((_, cols)) => cols.push(column),
                None => t.unique_keys.push((index, vec![column])),
            }
        }
    }
    let foreign: Vec<(String, String, String, String, String)> = conn
        .query(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, \
               REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL \
             ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
        )
        .await
        .map_err(err)?;
    let mut last: Option<(String, String)> = None;
    for (table, constraint, column, parent, parent_column) in foreign {
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        let key = (table.clone(), constraint);
        if last.as_ref() != Some(&key) {
            t.foreign_keys.push(ForeignKey {
                parent: parent.to_lowercase(),
                ..ForeignKey::default()
            });
            last = Some(key);
        }
        if let Some(fk) = t.foreign_keys.last_mut() {
            fk.columns.push(column.to_lowercase());
            fk.parent_columns.push(parent_column.to_lowercase());
        }
    }
    let triggered: Vec<String> = conn
        .query(
            "SELECT DISTINCT EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS \
             WHERE EVENT_OBJECT_SCHEMA = DATABASE()",
        )
        .await
        .map_err(err)?;
    for table in triggered {
        if let Some(t) = tables.get_mut(&table) {
            t.opaque = true;
        }
    }
    let mut catalog = Catalog::default();
    for (name, table) in tables {
        catalog.add(&name.to_lowercase(), table);
    }
    Ok(catalog)
}
