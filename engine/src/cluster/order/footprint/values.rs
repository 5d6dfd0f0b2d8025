//! How a footprint reads values, names and calls out of the syntax tree.

use super::{Analysis, Flavor, Why};
use crate::backend::catalog::Table;
use crate::cluster::order::locks::{Mode, Resource};
use crate::log::Value;
use sqlparser::ast::{
    visit_expressions, AssignmentTarget, BinaryOperator, Expr, InTarget, ObjectName,
    ObjectNamePart, Statement, TableFactor, UnaryOperator, Value as SqlValue,
};
use std::collections::HashMap;
use std::ops::ControlFlow;

/// Built-in functions that give the same result on every backend for the same input
/// (`now()` and its kin are pinned per transaction by mdbd).
#[rustfmt::skip]
const DETERMINISTIC: &[&str] = &[
    "abs", "avg", "ceil", "ceiling", "char_length", "coalesce", "concat", "count",
    "current_date", "current_timestamp", "floor", "greatest", "if", "ifnull", "least",
    "length", "localtimestamp", "lower", "ltrim", "max", "min", "mod", "now", "nullif",
    "replace", "round", "rtrim", "substr", "substring", "sum", "trim", "upper",
];

impl<'a> Analysis<'a> {
    /// Whether a value given for a drawn key column draws one anyway: `DEFAULT`, `NULL`,
    /// and in MySQL 0.
    pub(super) fn is_drawn(&self, e: &Expr) -> bool {
        match e {
            Expr::Identifier(id) => id.value.eq_ignore_ascii_case("default"),
            Expr::Value(v) if matches!(v.value, SqlValue::Null) => true,
            _ => self.flavor == Flavor::MySql && self.integer(e) == Some(0),
        }
    }

    /// The integer values of `columns`, joined, when each is known.
    pub(super) fn key_of<'e>(
        &self,
        columns: &[String],
        value_of: impl Fn(&str) -> Option<&'e Expr>,
    ) -> Option<String> {
        let values: Option<Vec<String>> = columns
            .iter()
            .map(|c| self.integer(value_of(c)?).map(|i| i.to_string()))
            .collect();
        values.map(|v| v.join("\0"))
    }

    /// A unique key's value: integers as in [`Self::key_of`], text too (only inserts
    /// compare these, and two inserts of one value wait for each other in the backend);
    /// MySQL's text folded to lower case without trailing spaces, as its default
    /// collations compare.
    pub(super) fn unique_value_of<'e>(
        &self,
        columns: &[String],
        value_of: impl Fn(&str) -> Option<&'e Expr>,
    ) -> Option<String> {
        let mut parts = Vec::new();
        for c in columns {
            let e = value_of(c)?;
            if let Some(i) = self.integer(e) {
                parts.push(format!("i{i}"));
            } else if let Some(t) = self.text(e) {
                parts.push(match self.flavor {
                    Flavor::MySql => format!("s{}", t.trim_end_matches(' ').to_lowercase()),
                    Flavor::Postgres => format!("s{t}"),
                });
            } else {
                return None;
            }
        }
        Some(parts.join("\0"))
    }

    /// The integer keys a conjunct of `e` confines column `col` to: `col BETWEEN lo AND
    /// hi` or `col IN (...)` with integer bounds or items, at most [`MAX_RANGE_KEYS`].
    /// (Keys are discrete: locking each value, whether a row holds it or not, orders the
    /// statement against every insert, update or delete of a row it could touch.)
    pub(super) fn keys_confined(&self, e: &Expr, col: &str) -> Option<Vec<i64>> {
        let named = |x: &Expr| column_named(x).as_deref() == Some(col);
        match e {
            Expr::Nested(inner) => self.keys_confined(inner, col),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => self
                .keys_confined(left, col)
                .or_else(|| self.keys_confined(right, col)),
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } if named(expr) => {
                let (lo, hi) = (self.integer(low)?, self.integer(high)?);
                let span = hi.checked_sub(lo)?;
                (0..MAX_RANGE_KEYS)
                    .contains(&span)
                    .then(|| (lo..=hi).collect())
            }
            Expr::Between { .. } => None,
            Expr::In {
                expr,
                target: InTarget::List(list),
                negated: false,
                ..
            } if named(expr) && (list.len() as i64) <= MAX_RANGE_KEYS => {
                list.iter().map(|item| self.integer(item)).collect()
            }
            _ => None,
        }
    }

    pub(super) fn integer(&self, e: &Expr) -> Option<i64> {
        match e {
            Expr::Nested(inner) => self.integer(inner),
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } => self.integer(expr)?.checked_neg(),
            Expr::Value(v) => match &v.value {
                SqlValue::Number(n, _) => canonical_integer(n),
                SqlValue::SingleQuotedString(s) => canonical_integer(s),
                SqlValue::Placeholder(p) => match self.param(p, v.span.start)? {
                    Value::Int(i) => Some(*i),
                    Value::Text(s) => canonical_integer(s),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        }
    }

    pub(super) fn text(&self, e: &Expr) -> Option<String> {
        match e {
            Expr::Nested(inner) => self.text(inner),
            Expr::Value(v) => match &v.value {
                SqlValue::SingleQuotedString(s) => Some(s.clone()),
                SqlValue::Placeholder(p) => match self.param(p, v.span.start)? {
                    Value::Text(s) => Some(s.clone()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        }
    }

    /// The parameter a placeholder stands for: `$n` (PostgreSQL), `?` by its place.
    pub(super) fn param(&self, p: &str, at: sqlparser::tokenizer::Location) -> Option<&'a Value> {
        let index = match p.strip_prefix('$') {
            Some(n) => n.parse::<usize>().ok()?.checked_sub(1)?,
            None if p == "?" => *self.placeholders.get(&(at.line, at.column))?,
            None => return None,
        };
        self.params.get(index)
    }

    pub(super) fn number_placeholders(&mut self, statement: &Statement) {
        let mut places = Vec::new();
        let _ = visit_expressions(statement, |e| {
            if let Expr::Value(v) = e {
                if matches!(&v.value, SqlValue::Placeholder(p) if p == "?") {
                    places.push((v.span.start.line, v.span.start.column));
                }
            }
            ControlFlow::<()>::Continue(())
        });
        places.sort_unstable();
        self.placeholders = places
            .into_iter()
            .enumerate()
            .map(|(i, p)| (p, i))
            .collect();
    }

    pub(super) fn check_functions(&mut self, statement: &Statement) -> Result<(), Why> {
        let mut problem = None;
        let mut sequences = Vec::new();
        let _ = visit_expressions(statement, |e| {
            if let Expr::Function(f) = e {
                let name = bare(&f.name, Flavor::MySql);
                if name == "nextval" {
                    match first_text_argument(&f.to_string()) {
                        Some(seq) => sequences.push(seq),
                        None => problem = Some("nextval of a computed name".to_string()),
                    }
                } else if !DETERMINISTIC.contains(&name.as_str()) {
                    problem = Some(format!("calls {name}()"));
                }
            }
            ControlFlow::<()>::Continue(())
        });
        if let Some(why) = problem {
            return Err(why);
        }
        for seq in sequences {
            self.fp.add(Resource::Sequence(seq.into()), Mode::Exclusive);
        }
        Ok(())
    }
}

/// A table's bare name: the last part, as footprints compare it. PostgreSQL folds
/// unquoted names to lower case and keeps quoted ones; MySQL's table names are compared in
/// lower case here whatever their quoting (its catalog is folded the same way).
pub(super) fn bare(name: &ObjectName, flavor: Flavor) -> String {
    match (name.0.last(), flavor) {
        (Some(ObjectNamePart::Identifier(id)), Flavor::Postgres) if id.quote_style.is_some() => {
            id.value.clone()
        }
        (Some(ObjectNamePart::Identifier(id)), _) => id.value.to_lowercase(),
        _ => name.to_string().to_lowercase(),
    }
}

pub(super) fn column(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(id)) => id.value.to_lowercase(),
        _ => name.to_string().to_lowercase(),
    }
}

