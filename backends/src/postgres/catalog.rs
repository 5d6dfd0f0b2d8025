//! The schema as `keyed` ordering needs it ([`mdbd_engine::backend::catalog`]), read from
//! `pg_catalog` in four queries whose every value is text (simple protocol).

use mdbd_engine::backend::catalog::{sequence_name, Catalog, ForeignKey, Table};
use mdbd_engine::backend::BackendError;
use std::collections::BTreeMap;
use tokio_postgres::{Client, SimpleQueryMessage};

/// Schemas of the system, never the application's.
const USER_SCHEMAS: &str =
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'";

/// Separates names inside one text value (a name may hold a comma, not a control character).
const SEP: char = '\u{1f}';

/// Tables: schema, name, opaque, columns in order.
fn tables_sql() -> String {
    format!(
        "SELECT n.nspname, c.relname, \
           (c.relhasrules OR c.relrowsecurity \
            OR EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal) \
            OR EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique \
                       AND (i.indpred IS NOT NULL OR i.indexprs IS NOT NULL)))::text, \
           (SELECT string_agg(a.attname, chr(31) ORDER BY a.attnum) FROM pg_attribute a \
            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMAS}"
    )
}

/// Unique indexes on plain columns: schema, table, index, is primary, key columns.
fn unique_sql() -> String {
    format!(
        "SELECT n.nspname, c.relname, ic.relname, i.indisprimary::text, \
           (SELECT string_agg(a.attname, chr(31) ORDER BY k.ord) \
            FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord) \
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
            WHERE k.ord <= i.indnkeyatts) \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL AND {USER_SCHEMAS}"
    )
}

/// Foreign keys: schema, child, parent, child columns, parent columns.
fn foreign_sql() -> String {
    format!(
        "SELECT n.nspname, c.relname, pc.relname, \
           (SELECT string_agg(a.attname, chr(31) ORDER BY k.ord) \
            FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord) \
            JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum), \
           (SELECT string_agg(a.attname, chr(31) ORDER BY k.ord) \
            FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord) \
            JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) \
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
         JOIN pg_class pc ON pc.oid = con.confrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE con.contype = 'f' AND {USER_SCHEMAS}"
    )
}

/// Columns drawn from a sequence: schema, table, column, its owned sequence (NULL for a
/// default naming a sequence the column does not own), its default.
fn drawn_sql() -> String {
    format!(
        "SELECT n.nspname, c.relname, a.attname, \
           pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname), \
           pg_get_expr(d.adbin, d.adrelid) \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND {USER_SCHEMAS} \
           AND (a.attidentity <> '' OR pg_get_expr(d.adbin, d.adrelid) LIKE '%nextval(%')"
    )
}

type Rows = Vec<Vec<Option<String>>>;

async fn rows(client: &Client, sql: &str, backend: &str) -> Result<Rows, BackendError> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|e| super::convert::error(backend, e))?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(String::from)).collect())
            }
            _ => None,
        })
        .collect())
}

fn text(row: &[Option<String>], i: usize) -> String {
    row.get(i).cloned().flatten().unwrap_or_default()
}

fn names(row: &[Option<String>], i: usize) -> Vec<String> {
    text(row, i)
        .split(SEP)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Reads the catalog of the database `client` is connected to.
pub(super) async fn read(client: &Client, backend: &str) -> Result<Catalog, BackendError> {
    // By (schema, table): a table of one name in two schemas is made ambiguous by `add`.
    let mut tables: BTreeMap<(String, String), Table> = BTreeMap::new();
    for row in rows(client, &tables_sql(), backend).await? {
        let table = Table {
            columns: names(&row, 3),
            opaque: text(&row, 2) == "true",
            ..Table::default()
        };
        tables.insert((text(&row, 0), text(&row, 1)), table);
    }
    for row in rows(client, &unique_sql(), backend).await? {
        let Some(t) = tables.get_mut(&(text(&row, 0), text(&row, 1))) else {
            continue;
        };
        let columns = names(&row, 4);
        if text(&row, 3) == "true" {
            t.primary_key = columns;
        } else {
            t.unique_keys.push((text(&row, 2), columns));
        }
    }
    for row in rows(client, &foreign_sql(), backend).await? {
        let Some(t) = tables.get_mut(&(text(&row, 0), text(&row, 1))) else {
            continue;
        };
        t.foreign_keys.push(ForeignKey {
            columns: names(&row, 3),
            parent: text(&row, 2),
            parent_columns: names(&row, 4),
        });
    }
    for row in rows(client, &drawn_sql(), backend).await? {
        let Some(t) = tables.get_mut(&(text(&row, 0), text(&row, 1))) else {
            continue;
        };
        let owned = text(&row, 3);
        let default = text(&row, 4);
        let sequence = if !owned.is_empty() {
            sequence_name(&owned)
        } else {
            match default
                .split_once("nextval('")
                .and_then(|(_, rest)| rest.split_once('\''))
            {
                Some((name, _)) => sequence_name(name),
                // A default that draws in a way not understood: writes are not plain.
                None => {
                    t.opaque = true;
                    continue;
                }
            }
        };
        t.drawn.push((text(&row, 2).to_lowercase(), sequence));
    }
    let mut catalog = Catalog::default();
    for ((_, name), table) in tables {
        catalog.add(&name, table);
    }
    Ok(catalog)
}
