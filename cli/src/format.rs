//! Human-readable sizes, timestamps and records for operator commands.

use mdbd_engine::log::{LoggedRecord, Payload, Value};
use std::fmt::Write;

/// `1536` -> `1.5 KiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `raw / stored` as `4.2x`.
pub fn ratio(raw: u64, stored: u64) -> String {
    if stored == 0 {
        "n/a".into()
    } else {
        format!("{:.2}x", raw as f64 / stored as f64)
    }
}

/// Microseconds since the Unix epoch as RFC 3339 UTC.
pub fn timestamp(micros: u64) -> String {
    let (date, time, frac) = mdbd_engine::cluster::utc_parts(micros as i64);
    format!("{date}T{time}.{frac}Z")
}

/// Longest SQL text or parameter shown whole.
const SHOW: usize = 400;

fn clip(s: &str) -> String {
    if s.len() <= SHOW {
        return s.to_string();
    }
    let mut end = SHOW;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}

fn value(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Text(t) => format!("'{}'", clip(&t.replace('\'', "''"))),
        Value::Bytes(b) => {
            let hex: String = b.iter().take(32).map(|x| format!("{x:02x}")).collect();
            if b.len() > 32 {
                format!("x'{hex}...' ({})", bytes(b.len() as u64))
            } else {
                format!("x'{hex}'")
            }
        }
    }
}

/// A record as a few indented lines.
pub fn record(r: &LoggedRecord) -> String {
    let mut out = format!(
        "LSN {}  session {}  {}",
        r.lsn,
        r.record.session,
        timestamp(r.record.timestamp_micros)
    );
    match &r.record.payload {
        Payload::Write(txn) => {
            let _ = writeln!(out, "  write, {} statement(s)", txn.statements.len());
            for (name, val) in &txn.settings {
                let _ = writeln!(out, "    SET {name} = {}", clip(val));
            }
            for (i, stmt) in txn.statements.iter().enumerate() {
                let _ = writeln!(out, "    [{}] {}", i + 1, clip(&stmt.sql.text()));
                if !stmt.params.is_empty() {
                    let params: Vec<_> = stmt
                        .params
                        .iter()
                        .enumerate()
                        .map(|(n, v)| format!("${}={}", n + 1, value(v)))
                        .collect();
                    let _ = writeln!(out, "        {}", params.join(", "));
                }
                if let Some(data) = &stmt.copy_data {
                    let _ = writeln!(out, "        copy data: {}", bytes(data.len() as u64));
                }
            }
        }
        Payload::Control(c) => {
            let _ = writeln!(out, "  control: {c:?}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_timestamps_and_sizes() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            timestamp(1_709_210_096_123_456),
            "2024-02-29T12:34:56.123456Z"
        );
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(12), "12 B");
        assert_eq!(ratio(10, 4), "2.50x");
    }
}
