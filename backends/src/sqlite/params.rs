//! Parameter types for SQLite statements, which SQLite does not infer: PostgreSQL drivers
//! that encode by the announced type (asyncpg sends an `int` only for an integer
//! parameter) need more than `text`. Where the statement makes it plain, a parameter
//! takes the declared type of the column it meets: an `INSERT`'s column list, `col = $n`
//! (any comparison, in `WHERE` or `SET`), and `LIMIT`/`OFFSET` take integers. Everything
//! else stays `text`, which SQLite converts by the column's affinity as it stores it.

/// A token of a statement, as far as inference needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// A word or identifier, lower case (quoted identifiers unquoted, case kept).
    Word(String),
    /// A parameter, by its number (1-based).
    Param(usize),
    /// Punctuation or an operator.
    Op(String),
    /// A literal (string, number, blob).
    Literal,
}

fn tokens(sql: &str) -> Vec<Token> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut next_param = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' => {
                i += 1;
                while i < b.len() {
                    if b[i] == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
                out.push(Token::Literal);
            }
            b'"' | b'`' | b'[' => {
                let close = if c == b'[' { b']' } else { c };
                let start = i + 1;
                i = start;
                while i < b.len() && b[i] != close {
                    i += 1;
                }
                out.push(Token::Word(sql[start..i.min(b.len())].to_string()));
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(b.len(), |n| i + n + 1);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            }
            b'$' | b'?' | b':' | b'@' => {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && b[end].is_ascii_digit() {
                    end += 1;
                }
                if end > start {
                    let n: usize = sql[start..end].parse().unwrap_or(0);
                    next_param = next_param.max(n);
                    out.push(Token::Param(n));
                } else if c == b'?' {
                    next_param += 1;
                    out.push(Token::Param(next_param));
                } else {
                    out.push(Token::Op((c as char).to_string()));
                }
                i = end;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                {
                    i += 1;
                }
                out.push(Token::Word(sql[start..i].to_ascii_lowercase()));
            }
            _ if c.is_ascii_digit() => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
                out.push(Token::Literal);
            }
            _ if c.is_ascii_whitespace() => i += 1,
            _ => {
                let two = sql.get(i..i + 2).unwrap_or("");
                if matches!(two, "<=" | ">=" | "<>" | "!=" | "==") {
                    out.push(Token::Op(two.to_string()));
                    i += 2;
                } else {
                    out.push(Token::Op((c as char).to_string()));
                    i += 1;
                }
            }
        }
    }
    out
}

fn is_comparison(t: &Token) -> bool {
    matches!(t, Token::Op(o) if matches!(o.as_str(), "=" | "==" | "<>" | "!=" | "<" | ">" | "<=" | ">="))
}

/// The column a token names (`t.col` -> `col`), at `i`.
fn column_at(t: &[Token], i: usize) -> Option<&str> {
    match t.get(i)? {
        Token::Word(w) if !is_keyword(w) => Some(w),
        _ => None,
    }
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "and"
            | "or"
            | "not"
            | "where"
            | "set"
            | "select"
            | "values"
            | "is"
            | "in"
            | "like"
            | "null"
    )
}

/// The tables a statement names (after `INTO`, `UPDATE`, `FROM`, `JOIN`), without a
/// schema qualifier.
fn tables(t: &[Token]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, tok) in t.iter().enumerate() {
        if let Token::Word(w) = tok {
            if matches!(w.as_str(), "into" | "update" | "from" | "join") {
                let mut j = i + 1;
                let mut name = None;
                while let Some(Token::Word(n)) = t.get(j) {
                    name = Some(n.clone());
                    if t.get(j + 1) == Some(&Token::Op(".".into())) {
                        j += 2;
                    } else {
                        break;
                    }
                }
                if let Some(n) = name.filter(|n| !is_keyword(n)) {
                    out.push(n);
                }
            }
        }
    }
    out
}

