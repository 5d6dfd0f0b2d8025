//! Periodic health checks. A slow answer is not a dead server: an active backend is
//! detached only after `failures` checks in a row found it unreachable (no answer within
//! the timeout, or a broken connection), and a check is passed by a backend that answered
//! one of the sessions' operations since the previous round (it is serving). A database
//! answer to the check (too many clients, an authentication error) proves the server is
//! up: it is logged, never a reason to detach. The last active backend is never detached
//! ([`Cluster::detach`] refuses).

use super::{Cluster, ClusterError, DetachCause, DetachReason};
use crate::backend::BackendError;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How health checks judge a backend.
#[derive(Clone, Debug)]
pub struct HealthOptions {
    /// Time between rounds.
    pub interval: Duration,
    /// How long one check may take.
    pub timeout: Duration,
    /// Failed checks in a row before a backend is detached.
    pub failures: u32,
}

impl Default for HealthOptions {
    fn default() -> Self {
        HealthOptions {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            failures: 3,
        }
    }
}

impl Cluster {
    /// Checks every active backend once; returns the backends detached, with the reason.
    pub async fn check_health(
        &self,
        options: &HealthOptions,
    ) -> Result<Vec<(String, DetachReason)>, ClusterError> {
        let timeout = options.timeout;
        let active = self.active();
        let checks = active.iter().map(|b| async move {
            let verdict = match tokio::time::timeout(timeout, b.health()).await {
                Ok(Ok(())) => None,
                Ok(Err(BackendError::Db(e))) => {
                    tracing::warn!(backend = b.name(), error = %e, "health check answered with an error; the server is up");
                    None
                }
                Ok(Err(e)) => Some(format!("health check failed: {e}")),
                Err(_) => Some(format!("health check timed out after {timeout:?}")),
            };
            (b.name().to_string(), verdict)
        });
        let results = futures_util::future::join_all(checks).await;
        let mut detached = Vec::new();
        for (name, verdict) in results {
            let serving = self
                .pool(&name)
                .is_some_and(|p| p.answered_within(options.interval + timeout));
            let failed = match &verdict {
                Some(_) if serving => {
                    tracing::info!(backend = %name, "health check failed but the backend is serving sessions");
                    0
                }
                Some(_) => {
                    self.counters
                        .health_failures
                        .fetch_add(1, Ordering::Relaxed);
                    self.bump_failed_checks(&name)
                }
                None => 0,
            };
            if failed == 0 {
                self.reset_failed_checks(&name);
            }
            let Some(detail) = verdict else { continue };
            if failed == 0 {
                continue;
            }
            if failed < options.failures {
                tracing::warn!(backend = %name, %detail, failed, of = options.failures, "health check failed");
                continue;
            }
            let reason = DetachReason::new(
                DetachCause::Unhealthy,
                format!("{detail} ({failed} checks in a row)"),
            );
            if self.detach(&name, reason.clone())? {
                detached.push((name, reason));
            }
        }
        Ok(detached)
    }

    fn bump_failed_checks(&self, name: &str) -> u32 {
        let mut members = self.members.write().unwrap_or_else(|p| p.into_inner());
        members
            .iter_mut()
            .find(|m| m.backend.name() == name)
            .map_or(0, |m| {
                m.failed_checks += 1;
                m.failed_checks
            })
    }

    fn reset_failed_checks(&self, name: &str) {
        let mut members = self.members.write().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = members.iter_mut().find(|m| m.backend.name() == name) {
            m.failed_checks = 0;
        }
    }

    /// Runs [`check_health`](Self::check_health) every `interval` until the task is aborted.
    pub fn spawn_health_checks(
        self: &Arc<Self>,
        options: HealthOptions,
    ) -> tokio::task::JoinHandle<()> {
        let cluster = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(options.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = cluster.check_health(&options).await {
                    tracing::error!(error = %e, "health check could not record a detach");
                }
            }
        })
    }
}
