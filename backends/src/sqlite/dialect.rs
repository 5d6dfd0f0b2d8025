//! SQLite's ways (see [`Dialect`]). Its clients speak PostgreSQL's protocol, so mdbd's own
//! errors take PostgreSQL's codes.

use mdbd_engine::backend::dialect::{Dialect, OwnError, UtcText};
use mdbd_engine::snapshot::BackendKind;

/// SQLite.
#[derive(Debug)]
pub struct Sqlite;

impl Dialect for Sqlite {
    fn kind(&self) -> BackendKind {
        BackendKind::Sqlite
    }

    fn error_code(&self, error: OwnError) -> (&'static str, &'static str) {
        crate::postgres::Postgres.error_code(error)
    }

    /// SQLite's own clock keywords answer in UTC text of these shapes.
    fn pinned_clock(&self, word: &str, _precision: Option<&str>, at: &UtcText) -> Option<String> {
        Some(match word {
            "current_timestamp" => format!("'{} {}'", at.date, at.time),
            "current_date" => format!("'{}'", at.date),
            "current_time" => format!("'{}'", at.time),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Sqlite;
    use mdbd_engine::cluster::pin_time;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn sqlite_keywords_become_utc_text() {
        let at = UNIX_EPOCH + Duration::from_micros(1_795_515_630_123_456);
        assert_eq!(
            pin_time(
                "insert into t values (CURRENT_TIMESTAMP, current_date, now())",
                &Sqlite,
                at
            ),
            "insert into t values ('2026-11-24 10:20:30', '2026-11-24', now())"
        );
    }
}
