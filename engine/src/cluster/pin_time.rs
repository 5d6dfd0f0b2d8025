//! Pins the clock in writes, so every backend (and every later replay) stores the same time.
//!
//! `INSERT ... VALUES (now())` run on three servers stores three different instants, and a
//! replay a week later stores a fourth: the backends would differ and the checksum would
//! say so. Like pgpool-II's timestamp rewriting, the session replaces the current-time
//! functions of a data-changing statement with one literal instant per transaction (taken
//! at its first write), and the log keeps the rewritten text.
//!
//! Only statements that change data are rewritten: in `CREATE TABLE ... DEFAULT now()` the
//! function must stay a function. A column default that calls `now()` is not pinned (the
//! statement does not name it); PostgreSQL sets it per server. Quoted strings, quoted
//! identifiers, dollar-quoted bodies and comments are left alone.

use crate::backend::dialect::{Dialect, UtcText};
use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

/// Statements whose first word makes them candidates for rewriting.
fn changes_data(sql: &str) -> bool {
    let first = crate::backend::strip_leading_comments(sql)
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(
        first.as_str(),
        "insert" | "update" | "delete" | "merge" | "select" | "with" | "replace" | "upsert"
    )
}

/// `(y, m, d)` of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A UTC instant, given in microseconds since 1970-01-01 (negative: before), as
/// (`YYYY-MM-DD`, `HH:MM:SS`, `ffffff`): the text PostgreSQL, MySQL and SQLite all parse.
pub fn utc_parts(unix_micros: i64) -> (String, String, String) {
    let secs = unix_micros.div_euclid(1_000_000);
    let micros = unix_micros.rem_euclid(1_000_000);
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let date = format!("{y:04}-{m:02}-{d:02}");
    let time = format!("{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60);
    (date, time, format!("{micros:06}"))
}

fn utc_text(at: SystemTime) -> UtcText {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (date, time, micros) = utc_parts(since.as_micros() as i64);
    UtcText { date, time, micros }
}

/// The settings to log with a write transaction: the session's, plus, for engines that
/// pin their clock by a session variable (MySQL's `timestamp`: its statements are not
/// rewritten), the instant its clock was pinned to, as `seconds.micros` since 1970.
pub fn with_clock(
    settings: &[(String, String)],
    dialect: &dyn Dialect,
    at: Option<SystemTime>,
) -> Vec<(String, String)> {
    let Some(clock) = dialect.clock_setting() else {
        return settings.to_vec();
    };
    let mut out: Vec<(String, String)> = settings
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case(clock))
        .cloned()
        .collect();
    if let Some(at) = at {
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        out.push((
            clock.into(),
            format!("{}.{:06}", since.as_secs(), since.subsec_micros()),
        ));
    }
    out
}

/// Functions that are only ours when called with parentheses (`now` may be a column).
fn needs_call(word: &str) -> bool {
    matches!(
        word,
        "now" | "transaction_timestamp" | "statement_timestamp" | "clock_timestamp"
    )
}

