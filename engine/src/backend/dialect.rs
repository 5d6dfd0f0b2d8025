//! What differs between SQL engines, in one place per engine.
//!
//! Each backend gives its engine's [`Dialect`] ([`Backend::dialect`](super::Backend::
//! dialect)); the cluster (transaction behaviour, error codes, the pinned clock) and the
//! front ends ask it instead of matching on the engine's kind. An engine is then one
//! folder in `mdbd-backends` (backend, sessions, dialect) plus one configuration variant.

use crate::snapshot::BackendKind;

/// An error the cluster raises itself, worded per engine by [`Dialect::error_code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OwnError {
    /// Every connection a backend's pool may open is in use past `pool_timeout`.
    TooManyConnections,
    /// The client sent nothing inside a transaction for `idle_in_transaction_timeout`.
    IdleInTransaction,
    /// A transaction held the write turn longer than `write_turn_timeout`.
    TurnHeld,
    /// A command mdbd does not pass on (`LOAD DATA LOCAL` where it cannot run).
    NotAllowed,
    /// `keyed` ordering chose this transaction as a deadlock's victim.
    Deadlock,
    /// A lock of `keyed` ordering was not granted within `lock_wait_timeout`.
    LockTimeout,
    /// The backends did not agree on the order of two transactions mdbd let run
    /// together (a wait inside a backend mdbd did not foresee): retry it.
    SerializationFailure,
}

/// The current instant, in UTC, as the text every engine parses: `YYYY-MM-DD`,
/// `HH:MM:SS` and six digits of microseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UtcText {
    pub date: String,
    pub time: String,
    pub micros: String,
}

/// One SQL engine's ways. Every method is cheap and pure.
pub trait Dialect: Send + Sync + std::fmt::Debug {
    /// The engine (snapshot headers name it; front ends that speak its protocol pass its
    /// bytes and types on).
    fn kind(&self) -> BackendKind;

    /// A statement's error aborts the whole open transaction (PostgreSQL: nothing but
    /// `ROLLBACK [TO SAVEPOINT]` is taken until it ends), rather than only the statement.
    fn error_aborts_transaction(&self) -> bool {
        false
    }

    /// `sql` commits an open transaction before it runs and is a transaction of its own
    /// (MySQL's DDL): the front end commits first, and the log holds it alone.
    fn commits_implicitly(&self, sql: &str) -> bool {
        let _ = sql;
        false
    }

    /// The error code and SQLSTATE this engine gives for `error`.
    fn error_code(&self, error: OwnError) -> (&'static str, &'static str);

    /// The message of `error` as this engine words it, with mdbd's reason `why` (which
    /// limit, how long). PostgreSQL's wording by default.
    fn message(&self, error: OwnError, why: &str) -> String {
        match error {
            OwnError::IdleInTransaction => {
                format!("terminating connection due to idle-in-transaction timeout ({why})")
            }
            OwnError::TurnHeld => {
                format!("terminating connection due to transaction timeout: {why}")
            }
            _ => why.to_string(),
        }
    }

    /// What the current-time function `word` (lower case; `precision` as written in its
    /// parentheses) becomes in a write whose clock is pinned to `at`; `None` leaves it
    /// alone (not a function of this engine, or the engine pins its clock by a session
    /// setting: [`Dialect::clock_setting`]).
    /// An error mdbd raises itself, as this engine words it.
    fn own_error(&self, error: OwnError, why: &str) -> super::DbError {
        let (code, sqlstate) = self.error_code(error);
        super::DbError {
            code: code.into(),
            sqlstate: sqlstate.into(),
            message: self.message(error, why),
            ..Default::default()
        }
    }

    fn pinned_clock(&self, word: &str, precision: Option<&str>, at: &UtcText) -> Option<String>;

    /// The session variable that pins this engine's clock for a transaction (MySQL's
    /// `timestamp`, set to `seconds.micros` since 1970), logged with each write
    /// transaction; `None` when statements are rewritten instead.
    fn clock_setting(&self) -> Option<&'static str> {
        None
    }

    /// `$tag$ ... $tag$` quoting, which hides clock words from the rewriting.
    fn dollar_quoting(&self) -> bool {
        false
    }

    /// The statement that declares cursor `name` over the query `query` (a client's read
    /// taken in pages, see the cluster's `cursor.rs`), kept past the end of its transaction
    /// when `hold`; `None` when the engine has no such cursors (the read then runs whole).
    fn declare_cursor(&self, name: &str, query: &[u8], hold: bool) -> Option<Vec<u8>> {
        let _ = (name, query, hold);
        None
    }

    /// The statement that reads the next at most `rows` rows of cursor `name`.
    fn fetch_cursor(&self, name: &str, rows: usize) -> String {
        format!("FETCH FORWARD {rows} FROM {name}")
    }

    /// Whether `error` says the server gave up waiting for a lock or broke a deadlock:
    /// under `keyed` ordering, a wait mdbd did not foresee.
    fn is_lock_failure(&self, error: &super::DbError) -> bool {
        let _ = error;
        false
    }

    /// A query whose rows are each one statement (text; rows of NULL are ignored) that
    /// sets one of `sequences` (as footprints name them; `None`: every sequence) to where
    /// it stands now: a rollback of a transaction that drew from them logs them. `None`:
    /// not available.
    fn sequence_positions(&self, sequences: Option<&[String]>) -> Option<String> {
        let _ = sequences;
        None
    }

    /// Statements the log needs before and after a write that succeeded with `outcome`,
    /// so that a replay of it generates the keys the live backends generated even where
    /// its key generator stands elsewhere (MySQL: `SET insert_id = N` before, `SET
    /// insert_id = 0` after, as MySQL's own statement-based binary log does; a failed or
    /// rolled-back insert has moved `AUTO_INCREMENT` on the live backends only). `None`:
    /// the statement alone replays the same (PostgreSQL logs sequence positions instead,
    /// see [`Self::sequence_positions`]).
    fn replay_generated_keys(&self, outcome: &super::Outcome) -> Option<[String; 2]> {
        let _ = outcome;
        None
    }

    /// A query whose rows are each one statement (text; rows of NULL are ignored) that
    /// sets one key generator (sequence, `AUTO_INCREMENT` counter) to where it stands on
    /// the server it runs on: a server brought up to date by replay gets an active
    /// member's before it becomes active, so its next inserts draw what the others draw.
    /// `None`: nothing to set (keys are generated from the rows themselves).
    fn key_generators(&self) -> Option<String> {
        self.sequence_positions(None)
    }

    /// The SQL `keyed` ordering parses this engine's statements as; `None`: the engine
    /// has no `keyed` mode.
    fn keyed_flavor(&self) -> Option<super::catalog::Flavor> {
        None
    }

    /// The statement that closes cursor `name`.
    fn close_cursor(&self, name: &str) -> String {
        format!("CLOSE {name}")
    }
}
