//! COM_QUERY: a query string, several statements when the client set
//! CLIENT_MULTI_STATEMENTS (one result each, the last without MORE_RESULTS_EXISTS, the
//! first error ending the string); `USE` and COM_INIT_DB; `SET autocommit`.

use super::reply::Streamed;
use super::{auth, Conn};
use mdbd::mysql_wire::handshake::caps;
use mdbd::mysql_wire::results;
use mdbd::mysql_wire::split;
use mdbd_engine::backend::{DbError, Outcome};
use mdbd_engine::cluster::ClusterError;

/// An error of the front end itself (not a backend's): its MySQL error number is kept
/// whatever the backends' engine (see `reply::error`).
pub(super) fn db_error(code: &str, sqlstate: &str, message: String) -> ClusterError {
    ClusterError::Db(DbError {
        code: format!("{}{code}", super::reply::OWN),
        sqlstate: sqlstate.into(),
        message,
        ..Default::default()
    })
}

fn done(tag: &str) -> Outcome {
    Outcome::Command {
        tag: tag.into(),
        rows: 0,
        last_insert_id: None,
    }
}

/// The statement's first word, lower-cased (after leading comments).
pub(super) fn first_word(sql: &str) -> String {
    mdbd_engine::backend::strip_leading_comments(sql)
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .find(|w| !w.is_empty())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Statements the front end recognises by their whole text are short: longer ones are
/// not compacted (a multi-megabyte statement is not copied to find out).
const SHORT: usize = 256;

/// A short statement without white space, in lower case, for matching its whole text;
/// `None` for long ones.
fn compact(sql: &str) -> Option<String> {
    (sql.len() <= SHORT).then(|| {
        sql.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase()
    })
}

/// `SET [SESSION | LOCAL | @@[session.|local.]]autocommit = value` -> the new value.
fn autocommit_setting(sql: &str) -> Option<Result<bool, String>> {
    let compact = compact(sql)?;
    let rest = compact.strip_prefix("set")?;
    let rest = ["@@session.", "@@local.", "@@", "session", "local"]
        .iter()
        .find_map(|p| rest.strip_prefix(p))
        .unwrap_or(rest);
    let rest = rest.strip_prefix("autocommit")?;
    let value = rest.strip_prefix(":=").or_else(|| rest.strip_prefix('='))?;
    let value = value
        .trim_end_matches(';')
        .trim_matches(|c| c == '\'' || c == '"');
    Some(match value {
        "0" | "off" | "false" => Ok(false),
        "1" | "on" | "true" => Ok(true),
        v if v.contains(',') => {
            Err("mdbd: set autocommit in a SET statement of its own".to_string())
        }
        v => Err(format!(
            "Variable 'autocommit' can't be set to the value of '{v}'"
        )),
    })
}

/// The parts of `text` between commas outside quotes and parentheses.
fn top_level_commas(text: &str) -> Vec<&str> {
    let (mut parts, mut start, mut depth, mut quote) = (Vec::new(), 0, 0i32, None);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A `SET` of several variables, one of them `autocommit` (MariaDB Connector/J sends
/// `SET autocommit=1, sql_mode = concat(@@sql_mode, ...)` when it connects): the new
/// autocommit value, which the front end keeps, and the statement without it, for the
/// backends.
fn split_autocommit(sql: &str) -> Option<(Result<bool, String>, String)> {
    if sql.len() > 4 * SHORT || !sql.contains(',') {
        return None;
    }
    let trimmed = sql.trim().trim_end_matches(';');
    let body = trimmed
        .get(..4)
        .filter(|h| h.eq_ignore_ascii_case("set ") || h.eq_ignore_ascii_case("set\t"))
        .map(|_| &trimmed[4..])?;
    let parts = top_level_commas(body);
    if parts.len() < 2 {
        return None;
    }
    let mut value = None;
    let mut rest = Vec::new();
    for part in parts {
        match autocommit_setting(&format!("SET {part}")) {
            Some(v) if value.is_none() => value = Some(v),
            _ => rest.push(part.trim()),
        }
    }
    Some((value?, format!("SET {}", rest.join(", "))))
}

/// `SELECT @@socket` (any case and spacing).
/// `SELECT CONNECTION_ID()` (drivers read it to `KILL QUERY` their statement from another
/// connection): the id mdbd's handshake gave this client, which `KILL` takes. A backend
/// would answer with its own thread's id, which names nothing in mdbd.
fn is_connection_id_query(sql: &str) -> Option<String> {
    let compact = compact(sql)?;
    compact
        .trim_end_matches(';')
        .strip_prefix("selectconnection_id()")?;
    // The column is named as the client wrote the expression, or its alias.
    let start = sql.to_ascii_lowercase().find("connection_id")?;
    let close = sql[start..].find(')')? + start + 1;
    let words: Vec<&str> = sql[close..]
        .trim_end()
        .trim_end_matches(';')
        .split_whitespace()
        .collect();
    let alias = match words.as_slice() {
        [] => return Some(sql[start..close].to_string()),
        [a, alias] if a.eq_ignore_ascii_case("as") => *alias,
        [alias] if !alias.eq_ignore_ascii_case("as") => *alias,
        _ => return None,
    };
    alias
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then(|| alias.to_string())
}

fn is_socket_query(sql: &str) -> bool {
    let Some(compact) = compact(sql) else {
        return false;
    };
    matches!(
        compact.trim_end_matches(';'),
        "select@@socket" | "select@@global.socket"
    )
}

/// `USE name` -> the name.
fn use_statement(sql: &str) -> Option<&str> {
    let s = sql.trim();
    let head = s.get(..4)?;
    (head.eq_ignore_ascii_case("use ") || head.eq_ignore_ascii_case("use\t")).then(|| s[4..].trim())
}

/// COM_INIT_DB (and `USE`): only the cluster's own database.
pub fn use_database(conn: &mut Conn, db: &str) {
    match auth::check_database(&conn.frontend, db) {
        Ok(()) => conn.ok(),
        Err(message) => conn.packets.push(&results::err(1049, "42000", &message)),
    }
}

/// Runs one statement of a COM_QUERY (or a prepared statement) with what the front end
/// itself owns: `USE`, `autocommit`, the transaction an `autocommit = 0` session opens
/// implicitly, and the commit a MySQL DDL statement makes implicitly.
/// `KILL [QUERY | CONNECTION] <id>` -> (query only, id).
fn kill_statement(sql: &str) -> Option<(bool, u32)> {
    let words: Vec<String> = sql
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    match words.as_slice() {
        [k, id] if k == "kill" => Some((false, id.parse().ok()?)),
        [k, what, id] if k == "kill" && (what == "query" || what == "connection") => {
            Some((what == "query", id.parse().ok()?))
        }
        _ => None,
    }
}

/// Cancels the statement of connection `id` of this listener on every backend it runs
/// on; `KILL CONNECTION` also ends what that session would run next. Another
/// connection's id gives MySQL's 1094.
async fn kill(conn: &mut Conn, query_only: bool, id: u32) -> Result<Outcome, ClusterError> {
    let target = conn
        .frontend
        .sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
        .cloned();
    let Some(target) = target else {
        return Err(db_error(
            "1094",
            "HY000",
            format!("Unknown thread id: {id}"),
        ));
    };
    if query_only {
        target.cancel().await;
    } else {
        target.client_gone().await;
    }
    Ok(done("KILL"))
}

/// Runs one statement, exactly the bytes the client sent (they need not be UTF-8: a
/// binary literal goes to every backend and into the log unchanged). The front end's
/// own decisions read it as text; every word they look for is ASCII.
/// Runs one statement. With `stream` (text-protocol reads on MySQL clusters), a read's
/// rows go to the client as the backend sends them (`conn.streamed` says they did).
pub(super) async fn statement(
    conn: &mut Conn,
    bytes: &[u8],
    params: &[mdbd_engine::log::Value],
    stream: bool,
) -> Result<Outcome, ClusterError> {
    let text = String::from_utf8_lossy(bytes);
    let sql: &str = &text;
    // Only statements starting with these words can be the front end's own; the rest
    // is decided by the first word alone, without scanning the text.
    let word = first_word(sql);
    match word.as_str() {
        "kill" if sql.len() < SHORT => {
            if let Some((query_only, id)) = kill_statement(sql) {
                return kill(conn, query_only, id).await;
            }
        }
        "use" => {
            if let Some(db) = use_statement(sql) {
                return auth::check_database(&conn.frontend, db)
                    .map(|()| done("USE"))
                    .map_err(|m| db_error("1049", "42000", m));
            }
        }
        "select" => {
            if is_socket_query(sql) {
                // Drivers that prefer a local socket (mysql_async does) reconnect to the
                // one the server names: a backend's would take the client around mdbd.
                return Ok(Outcome::Rows(mdbd_engine::backend::ResultSet {
                    columns: vec![mdbd_engine::backend::Column::new("@@socket", "var_string")],
                    rows: vec![vec![mdbd_engine::log::Value::Null]],
                }));
            }
            if let Some(name) = is_connection_id_query(sql) {
                return Ok(Outcome::Rows(mdbd_engine::backend::ResultSet {
                    columns: vec![mdbd_engine::backend::Column::new(name, "longlong")],
                    rows: vec![vec![mdbd_engine::log::Value::Int(i64::from(conn.id))]],
                }));
            }
            if !conn.frontend.is_mysql {
                if let Some(rs) = super::variables::answer(sql, conn.autocommit) {
                    return Ok(Outcome::Rows(rs));
                }
            }
        }
        "set" => {
            let mut setting = autocommit_setting(sql);
            if let Some((autocommit, rest)) = split_autocommit(sql) {
                // A bad autocommit value or a variable the server refuses: nothing changes.
                let on = autocommit.map_err(|m| db_error("1231", "42000", m))?;
                conn.session.execute(&rest, &[]).await?;
                setting = Some(Ok(on));
            }
            if let Some(setting) = setting {
                let on = setting.map_err(|m| db_error("1231", "42000", m))?;
                if on && !conn.autocommit && conn.session.in_transaction() {
                    // MySQL commits the open transaction when autocommit is switched on.
                    conn.session.execute("COMMIT", &[]).await?;
                }
                conn.autocommit = on;
                return Ok(done("SET"));
            }
        }
        _ => {}
    }
    let controls = matches!(
        word.as_str(),
        "begin" | "start" | "commit" | "rollback" | "set" | "savepoint" | "release" | "xa"
    );
    if conn.frontend.cluster.dialect().commits_implicitly(sql) {
        // MySQL commits the open transaction before DDL, which then runs on its own:
        // do the same, so the DDL is logged as a write of its own (MySQL backends can
        // only replay DDL that way).
        if conn.session.in_transaction() {
            conn.session.execute("COMMIT", &[]).await?;
        }
    } else if !conn.autocommit && !controls && !conn.session.in_transaction() {
        conn.session.execute("BEGIN", &[]).await?;
    }
    if word == "load" && conn.frontend.is_mysql && mdbd_engine::cluster::reads_client_file(sql) {
        return super::load::load(conn, sql).await;
    }
    if !stream {
        return conn.session.execute_bytes(bytes, params).await;
    }
    let status = conn.status();
    let mut sink = Streamed::new(&mut conn.packets, conn.login.extended_metadata, status);
    let result = conn
        .session
        .execute_streaming(bytes, params, &mut sink)
        .await;
    (conn.streamed, conn.stream_failed) = sink.finish();
    result
}

/// COM_QUERY.
pub async fn run(conn: &mut Conn, sql: &[u8]) -> std::io::Result<()> {
    let statements = split::statements(sql);
    if statements.is_empty() {
        conn.packets
            .push(&results::err(1065, "42000", "Query was empty"));
        return Ok(());
    }
    if statements.len() > 1 && conn.caps & caps::MULTI_STATEMENTS == 0 {
        conn.packets.push(&results::err(
            1064,
            "42000",
            "You have an error in your SQL syntax: several statements in one query need the client's CLIENT_MULTI_STATEMENTS option",
        ));
        return Ok(());
    }
    let last = statements.len() - 1;
    // Reads of MySQL backends stream: the client may read a result larger than mdbd
    // should hold (an unbuffered cursor).
    let stream = conn.frontend.is_mysql;
    for (i, sql) in statements.into_iter().enumerate() {
        let result = statement(conn, sql, &[], stream).await;
        if let Some(e) = conn.stream_failed.take() {
            return Err(e);
        }
        match result {
            Ok(_) if std::mem::take(&mut conn.streamed) => conn.streamed_end(i < last),
            Ok(outcome) => conn.outcome(outcome, false, i < last).await?,
            Err(e) => {
                conn.streamed = false;
                conn.error(&e);
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_id_queries_are_told_with_the_column_name_mysql_gives() {
        let name = |sql: &str| is_connection_id_query(sql);
        assert_eq!(
            name("SELECT CONNECTION_ID()").as_deref(),
            Some("CONNECTION_ID()")
        );
        assert_eq!(
            name("select connection_id();").as_deref(),
            Some("connection_id()")
        );
        assert_eq!(
            name("SELECT CONNECTION_ID() AS cid").as_deref(),
            Some("cid")
        );
        assert_eq!(name("SELECT CONNECTION_ID() id").as_deref(), Some("id"));
        assert_eq!(name("SELECT CONNECTION_ID(), 1"), None);
        assert_eq!(name("SELECT CONNECTION_ID() + 1"), None);
        assert_eq!(name("SELECT 1"), None);
        assert_eq!(name("SELECT CONNECTION_ID() asdf").as_deref(), Some("asdf"));
    }

    #[test]
    fn autocommit_settings_in_their_spellings() {
        for (sql, want) in [
            ("SET autocommit=0", Some(false)),
            ("set @@autocommit = 1", Some(true)),
            ("SET SESSION autocommit = OFF", Some(false)),
            ("SET @@session.autocommit=ON;", Some(true)),
            ("SET LOCAL autocommit = 'false'", Some(false)),
            ("SET sql_mode = ''", None),
            ("SELECT 1", None),
        ] {
            assert_eq!(autocommit_setting(sql).map(|r| r.unwrap()), want, "{sql}");
        }
        assert!(autocommit_setting("SET autocommit = 2").unwrap().is_err());
        assert!(autocommit_setting("SET autocommit = 0, sql_mode = ''")
            .unwrap()
            .is_err());
    }

    #[test]
    fn autocommit_among_other_variables_is_split_off() {
        let (on, rest) = split_autocommit(
            "SET autocommit=1, sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES')",
        )
        .unwrap();
        assert_eq!(on, Ok(true));
        assert_eq!(
            rest,
            "SET sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES')"
        );
        let (on, rest) =
            split_autocommit("set names utf8mb4, @@autocommit = OFF, @a = 'x,y'").unwrap();
        assert_eq!(on, Ok(false));
        assert_eq!(rest, "SET names utf8mb4, @a = 'x,y'");
        assert_eq!(split_autocommit("SET sql_mode = '', @a = 1"), None);
        assert_eq!(split_autocommit("SET autocommit = 1"), None);
        assert!(split_autocommit("SET autocommit = 7, @a = 1")
            .unwrap()
            .0
            .is_err());
    }

    #[test]
    fn use_statements() {
        assert_eq!(use_statement("USE shop"), Some("shop"));
        assert_eq!(use_statement("use `shop`"), Some("`shop`"));
        assert_eq!(use_statement("user_table"), None);
        assert_eq!(first_word("/* x */ START TRANSACTION"), "start");
        assert!(is_socket_query("SELECT @@socket"));
        assert!(!is_socket_query("SELECT @@port"));
    }
}
