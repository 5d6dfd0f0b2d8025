//! PostgreSQL's functions that drivers and tools call when they connect, on SQLite:
//! `version()` (SQLAlchemy reads the major version from it), `current_setting(name [,
//! missing_ok])` (what the session set, else PostgreSQL's default: `settings.rs`) and
//! `current_schema()`. Registered on every client session's connection; a `pg_catalog.`
//! qualifier before them is dropped (SQLite has no schema-qualified functions).

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The functions, on `conn`, reading the session's `settings`.
pub fn register(
    conn: &Connection,
    settings: Arc<Mutex<HashMap<String, String>>>,
) -> rusqlite::Result<()> {
    let fixed = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let version = format!(
        "PostgreSQL {} (mdbd {} on SQLite {})",
        super::settings::SERVER_VERSION,
        env!("CARGO_PKG_VERSION"),
        rusqlite::version()
    );
    conn.create_scalar_function("version", 0, fixed, move |_| Ok(version.clone()))?;
    conn.create_scalar_function("current_schema", 0, fixed, |_| Ok("public"))?;
    for args in [1, 2] {
        let settings = settings.clone();
        conn.create_scalar_function(
            "current_setting",
            args,
            FunctionFlags::SQLITE_UTF8,
            move |ctx| {
                let name: String = ctx.get(0)?;
                let missing_ok = args == 2 && ctx.get::<bool>(1)?;
                let settings = settings.lock().unwrap_or_else(|p| p.into_inner());
                match super::settings::shown(&settings, &name.to_ascii_lowercase()) {
                    Some(v) => Ok(Some(v)),
                    None if missing_ok => Ok(None),
                    None => Err(rusqlite::Error::UserFunctionError(
                        format!("unrecognized configuration parameter \"{name}\"").into(),
                    )),
                }
            },
        )?;
    }
    Ok(())
}

/// `sql` without the `pg_catalog.` qualifier before the functions of this module.
pub fn unqualified(sql: &str) -> Cow<'_, str> {
    const QUALIFIER: &str = "pg_catalog.";
    // Asked of every statement: a scan in place, a lower-case copy only when it is there.
    let present = sql
        .as_bytes()
        .windows(QUALIFIER.len())
        .any(|w| w.eq_ignore_ascii_case(QUALIFIER.as_bytes()));
    if !present {
        return Cow::Borrowed(sql);
    }
    let lower = sql.to_ascii_lowercase();
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    for (at, _) in lower.match_indices(QUALIFIER) {
        let after = &lower[at + QUALIFIER.len()..];
        let ours = ["version", "current_setting", "current_schema"]
            .iter()
            .any(|f| after.starts_with(f) && after[f.len()..].trim_start().starts_with('('));
        if ours {
            out.push_str(&sql[copied..at]);
            copied = at + QUALIFIER.len();
        }
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drivers_start_up_queries_answer_on_sqlite() {
        let conn = Connection::open_in_memory().unwrap();
        let settings = Arc::new(Mutex::new(HashMap::from([(
            "application_name".to_string(),
            "app".to_string(),
        )])));
        register(&conn, settings).unwrap();
        let one = |sql: &str| -> Option<String> {
            conn.query_row(&unqualified(sql), [], |r| r.get(0)).unwrap()
        };
        assert!(one("select pg_catalog.version()")
            .unwrap()
            .starts_with("PostgreSQL 15"));
        assert_eq!(one("SELECT current_schema()").as_deref(), Some("public"));
        assert_eq!(
            one("SELECT current_setting('application_name')").as_deref(),
            Some("app")
        );
        assert_eq!(
            one("SELECT current_setting('TimeZone')").as_deref(),
            Some("UTC")
        );
        assert_eq!(one("SELECT current_setting('nope', true)"), None);
        let err = conn
            .query_row("SELECT current_setting('nope')", [], |r| {
                r.get::<_, String>(0)
            })
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("unrecognized configuration parameter"),
            "{err}"
        );
    }

    #[test]
    fn only_our_functions_lose_their_qualifier() {
        assert_eq!(
            unqualified("SELECT pg_catalog.version(), x FROM pg_catalog.pg_type"),
            "SELECT version(), x FROM pg_catalog.pg_type"
        );
        assert!(matches!(unqualified("SELECT 1"), Cow::Borrowed(_)));
    }
}
