//! The joins a cluster knows: starting, listing, cancelling and resuming them.

use super::record::{key, DonorMode, JoinRecord, Phase};
use super::{JoinError, JoinOptions};
use crate::cluster::{Cluster, ClusterError, DetachCause, DetachReason, JoinRole, MemberState};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Live progress of a join (not persisted: it is re-measured after a restart).
#[derive(Default)]
pub(crate) struct Progress {
    /// Snapshot content bytes restored so far.
    pub bytes: AtomicU64,
    /// The donor's estimated size (0: unknown).
    pub total: AtomicU64,
    /// When the current snapshot attempt started.
    pub started: Mutex<Option<Instant>>,
    /// Records each server still has to replay.
    pub lag: Mutex<BTreeMap<String, u64>>,
    /// A switch-over holds the writers quiesced.
    pub switching: AtomicBool,
}

/// A join being run (or ended, kept for `GET /v1/joins/{id}`).
pub(crate) struct Job {
    pub record: Mutex<JoinRecord>,
    pub progress: Progress,
    pub cancel: CancellationToken,
}

impl Job {
    fn new(record: JoinRecord) -> Arc<Self> {
        Arc::new(Job {
            record: Mutex::new(record),
            progress: Progress::default(),
            cancel: CancellationToken::new(),
        })
    }

