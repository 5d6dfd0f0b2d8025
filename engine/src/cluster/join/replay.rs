//! Catch-up and switch-over of one server: replay the log from its marker while live
//! writes go on, then, close to the end, quiesce the writers (the write order's exclusive
//! grant, [`crate::cluster::order`]), replay the rest and make it active before releasing
//! them, so no write falls between "caught up" and "active".

use super::failpoint;
use super::registry::Job;
use crate::backend::Backend;
use crate::cluster::{Cluster, ClusterError, MemberState};
use crate::log::{Lsn, Payload, WriteTxn};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A server this close to the end of the log (in records) is switched over: the rest is
/// replayed with the writers quiesced. Small, because writers wait for it.
const CLOSE_ENOUGH: u64 = 8;

/// Logged writes applied in one backend transaction during catch-up (at most), and their
/// statement text (at most): one commit per run instead of one per write.
const BATCH: usize = 256;
const BATCH_BYTES: usize = 4 << 20;

/// What a switch-over's pause was spent on (for its log line).
#[derive(Default)]
struct PauseParts {
    /// From the grant to the switch-over's first step (the replay round the grant found
    /// in flight).
    behind: Duration,
    /// Records replayed with the writers quiesced.
    records: u64,
    /// Replaying them (reading the active member's key generators meanwhile).
    replay: Duration,
    /// Setting the key generators to an active member's, after.
    align: Duration,
}

/// How a server's catch-up ended without error.
pub(super) struct SwitchedOver {
    /// Writers were held this long.
    pub pause: Duration,
}

impl Cluster {
    /// Applies every logged write in `[from, end)` to `backend`, exactly once; returns how
    /// many it applied.
    async fn replay_range(
        &self,
        backend: &dyn Backend,
        from: Lsn,
        end: Lsn,
        job: &Job,
        cancellable: bool,
    ) -> Result<u64, String> {
        if from >= end {
            return Ok(0);
        }
        let mut applied = 0;
        let mut batch: Vec<(Lsn, WriteTxn)> = Vec::new();
        let mut batch_bytes = 0usize;
        let records = self
            .log
            .read_from(from)
            .map_err(|e| format!("reading the log from {from}: {e}"))?;
        for item in records {
            let logged = item.map_err(|e| format!("reading the log: {e}"))?;
            if logged.lsn >= end {
                break;
            }
            if let Payload::Write(txn) = logged.record.payload {
                batch_bytes += txn.statements.iter().map(|s| s.sql.len()).sum::<usize>();
                batch.push((logged.lsn, txn));
            }
            if batch.len() >= BATCH || batch_bytes >= BATCH_BYTES {
                applied += self.apply_run(backend, &mut batch, job).await?;
                batch_bytes = 0;
                if cancellable && job.cancel.is_cancelled() {
                    return Err("cancelled".into());
                }
            }
        }
        if !batch.is_empty() {
            applied += self.apply_run(backend, &mut batch, job).await?;
        }
        Ok(applied)
    }

    /// Applies `batch` (emptied) in one backend transaction where it can.
    async fn apply_run(
        &self,
        backend: &dyn Backend,
        batch: &mut Vec<(Lsn, WriteTxn)>,
        job: &Job,
    ) -> Result<u64, String> {
        let (Some(&(first, _)), Some(&(last, _))) = (batch.first(), batch.last()) else {
            return Ok(0);
        };
        let refs: Vec<(Lsn, &WriteTxn)> = batch.iter().map(|(l, t)| (*l, t)).collect();
        let applied = backend
            .apply_batch(&refs)
            .await
            .map_err(|e| format!("replay of LSN {first}..={last} failed: {e}"))?;
        batch.clear();
        self.note_lag(job, backend.name(), last);
        Ok(applied)
    }

