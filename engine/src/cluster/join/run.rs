//! The join driver: runs a join's phases in order from wherever its record says it is,
//! and aborts it cleanly on a failure or a cancel.

use super::failpoint;
use super::record::{DonorMode, Phase};
use super::registry::{now_micros, Job};
use super::transfer::transfer;
use crate::cluster::{Cluster, DetachCause, DetachReason, JoinRole, MemberState};
use crate::log::{Control, Lsn};
use crate::snapshot::SnapshotHeader;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// The log cursor that pins the delta of join `id`.
fn cursor(id: u64) -> String {
    format!("join-{id}")
}

impl Cluster {
    /// Runs `job` to its end (queued behind any other join).
    pub(super) async fn run_join(self: Arc<Self>, job: Arc<Job>) {
        let queue = self.joins.one_at_a_time.lock().await;
        if let Err(reason) = self.drive(&job).await {
            self.abort_join(&job, &reason).await;
        }
        drop(queue);
    }

    async fn drive(&self, job: &Job) -> Result<(), String> {
        loop {
            if job.cancel.is_cancelled() {
                return Err("cancelled by the operator".into());
            }
            match job.record().phase {
                Phase::Queued => self.cut(job).await?,
                Phase::Snapshot => self.snapshot(job).await?,
                Phase::CatchUp => self.catch_up_phase(job).await?,
                Phase::Finished | Phase::Aborted => return Ok(()),
            }
        }
    }

    /// Decides between a delta-only rejoin and a snapshot; for a snapshot, picks the donor
    /// and cuts the log with the writers quiesced.
    async fn cut(&self, job: &Job) -> Result<(), String> {
        let record = job.record();
        let id = record.id;
        let joiner = self
            .backend(&record.joiner)
            .ok_or_else(|| format!("no backend named {:?}", record.joiner))?;
        if !record.force_snapshot {
            match self.delta_only_start(&*joiner).await {
                Ok(start) => {
                    self.log
                        .set_cursor(&cursor(id), start)
                        .map_err(|e| e.to_string())?;
                    self.save_join(job, |r| {
                        r.delta_only = true;
                        r.l0 = start.get();
                        r.phase = Phase::CatchUp;
                    })
                    .map_err(|e| e.to_string())?;
                    tracing::info!(join = id, joiner = %record.joiner, from = %start, "delta-only rejoin: no snapshot needed");
                    return Ok(());
                }
                Err(why) => {
                    tracing::info!(join = id, joiner = %record.joiner, why, "the joiner needs a snapshot")
                }
            }
        }
        let quiesced = self.order().quiesce().await;
        let donor = self.choose_donor(&record.joiner, record.requested_donor.as_deref())?;
        if record.mode == DonorMode::Detach && self.active().len() <= 1 {
            return Err(format!(
                "donor mode detach needs another active backend to serve while {donor} is snapshotted; use mode online"
            ));
        }
        let l0 = self
            .append_control_held(Control::JoinStarted {
                join_id: id,
                donor: donor.clone(),
                joiner: record.joiner.clone(),
            })
            .await
            .map_err(|e| e.to_string())?;
        self.log
            .set_cursor(&cursor(id), l0)
            .map_err(|e| e.to_string())?;
        self.save_join(job, |r| {
            r.donor = Some(donor.clone());
            r.l0 = l0.get();
            r.phase = Phase::Snapshot;
        })
        .map_err(|e| e.to_string())?;
        if record.mode == DonorMode::Detach {
            self.set_state(
                &donor,
                MemberState::Joining {
                    join: id,
                    role: JoinRole::Donor,
                },
            )
            .map_err(|e| e.to_string())?;
        }
        drop(quiesced);
        tracing::info!(join = id, %donor, %l0, mode = %record.mode, "join cut");
        Ok(())
    }

    /// Where a delta-only rejoin of `joiner` would start, or why it cannot be one.
    async fn delta_only_start(&self, joiner: &dyn crate::backend::Backend) -> Result<Lsn, String> {
        if let Some(why) = self.untrusted(joiner.name()).map_err(|e| e.to_string())? {
            return Err(format!("its marker is not trusted: {why}"));
        }
        let marker = joiner
            .applied_lsn()
            .await
            .map_err(|e| format!("its marker cannot be read: {e}"))?;
        let (first, end) = (self.log.first(), self.log.end());
        if marker.next() < first {
            return Err(format!(
                "the log no longer holds what follows its marker {marker} (it starts at {first})"
            ));
        }
        if marker.next() > end {
            return Err(format!(
                "its marker {marker} is ahead of the log (ends before {end})"
            ));
        }
        Ok(marker.next())
    }

