//! Periodic health checks: an active backend that does not answer a trivial query within
//! the timeout is detached with the reason, so no client waits on it. The last active
//! backend is never detached this way: without it nothing could be served, and it keeps
//! every write the others lack.

use super::{Cluster, ClusterError};
use std::sync::Arc;
use std::time::Duration;

impl Cluster {
    /// Checks every active backend once; returns the backends detached, with the reason.
    pub async fn check_health(
        &self,
        timeout: Duration,
    ) -> Result<Vec<(String, String)>, ClusterError> {
        let active = self.active();
        let checks = active.iter().map(|b| async move {
            let verdict = match tokio::time::timeout(timeout, b.health()).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("health check failed: {e}")),
                Err(_) => Some(format!("health check timed out after {timeout:?}")),
            };
            (b.name().to_string(), verdict)
        });
        let results = futures_util::future::join_all(checks).await;
        let mut detached = Vec::new();
        for (name, verdict) in results {
            let Some(reason) = verdict else { continue };
            if self.active().len() <= 1 {
                tracing::error!(backend = %name, %reason, "the last active backend is unhealthy; keeping it");
                continue;
            }
            self.detach(&name, &reason)?;
            detached.push((name, reason));
        }
        Ok(detached)
    }

    /// Runs [`check_health`](Self::check_health) every `interval` until the task is aborted.
    pub fn spawn_health_checks(
        self: &Arc<Self>,
        interval: Duration,
        timeout: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let cluster = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = cluster.check_health(timeout).await {
                    tracing::error!(error = %e, "health check could not record a detach");
                }
            }
        })
    }
}
