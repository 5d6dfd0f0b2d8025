//! Cursors the client declares in SQL (`DECLARE name CURSOR FOR <query>`: psycopg's named
//! cursors, SQLAlchemy's `yield_per`), read with `FETCH` / `MOVE` and ended with `CLOSE`.
//!
//! A cursor over a plain query is a read, like the protocol's paged portals (`cursor.rs`):
//! it is declared on one backend, the one the session's reads go to, and its `FETCH`es go
//! to that backend's connection. So reading a large result through a named cursor never
//! takes the write turn, is not logged, and runs once instead of on every backend. Inside
//! a transaction whose backend connection has no transaction of its own yet (the session
//! has not written), the cursor is declared `WITH HOLD` and closed when the session's
//! transaction ends, as the server would close it. A cursor over anything else (`FOR
//! UPDATE`, a data-modifying `WITH`) stays a write and its statements run everywhere.

use super::cursor::Cursor;
use super::{ClusterError, ClusterSession};
use crate::backend::{Outcome, Session};
use crate::log::Value;

/// A cursor statement of the client's, as far as routing needs it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum CursorStatement {
    /// `DECLARE name ... CURSOR ... FOR query`: the name, whether it says `WITH HOLD`, and
    /// where its `FOR` keyword starts.
    Declare {
        name: String,
        hold: bool,
        for_at: usize,
    },
    /// `FETCH ... name`, `MOVE ... name`, `CLOSE name`: the cursor's name.
    Use { name: String, close: bool },
}

/// The identifier at the start of `s` (after spaces): a quoted one as written, an unquoted
/// one in lower case, as PostgreSQL folds it; and the rest.
pub(super) fn identifier(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    if let Some(rest) = s.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if rest[i + 1..].starts_with('"') {
                    name.push('"');
                    chars.next();
                } else {
                    return Some((name, &rest[i + 1..]));
                }
            } else {
                name.push(c);
            }
        }
        return None;
    }
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .unwrap_or(s.len());
    (end > 0).then(|| (s[..end].to_lowercase(), &s[end..]))
}

/// Recognizes a cursor statement of the client's.
pub(super) fn cursor_statement(sql: &str) -> Option<CursorStatement> {
    let body = crate::backend::strip_leading_comments(sql);
    // Every statement passes here: only DECLARE, FETCH, MOVE and CLOSE go further.
    if !matches!(
        body.as_bytes().first().map(u8::to_ascii_lowercase),
        Some(b'd' | b'f' | b'm' | b'c')
    ) {
        return None;
    }
    let offset = sql.len() - body.len();
    let (first, rest) = identifier(body)?;
    match first.as_str() {
        "declare" => {
            let (name, header) = identifier(rest)?;
            // The header's words up to FOR (no quoted text can come before it).
            let mut at = body.len() - header.len();
            let mut hold = false;
            let mut previous = String::new();
            let mut seen_cursor = false;
            loop {
                let word_start = at + (body[at..].len() - body[at..].trim_start().len());
                let (word, after) = identifier(&body[at..])?;
                if word == "for" && seen_cursor {
                    return Some(CursorStatement::Declare {
                        name,
                        hold,
                        for_at: offset + word_start,
                    });
                }
                seen_cursor |= word == "cursor";
                if word == "hold" && previous == "without" {
                    // Said outright: left to the write path, which keeps it as written.
                    return None;
                }
                hold |= word == "hold";
                previous = word;
                at = body.len() - after.len();
            }
        }
        "fetch" | "move" | "close" => {
            // The name is the statement's last identifier (`FETCH FORWARD 10 FROM c`).
            let mut name = None;
            let mut rest = rest.trim_start();
            while !rest.is_empty() {
                match identifier(rest) {
                    Some((word, after)) => {
                        name = Some(word);
                        rest = after.trim_start();
                    }
                    None => {
                        let skip = rest.chars().next().map_or(1, char::len_utf8);
                        rest = rest[skip..].trim_start();
                    }
                }
            }
            let name = name?;
            if first == "close" && name == "all" {
                return None;
            }
            Some(CursorStatement::Use {
                name,
                close: first == "close",
            })
        }
        _ => None,
    }
}

