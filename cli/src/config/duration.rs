//! Durations in the configuration: `500ms`, `2s`, `5m`, `1h`.

use std::time::Duration;

/// Parses `"<number><unit>"` with unit `ms`, `s`, `m` or `h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or("missing unit (ms, s, m or h)")?;
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| "expected a whole number followed by a unit".to_string())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        other => Err(format!("unknown unit {other:?} (use ms, s, m or h)")),
    }
}
