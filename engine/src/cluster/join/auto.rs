//! `auto_join`: detached backends that answer their health check are joined without an
//! operator. Not those the operator detached (they stay out until joined by hand), and a
//! backend whose join ended in an abort is retried only after [`RETRY_AFTER`].

use super::{DonorMode, JoinOptions};
use crate::cluster::{Cluster, DetachCause, MemberState};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The reason the admin API records for an operator's detach.
pub const OPERATOR_DETACH: &str = "detached by the operator";

/// How long a backend whose auto join failed is left alone.
pub const RETRY_AFTER: Duration = Duration::from_secs(60);

impl Cluster {
    /// Every `interval`, starts a join of each detached, healthy backend (donor mode
    /// `mode`, or the default). Runs until the task is aborted.
    pub fn spawn_auto_join(
        self: &Arc<Self>,
        interval: Duration,
        mode: Option<DonorMode>,
    ) -> tokio::task::JoinHandle<()> {
        let cluster = self.clone();
        tokio::spawn(async move {
            let mut tried: HashMap<String, Instant> = HashMap::new();
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for member in cluster.status() {
                    let MemberState::Detached { reason } = &member.state else {
                        continue;
                    };
                    if reason.cause == DetachCause::Operator
                        || tried
                            .get(&member.name)
                            .is_some_and(|t| t.elapsed() < RETRY_AFTER)
                    {
                        continue;
                    }
                    let Some(backend) = cluster.backend(&member.name) else {
                        continue;
                    };
                    if !matches!(
                        tokio::time::timeout(interval, backend.health()).await,
                        Ok(Ok(()))
                    ) {
                        continue;
                    }
                    tried.insert(member.name.clone(), Instant::now());
                    let options = JoinOptions {
                        mode,
                        ..JoinOptions::default()
                    };
                    match cluster.start_join(&member.name, options) {
                        Ok(v) => {
                            tracing::info!(backend = %member.name, join = v.record.id, "auto join started")
                        }
                        Err(e) => {
                            tracing::warn!(backend = %member.name, error = %e, "auto join refused")
                        }
                    }
                }
            }
        })
    }
}
