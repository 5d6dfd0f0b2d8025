//! Session settings on SQLite, which has none: PostgreSQL drivers send `SET`s when they
//! connect (pgjdbc's `SET extra_float_digits = 3`, `SET application_name`, ...) and tools
//! `SHOW` them. A SQLite session remembers what was set and answers `SHOW` with it, or
//! with PostgreSQL's default; nothing of it changes how SQLite runs a statement.

use mdbd_engine::backend::{BackendError, Column, DbError, Outcome, ResultSet};
use mdbd_engine::log::Value;
use std::collections::HashMap;

/// A settings statement.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Command {
    Set(String, String),
    Reset(String),
    ResetAll,
    Show(String),
}

/// The `server_version` SQLite sessions report (PostgreSQL's protocol and defaults).
pub(super) const SERVER_VERSION: &str = "15.0";

/// What `SHOW name` answers: what the session set, else PostgreSQL's default.
pub(super) fn shown(settings: &HashMap<String, String>, name: &str) -> Option<String> {
    settings
        .get(name)
        .cloned()
        .or_else(|| default(name).map(str::to_string))
}

/// What a setting is before any `SET`: PostgreSQL's defaults for those drivers read.
fn default(name: &str) -> Option<&'static str> {
    Some(match name {
        "server_version" => SERVER_VERSION,
        "server_encoding" | "client_encoding" => "UTF8",
        "datestyle" => "ISO, MDY",
        "intervalstyle" => "postgres",
        "timezone" => "UTC",
        "standard_conforming_strings" | "integer_datetimes" => "on",
        "extra_float_digits" => "1",
        "search_path" => "\"$user\", public",
        "transaction_isolation" | "default_transaction_isolation" => "serializable",
        "application_name" => "",
        _ => return None,
    })
}

/// The command `sql` is, if it is one (`SET [SESSION | LOCAL] name {= | TO} value`,
/// `SET TIME ZONE value`, `RESET name`, `RESET ALL`, `SHOW name`).
pub(super) fn command(sql: &str) -> Option<Command> {
    // Asked of every statement a SQLite session runs: decided by the first word, with
    // nothing allocated for the statements that are not settings.
    let s = sql.trim().trim_end_matches(';').trim();
    let (head, rest) = s.split_once(char::is_whitespace)?;
    let rest = rest.trim();
    let is = |word: &str| head.eq_ignore_ascii_case(word);
    match () {
        _ if is("show") => Some(Command::Show(name(rest))),
        _ if is("reset") && rest.eq_ignore_ascii_case("all") => Some(Command::ResetAll),
        _ if is("reset") => Some(Command::Reset(name(rest))),
        _ if is("set") => {
            let lower = rest.to_ascii_lowercase();
            let rest = ["session ", "local "]
                .iter()
                .find(|p| lower.starts_with(*p))
                .map_or(rest, |p| rest[p.len()..].trim_start());
            if let Some(zone) = rest
                .get(..10)
                .filter(|h| h.eq_ignore_ascii_case("time zone "))
                .map(|_| &rest[10..])
            {
                return Some(Command::Set("timezone".into(), value(zone)));
            }
            let lower = rest.to_ascii_lowercase();
            let (n, v) = match (rest.find('='), lower.find(" to ")) {
                (Some(eq), Some(to)) if to < eq => (&rest[..to], &rest[to + 4..]),
                (Some(eq), _) => (&rest[..eq], &rest[eq + 1..]),
                (None, Some(to)) => (&rest[..to], &rest[to + 4..]),
                (None, None) => return None,
            };
            Some(Command::Set(name(n), value(v)))
        }
        _ => None,
    }
}

fn name(text: &str) -> String {
    let name = text.trim().trim_matches('"').to_ascii_lowercase();
    // `SHOW TRANSACTION ISOLATION LEVEL` (SQLAlchemy asks at connect) is PostgreSQL's
    // spelling of `SHOW transaction_isolation`.
    if name
        .split_whitespace()
        .eq(["transaction", "isolation", "level"])
    {
        return "transaction_isolation".into();
    }
    name
}

/// A value as `SHOW` prints it: each item of a list unquoted from `'...'`.
fn value(text: &str) -> String {
    text.split(',')
        .map(|item| {
            let item = item.trim();
            item.strip_prefix('\'')
                .and_then(|i| i.strip_suffix('\''))
                .unwrap_or(item)
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `command` on a session's `settings`; `SHOW` of a name that is neither set nor
/// known gets PostgreSQL's 42704.
pub(super) fn run(
    settings: &mut HashMap<String, String>,
    command: Command,
) -> Result<Outcome, BackendError> {
    let done = |tag: &str| Outcome::Command {
        tag: tag.into(),
        rows: 0,
        last_insert_id: None,
    };
    Ok(match command {
        Command::Set(name, value) => {
            settings.insert(name, value);
            done("SET")
        }
        Command::Reset(name) => {
            settings.remove(&name);
            done("RESET")
        }
        Command::ResetAll => {
            settings.clear();
            done("RESET")
        }
        Command::Show(name) => {
            let Some(shown) = shown(settings, &name) else {
                return Err(BackendError::Db(DbError {
                    code: "42704".into(),
                    sqlstate: "42704".into(),
                    message: format!("unrecognized configuration parameter \"{name}\""),
                    ..Default::default()
                }));
            };
            Outcome::Rows(ResultSet {
                columns: vec![Column::new(name.clone(), "text")],
                rows: vec![vec![Value::Text(shown)]],
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_statements_in_their_spellings() {
        let set = |n: &str, v: &str| Some(Command::Set(n.into(), v.into()));
        assert_eq!(
            command("SET extra_float_digits = 3"),
            set("extra_float_digits", "3")
        );
        assert_eq!(
            command("set SESSION application_name TO 'PostgreSQL JDBC Driver';"),
            set("application_name", "PostgreSQL JDBC Driver")
        );
        assert_eq!(command("SET TIME ZONE 'UTC'"), set("timezone", "UTC"));
        assert_eq!(
            command("SET search_path TO '$user', public"),
            set("search_path", "$user, public")
        );
        assert_eq!(
            command("SHOW DateStyle"),
            Some(Command::Show("datestyle".into()))
        );
        assert_eq!(command("RESET ALL"), Some(Command::ResetAll));
        assert_eq!(command("SELECT 1"), None);
        assert_eq!(command("SETTINGS"), None);
    }

    #[test]
    fn show_answers_what_was_set_else_the_default() {
        let mut s = HashMap::new();
        let shown = |s: &mut HashMap<String, String>, n: &str| match run(s, Command::Show(n.into()))
        {
            Ok(Outcome::Rows(rs)) => rs.rows[0][0].clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(shown(&mut s, "extra_float_digits"), Value::Text("1".into()));
        run(&mut s, command("SET extra_float_digits = 3").unwrap()).unwrap();
        assert_eq!(shown(&mut s, "extra_float_digits"), Value::Text("3".into()));
        run(&mut s, Command::ResetAll).unwrap();
        assert_eq!(shown(&mut s, "extra_float_digits"), Value::Text("1".into()));
        let unknown = run(&mut s, Command::Show("no_such_thing".into())).unwrap_err();
        assert!(matches!(unknown, BackendError::Db(ref e) if e.sqlstate == "42704"));
    }
}
