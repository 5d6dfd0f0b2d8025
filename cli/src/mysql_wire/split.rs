//! MySQL query text: splitting a multi-statement string and numbering `?` placeholders.
//!
//! Both walk the text with MySQL's lexical rules for what is *not* code: '...' and "..."
//! strings (backslash escapes and doubled quotes), `identifiers`, `-- ` and `#` line
//! comments, and /* */ block comments. A `;` or `?` inside any of them is text.

/// Byte ranges of code (outside strings and comments) are reported to `f` one byte at a
/// time, with their offset.
fn walk(sql: &str, mut f: impl FnMut(usize, u8)) {
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() {
                    if b[i] == b'\\' && q != b'`' {
                        i += 2;
                        continue;
                    }
                    if b[i] == q {
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-')
                && b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) =>
            {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            c => {
                f(i, c);
                i += 1;
            }
        }
    }
}

/// The statements of `sql`, trimmed, empty ones left out.
pub fn statements(sql: &str) -> Vec<&str> {
    let mut cuts = Vec::new();
    walk(sql, |i, c| {
        if c == b';' {
            cuts.push(i);
        }
    });
    let mut out = Vec::new();
    let mut start = 0;
    for end in cuts.into_iter().chain(std::iter::once(sql.len())) {
        let s = sql[start..end].trim();
        if !s.is_empty() {
            out.push(s);
        }
        start = (end + 1).min(sql.len());
    }
    out
}

/// The number of `?` placeholders in `sql`.
pub fn placeholders(sql: &str) -> usize {
    let mut n = 0;
    walk(sql, |_, c| n += usize::from(c == b'?'));
    n
}

/// `sql` with its `?` placeholders written `$1`, `$2`, ... (for PostgreSQL backends).
pub fn numbered(sql: &str) -> String {
    let mut at = Vec::new();
    walk(sql, |i, c| {
        if c == b'?' {
            at.push(i);
        }
    });
    let mut out = String::with_capacity(sql.len() + at.len() * 2);
    let mut start = 0;
    for (n, i) in at.into_iter().enumerate() {
        out.push_str(&sql[start..i]);
        out.push_str(&format!("${}", n + 1));
        start = i + 1;
    }
    out.push_str(&sql[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_code_semicolons_only() {
        assert_eq!(
            statements(
                "SELECT 'a;b'; INSERT INTO t VALUES (\"c;\\\"d\"); -- x;y\n SELECT `e;f` # g;h\n;;"
            ),
            vec![
                "SELECT 'a;b'",
                "INSERT INTO t VALUES (\"c;\\\"d\")",
                "-- x;y\n SELECT `e;f` # g;h",
            ]
        );
        assert_eq!(statements("/* a; */ SELECT 1"), vec!["/* a; */ SELECT 1"]);
        assert_eq!(statements("SELECT 1"), vec!["SELECT 1"]);
        assert!(statements(" ; ").is_empty());
    }

    #[test]
    fn numbers_placeholders_outside_strings() {
        assert_eq!(placeholders("SELECT ? , '?', `?` -- ?\n, ?"), 2);
        assert_eq!(
            numbered("UPDATE t SET a = ?, b = 'x?' WHERE id = ?"),
            "UPDATE t SET a = $1, b = 'x?' WHERE id = $2"
        );
    }

    #[test]
    fn unterminated_strings_do_not_panic() {
        assert_eq!(statements("SELECT 'abc"), vec!["SELECT 'abc"]);
        assert_eq!(statements("SELECT \"a\\"), vec!["SELECT \"a\\"]);
        assert_eq!(placeholders("/* ?"), 0);
    }
}