    /// The donor: the one requested (which must be active), else the active backend with
    /// the least load (fewest reads in flight); ties go to the last in configuration order,
    /// so the first ones, which break ties in votes, keep serving.
    fn choose_donor(&self, joiner: &str, requested: Option<&str>) -> Result<String, String> {
        let active = self.active();
        match requested {
            Some(name) if active.iter().any(|b| b.name() == name) => Ok(name.to_string()),
            Some(name) => Err(format!(
                "the requested donor {name} is not active ({:?})",
                self.state_of(name)
            )),
            None => least_loaded(&self.active_loads(), joiner)
                .ok_or_else(|| "no active backend can be the donor".to_string()),
        }
    }

    async fn snapshot(&self, job: &Job) -> Result<(), String> {
        let record = job.record();
        let id = record.id;
        let donor_name = record.donor.clone().ok_or("the join has no donor")?;
        let donor = self
            .backend(&donor_name)
            .ok_or_else(|| format!("no backend named {donor_name:?}"))?;
        let joiner = self
            .backend(&record.joiner)
            .ok_or_else(|| format!("no backend named {:?}", record.joiner))?;
        let donor_state = self.state_of(&donor_name);
        match (record.mode, donor_state) {
            (DonorMode::Detach, Some(MemberState::Active)) => {
                // A restart came between the cut and the donor's state change.
                let _quiesced = self.order().quiesce().await;
                self.set_state(
                    &donor_name,
                    MemberState::Joining {
                        join: id,
                        role: JoinRole::Donor,
                    },
                )
                .map_err(|e| e.to_string())?;
            }
            (DonorMode::Detach, Some(MemberState::Joining { join, .. })) if join == id => {}
            (DonorMode::Online, Some(MemberState::Active)) => {}
            (_, state) => return Err(format!("donor {donor_name} is not available: {state:?}")),
        }
        self.save_join(job, |r| r.snapshot_attempts += 1)
            .map_err(|e| e.to_string())?;
        let p = &job.progress;
        p.bytes.store(0, Ordering::Relaxed);
        p.total
            .store(donor.estimated_size().await.unwrap_or(0), Ordering::Relaxed);
        let started = Instant::now();
        *p.started.lock().unwrap_or_else(|e| e.into_inner()) = Some(started);
        self.set_untrusted(
            &record.joiner,
            Some(&format!("the restore of join {id} did not finish")),
        )
        .map_err(|e| e.to_string())?;
        joiner
            .reset()
            .await
            .map_err(|e| format!("joiner reset failed: {e}"))?;
        failpoint("join-snapshot-start").await;
        let header = SnapshotHeader {
            kind: self.kind(),
            source: donor_name.clone(),
            lsn: Lsn(record.l0),
            created_micros: now_micros(),
            content_type: donor.snapshot_content_type().into(),
        };
        tracing::info!(join = id, donor = %donor_name, joiner = %record.joiner, "snapshot started");
        let bytes = tokio::select! {
            r = transfer(&*donor, &*joiner, header, record.compression, p) => r.map_err(|e| e.to_string())?,
            () = job.cancel.cancelled() => return Err("cancelled by the operator during the snapshot".into()),
        };
        let restored = joiner
            .applied_lsn()
            .await
            .map_err(|e| format!("the restored joiner's marker cannot be read: {e}"))?;
        self.set_untrusted(&record.joiner, None)
            .map_err(|e| e.to_string())?;
        let micros = started.elapsed().as_micros() as u64;
        self.save_join(job, |r| {
            r.snapshot_bytes = bytes;
            r.snapshot_micros = micros;
            r.snapshot_lsn = restored.get();
            r.phase = Phase::CatchUp;
        })
        .map_err(|e| e.to_string())?;
        tracing::info!(join = id, bytes, ms = micros / 1000, marker = %restored, "snapshot restored");
        Ok(())
    }

