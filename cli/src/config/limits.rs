//! The availability settings: backend connection pools and deadlines, client timeouts
//! and health checks, checked and turned into the engine's options.

use super::{parse_duration, Config, ConfigError};
use mdbd_engine::cluster::{
    ClusterOptions, ConnectionLimits, Consistency, HealthOptions, SessionLimits,
};
use std::time::Duration;

/// Default connections per backend for client sessions: well under PostgreSQL's default
/// `max_connections` (100) and MariaDB's (151), leaving room for replay, health checks,
/// joins, the operator and other clients of the server.
pub const DEFAULT_MAX_CONNECTIONS: usize = 40;

fn duration(text: &str) -> Duration {
    // Checked by `validate`; a value that got past it counts as zero.
    parse_duration(text).unwrap_or_default()
}

/// `0s` turns a timeout off.
fn optional(text: &str) -> Option<Duration> {
    Some(duration(text)).filter(|d| !d.is_zero())
}

impl Config {
    pub(super) fn validate_limits(
        &self,
        err: &dyn Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        for (key, value) in [
            ("backend_timeout", &self.server.backend_timeout),
            ("pool_timeout", &self.server.pool_timeout),
            ("lock_wait_timeout", &self.server.lock_wait_timeout),
            ("backend_lock_timeout", &self.server.backend_lock_timeout),
            (
                "authentication_timeout",
                &self.server.authentication_timeout,
            ),
            ("timeout", &self.health.timeout),
            ("interval", &self.health.interval),
        ] {
            if duration(value).is_zero() {
                return Err(err(
                    key,
                    format!("{key} = {value:?}: must be more than zero"),
                ));
            }
        }
        if self.health.failures == 0 {
            return Err(err("failures", "failures = 0: use 1 or more".into()));
        }
        for b in &self.backends {
            if b.max_connections == Some(0) {
                return Err(err(
                    "max_connections",
                    format!("backend {:?}: max_connections must be at least 1", b.name),
                ));
            }
        }
        Ok(())
    }

    /// The cluster's connection limits and session timeouts.
    pub fn cluster_options(&self) -> ClusterOptions {
        ClusterOptions {
            connections: ConnectionLimits {
                max_connections: DEFAULT_MAX_CONNECTIONS,
                pool_timeout: duration(&self.server.pool_timeout),
                backend_timeout: duration(&self.server.backend_timeout),
            },
            max_connections: self
                .backends
                .iter()
                .filter_map(|b| Some((b.name.clone(), b.max_connections?)))
                .collect(),
            sessions: SessionLimits {
                idle_in_transaction_timeout: optional(&self.server.idle_in_transaction_timeout),
                write_turn_timeout: optional(&self.server.write_turn_timeout),
            },
            consistency: consistency(&self.server.consistency).unwrap_or_default(),
            lock_wait: duration(&self.server.lock_wait_timeout),
        }
    }

    /// How health checks run.
    pub fn health_options(&self) -> HealthOptions {
        HealthOptions {
            interval: duration(&self.health.interval),
            timeout: duration(&self.health.timeout),
            failures: self.health.failures,
        }
    }

    /// How long a client may take to log in.
    pub fn authentication_timeout(&self) -> Duration {
        duration(&self.server.authentication_timeout)
    }

    /// TCP keepalive idle time on client sockets, if on.
    pub fn tcp_keepalive(&self) -> Option<Duration> {
        optional(&self.server.tcp_keepalive)
    }
}

/// The ordering mode a `consistency` value names; the error says what is accepted.
pub(super) fn consistency(value: &str) -> Result<Consistency, String> {
    match value {
        "serial" => Ok(Consistency::Serial),
        "keyed" => Ok(Consistency::Keyed),
        other => Err(format!(
            "consistency = {other:?}: use \"serial\" or \"keyed\""
        )),
    }
}

impl Config {
    /// How long mdbd's sessions wait for a lock inside a backend: only in `keyed` mode.
    pub fn backend_lock_timeout(&self) -> Option<Duration> {
        (consistency(&self.server.consistency) == Ok(Consistency::Keyed))
            .then(|| duration(&self.server.backend_lock_timeout))
    }
}
