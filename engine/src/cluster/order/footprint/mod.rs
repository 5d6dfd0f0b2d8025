//! Footprints: the locks ([`super::locks`]) one statement of a write transaction must
//! hold in `keyed` mode before it is sent to any backend. Conservative by construction:
//! whatever is not understood locks more, up to the global resource in X, which is
//! `serial` mode for that transaction.
//!
//! What is understood (tables named must be in the [`Catalog`], without triggers or rules;
//! every function called must be on a short list of deterministic built-ins):
//!
//! - `INSERT ... VALUES` (and MySQL `INSERT ... SET`): X on each row's primary key and on
//!   each unique key's value; S on the parent row of each foreign key (the parent's table
//!   when the value is not a literal or the key is not the parent's primary key); a value
//!   drawn from a sequence takes the sequence in X (its key is then ordered by the
//!   sequence); a MySQL insert of an explicit integer key into a table with
//!   `AUTO_INCREMENT` takes it in S (it moves the counter to at least its value: a
//!   maximum, the same in any order). `ON CONFLICT` / `ON DUPLICATE KEY`
//!   on a table with unique keys besides the primary key, `REPLACE` and `INSERT ...
//!   SELECT` lock the whole table in X.
//! - `UPDATE` / `DELETE` whose `WHERE` fixes every primary-key column to an integer (in a
//!   conjunction): X on that row; one whose `WHERE` confines a one-column integer key to
//!   at most 64 values (`BETWEEN`, `IN`, in a conjunction): X on each of those keys,
//!   whether a row holds it or not; anything else: X on the table. Setting a key column, or
//!   deleting from a table with unique keys besides the primary key (an insert of a freed
//!   value would fail or not by the order), locks the table in X; deleting from, or
//!   changing a key of, a table other tables refer to locks those tables in X as well.
//! - `SELECT` (inside a write transaction): nothing (a read changes no backend, and
//!   takes no row lock at READ COMMITTED); with `FOR UPDATE` / `FOR SHARE`, X on the row
//!   (or the range's keys, as for `UPDATE`) when its `WHERE` fixes the primary key of its
//!   one table, else on every table named. `SELECT ... INTO` takes the global resource.
//! - Tables read besides the target (subqueries, `FROM`, `USING`, joins): S on each.
//! - A row lock on a table with columns drawn from a sequence also takes each such
//!   sequence in S, so it is ordered against the inserts that draw from it (a key it names
//!   may be one they are about to draw).
//!
//! Row keys are compared as integers only (`5`, `'5'`, `-5`, or an integer parameter): a
//! text, decimal or float key could be equal under the column's type or collation while
//! its text differs, so such statements lock the table instead.

mod values;

use super::locks::{Mode, Resource};
use crate::backend::catalog::{Catalog, ForeignKey, Lookup, Table};
use crate::log::Value;
use sqlparser::ast::{
    visit_relations, visit_statements, AssignmentTarget, Expr, FromTable, OnConflict,
    OnConflictAction, OnInsert, Query, SetExpr, Statement, TableObject,
};
use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use values::{assigned, bare, column, conjuncts_fixing, sets_key, table_factor_name};

pub use crate::backend::catalog::Flavor;

/// The locks one statement needs, each resource once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    pub locks: Vec<(Resource, Mode)>,
    /// Why the statement takes the global resource in X, when it does.
    pub global_because: Option<String>,
}

impl Footprint {
    fn global(why: String) -> Self {
        Footprint {
            locks: vec![(Resource::Global, Mode::Exclusive)],
            global_because: Some(why),
        }
    }

    fn add(&mut self, resource: Resource, mode: Mode) {
        match self.locks.iter_mut().find(|(r, _)| *r == resource) {
            Some((_, m)) => *m = m.join(mode),
            None => self.locks.push((resource, mode)),
        }
    }
}

/// The footprint of `sql`, a statement of a write transaction.
pub fn footprint(sql: &str, flavor: Flavor, catalog: &Catalog, params: &[Value]) -> Footprint {
    let dialect: &dyn Dialect = match flavor {
        Flavor::Postgres => &PostgreSqlDialect {},
        Flavor::MySql => &MySqlDialect {},
    };
    let statements = match Parser::parse_sql(dialect, sql) {
        Ok(s) => s,
        Err(e) => return Footprint::global(format!("does not parse here ({e})")),
    };
    let [statement] = statements.as_slice() else {
        return Footprint::global("not exactly one statement".into());
    };
    let mut a = Analysis {
        flavor,
        catalog,
        params,
        placeholders: HashMap::new(),
        fp: Footprint::default(),
    };
    match a.statement(statement) {
        Ok(()) => a.fp,
        Err(why) => Footprint::global(why),
    }
}