/// `sql` names a table (or a view, or a table-valued function) to read or write: a
/// `FROM`, `JOIN`, `INTO` or `UPDATE` is followed by a name.
pub fn names_a_table(sql: &str) -> bool {
    !tables(&tokens(sql)).is_empty()
}

/// For each parameter `1..=count`, the column it meets (by the rules in the module
/// docs), or `Int` for `LIMIT`/`OFFSET`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Meets {
    Column(String),
    Integer,
}

/// What each parameter of `sql` meets; `None` where the statement does not say.
pub fn meets(sql: &str, count: usize) -> (Vec<String>, Vec<Option<Meets>>) {
    let t = tokens(sql);
    let mut out: Vec<Option<Meets>> = vec![None; count];
    let mut set = |n: usize, m: Meets| {
        if let Some(slot) = n.checked_sub(1).and_then(|k| out.get_mut(k)) {
            slot.get_or_insert(m);
        }
    };
    // INSERT INTO t (a, b, ...) VALUES ($1, $2, ...), (...)
    if let Some(into) = t.iter().position(|x| *x == Token::Word("into".into())) {
        let open = t[into..]
            .iter()
            .position(|x| *x == Token::Op("(".into()))
            .map(|p| into + p);
        let values = t.iter().position(|x| *x == Token::Word("values".into()));
        if let (Some(open), Some(values)) = (open, values) {
            if open < values {
                let columns: Vec<String> = t[open + 1..values]
                    .iter()
                    .take_while(|x| **x != Token::Op(")".into()))
                    .filter_map(|x| match x {
                        Token::Word(w) => Some(w.clone()),
                        _ => None,
                    })
                    .collect();
                let mut depth = 0;
                let mut item = 0;
                let mut single: Option<usize> = None;
                let mut parts = 0;
                for x in &t[values + 1..] {
                    match x {
                        Token::Op(o) if o == "(" => {
                            depth += 1;
                            if depth == 1 {
                                item = 0;
                                single = None;
                                parts = 0;
                            }
                        }
                        Token::Op(o) if (o == "," || o == ")") && depth == 1 => {
                            if let (Some(n), 1, Some(c)) = (single, parts, columns.get(item)) {
                                set(n, Meets::Column(c.clone()));
                            }
                            item += 1;
                            single = None;
                            parts = 0;
                            if o == ")" {
                                depth -= 1;
                            }
                        }
                        Token::Op(o) if o == ")" => depth -= 1,
                        Token::Word(w) if depth == 0 && w != "values" => break,
                        Token::Param(n) if depth == 1 => {
                            single = Some(*n);
                            parts += 1;
                        }
                        _ if depth == 1 => parts += 1,
                        _ => {}
                    }
                }
            }
        }
    }
    for (i, x) in t.iter().enumerate() {
        let Token::Param(n) = x else { continue };
        // col <op> $n
        if i >= 2 && is_comparison(&t[i - 1]) {
            if let Some(c) = column_at(&t, i - 2) {
                set(*n, Meets::Column(c.to_string()));
                continue;
            }
        }
        // $n <op> col
        if t.get(i + 1).is_some_and(is_comparison) {
            if let Some(c) = column_at(&t, i + 2) {
                if t.get(i + 3) != Some(&Token::Op("(".into())) {
                    set(*n, Meets::Column(c.to_string()));
                    continue;
                }
            }
        }
        if i >= 1 && matches!(&t[i - 1], Token::Word(w) if w == "limit" || w == "offset") {
            set(*n, Meets::Integer);
        }
    }
    (tables(&t), out)
}

/// The PostgreSQL type a SQLite column's declared type stands for, by SQLite's own
/// affinity rules (<https://sqlite.org/datatype3.html#determination_of_column_affinity>),
/// with booleans told apart; `None`: nothing to say (`text` is announced).
pub fn pg_type(declared: &str) -> Option<&'static str> {
    let d = declared.to_ascii_uppercase();
    Some(if d.starts_with("BOOL") {
        "bool"
    } else if d.contains("INT") {
        "int8"
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        "text"
    } else if d.contains("BLOB") || d == "BYTEA" {
        "bytea"
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        "float8"
    } else if d.starts_with("NUMERIC") || d.starts_with("DECIMAL") {
        "numeric"
    } else {
        return None;
    })
}

