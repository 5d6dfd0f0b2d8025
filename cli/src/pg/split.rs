//! Splitting a simple-query string into statements: on `;` outside quotes
//! (`'...'`, `"..."`, `$tag$...$tag$`) and comments (`--`, `/* */`).

/// The statements of `sql`, trimmed, empty ones dropped.
pub fn statements(sql: &str) -> Vec<&str> {
    let b = sql.as_bytes();
    let (mut out, mut start, mut i) = (Vec::new(), 0, 0);
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'$' => {
                // A dollar quote: $tag$ ... $tag$ (tag may be empty).
                let tag_end = sql[i + 1..].find('$').map(|j| i + 1 + j);
                if let Some(end) = tag_end.filter(|&e| {
                    sql[i + 1..e]
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_')
                }) {
                    let tag = &sql[i..=end];
                    match sql[end + 1..].find(tag) {
                        Some(close) => i = end + 1 + close + tag.len() - 1,
                        None => i = b.len(),
                    }
                }
            }
            b';' => {
                let s = sql[start..i].trim();
                if !s.is_empty() {
                    out.push(s);
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let s = sql.get(start..).unwrap_or("").trim();
    if !s.is_empty() {
        out.push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::statements;

    #[test]
    fn splits_outside_quotes_and_comments() {
        assert_eq!(statements("SELECT 1; SELECT 2;"), ["SELECT 1", "SELECT 2"]);
        assert_eq!(
            statements("INSERT INTO t VALUES ('a;b'); SELECT \"x;y\" FROM t"),
            ["INSERT INTO t VALUES ('a;b')", "SELECT \"x;y\" FROM t"]
        );
        assert_eq!(
            statements("SELECT 1 -- no; split\n; SELECT /* ; */ 2"),
            ["SELECT 1 -- no; split", "SELECT /* ; */ 2"]
        );
        assert_eq!(
            statements(
                "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT f()"
            ),
            [
                "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql",
                "SELECT f()"
            ]
        );
        assert!(statements(" ; ;").is_empty());
    }
}
