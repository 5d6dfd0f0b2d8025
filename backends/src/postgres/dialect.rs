//! PostgreSQL's ways (see [`Dialect`]).

use mdbd_engine::backend::catalog::Flavor;
use mdbd_engine::backend::dialect::{Dialect, OwnError, UtcText};
use mdbd_engine::backend::DbError;
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

    fn keyed_flavor(&self) -> Option<Flavor> {
        Some(Flavor::Postgres)
    }

    /// `SELECT setval('seq', last_value, is_called)` per sequence, built by the server
    /// (names quoted as identifiers, so a name is never read as SQL).
    fn sequence_positions(&self, sequences: Option<&[String]>) -> Option<String> {
        let Some(sequences) = sequences else {
            // The leading NULL row (ignored by the caller) keeps the result from being
            // empty: an empty result costs a second round trip to describe its columns,
            // and this runs while writers wait (a switch-over).
            return Some(
                "SELECT NULL::text UNION ALL SELECT format('SELECT setval(%L, %s, %s)', format('%I.%I', schemaname, sequencename), \
                 last_value, 'true') FROM pg_sequences WHERE last_value IS NOT NULL"
                    .into(),
            );
        };
        let parts: Vec<String> = sequences
            .iter()
            .map(|s| {
                let ident = format!("\"{}\"", s.replace('"', "\"\""));
                format!(
                    "SELECT format('SELECT setval(%L, %s, %s)', {lit}, last_value, CASE WHEN is_called THEN 'true' ELSE 'false' END) FROM {ident}",
                    lit = format_args!("'{}'", ident.replace('\'', "''")),
                )
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join(" UNION ALL "))
    }

    /// lock_not_available, deadlock_detected, serialization_failure.
    fn is_lock_failure(&self, error: &DbError) -> bool {
        matches!(error.sqlstate.as_str(), "55P03" | "40P01" | "40001")
    }

    fn error_code(&self, error: OwnError) -> (&'static str, &'static str) {
        match error {
            OwnError::TooManyConnections => ("53300", "53300"),
            OwnError::IdleInTransaction => ("25P03", "25P03"),
            OwnError::TurnHeld => ("25P04", "25P04"),
            OwnError::Deadlock => ("40P01", "40P01"),
            OwnError::LockTimeout => ("55P03", "55P03"),
            OwnError::SerializationFailure => ("40001", "40001"),
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