/// `sql` with its current-time functions replaced by the instant `at`.
pub fn pin_time<'a>(sql: &'a str, dialect: &dyn Dialect, at: SystemTime) -> Cow<'a, str> {
    if !changes_data(sql) {
        return Cow::Borrowed(sql);
    }
    // Formatted at the first clock word: most writes have none.
    let mut utc: Option<UtcText> = None;
    let b = sql.as_bytes();
    let mut out = String::new();
    let mut copied = 0; // sql[..copied] is in `out` (or unchanged so far)
    let mut i = 0;
    let mut changed = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' => {
                i += 1;
                while i < b.len() {
                    if b[i] == c {
                        if b.get(i + 1) == Some(&c) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(b.len(), |n| i + n + 1);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            }
            b'$' if dialect.dollar_quoting() => {
                // $tag$ ... $tag$ (a bare $1 is a parameter and has no closing $).
                let tag_end = sql[i + 1..]
                    .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                    .map(|n| i + 1 + n);
                match tag_end {
                    Some(e)
                        if b[e] == b'$' && !b[i + 1..e].first().is_some_and(u8::is_ascii_digit) =>
                    {
                        let tag = &sql[i..=e];
                        i = sql[e + 1..]
                            .find(tag)
                            .map_or(b.len(), |n| e + 1 + n + tag.len());
                    }
                    _ => i += 1,
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$')
                {
                    i += 1;
                }
                let qualified = start > 0 && b[start - 1] == b'.';
                let word = sql[start..i].to_ascii_lowercase();
                // An optional argument list: `()` or `(precision)`.
                let mut j = i;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                let mut end = i;
                let mut precision = None;
                let mut called = false;
                if b.get(j) == Some(&b'(') {
                    if let Some(close) = sql[j + 1..].find(')') {
                        let inner = sql[j + 1..j + 1 + close].trim();
                        if inner.is_empty() || inner.bytes().all(|d| d.is_ascii_digit()) {
                            called = true;
                            end = j + 1 + close + 1;
                            precision = (!inner.is_empty()).then_some(inner);
                        }
                    }
                }
                if qualified
                    || (needs_call(&word) && !called)
                    || (precision.is_some() && needs_call(&word))
                {
                    continue;
                }
                let utc = utc.get_or_insert_with(|| utc_text(at));
                if let Some(text) = dialect.pinned_clock(&word, precision, utc) {
                    out.push_str(&sql[copied..start]);
                    out.push_str(&text);
                    copied = end;
                    i = end;
                    changed = true;
                }
            }
            _ => i += 1,
        }
    }
    if !changed {
        return Cow::Borrowed(sql);
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::OwnError;
    use crate::snapshot::BackendKind;
    use std::time::Duration;

    /// A dialect that marks every clock word it is asked about, with `$` quoting: the
    /// engines' own replacements are tested with their dialects (`mdbd-backends`).
    #[derive(Debug)]
    struct Marking;

    impl Dialect for Marking {
        fn kind(&self) -> BackendKind {
            BackendKind::Postgres
        }
        fn error_code(&self, _: OwnError) -> (&'static str, &'static str) {
            ("XX000", "XX000")
        }
        fn pinned_clock(
            &self,
            word: &str,
            precision: Option<&str>,
            at: &UtcText,
        ) -> Option<String> {
            let known = ["now", "current_timestamp", "current_date", "localtimestamp"];
            known
                .contains(&word)
                .then(|| format!("<{word}{} {}>", precision.unwrap_or(""), at.date))
        }
        fn clock_setting(&self) -> Option<&'static str> {
            Some("timestamp")
        }
        fn dollar_quoting(&self) -> bool {
            true
        }
    }

    fn at() -> SystemTime {
        // 2026-11-24 10:20:30.123456 UTC
        UNIX_EPOCH + Duration::from_micros(1_795_515_630_123_456)
    }

    #[test]
    fn clock_words_of_writes_are_replaced_once_each() {
        let sql =
            "INSERT INTO h VALUES (1, CURRENT_TIMESTAMP, now(), localtimestamp(3), current_date)";
        assert_eq!(
            pin_time(sql, &Marking, at()),
            "INSERT INTO h VALUES (1, <current_timestamp 2026-11-24>, <now 2026-11-24>, \
             <localtimestamp3 2026-11-24>, <current_date 2026-11-24>)"
        );
    }

    #[test]
    fn strings_comments_columns_and_ddl_are_left_alone() {
        for sql in [
            "INSERT INTO t VALUES ('now()', \"current_date\")",
            "UPDATE t SET a = 1 -- now()\n",
            "UPDATE t SET now = now + 1",
            "UPDATE t SET a = x.current_date",
            "UPDATE t SET a = $f$ now() $f$",
            "CREATE TABLE t (ts timestamptz DEFAULT now())",
            "SELECT $1, now",
        ] {
            assert_eq!(pin_time(sql, &Marking, at()), sql, "{sql}");
        }
    }

    #[test]
    fn writes_log_the_pinned_clock_setting() {
        let settings = vec![
            ("sql_mode".to_string(), "ANSI".to_string()),
            ("TIMESTAMP".to_string(), "1".to_string()),
        ];
        let got = with_clock(&settings, &Marking, Some(at()));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], settings[0]);
        assert_eq!(
            got[1],
            ("timestamp".to_string(), "1795515630.123456".to_string())
        );
    }
}
