//! Failpoints for crash tests: `MDBD_FAILPOINTS="join-snapshot=3000,join-switch-over=5000"`
//! makes the named points sleep that many milliseconds, so a test can SIGKILL the daemon
//! while a join is known to be in that phase (`admin-bind`: before the daemon's admin API
//! binds, for the start-up order's test). Without the variable they cost one check of a
//! cached map.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

fn points() -> &'static HashMap<String, u64> {
    static POINTS: OnceLock<HashMap<String, u64>> = OnceLock::new();
    POINTS.get_or_init(|| {
        std::env::var("MDBD_FAILPOINTS")
            .unwrap_or_default()
            .split(',')
            .filter_map(|item| {
                let (name, ms) = item.split_once('=')?;
                Some((name.trim().to_string(), ms.trim().parse().ok()?))
            })
            .collect()
    })
}

/// Sleeps at point `name` when `MDBD_FAILPOINTS` says so.
pub async fn failpoint(name: &str) {
    if let Some(ms) = points().get(name) {
        tracing::warn!(failpoint = name, ms, "failpoint: pausing");
        tokio::time::sleep(Duration::from_millis(*ms)).await;
    }
}
