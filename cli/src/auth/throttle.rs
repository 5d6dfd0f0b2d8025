//! A delay after failed logins, per client address (what PostgreSQL's `auth_delay` does,
//! growing): the first failure from an address waits `base`, each further one in a row
//! twice as long, up to `max`. A success from the address forgets its failures, and so
//! does a quiet [`FORGET_AFTER`]. The delay is served before the failure is reported, so
//! a client cannot tell a wrong password from a slow server sooner, and a guesser from one
//! address is held to a few attempts per `max`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures older than this no longer count.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Addresses remembered at most; past it the oldest half is forgotten.
const MAX_ADDRESSES: usize = 10_000;

/// The failures of every client address.
pub struct Throttle {
    base: Duration,
    max: Duration,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Throttle {
    /// Delays from `base` (0: none) doubling up to `max`.
    pub fn new(base: Duration, max: Duration) -> Throttle {
        Throttle {
            base,
            max: max.max(base),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a failed login from `addr` and returns how long to wait before saying so.
    pub fn failed(&self, addr: IpAddr) -> Duration {
        if self.base.is_zero() {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_ADDRESSES {
            let mut ages: Vec<Instant> = failures.values().map(|(_, at)| *at).collect();
            ages.sort();
            let cut = ages[ages.len() / 2];
            failures.retain(|_, (_, at)| *at > cut);
        }
        let entry = failures.entry(addr).or_insert((0, now));
        if now.duration_since(entry.1) > FORGET_AFTER {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        let doublings = (entry.0 - 1).min(20);
        self.base.saturating_mul(1 << doublings).min(self.max)
    }

    /// A successful login from `addr`: its failures are forgotten.
    pub fn succeeded(&self, addr: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_in_a_row_double_the_delay_up_to_the_cap_and_success_resets() {
        let t = Throttle::new(Duration::from_millis(100), Duration::from_millis(500));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let delays: Vec<u128> = (0..5).map(|_| t.failed(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        assert_eq!(
            t.failed(b).as_millis(),
            100,
            "another address has its own count"
        );
        t.succeeded(a);
        assert_eq!(t.failed(a).as_millis(), 100);
    }

    #[test]
    fn a_zero_base_never_delays() {
        let t = Throttle::new(Duration::ZERO, Duration::from_secs(5));
        assert_eq!(t.failed([10, 0, 0, 1].into()), Duration::ZERO);
    }
}
