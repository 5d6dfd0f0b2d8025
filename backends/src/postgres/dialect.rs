//! PostgreSQL's ways (see [`Dialect`]).

use mdbd_engine::backend::dialect::{Dialect, OwnError, UtcText};
use mdbd_engine::snapshot::BackendKind;

/// PostgreSQL.
#[derive(Debug)]
pub struct Postgres;

impl Dialect for Postgres {
    fn kind(&self) -> BackendKind {
        BackendKind::Postgres
    }

    fn error_aborts_transaction(&self) -> bool {
        true
    }

    fn error_code(&self, error: OwnError) -> (&'static str, &'static str) {
        match error {
            OwnError::TooManyConnections => ("53300", "53300"),
            OwnError::IdleInTransaction => ("25P03", "25P03"),
            OwnError::TurnHeld => ("25P04", "25P04"),
            _ => ("0A000", "0A000"),
        }
    }

    fn pinned_clock(&self, word: &str, precision: Option<&str>, at: &UtcText) -> Option<String> {
        let ts = format!("'{} {}.{}+00'::timestamptz", at.date, at.time, at.micros);
        let p = precision.map(|p| format!("({p})")).unwrap_or_default();
        Some(match word {
            "now" | "transaction_timestamp" | "statement_timestamp" | "clock_timestamp" => {
                format!("({ts})")
            }
            "current_timestamp" => format!("(({ts})::timestamptz{p})"),
            "localtimestamp" => format!("(({ts})::timestamp{p})"),
            "current_date" => format!("(({ts})::date)"),
            "current_time" => format!("(({ts})::timetz{p})"),
            "localtime" => format!("(({ts})::time{p})"),
            _ => return None,
        })
    }

    fn dollar_quoting(&self) -> bool {
        true
    }

    fn declare_cursor(&self, name: &str, query: &[u8], hold: bool) -> Option<Vec<u8>> {
        // NO SCROLL: pages are only ever read forward, and the server need not keep
        // the rows already read.
        let hold = if hold { " WITH HOLD" } else { "" };
        let mut sql = format!("DECLARE {name} NO SCROLL CURSOR{hold} FOR ").into_bytes();
        sql.extend_from_slice(query);
        Some(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::Postgres;
    use mdbd_engine::cluster::{pin_time, with_clock};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    fn at() -> SystemTime {
        // 2026-11-24 10:20:30.123456 UTC
        UNIX_EPOCH + Duration::from_micros(1_795_515_630_123_456)
    }

    #[test]
    fn postgres_functions_become_one_instant() {
        let sql =
            "INSERT INTO h VALUES (1, CURRENT_TIMESTAMP, now(), localtimestamp(3), current_date)";
        let out = pin_time(sql, &Postgres, at());
        let ts = "'2026-11-24 10:20:30.123456+00'::timestamptz";
        assert_eq!(
            out,
            format!("INSERT INTO h VALUES (1, (({ts})::timestamptz), ({ts}), (({ts})::timestamp(3)), (({ts})::date))")
        );
    }

    #[test]
    fn dollar_quoted_bodies_keep_their_clock_words() {
        let sql = "UPDATE t SET a = $f$ now() $f$, b = now()";
        let out = pin_time(sql, &Postgres, at());
        assert!(
            out.starts_with("UPDATE t SET a = $f$ now() $f$, b = ("),
            "{out}"
        );
    }

    #[test]
    fn postgres_writes_log_no_clock_setting() {
        let settings = vec![("TimeZone".to_string(), "UTC".to_string())];
        assert_eq!(with_clock(&settings, &Postgres, Some(at())), settings);
    }
}
