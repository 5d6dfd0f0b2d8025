//! What `keyed` ordering must know of the schema to compute a statement's footprint
//! (`cluster::order::footprint`): each table's columns, keys, foreign keys, columns drawn
//! from a sequence, and whether a write to it can do more than its text says. Read from a
//! backend by [`super::Backend::catalog`]; built by hand in tests.
//!
//! Names are kept as the engine folds them: tables by their bare name (a schema prefix is
//! dropped, and a name two schemas share is *ambiguous*, which sends every statement that
//! names it to the global lock), columns in lower case.

use std::collections::HashMap;

/// The SQL a statement is written in, as footprints parse it (see
/// [`super::Dialect::keyed_flavor`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flavor {
    Postgres,
    MySql,
}

/// One table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// Column names in table order (an `INSERT` without a column list fills them so).
    pub columns: Vec<String>,
    /// The primary key's columns; empty for a table without one.
    pub primary_key: Vec<String>,
    /// Unique keys other than the primary key, by index name.
    pub unique_keys: Vec<(String, Vec<String>)>,
    /// Columns whose value, when an `INSERT` leaves it out, is drawn from a sequence
    /// (PostgreSQL `serial` / identity / `DEFAULT nextval(...)`, MySQL `AUTO_INCREMENT`):
    /// each column with its sequence's name. Values drawn depend on the order of the
    /// inserts, so inserts that draw are ordered by their sequence.
    pub drawn: Vec<(String, String)>,
    /// Foreign keys of this table (it is the child).
    pub foreign_keys: Vec<ForeignKey>,
    /// What a write to it does is not all in its text and in the keys above: triggers,
    /// rules, row security, a unique index on an expression or on part of the table.
    pub opaque: bool,
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
pub(crate) enum Lookup<'a> {
    Table(&'a Table),
    /// Two schemas hold a table of this name.
    Ambiguous,
    Unknown,
}

impl Catalog {
    /// Adds a table under its bare name; a second table of the same name makes the name
    /// ambiguous.
    pub fn add(&mut self, name: &str, table: Table) {
        // (A table is added once per schema that holds one of this name.)
        self.tables
            .entry(name.to_string())
            .and_modify(|t| *t = None)
            .or_insert(Some(table));
    }

    pub(crate) fn lookup(&self, name: &str) -> Lookup<'_> {
        match self.tables.get(name) {
            Some(Some(t)) => Lookup::Table(t),
            Some(None) => Lookup::Ambiguous,
            None => Lookup::Unknown,
        }
    }

    /// The tables with a foreign key to `parent`.
    pub(crate) fn children_of<'a>(&'a self, parent: &'a str) -> impl Iterator<Item = &'a str> {
        self.tables.iter().filter_map(move |(name, t)| {
            let t = t.as_ref()?;
            t.foreign_keys
                .iter()
                .any(|fk| fk.parent == parent)
                .then_some(name.as_str())
        })
    }
}

impl Catalog {
    /// The table of this name; `None` for a name it does not know or two schemas share.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(name)?.as_ref()
    }

    /// The tables it knows, by name, ambiguous names left out (for tests and logs).
    pub fn tables(&self) -> impl Iterator<Item = (&str, &Table)> {
        self.tables
            .iter()
            .filter_map(|(n, t)| Some((n.as_str(), t.as_ref()?)))
    }

    /// Number of names it knows (ambiguous ones included).
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    /// Whether it knows no table.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

/// A sequence's name as footprints compare it: without its schema and quotes, in lower
/// case (`public."Acct_seq"` and `acct_seq` are one sequence to a footprint; folding
/// more together only orders more).
pub fn sequence_name(qualified: &str) -> String {
    let bare = qualified.rsplit('.').next().unwrap_or(qualified);
    bare.trim_matches('"').trim_matches('`').to_lowercase()
}