struct Analysis<'a> {
    flavor: Flavor,
    catalog: &'a Catalog,
    params: &'a [Value],
    /// MySQL's `?` placeholders by their place in the text: (line, column) -> index.
    placeholders: HashMap<(u64, u64), usize>,
    fp: Footprint,
}

type Why = String;

impl<'a> Analysis<'a> {
    fn statement(&mut self, statement: &Statement) -> Result<(), Why> {
        // A write inside another statement (`WITH ... UPDATE`, a data-modifying CTE)
        // would otherwise pass for the read around it.
        let mut statements = 0;
        let _ = visit_statements(statement, |_| {
            statements += 1;
            ControlFlow::<()>::Continue(())
        });
        if statements != 1 {
            return Err("a statement inside another".into());
        }
        self.check_functions(statement)?;
        self.number_placeholders(statement);
        // Every table named, as often as it is named.
        let mut named = Vec::new();
        let flavor = self.flavor;
        let _ = visit_relations(statement, |name| {
            named.push(bare(name, flavor));
            ControlFlow::<()>::Continue(())
        });
        for name in &named {
            self.table(name)?;
        }
        let target = match statement {
            Statement::Insert(insert) => {
                let TableObject::TableName(name) = &insert.table else {
                    return Err("an INSERT into a table function".into());
                };
                let name = bare(name, self.flavor);
                self.insert(&name, insert)?;
                Some(name)
            }
            Statement::Update(update) => {
                if !update.table.joins.is_empty() {
                    return self.write_all(&named);
                }
                let name = table_factor_name(&update.table.relation, self.flavor)?;
                let set: Vec<String> = update
                    .assignments
                    .iter()
                    .flat_map(|a| assigned(&a.target))
                    .collect();
                self.update(&name, &set, update.selection.as_ref())?;
                Some(name)
            }
            Statement::Delete(delete) => {
                let from = match &delete.from {
                    FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f) => f,
                };
                if !delete.tables.is_empty() || from.len() != 1 || !from[0].joins.is_empty() {
                    return self.write_all(&named);
                }
                let name = table_factor_name(&from[0].relation, self.flavor)?;
                self.delete(&name, delete.selection.as_ref())?;
                Some(name)
            }
            Statement::Query(query) => {
                self.select(query, &named)?;
                None
            }
            _ => return Err("not a plain INSERT, UPDATE, DELETE or SELECT".into()),
        };
        // What is read besides the target: S on its table (the target's own table too
        // when a subquery reads it).
        let mut seen_target = false;
        for name in &named {
            if Some(name) == target.as_ref() && !seen_target {
                seen_target = true;
                continue;
            }
            if target.is_some() {
                self.fp
                    .add(Resource::Table(name.as_str().into()), Mode::Shared);
            }
        }
        self.sequences_of_row_locks();
        Ok(())
    }

    fn table(&self, name: &str) -> Result<&'a Table, Why> {
        match self.catalog.lookup(name) {
            Lookup::Table(t) if t.opaque => Err(format!(
                "writes to {name} do more than their text (triggers, rules, ...)"
            )),
            Lookup::Table(t) => Ok(t),
            Lookup::Ambiguous => Err(format!("two schemas have a table {name}")),
            Lookup::Unknown => Err(format!("{name} is not a known table")),
        }
    }

    fn lock_all(&mut self, names: &[String], mode: Mode) -> Result<(), Why> {
        for name in names {
            self.fp.add(Resource::Table(name.as_str().into()), mode);
        }
        Ok(())
    }

    /// An insert whose rows are not known here: the table in X, and every sequence its
    /// rows may draw from (a rollback then logs where they stand).
    fn whole_insert(&mut self, name: &str, table: &Table) {
        self.fp.add(Resource::Table(name.into()), Mode::Exclusive);
        for (_, sequence) in &table.drawn {
            self.fp.add(
                Resource::Sequence(sequence.as_str().into()),
                Mode::Exclusive,
            );
        }
    }

    /// A multi-table write: X on every table named and on the tables that refer to them.
    fn write_all(&mut self, names: &[String]) -> Result<(), Why> {
        for name in names {
            self.fp
                .add(Resource::Table(name.as_str().into()), Mode::Exclusive);
            self.children_exclusive(name);
        }
        Ok(())
    }

    fn insert(&mut self, name: &str, insert: &sqlparser::ast::Insert) -> Result<(), Why> {
        let table = self.table(name)?;
        let whole = Resource::Table(name.into());
        let has_unique = !table.unique_keys.is_empty();
        if insert.replace_into || (insert.on.is_some() && has_unique) {
            self.whole_insert(name, table);
            return Ok(());
        }
        let on_conflict_sets = match &insert.on {
            Some(OnInsert::DuplicateKeyUpdate(set)) => set.as_slice(),
            Some(OnInsert::OnConflict(OnConflict {
                action: OnConflictAction::DoUpdate(update),
                ..
            })) => update.assignments.as_slice(),
            _ => &[],
        };
        if on_conflict_sets.iter().any(|a| sets_key(table, &a.target)) {
            self.whole_insert(name, table);
            self.children_exclusive(name);
            return Ok(());
        }
        let (columns, rows): (Vec<String>, Vec<Vec<&Expr>>) = if !insert.assignments.is_empty() {
            let mut columns = Vec::new();
            let mut row = Vec::new();
            for a in &insert.assignments {
                let AssignmentTarget::ColumnName(c) = &a.target else {
                    return Err("a tuple in INSERT ... SET".into());
                };
                columns.push(column(c));
                row.push(&a.value);
            }
            (columns, vec![row])
        } else {
            let columns = if insert.columns.is_empty() {
                table.columns.clone()
            } else {
                insert.columns.iter().map(column).collect()
            };
            match insert.source.as_deref().map(|q| q.body.as_ref()) {
                Some(SetExpr::Values(values)) => (
                    columns,
                    values
                        .rows
                        .iter()
                        .map(|r| r.content.iter().collect())
                        .collect(),
                ),
                _ => {
                    // INSERT ... SELECT, DEFAULT VALUES: which rows is not known here.
                    self.whole_insert(name, table);
                    return Ok(());
                }
            }
        };
        for row in rows {
            if row.len() != columns.len() {
                return Err("an INSERT row whose length is not the column list's".into());
            }
            let value_of = |c: &str| columns.iter().position(|x| x == c).map(|i| row[i]);
            // Columns whose value this row draws from a sequence.
            let mut drawn = Vec::new();
            for (col, sequence) in &table.drawn {
                let value = value_of(col);
                let draws = value.is_none_or(|e| self.is_drawn(e));
                if draws {
                    drawn.push(col);
                }
                let mode = if draws {
                    Some(Mode::Exclusive)
                } else if self.flavor == Flavor::MySql {
                    // An explicit value moves AUTO_INCREMENT up to it: a maximum, the
                    // same whatever order such inserts run in, so they share the lock
                    // (and wait for drawing ones). A value not known to be a non-zero
                    // integer (a NULL parameter) may draw.
                    let explicit = value.and_then(|e| self.integer(e)).is_some_and(|i| i != 0);
                    Some(if explicit {
                        Mode::Shared
                    } else {
                        Mode::Exclusive
                    })
                } else {
                    None
                };
                if let Some(mode) = mode {
                    self.fp
                        .add(Resource::Sequence(sequence.as_str().into()), mode);
                }
            }
            // A key with a drawn value is ordered by its sequence instead.
            let has_drawn = |key: &[String]| key.iter().any(|c| drawn.contains(&c));
            if !table.primary_key.is_empty() && !has_drawn(&table.primary_key) {
                match self.key_of(&table.primary_key, |c| value_of(c)) {
                    Some(key) => self.row(name, "pk", key, Mode::Exclusive),
                    None => self.fp.add(whole.clone(), Mode::Exclusive),
                }
            }
            for (index, cols) in &table.unique_keys {
                if has_drawn(cols) {
                    continue;
                }
                match self.unique_value_of(cols, |c| value_of(c)) {
                    Some(key) => self.row(name, index, key, Mode::Exclusive),
                    None => self.fp.add(whole.clone(), Mode::Exclusive),
                }
            }
            for fk in &table.foreign_keys {
                self.parent(fk, |c| value_of(c))?;
            }
        }
        self.fp.add(whole, Mode::IntentExclusive);
        Ok(())
    }

    fn update(&mut self, name: &str, set: &[String], selection: Option<&Expr>) -> Result<(), Why> {
        let table = self.table(name)?;
        let whole = Resource::Table(name.into());
        let sets_key = set.iter().any(|c| {
            table.primary_key.contains(c) || table.unique_keys.iter().any(|(_, k)| k.contains(c))
        });
        if sets_key {
            self.fp.add(whole, Mode::Exclusive);
            self.children_exclusive(name);
        } else {
            self.rows_or_table(name, table, selection, Mode::Exclusive);
        }
        // A changed foreign key must find its parent: S on the parent's table (the new
        // value is an expression).
        for fk in &table.foreign_keys {
            if fk.columns.iter().any(|c| set.contains(c)) {
                self.fp
                    .add(Resource::Table(fk.parent.as_str().into()), Mode::Shared);
            }
        }
        Ok(())
    }

    fn delete(&mut self, name: &str, selection: Option<&Expr>) -> Result<(), Why> {
        let table = self.table(name)?;
        if !table.unique_keys.is_empty() {
            self.fp.add(Resource::Table(name.into()), Mode::Exclusive);
        } else {
            self.rows_or_table(name, table, selection, Mode::Exclusive);
        }
        self.children_exclusive(name);
        Ok(())
    }

    fn select(&mut self, query: &Query, named: &[String]) -> Result<(), Why> {
        if let SetExpr::Select(select) = query.body.as_ref() {
            if select.into.is_some() {
                return Err("SELECT INTO creates a table".into());
            }
        }
        if query.locks.is_empty() {
            // A plain read runs on one backend and changes nothing on any: what it
            // returns goes to its client, whose later statements carry the values. No
            // lock, as the engines at READ COMMITTED take none (a lock here would make
            // a read-modify-write deadlock where the engine lets the second writer
            // wait).
            return Ok(());
        }
        let mode = Mode::Exclusive;
        if let (SetExpr::Select(select), [one]) = (query.body.as_ref(), named) {
            if query.with.is_none() && select.from.len() == 1 && select.from[0].joins.is_empty() {
                let table = self.table(one)?;
                self.rows_or_table(one, table, select.selection.as_ref(), mode);
                return Ok(());
            }
        }
        self.lock_all(named, mode)
    }

    /// The row its `WHERE` fixes by primary key, else the whole table.
    fn rows_or_table(&mut self, name: &str, table: &Table, selection: Option<&Expr>, mode: Mode) {
        let mut fixed: HashMap<String, &Expr> = HashMap::new();
        if let Some(e) = selection {
            conjuncts_fixing(e, &mut fixed);
        }
        let key = if table.primary_key.is_empty() {
            None
        } else {
            self.key_of(&table.primary_key, |c| fixed.get(c).copied())
        };
        if let Some(key) = key {
            return self.row(name, "pk", key, mode);
        }
        // A small integer range or list of a one-column key: each key of it.
        let keys = match (table.primary_key.as_slice(), selection) {
            ([pk], Some(e)) => self.keys_confined(e, &pk.to_lowercase()),
            _ => None,
        };
        match keys {
            Some(keys) => {
                for key in keys {
                    self.row(name, "pk", key.to_string(), mode);
                }
            }
            None => self.fp.add(Resource::Table(name.into()), mode),
        }
    }

    fn row(&mut self, table: &str, index: &str, key: String, mode: Mode) {
        let mut bytes = index.as_bytes().to_vec();
        bytes.push(0);
        bytes.extend_from_slice(key.as_bytes());
        self.fp.add(
            Resource::Row {
                table: table.into(),
                key: bytes,
            },
            mode,
        );
    }

    /// S on a foreign key's parent row (or its table).
    fn parent<'e>(
        &mut self,
        fk: &ForeignKey,
        value_of: impl Fn(&str) -> Option<&'e Expr>,
    ) -> Result<(), Why> {
        let parent = self.table(&fk.parent)?;
        if fk.columns.iter().all(|c| value_of(c).is_none()) {
            return Ok(()); // not given: NULL or a default, no parent to find
        }
        let by_pk = !parent.primary_key.is_empty() && fk.parent_columns == parent.primary_key;
        let key = by_pk.then(|| self.key_of(&fk.columns, &value_of)).flatten();
        match key {
            Some(key) => self.row(&fk.parent, "pk", key, Mode::Shared),
            None => self
                .fp
                .add(Resource::Table(fk.parent.as_str().into()), Mode::Shared),
        }
        Ok(())
    }

    fn children_exclusive(&mut self, parent: &str) {
        let children: Vec<String> = self.catalog.children_of(parent).map(String::from).collect();
        for child in children {
            self.fp.add(Resource::Table(child.into()), Mode::Exclusive);
        }
    }

    /// A row lock on a table with drawn columns takes their sequences in S (module docs).
    fn sequences_of_row_locks(&mut self) {
        let tables: Vec<Arc<str>> = self
            .fp
            .locks
            .iter()
            .filter_map(|(r, _)| match r {
                Resource::Row { table, .. } => Some(Arc::clone(table)),
                _ => None,
            })
            .collect();
        for t in tables {
            if let Lookup::Table(table) = self.catalog.lookup(&t) {
                for (_, sequence) in &table.drawn {
                    self.fp
                        .add(Resource::Sequence(sequence.as_str().into()), Mode::Shared);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