pub(super) fn table_factor_name(factor: &TableFactor, flavor: Flavor) -> Result<String, Why> {
    match factor {
        TableFactor::Table { name, .. } => Ok(bare(name, flavor)),
        _ => Err("a target that is not a table".into()),
    }
}

/// `column = value` conjuncts of a `WHERE` (either side), by lower-case column name.
pub(super) fn conjuncts_fixing<'e>(e: &'e Expr, fixed: &mut HashMap<String, &'e Expr>) {
    match e {
        Expr::Nested(inner) => conjuncts_fixing(inner, fixed),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts_fixing(left, fixed);
            conjuncts_fixing(right, fixed);
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            if let Some(c) = column_named(left) {
                fixed.insert(c, right);
            } else if let Some(c) = column_named(right) {
                fixed.insert(c, left);
            }
        }
        _ => {}
    }
}

/// The column an expression names, lower case (the last part of a qualified name).
fn column_named(x: &Expr) -> Option<String> {
    match x {
        Expr::Identifier(id) => Some(id.value.to_lowercase()),
        Expr::CompoundIdentifier(ids) => ids.last().map(|id| id.value.to_lowercase()),
        _ => None,
    }
}

/// The most keys a range or list is locked key by key; past it, the table.
pub(super) const MAX_RANGE_KEYS: i64 = 64;

pub(super) fn assigned(target: &AssignmentTarget) -> Vec<String> {
    match target {
        AssignmentTarget::ColumnName(c) => vec![column(c)],
        AssignmentTarget::Tuple(cs) => cs.iter().map(column).collect(),
    }
}

/// Whether an assignment sets a primary- or unique-key column.
pub(super) fn sets_key(table: &Table, target: &AssignmentTarget) -> bool {
    assigned(target).iter().any(|c| {
        table.primary_key.contains(c) || table.unique_keys.iter().any(|(_, k)| k.contains(c))
    })
}

/// An integer written the one way it prints (`5`, `-5`; not `05`, `5.0`, `+5`, ` 5`).
pub(super) fn canonical_integer(s: &str) -> Option<i64> {
    let i: i64 = s.parse().ok()?;
    (i.to_string() == s).then_some(i)
}

/// The text of the first quoted argument of a call printed as SQL (`nextval('s')`).
pub(super) fn first_text_argument(call: &str) -> Option<String> {
    let open = call.find("('")?;
    let rest = &call[open + 2..];
    let close = rest.find('\'')?;
    Some(crate::backend::catalog::sequence_name(&rest[..close]))
}
