//! MySQL query text: splitting a multi-statement string and numbering `?` placeholders.
//!
//! Both work on bytes: a statement's text need not be UTF-8 (binary literals), and every
//! byte they look for is ASCII, which no multi-byte UTF-8 sequence contains.
//!
//! Both walk the text with MySQL's lexical rules for what is *not* code: '...' and "..."
//! strings (backslash escapes and doubled quotes), `identifiers`, `-- ` and `#` line
//! comments, and /* */ block comments. A `;` or `?` inside any of them is text.

/// Byte ranges of code (outside strings and comments) are reported to `f` one byte at a
/// time, with their offset.
fn walk(b: &[u8], mut f: impl FnMut(usize, u8)) {
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

/// The byte ranges of the statements of `sql`, between code semicolons (each cut is at an
/// ASCII `;`, so a range of UTF-8 text is UTF-8 text).
fn pieces(sql: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut cuts = Vec::new();
    walk(sql, |i, c| {
        if c == b';' {
            cuts.push(i);
        }
    });
    let mut out = Vec::new();
    let mut start = 0;
    for end in cuts.into_iter().chain(std::iter::once(sql.len())) {
        out.push(start..end);
        start = (end + 1).min(sql.len());
    }
    out
}

/// The statements of `sql`, trimmed, empty ones left out.
pub fn statements(sql: &[u8]) -> Vec<&[u8]> {
    pieces(sql)
        .into_iter()
        .map(|r| sql[r].trim_ascii())
        .filter(|s| !s.is_empty())
        .collect()
}

/// [`statements`] of text.
pub fn text_statements(sql: &str) -> Vec<&str> {
    pieces(sql.as_bytes())
        .into_iter()
        .map(|r| sql[r].trim())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The number of `?` placeholders in `sql`.
pub fn placeholders(sql: &[u8]) -> usize {
    let mut n = 0;
    walk(sql, |_, c| n += usize::from(c == b'?'));
    n
}

/// `sql` with its `?` placeholders written `$1`, `$2`, ... (for PostgreSQL backends).
pub fn numbered(sql: &[u8]) -> Vec<u8> {
    let mut at = Vec::new();
    walk(sql, |i, c| {
        if c == b'?' {
            at.push(i);
        }
    });
    let mut out = Vec::with_capacity(sql.len() + at.len() * 2);
    let mut start = 0;
    for (n, i) in at.into_iter().enumerate() {
        out.extend_from_slice(&sql[start..i]);
        out.extend_from_slice(format!("${}", n + 1).as_bytes());
        start = i + 1;
    }
    out.extend_from_slice(&sql[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_code_semicolons_only() {
        assert_eq!(
            text_statements(
                "SELECT 'a;b'; INSERT INTO t VALUES (\"c;\\\"d\"); -- x;y\n SELECT `e;f` # g;h\n;;"
            ),
            vec![
                "SELECT 'a;b'",
                "INSERT INTO t VALUES (\"c;\\\"d\")",
                "-- x;y\n SELECT `e;f` # g;h",
            ]
        );
        assert_eq!(
            text_statements("/* a; */ SELECT 1"),
            vec!["/* a; */ SELECT 1"]
        );
        assert_eq!(text_statements("SELECT 1"), vec!["SELECT 1"]);
        assert!(text_statements(" ; ").is_empty());
    }

    #[test]
    fn bytes_that_are_not_utf8_pass_through_unchanged() {
        // A binary literal as mysql-connector-python inlines it: raw bytes between quotes,
        // one of them a quote escaped with a backslash.
        let sql = b"INSERT INTO bl VALUES (1, '\\0\x01\xff\\';\x80'); SELECT ?";
        let parts = statements(sql);
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[0],
            &b"INSERT INTO bl VALUES (1, '\\0\x01\xff\\';\x80')"[..]
        );
        assert_eq!(numbered(parts[1]), b"SELECT $1");
        assert_eq!(
            numbered(b"UPDATE t SET b = '\xfe?' WHERE id = ?"),
            b"UPDATE t SET b = '\xfe?' WHERE id = $1"
        );
    }

    #[test]
    fn numbers_placeholders_outside_strings() {
        assert_eq!(placeholders(b"SELECT ? , '?', `?` -- ?\n, ?"), 2);
        assert_eq!(
            numbered(b"UPDATE t SET a = ?, b = 'x?' WHERE id = ?"),
            b"UPDATE t SET a = $1, b = 'x?' WHERE id = $2"
        );
    }

    #[test]
    fn unterminated_strings_do_not_panic() {
        assert_eq!(text_statements("SELECT 'abc"), vec!["SELECT 'abc"]);
        assert_eq!(text_statements("SELECT \"a\\"), vec!["SELECT \"a\\"]);
        assert_eq!(placeholders(b"/* ?"), 0);
    }
}
