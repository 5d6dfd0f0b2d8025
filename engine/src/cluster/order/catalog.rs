//! What `keyed` mode must know of the schema to compute a statement's footprint: each
//! table's columns, keys, foreign keys, key columns drawn from a sequence, and whether
//! triggers or rules act on it. Read from a backend at start and after every DDL (not yet:
//! see docs/architecture.md, *Write ordering*); built by hand in tests.
//!
//! Names are kept as the engine folds them: tables by their bare name (a schema prefix is
//! dropped, and a name two schemas share is *ambiguous*, which sends every statement that
//! names it to the global lock), columns in lower case.

use std::collections::HashMap;

/// One table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// Column names in table order (an `INSERT` without a column list fills them so).
    pub columns: Vec<String>,
    /// The primary key's columns; empty for a table without one.
    pub primary_key: Vec<String>,
    /// Unique keys other than the primary key, by index name.
    pub unique_keys: Vec<(String, Vec<String>)>,
    /// A key column whose value, when an `INSERT` leaves it out, is drawn from a sequence
    /// (PostgreSQL `serial` / identity, MySQL `AUTO_INCREMENT`): the column and the
    /// sequence's name.
    pub drawn_key: Option<(String, String)>,
    /// Foreign keys of this table (it is the child).
    pub foreign_keys: Vec<ForeignKey>,
    /// Triggers or rules act on it: what a write does is not in its text.
    pub has_triggers: bool,
}

/// A foreign key from a child table's columns to a parent's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub parent: String,
    pub parent_columns: Vec<String>,
}

/// The tables of a database, by bare name.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    tables: HashMap<String, Option<Table>>,
}

/// What the catalog says of a name.
pub(super) enum Lookup<'a> {
    Table(&'a Table),
    /// Two schemas hold a table of this name.
    Ambiguous,
    Unknown,
}

impl Catalog {
    /// Adds a table under its bare name; a second table of the same name makes the name
    /// ambiguous.
    pub fn add(&mut self, name: &str, table: Table) {
        self.tables
            .entry(name.to_string())
            .and_modify(|t| *t = None)
            .or_insert(Some(table));
    }

    pub(super) fn lookup(&self, name: &str) -> Lookup<'_> {
        match self.tables.get(name) {
            Some(Some(t)) => Lookup::Table(t),
            Some(None) => Lookup::Ambiguous,
            None => Lookup::Unknown,
        }
    }

    /// The tables with a foreign key to `parent`.
    pub(super) fn children_of<'a>(&'a self, parent: &'a str) -> impl Iterator<Item = &'a str> {
        self.tables.iter().filter_map(move |(name, t)| {
            let t = t.as_ref()?;
            t.foreign_keys
                .iter()
                .any(|fk| fk.parent == parent)
                .then_some(name.as_str())
        })
    }
}