    async fn catch_up_phase(&self, job: &Job) -> Result<(), String> {
        let record = job.record();
        let id = record.id;
        let floor = Lsn(record.l0);
        let mut servers = vec![record.joiner.clone()];
        if let Some(donor) = &record.donor {
            if self.state_of(donor)
                == Some(MemberState::Joining {
                    join: id,
                    role: JoinRole::Donor,
                })
            {
                servers.push(donor.clone());
            }
        }
        failpoint("join-catch-up").await;
        let runs = servers
            .iter()
            .map(|s| self.catch_up_and_switch(job, s, floor, true));
        let results = futures_util::future::join_all(runs).await;
        let mut joiner_failure = None;
        for (name, result) in servers.iter().zip(results) {
            match result {
                Ok(done) => {
                    let micros = done.pause.as_micros() as u64;
                    self.save_join(job, |r| r.pauses_micros.push(micros))
                        .map_err(|e| e.to_string())?;
                }
                Err(e) if *name == record.joiner => joiner_failure = Some(e),
                Err(e) => {
                    let reason = DetachReason::new(
                        DetachCause::JoinFailed,
                        format!("join {id}: the donor could not catch up: {e}"),
                    );
                    self.set_state(name, MemberState::Detached { reason })
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        if let Some(e) = joiner_failure {
            return Err(format!("{} could not catch up: {e}", record.joiner));
        }
        if let Err(e) = self
            .append_control(Control::JoinFinished { join_id: id })
            .await
        {
            tracing::warn!(join = id, error = %e, "could not log the end of the join");
        }
        self.log
            .remove_cursor(&cursor(id))
            .map_err(|e| e.to_string())?;
        self.save_join(job, |r| {
            r.phase = Phase::Finished;
            r.ended_micros = now_micros();
        })
        .map_err(|e| e.to_string())?;
        self.counters()
            .joins_finished
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(join = id, joiner = %record.joiner, "join finished");
        Ok(())
    }

    /// Ends `job` as aborted: the joiner detached with the reason, a `detach`-mode donor
    /// returned to service by replaying its delta, the log unpinned.
    async fn abort_join(&self, job: &Job, reason: &str) {
        let record = job.record();
        let id = record.id;
        tracing::warn!(join = id, joiner = %record.joiner, reason, "join aborted");
        if self.state_of(&record.joiner) != Some(MemberState::Active) {
            let detached = MemberState::Detached {
                reason: DetachReason::new(
                    DetachCause::JoinFailed,
                    format!("join {id} aborted: {reason}"),
                ),
            };
            if let Err(e) = self.set_state(&record.joiner, detached) {
                tracing::error!(join = id, error = %e, "could not record the joiner's state");
            }
        }
        if let Some(donor) = &record.donor {
            let out = MemberState::Joining {
                join: id,
                role: JoinRole::Donor,
            };
            if self.state_of(donor) == Some(out) {
                let floor = Lsn(record.l0);
                if let Err(e) = self.catch_up_and_switch(job, donor, floor, false).await {
                    let reason = DetachReason::new(
                        DetachCause::JoinFailed,
                        format!("join {id} aborted and the donor could not catch up: {e}"),
                    );
                    if let Err(e) = self.set_state(donor, MemberState::Detached { reason }) {
                        tracing::error!(join = id, error = %e, "could not record the donor's state");
                    }
                }
            }
        }
        let aborted = Control::JoinAborted {
            join_id: id,
            reason: reason.into(),
        };
        if let Err(e) = self.append_control(aborted).await {
            tracing::warn!(join = id, error = %e, "could not log the abort");
        }
        if let Err(e) = self.log.remove_cursor(&cursor(id)) {
            tracing::warn!(join = id, error = %e, "could not remove the join's cursor");
        }
        if let Err(e) = self.save_join(job, |r| {
            r.phase = Phase::Aborted;
            r.reason = Some(reason.into());
            r.ended_micros = now_micros();
        }) {
            tracing::error!(join = id, error = %e, "could not record the abort");
        }
        self.counters()
            .joins_aborted
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// The least loaded of `loads` other than `joiner`; ties go to the last one.
fn least_loaded(loads: &[(String, usize)], joiner: &str) -> Option<String> {
    loads
        .iter()
        .rev()
        .filter(|(name, _)| name != joiner)
        .min_by_key(|(_, load)| *load)
        .map(|(name, _)| name.clone())
}

#[cfg(test)]
mod tests {
    use super::least_loaded;

    fn loads(v: &[(&str, usize)]) -> Vec<(String, usize)> {
        v.iter().map(|(n, l)| (n.to_string(), *l)).collect()
    }

    #[test]
    fn donor_is_the_least_loaded_and_ties_go_to_the_last() {
        assert_eq!(
            least_loaded(&loads(&[("a", 3), ("b", 1), ("c", 2)]), "x").as_deref(),
            Some("b")
        );
        assert_eq!(
            least_loaded(&loads(&[("a", 0), ("b", 0), ("c", 0)]), "x").as_deref(),
            Some("c")
        );
        assert_eq!(
            least_loaded(&loads(&[("a", 0), ("b", 0), ("c", 0)]), "c").as_deref(),
            Some("b")
        );
        assert_eq!(least_loaded(&loads(&[("a", 0)]), "a"), None);
    }
}