    pub fn record(&self) -> JoinRecord {
        self.record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The registry, one per cluster.
#[derive(Default)]
pub(crate) struct Joins {
    jobs: Mutex<BTreeMap<u64, Arc<Job>>>,
    /// Held by the running join: the others queue behind it.
    pub one_at_a_time: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
}

impl Joins {
    fn jobs(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Job>>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A join as the operator sees it.
#[derive(Clone, Debug)]
pub struct JoinView {
    /// What is persisted.
    pub record: JoinRecord,
    /// Snapshot content bytes restored so far (this attempt).
    pub bytes: u64,
    /// The donor's estimated size, when the engine can tell.
    pub total: Option<u64>,
    /// Snapshot rate so far, bytes per second.
    pub rate: f64,
    /// Estimated time to the end of the snapshot.
    pub eta: Option<Duration>,
    /// Records each server still has to replay.
    pub lag: BTreeMap<String, u64>,
    /// A switch-over is holding writers right now.
    pub switching: bool,
}

fn view(job: &Job) -> JoinView {
    let record = job.record();
    let p = &job.progress;
    let bytes = p.bytes.load(Ordering::Relaxed);
    let total = Some(p.total.load(Ordering::Relaxed)).filter(|t| *t > 0);
    let elapsed = p
        .started
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .map(|s| s.elapsed().as_secs_f64())
        .unwrap_or(0.0);
    let rate = if elapsed > 0.0 {
        bytes as f64 / elapsed
    } else {
        0.0
    };
    let eta = match (record.phase, total) {
        (Phase::Snapshot, Some(t)) if rate > 0.0 => Some(Duration::from_secs_f64(
            t.saturating_sub(bytes) as f64 / rate,
        )),
        _ => None,
    };
    JoinView {
        record,
        bytes,
        total,
        rate,
        eta,
        lag: p.lag.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        switching: p.switching.load(Ordering::Relaxed),
    }
}

pub(crate) fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl Cluster {
    /// Requests a join of `joiner`; it runs in the background (queued behind any join in
    /// progress). The joiner leaves live traffic now if it had not already.
    pub fn start_join(
        self: &Arc<Self>,
        joiner: &str,
        options: JoinOptions,
    ) -> Result<JoinView, JoinError> {
        if self.backend(joiner).is_none() {
            return Err(JoinError::UnknownBackend(joiner.into()));
        }
        if let Some(damage) = self.log_damage() {
            return Err(JoinError::Refused(damage));
        }
        if let Some(donor) = &options.donor {
            if self.backend(donor).is_none() {
                return Err(JoinError::UnknownBackend(donor.clone()));
            }
            if donor == joiner {
                return Err(JoinError::Refused(format!(
                    "{joiner} cannot be its own donor"
                )));
            }
        }
        let job = {
            let mut jobs = self.joins.jobs();
            if let Some(other) = jobs
                .values()
                .map(|j| j.record())
                .find(|r| r.joiner == joiner && !r.phase.is_terminal())
            {
                return Err(JoinError::Refused(format!(
                    "{joiner} is already being joined (join {})",
                    other.id
                )));
            }
            match self.state_of(joiner) {
                Some(MemberState::Active) => {
                    return Err(JoinError::Refused(format!(
                        "{joiner} is active already; detach it first to re-join it"
                    )))
                }
                Some(MemberState::Joining { join, .. }) => {
                    return Err(JoinError::Refused(format!(
                        "{joiner} takes part in join {join}"
                    )))
                }
                _ => {}
            }
            let id = self.joins.next_id.fetch_add(1, Ordering::Relaxed).max(1);
            self.joins.next_id.fetch_max(id + 1, Ordering::Relaxed);
            let record = JoinRecord {
                id,
                joiner: joiner.into(),
                donor: None,
                mode: options.mode.unwrap_or(DonorMode::Online),
                requested_donor: options.donor.clone(),
                force_snapshot: options.force_snapshot,
                compression: options.compression,
                delta_only: false,
                l0: 0,
                phase: Phase::Queued,
                reason: None,
                created_micros: now_micros(),
                ended_micros: 0,
                snapshot_bytes: 0,
                snapshot_micros: 0,
                snapshot_lsn: 0,
                snapshot_attempts: 0,
                pauses_micros: Vec::new(),
            };
            self.log.set_meta(&key(id), &record.encode()?)?;
            let job = Job::new(record);
            jobs.insert(id, job.clone());
            job
        };
        let id = job.record().id;
        self.set_state(
            joiner,
            MemberState::Joining {
                join: id,
                role: JoinRole::Joiner,
            },
        )
        .map_err(|e| JoinError::Refused(e.to_string()))?;
        tracing::info!(join = id, joiner, "join requested");
        self.spawn_join(job.clone());
        Ok(view(&job))
    }

    fn spawn_join(self: &Arc<Self>, job: Arc<Job>) {
        let cluster = self.clone();
        tokio::spawn(async move { cluster.run_join(job).await });
    }

    /// Join `id`, with its live progress.
    pub fn join(&self, id: u64) -> Option<JoinView> {
        self.joins.jobs().get(&id).map(|j| view(j))
    }

    /// Every join known since the log was created, oldest first.
    pub fn joins(&self) -> Vec<JoinView> {
        self.joins.jobs().values().map(|j| view(j)).collect()
    }

    /// Asks join `id` to stop; it aborts at its next step (a snapshot in progress is cut
    /// off at once). A switch-over already holding the writers quiesced completes.
    pub fn cancel_join(&self, id: u64) -> Result<JoinView, JoinError> {
        let job = self
            .joins
            .jobs()
            .get(&id)
            .cloned()
            .ok_or(JoinError::UnknownJoin(id))?;
        let phase = job.record().phase;
        if phase.is_terminal() {
            return Err(JoinError::Ended { id, phase });
        }
        tracing::info!(join = id, "join cancel requested");
        job.cancel.cancel();
        Ok(view(&job))
    }

    /// Waits until join `id` ends (polling; for tools and tests).
    pub async fn wait_join(&self, id: u64) -> Option<JoinView> {
        loop {
            let v = self.join(id)?;
            if v.record.phase.is_terminal() {
                return Some(v);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Loads every persisted join and resumes those that had not ended.
    pub(crate) fn resume_joins(self: &Arc<Self>) -> Result<(), ClusterError> {
        let mut max_id = 0;
        let mut resume = Vec::new();
        for (k, v) in self.log.meta_with_prefix("join/")? {
            let record = match JoinRecord::decode(&v) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(key = %k, error = %e, "join record ignored");
                    continue;
                }
            };
            max_id = max_id.max(record.id);
            let terminal = record.phase.is_terminal();
            let job = Job::new(record.clone());
            self.joins.jobs().insert(record.id, job.clone());
            if !terminal {
                tracing::info!(join = record.id, joiner = %record.joiner, phase = %record.phase, "resuming join after restart");
                resume.push(job);
            }
        }
        self.joins.next_id.store(max_id + 1, Ordering::Relaxed);
        // A member left in a join that no longer runs (its record was lost): detached, its
        // marker still trusted, so it can be joined again.
        for member in self.status() {
            if let MemberState::Joining { join, .. } = member.state {
                let running = resume.iter().any(|j| j.record().id == join);
                if !running {
                    let reason = DetachReason::new(
                        DetachCause::JoinFailed,
                        format!("join {join} no longer runs; join it again"),
                    );
                    self.set_state(&member.name, MemberState::Detached { reason })?;
                }
            }
        }
        for job in resume {
            self.spawn_join(job);
        }
        Ok(())
    }

    /// Updates join `job`'s record with `change` and persists it.
    pub(super) fn save_join(
        &self,
        job: &Job,
        change: impl FnOnce(&mut JoinRecord),
    ) -> Result<JoinRecord, ClusterError> {
        let record = {
            let mut r = job.record.lock().unwrap_or_else(|p| p.into_inner());
            change(&mut r);
            r.clone()
        };
        self.log.set_meta(&key(record.id), &record.encode()?)?;
        Ok(record)
    }
}