/// The PostgreSQL type names of `sql`'s parameters `1..=count` on `conn`: the declared
/// type of the column each one meets ([`meets`], [`pg_type`]), `int8` for `LIMIT` and
/// `OFFSET`, else `text`.
pub fn types(conn: &rusqlite::Connection, sql: &str, count: usize) -> Vec<String> {
    let (tables, meets) = meets(sql, count);
    let mut declared: Vec<(String, String)> = Vec::new();
    if meets.iter().any(|m| matches!(m, Some(Meets::Column(_)))) {
        for table in &tables {
            // Best effort: a table that cannot be read (a CTE's name, a view gone) says
            // nothing, and its parameters stay `text`, as before inference.
            let Ok(mut stmt) = conn.prepare_cached("SELECT name, type FROM pragma_table_info(?1)")
            else {
                continue;
            };
            let Ok(rows) = stmt.query_map([table], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            }) else {
                continue;
            };
            declared.extend(rows.flatten());
        }
    }
    meets
        .into_iter()
        .map(|m| {
            match m {
                Some(Meets::Integer) => "int8",
                Some(Meets::Column(c)) => declared
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(&c))
                    .and_then(|(_, d)| pg_type(d))
                    .unwrap_or("text"),
                None => "text",
            }
            .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(c: &str) -> Option<Meets> {
        Some(Meets::Column(c.into()))
    }

    #[test]
    fn insert_columns_give_their_parameters_types() {
        let (tables, m) = meets(
            "INSERT INTO main.t (id, \"Name\", score) VALUES ($1, $2, $3 + 1), ($4, $5, $6)",
            6,
        );
        assert_eq!(tables, vec!["t".to_string()]);
        assert_eq!(
            m,
            vec![
                col("id"),
                col("Name"),
                None,
                col("id"),
                col("Name"),
                col("score")
            ]
        );
    }

    #[test]
    fn comparisons_limits_and_question_marks() {
        let (tables, m) = meets(
            "UPDATE t SET score = ?, active = ? WHERE t.id = ? AND 'x' = ? LIMIT ?",
            5,
        );
        assert_eq!(tables, vec!["t".to_string()]);
        assert_eq!(
            m,
            vec![
                col("score"),
                col("active"),
                col("id"),
                None,
                Some(Meets::Integer)
            ]
        );
        let (tables, m) = meets("SELECT * FROM a JOIN b ON a.x = b.y WHERE $1 < qty", 1);
        assert_eq!(tables, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(m, vec![col("qty")]);
    }

    #[test]
    fn strings_and_comments_hide_nothing_they_should_not() {
        let (_, m) = meets("SELECT '$1 = x' -- id = $1\n FROM t WHERE id = $1", 1);
        assert_eq!(m, vec![col("id")]);
        let (_, m) = meets("SELECT lower($1) FROM t", 1);
        assert_eq!(m, vec![None]);
    }

    #[test]
    fn constant_reads_name_no_table() {
        assert!(!names_a_table("SELECT 1, version(), 'from x'"));
        assert!(names_a_table("SELECT count(*) FROM t"));
        assert!(names_a_table("select x from main.t join u on true"));
    }

    #[test]
    fn declared_types_by_affinity() {
        assert_eq!(pg_type("INTEGER"), Some("int8"));
        assert_eq!(pg_type("BIGINT"), Some("int8"));
        assert_eq!(pg_type("boolean"), Some("bool"));
        assert_eq!(pg_type("VARCHAR(20)"), Some("text"));
        assert_eq!(pg_type("DOUBLE PRECISION"), Some("float8"));
        assert_eq!(pg_type("BLOB"), Some("bytea"));
        assert_eq!(pg_type("NUMERIC(10,2)"), Some("numeric"));
        assert_eq!(pg_type("DATE"), None);
        assert_eq!(pg_type(""), None);
    }
}