impl ClusterSession {
    /// Runs a cursor statement as a read when it is one (see the module's docs); `None`
    /// leaves it to the usual routing.
    pub(super) async fn sql_cursor(
        &mut self,
        sql: &[u8],
        text: &str,
        params: &[Value],
    ) -> Option<Result<Outcome, ClusterError>> {
        let statement = cursor_statement(text)?;
        // Only engines with cursors of their own have cursor statements to route; and
        // the offsets found in `text` are the statement's own only when it is UTF-8.
        self.cluster.dialect().declare_cursor("c", b"", false)?;
        if std::str::from_utf8(sql).is_err() {
            return None;
        }
        match statement {
            CursorStatement::Declare { name, hold, for_at } => {
                let query = &text[for_at + 3..];
                if !self.plain_query(query) || self.cursors.iter().any(|c| c.name == name) {
                    return None;
                }
                Some(self.declare(sql, name, hold, for_at, params).await)
            }
            CursorStatement::Use { name, close } => {
                let at = self.cursors.iter().position(|c| c.name == name)?;
                let backend = self.cursors[at].backend.clone();
                if let Err(e) = self.refuse_if_aborted() {
                    return Some(Err(e));
                }
                let result = match self.conns.get_mut(&backend) {
                    Some(conn) => conn.execute_bytes(sql, params).await,
                    None => {
                        self.cursors.remove(at);
                        return Some(Err(ClusterError::NoActiveBackend(format!(
                            "the connection to {backend} holding cursor \"{name}\" is gone"
                        ))));
                    }
                };
                if close && result.is_ok() {
                    self.cursors.remove(at);
                }
                Some(result.map_err(|e| self.failed_read(&backend, e)))
            }
        }
    }

    async fn declare(
        &mut self,
        sql: &[u8],
        name: String,
        hold: bool,
        for_at: usize,
        params: &[Value],
    ) -> Result<Outcome, ClusterError> {
        let (backend, in_backend_txn) = self.cursor_home()?;
        // In a transaction the backend's connection is not part of yet, the cursor must
        // outlive the statement's own commit there; it is closed with the session's
        // transaction. (Outside any transaction, the server's own refusal stands.)
        let held;
        let sql = if self.txn.is_some() && !in_backend_txn && !hold {
            let mut with = sql[..for_at].to_vec();
            with.extend_from_slice(b"WITH HOLD ");
            with.extend_from_slice(&sql[for_at..]);
            held = with;
            &held[..]
        } else {
            sql
        };
        let result = match self.conn(&backend).await {
            Ok(conn) => conn.execute_bytes(sql, params).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(outcome) => {
                self.cursors.push(Cursor::new(
                    name,
                    backend.name().to_string(),
                    in_backend_txn,
                    self.txn.is_some() && !hold,
                ));
                Ok(outcome)
            }
            Err(e) => Err(self.failed_read(backend.name(), e)),
        }
    }

    /// The backend holding the cursor `sql` (a `FETCH`/`MOVE`) reads, if it is one of
    /// the session's: a Describe of the statement must go there.
    pub(super) fn cursor_backend(&self, sql: &str) -> Option<String> {
        match cursor_statement(sql)? {
            CursorStatement::Use { name, .. } => self
                .cursors
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.backend.clone()),
            CursorStatement::Declare { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{cursor_statement, CursorStatement};

    fn declare(name: &str, hold: bool, for_at: usize) -> Option<CursorStatement> {
        Some(CursorStatement::Declare {
            name: name.into(),
            hold,
            for_at,
        })
    }

    fn uses(name: &str, close: bool) -> Option<CursorStatement> {
        Some(CursorStatement::Use {
            name: name.into(),
            close,
        })
    }

    #[test]
    fn cursor_statements_and_their_names() {
        let sql = "DECLARE c1 CURSOR FOR SELECT 1";
        assert_eq!(cursor_statement(sql), declare("c1", false, 18));
        assert_eq!(&sql[18..21], "FOR");
        let sql = r#"declare "My ""C""" binary no scroll cursor with hold for select * from t"#;
        let at = sql.find(" for ").unwrap() + 1;
        assert_eq!(cursor_statement(sql), declare(r#"My "C""#, true, at));
        let sql = "/* psycopg */ DECLARE \"x\" CURSOR WITHOUT HOLD FOR SELECT 1";
        assert_eq!(cursor_statement(sql), None, "WITHOUT HOLD stays as written");
        assert_eq!(
            cursor_statement("FETCH FORWARD 100 FROM \"x\""),
            uses("x", false)
        );
        assert_eq!(cursor_statement("fetch 10 in Cur;"), uses("cur", false));
        assert_eq!(cursor_statement("MOVE ABSOLUTE 0 FROM c"), uses("c", false));
        assert_eq!(cursor_statement("CLOSE \"a\"\"b\""), uses("a\"b", true));
        assert_eq!(cursor_statement("CLOSE ALL"), None);
        assert_eq!(cursor_statement("SELECT 1"), None);
        assert_eq!(cursor_statement("DECLARE"), None);
    }
}