    fn note_lag(&self, job: &Job, name: &str, at: Lsn) {
        let lag = self.log.end().get().saturating_sub(at.get() + 1);
        job.progress
            .lag
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), lag);
    }

    /// Brings `name` up to the end of the log and makes it active. Every write before
    /// `floor` is known to be in it already (it held them at the cut, or its snapshot was
    /// taken after the cut), so replay starts at its marker or `floor`, whichever is later.
    pub(super) async fn catch_up_and_switch(
        &self,
        job: &Job,
        name: &str,
        floor: Lsn,
        cancellable: bool,
    ) -> Result<SwitchedOver, String> {
        let backend = self
            .backend(name)
            .ok_or_else(|| format!("no backend named {name:?}"))?;
        if self.state_of(name) == Some(MemberState::Active) {
            // Switched over before a restart.
            return Ok(SwitchedOver {
                pause: Duration::ZERO,
            });
        }
        let marker = backend
            .applied_lsn()
            .await
            .map_err(|e| format!("reading its marker: {e}"))?;
        // The last LSN known applied.
        let mut applied_lsn = marker.max(Lsn(floor.get().saturating_sub(1)));
        if applied_lsn.next() < self.log.first() {
            return Err(format!(
                "its marker {applied_lsn} is older than the log, which starts at {}",
                self.log.first()
            ));
        }
        let mut applied = 0;
        self.close_in(&*backend, &mut applied_lsn, &mut applied, job, cancellable)
            .await?;
        // Its key generators are set to an active member's under the quiesce below; the
        // connections that takes are opened now, outside it, and then what was committed
        // meanwhile is replayed, so that the quiesce is asked for with little left.
        let mut alignment = match self.active().into_iter().find(|b| b.name() != name) {
            Some(source) => self
                .prepare_key_alignment(&*source, &*backend)
                .await
                .map_err(|e| format!("connecting to set its key generators: {e}"))?,
            None => None,
        };
        if let Some(alignment) = alignment.as_mut() {
            alignment
                .warm()
                .await
                .map_err(|e| format!("reading key generators: {e}"))?;
        }
        self.close_in(&*backend, &mut applied_lsn, &mut applied, job, cancellable)
            .await?;
        // Switch-over: no write can be in flight or start while the writers are quiesced.
        // Queued behind the writers already waiting (the order is fair), the server keeps
        // replaying what they commit meanwhile, so that once the quiesce is granted only
        // the last few records remain and writers wait for little more than those.
        let quiesced = self
            .queue_for_quiesce(&*backend, &mut applied_lsn, &mut applied, job)
            .await?;
        let held = quiesced.since();
        job.progress.switching.store(true, Ordering::Relaxed);
        // Where the pause goes, for the log line below.
        let mut parts = PauseParts::default();
        let result = async {
            parts.behind = held.elapsed();
            failpoint("join-switch-over").await;
            let end = self.log.end();
            let t = std::time::Instant::now();
            let replay = self.replay_range(&*backend, applied_lsn.next(), end, job, false);
            // The active member's key generators are read while the last records replay
            // (nothing moves them now); the joiner's once it has replayed them.
            let (replayed, want) = match alignment.as_mut() {
                Some(alignment) => {
                    let (replayed, want) = tokio::join!(replay, alignment.source_positions());
                    (replayed, Some(want))
                }
                None => (replay.await, None),
            };
            parts.records = replayed?;
            applied += parts.records;
            parts.replay = t.elapsed();
            let t = std::time::Instant::now();
            if let Some((alignment, want)) = alignment.zip(want) {
                let want =
                    want.map_err(|e| format!("reading an active member's key generators: {e}"))?;
                alignment
                    .run_with(want)
                    .await
                    .map_err(|e| format!("setting its key generators: {e}"))?;
            }
            parts.align = t.elapsed();
            self.set_state_in_memory(name, MemberState::Active)
                .map_err(|e| e.to_string())?;
            self.note_lag(job, name, Lsn(end.get().saturating_sub(1)));
            Ok::<_, String>(())
        }
        .await;
        job.progress.switching.store(false, Ordering::Relaxed);
        drop(quiesced);
        let pause = held.elapsed();
        result?;
        self.persist_state(name).map_err(|e| e.to_string())?;
        let micros = pause.as_micros() as u64;
        let c = self.counters();
        c.switchovers.fetch_add(1, Ordering::Relaxed);
        c.switch_pause_micros.fetch_add(micros, Ordering::Relaxed);
        c.switch_pause_max_micros
            .fetch_max(micros, Ordering::Relaxed);
        tracing::info!(
            backend = name,
            applied,
            pause_us = micros,
            behind_us = parts.behind.as_micros() as u64,
            replayed_in_pause = parts.records,
            replay_us = parts.replay.as_micros() as u64,
            align_us = parts.align.as_micros() as u64,
            "switched over: active"
        );
        Ok(SwitchedOver { pause })
    }

    /// Replays into `backend` until it is at most [`CLOSE_ENOUGH`] records behind the end
    /// of the log.
    async fn close_in(
        &self,
        backend: &dyn Backend,
        applied_lsn: &mut Lsn,
        applied: &mut u64,
        job: &Job,
        cancellable: bool,
    ) -> Result<(), String> {
        loop {
            if cancellable && job.cancel.is_cancelled() {
                return Err("cancelled".into());
            }
            let end = self.log.end();
            if applied_lsn.next() > end {
                return Err(format!(
                    "its marker {applied_lsn} is ahead of the log (ends before {end})"
                ));
            }
            self.note_lag(job, backend.name(), *applied_lsn);
            if end.get() - applied_lsn.next().get() <= CLOSE_ENOUGH {
                return Ok(());
            }
            *applied += self
                .replay_range(backend, applied_lsn.next(), end, job, cancellable)
                .await?;
            *applied_lsn = Lsn(end.get() - 1);
        }
    }

    /// Waits for the writers to be quiesced while replaying into `backend` whatever is
    /// committed meanwhile.
    async fn queue_for_quiesce(
        &self,
        backend: &dyn Backend,
        applied_lsn: &mut Lsn,
        applied: &mut u64,
        job: &Job,
    ) -> Result<crate::cluster::order::Quiesced, String> {
        let (grant, mut granted) = tokio::sync::oneshot::channel();
        let order = self.order().clone();
        // A task of its own, so that a replay round is never cut off by the grant; if
        // this side gives up, the send fails and the quiesce is released at once.
        tokio::spawn(async move {
            let quiesced = order.quiesce().await;
            let _ = grant.send(quiesced);
        });
        loop {
            match granted.try_recv() {
                Ok(turn) => return Ok(turn),
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                    return Err("the writers were never quiesced".into())
                }
            }
            let end = self.log.end();
            // Every record is replayed as soon as it is committed, so that the grant
            // (which comes right after the last writer's commit) finds at most the last
            // few left. Leaving a few for the quiesce was measured worse: they all
            // replay while the writers wait.
            if applied_lsn.next() < end {
                *applied += self
                    .replay_range(backend, applied_lsn.next(), end, job, false)
                    .await?;
                *applied_lsn = Lsn(end.get() - 1);
            } else {
                // Caught up: wake at the grant itself, or soon to replay new commits.
                tokio::select! {
                    turn = &mut granted => {
                        return turn.map_err(|_| "the writers were never quiesced".to_string());
                    }
                    () = tokio::time::sleep(Duration::from_micros(200)) => {}
                }
            }
        }
    }

    /// Appends a join-protocol record with the writers quiesced (so it takes its place in the
    /// one order of writes).
    pub(super) async fn append_control(
        &self,
        control: crate::log::Control,
    ) -> Result<Lsn, ClusterError> {
        let _quiesced = self.order().quiesce().await;
        self.append_control_held(control).await
    }

    /// [`append_control`](Self::append_control) for a caller that has quiesced the writers.
    pub(super) async fn append_control_held(
        &self,
        control: crate::log::Control,
    ) -> Result<Lsn, ClusterError> {
        let record = crate::log::Record::now(0, Payload::Control(control));
        let range = self.log.append(std::slice::from_ref(&record)).await?;
        // Commits nowhere: later commits need not wait for it (`keyed`).
        self.order().passed(range);
        Ok(range.start)
    }
}
