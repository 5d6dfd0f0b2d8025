//! Backends the log must bring back: one left behind by a failed commit while it was the
//! last active backend, and the start on a damaged log (see `docs/architecture.md`,
//! *Availability*).

use super::{Cluster, ClusterError, DetachCause, DetachReason, MemberState};
use crate::backend::{Backend, BackendError};
use std::sync::Arc;

impl Cluster {
    /// Why the delta log cannot be trusted to hold every acknowledged write, if it cannot
    /// (a corrupt frame, or records lost below the end it once held durably), with what
    /// the operator must do. While it says so, no join, activation or delta-only rejoin
    /// runs, and appends are refused by the log itself.
    pub fn log_damage(&self) -> Option<String> {
        let report = self.log.recovery_report();
        let c = report.corruption.as_ref()?;
        Some(format!(
            "the delta log is damaged at LSN {} (part {}): {}; only records below LSN {} are intact. \
             Writes and joins are refused. Stop mdbd and restore the log directory from a copy \
             that holds every record (check it with `mdbd log verify`); the backends at the \
             highest applied LSN stay in service meanwhile",
            c.lsn, c.part, c.reason, report.end
        ))
    }

    /// Start on a damaged log: the backends at the highest applied LSN are complete and stay
    /// active (never detached for being "ahead" of a log that lost records); the others
    /// cannot be brought up to date from it and are detached (their markers stay
    /// trusted, so they rejoin by delta once the log is restored).
    pub(super) async fn start_on_damaged_log(&self, damage: &str) -> Result<(), ClusterError> {
        tracing::error!(%damage, "starting on a damaged delta log");
        let mut applied = Vec::new();
        for backend in self.active() {
            let lsn = match backend.applied_lsn().await {
                Ok(lsn) => Some(lsn),
                Err(e) => {
                    tracing::warn!(backend = backend.name(), error = %e, "marker unreadable");
                    None
                }
            };
            applied.push((backend, lsn));
        }
        let highest = applied.iter().filter_map(|(_, l)| *l).max();
        for (backend, lsn) in applied {
            if lsn.is_some() && lsn == highest {
                continue;
            }
            let detail = match lsn {
                Some(lsn) => format!(
                    "its marker {lsn} is behind another backend's and the log that would bring it up is damaged"
                ),
                None => "its marker could not be read and the log is damaged".into(),
            };
            self.detach(
                backend.name(),
                DetachReason::new(DetachCause::CatchUpFailed, detail),
            )?;
        }
        Ok(())
    }

    /// Detaches `name`, which missed a logged write; when it is the last active backend
    /// and cannot be detached, it is marked to replay the log before its next write.
    pub(crate) fn detach_behind(
        &self,
        name: &str,
        reason: DetachReason,
    ) -> Result<bool, ClusterError> {
        if self.detach(name, reason)? {
            return Ok(true);
        }
        let mut members = self.members.write().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = members
            .iter_mut()
            .find(|m| m.backend.name() == name && m.state == MemberState::Active)
        {
            m.behind = true;
        }
        Ok(false)
    }

    /// Replays the log into every active backend marked behind (under the write turn).
    pub(crate) async fn catch_up_behind(&self) -> Result<(), ClusterError> {
        let behind: Vec<Arc<dyn Backend>> = self
            .members()
            .iter()
            .filter(|m| m.behind && m.state == MemberState::Active)
            .map(|m| m.backend.clone())
            .collect();
        for backend in behind {
            let deadline = self.options.connections.backend_timeout * 4;
            match tokio::time::timeout(deadline, self.catch_up(&*backend)).await {
                Ok(Ok(n)) => {
                    tracing::info!(
                        backend = backend.name(),
                        replayed = n,
                        "backend behind the log caught up"
                    );
                    let mut members = self.members.write().unwrap_or_else(|p| p.into_inner());
                    if let Some(m) = members
                        .iter_mut()
                        .find(|m| m.backend.name() == backend.name())
                    {
                        m.behind = false;
                    }
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(ClusterError::Backend(BackendError::Connection {
                        backend: backend.name().to_string(),
                        reason: "is behind the log and did not catch up in time".into(),
                    }))
                }
            }
        }
        Ok(())
    }
}
