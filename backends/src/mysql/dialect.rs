//! MySQL's and MariaDB's ways (see [`Dialect`]).

use mdbd_engine::backend::catalog::Flavor;
use mdbd_engine::backend::dialect::{Dialect, OwnError, UtcText};
use mdbd_engine::backend::Outcome;
use mdbd_engine::snapshot::BackendKind;

/// MySQL and MariaDB.
#[derive(Debug)]
pub struct Mysql;

/// The session variable that pins the clock of a transaction (`SET timestamp`); logged
/// with each write transaction, set again by replay.
pub const CLOCK_SETTING: &str = "timestamp";

impl Dialect for Mysql {
    fn kind(&self) -> BackendKind {
        BackendKind::Mysql
    }

    fn commits_implicitly(&self, sql: &str) -> bool {
        super::implicit_commit(sql)
    }

    /// ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK.
    fn is_lock_failure(&self, error: &mdbd_engine::backend::DbError) -> bool {
        matches!(error.code.as_str(), "1205" | "1213")
    }

    /// A statement that generated an `AUTO_INCREMENT` value (the OK packet's id: the
    /// first generated one, or the last explicit one, which forcing does not use).
    fn replay_generated_keys(&self, outcome: &Outcome) -> Option<[String; 2]> {
        match outcome {
            Outcome::Command {
                last_insert_id: Some(id),
                ..
            } => Some([format!("SET insert_id = {id}"), "SET insert_id = 0".into()]),
            _ => None,
        }
    }

    /// `ALTER TABLE ... AUTO_INCREMENT = n` for each table that has a counter. (Not
    /// [`Dialect::sequence_positions`]: a rollback need log nothing, the writes carry
    /// their keys, see [`Dialect::replay_generated_keys`].)
    fn key_generators(&self) -> Option<String> {
        Some(
            "SELECT CONCAT('ALTER TABLE `', REPLACE(TABLE_NAME, '`', '``'), '` AUTO_INCREMENT = ', \
             AUTO_INCREMENT) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_TYPE = 'BASE TABLE' AND AUTO_INCREMENT IS NOT NULL ORDER BY TABLE_NAME"
                .into(),
        )
    }

    fn keyed_flavor(&self) -> Option<Flavor> {
        Some(Flavor::MySql)
    }

    fn error_code(&self, error: OwnError) -> (&'static str, &'static str) {
        match error {
            OwnError::TooManyConnections => ("1040", "08004"),
            // ER_NET_READ_INTERRUPTED's successor for idle sessions (MySQL 8's 4031).
            OwnError::IdleInTransaction => ("4031", "HY000"),
            // ER_QUERY_TIMEOUT: "Query execution was interrupted, maximum statement
            // execution time exceeded".
            OwnError::TurnHeld => ("1969", "70100"),
            // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT.
            OwnError::Deadlock => ("1213", "40001"),
            OwnError::LockTimeout => ("1205", "HY000"),
            OwnError::SerializationFailure => ("1213", "40001"),
            _ => ("1148", "42000"),
        }
    }

    fn message(&self, error: OwnError, why: &str) -> String {
        match error {
            OwnError::IdleInTransaction => format!(
                "The client was disconnected by the server because of inactivity in a transaction ({why})"
            ),
            OwnError::TurnHeld => format!("Query execution was interrupted: {why}"),
            OwnError::Deadlock | OwnError::SerializationFailure => format!(
                "Deadlock found when trying to get lock; try restarting transaction ({why})"
            ),
            OwnError::LockTimeout => {
                format!("Lock wait timeout exceeded; try restarting transaction ({why})")
            }
            _ => why.to_string(),
        }
    }

    /// Statements are not rewritten: MySQL answers the clock in the session's time zone,
    /// so the backend pins `SET timestamp` instead ([`CLOCK_SETTING`]).
    fn pinned_clock(&self, _: &str, _: Option<&str>, _: &UtcText) -> Option<String> {
        None
    }

    fn clock_setting(&self) -> Option<&'static str> {
        Some(CLOCK_SETTING)
    }
}

#[cfg(test)]
mod tests {
    use super::{Mysql, CLOCK_SETTING};
    use mdbd_engine::cluster::{pin_time, with_clock};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn session_timeouts_are_worded_as_mysql_words_them() {
        use mdbd_engine::cluster::TxnExpiry;
        let e = TxnExpiry::IdleInTransaction(Duration::from_secs(2)).error(&Mysql);
        assert_eq!((e.code.as_str(), e.sqlstate.as_str()), ("4031", "HY000"));
        assert!(
            e.message
                .starts_with("The client was disconnected by the server because of inactivity"),
            "{}",
            e.message
        );
        let e = TxnExpiry::TurnHeld(Duration::from_secs(2)).error(&crate::postgres::Postgres);
        assert_eq!(e.sqlstate, "25P04");
        assert!(
            e.message
                .starts_with("terminating connection due to transaction timeout"),
            "{}",
            e.message
        );
    }

    #[test]
    fn mysql_writes_log_their_pinned_clock_and_keep_their_text() {
        let at = UNIX_EPOCH + Duration::from_micros(1_795_515_630_123_456);
        let settings = vec![("sql_mode".to_string(), "ANSI".to_string())];
        let got = with_clock(&settings, &Mysql, Some(at));
        assert_eq!(got[0], settings[0]);
        assert_eq!(got[1].0, CLOCK_SETTING);
        assert_eq!(got[1].1, "1795515630.123456");
        let sql = "INSERT INTO t VALUES (NOW(), CURRENT_TIMESTAMP)";
        assert_eq!(pin_time(sql, &Mysql, at), sql);
    }
}
