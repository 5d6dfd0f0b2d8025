//! Membership: what each backend is doing, persisted in the log's metadata so that a
//! restart sees the same cluster.
//!
//! Keys: `member/<name>` holds `active`, `detached:<cause>:<detail>` or
//! `joining:<id>:<role>`; `untrusted/<name>` exists while a backend's applied-LSN marker
//! cannot be trusted to describe its content (it diverged, or a restore into it began and
//! did not finish), so it may only come back through a snapshot, never by delta replay
//! alone. A record that does not parse is an error, never a default: a damaged record
//! must not put a stale backend into service.
//!
//! A backend that appears in the configuration of a cluster that already has members on
//! record is **new**: it is registered detached (and untrusted), ready to be joined, never
//! made active blindly.
//!
//! **Nothing detaches the last active backend** ([`Cluster::detach`] refuses): without it
//! nothing could be served, and it holds every write the others lack.

use super::{Cluster, ClusterError, ClusterOptions, Member, PoolCounters};
use crate::backend::Backend;
use crate::log::{DeltaLog, LogError};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What a member is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberState {
    /// Receives every write and may serve reads.
    Active,
    /// Receives nothing, for the recorded reason, until it is joined again.
    Detached { reason: DetachReason },
    /// Taken out of live traffic by join `join`, as `role`, until its switch-over.
    Joining { join: u64, role: JoinRole },
}

/// Why a backend was taken out of service: the cause decides what may happen next (an
/// operator's detach is not auto-joined; a disagreement needs a snapshot), the detail is
/// for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetachReason {
    pub cause: DetachCause,
    pub detail: String,
}

/// The causes of a detach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DetachCause {
    /// Its result differed from the majority's: its content is not trusted.
    Disagreed,
    /// It could not be reached, or did not answer within the deadline.
    Unreachable,
    /// It failed its health checks.
    Unhealthy,
    /// A logged write could not be committed on it: it is behind the log.
    CommitFailed,
    /// It could not be brought up to the end of the log at start.
    CatchUpFailed,
    /// The operator took it out.
    Operator,
    /// A join of it (or of the server it donated to) failed or was cancelled.
    JoinFailed,
    /// It is new to the cluster and was never joined.
    New,
}

impl DetachCause {
    pub(crate) const ALL: [DetachCause; 8] = [
        DetachCause::Disagreed,
        DetachCause::Unreachable,
        DetachCause::Unhealthy,
        DetachCause::CommitFailed,
        DetachCause::CatchUpFailed,
        DetachCause::Operator,
        DetachCause::JoinFailed,
        DetachCause::New,
    ];

    /// Its stable name, as persisted and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DetachCause::Disagreed => "disagreed",
            DetachCause::Unreachable => "unreachable",
            DetachCause::Unhealthy => "unhealthy",
            DetachCause::CommitFailed => "commit-failed",
            DetachCause::CatchUpFailed => "catch-up-failed",
            DetachCause::Operator => "operator",
            DetachCause::JoinFailed => "join-failed",
            DetachCause::New => "new",
        }
    }

    fn parse(text: &str) -> Option<DetachCause> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl DetachReason {
    /// A reason of `cause` with `detail`.
    pub fn new(cause: DetachCause, detail: impl Into<String>) -> Self {
        DetachReason {
            cause,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for DetachReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.cause.as_str(), self.detail)
    }
}

/// The part a server plays in a join.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinRole {
    /// Snapshotted for the joiner (in `detach` mode it leaves service meanwhile).
    Donor,
    /// Restored from the donor's snapshot (or only replayed, for a delta-only rejoin).
    Joiner,
}

impl JoinRole {
    fn as_str(self) -> &'static str {
        match self {
            JoinRole::Donor => "donor",
            JoinRole::Joiner => "joiner",
        }
    }
}

impl MemberState {
    /// The persisted form.
    pub fn encode(&self) -> String {
        match self {
            MemberState::Active => "active".into(),
            MemberState::Detached { reason } => {
                format!("detached:{}:{}", reason.cause.as_str(), reason.detail)
            }
            MemberState::Joining { join, role } => format!("joining:{join}:{}", role.as_str()),
        }
    }

    /// Parses a persisted state; anything else than what [`encode`](Self::encode) writes
    /// is an error naming the text.
    pub fn decode(bytes: &[u8]) -> Result<MemberState, String> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| format!("member state is not UTF-8: {bytes:?}"))?;
        let unreadable = || format!("unreadable member state {text:?}");
        if text == "active" {
            return Ok(MemberState::Active);
        }
        if let Some(rest) = text.strip_prefix("detached:") {
            let (cause, detail) = rest.split_once(':').ok_or_else(unreadable)?;
            let cause = DetachCause::parse(cause).ok_or_else(unreadable)?;
            return Ok(MemberState::Detached {
                reason: DetachReason::new(cause, detail),
            });
        }
        if let Some(rest) = text.strip_prefix("joining:") {
            let (id, role) = rest.split_once(':').ok_or_else(unreadable)?;
            let role = match role {
                "donor" => JoinRole::Donor,
                "joiner" => JoinRole::Joiner,
                _ => return Err(unreadable()),
            };
            let join = id.parse().map_err(|_| unreadable())?;
            return Ok(MemberState::Joining { join, role });
        }
        Err(unreadable())
    }
}

fn state_key(name: &str) -> String {
    format!("member/{name}")
}

fn untrusted_key(name: &str) -> String {
    format!("untrusted/{name}")
}

/// The members of `backends` with their recorded states; backends the record does not know
/// are new (detached, untrusted) unless nothing is on record at all (a first start).
pub(super) fn restore(
    log: &DeltaLog,
    backends: Vec<Arc<dyn Backend>>,
    options: &ClusterOptions,
    counters: &Arc<PoolCounters>,
) -> Result<Vec<Member>, ClusterError> {
    let mut recorded = Vec::new();
    for backend in &backends {
        recorded.push(log.meta(&state_key(backend.name()))?);
    }
    let first_start = recorded.iter().all(Option::is_none);
    let mut members = Vec::new();
    for (backend, record) in backends.into_iter().zip(recorded) {
        let state = settle_state(log, backend.name(), record, first_start)?;
        members.push(Member::new(backend, state, options, counters));
    }
    Ok(members)
}

/// The state `name` starts in, from its `recorded` one (a backend with none is new,
/// unless the whole cluster is), written down.
fn settle_state(
    log: &DeltaLog,
    name: &str,
    recorded: Option<Vec<u8>>,
    first_start: bool,
) -> Result<MemberState, ClusterError> {
    let state = match recorded {
        Some(v) => MemberState::decode(&v).map_err(|reason| ClusterError::Corrupt {
            key: state_key(name),
            reason,
        })?,
        None if first_start => MemberState::Active,
        None => new_member(log, name)?,
    };
    log.set_meta(&state_key(name), state.encode().as_bytes())?;
    Ok(state)
}

fn new_member(log: &DeltaLog, name: &str) -> Result<MemberState, LogError> {
    let reason = DetachReason::new(
        DetachCause::New,
        "new backend: join it to bring it into service",
    );
    log.set_meta(&untrusted_key(name), reason.detail.as_bytes())?;
    tracing::info!(backend = name, "new backend registered detached");
    Ok(MemberState::Detached { reason })
}

impl Cluster {
    /// Takes `name` out of service with `reason`, durably; returns whether it did. Only an
    /// active member is detached (a member in a join is left to its join), and never the
    /// last active one: that is refused, logged and counted, and the caller's operation
    /// fails on it instead.
    pub fn detach(&self, name: &str, reason: DetachReason) -> Result<bool, ClusterError> {
        {
            let mut members = self.members.write().unwrap_or_else(|p| p.into_inner());
            let active = members
                .iter()
                .filter(|m| m.state == MemberState::Active)
                .count();
            let Some(m) = members.iter_mut().find(|m| m.backend.name() == name) else {
                return Err(ClusterError::State(format!("no backend named {name:?}")));
            };
            if m.state != MemberState::Active {
                return Ok(false);
            }
            if active <= 1 {
                drop(members);
                self.counters
                    .detaches_refused_last
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(backend = name, %reason, "not detaching the last active backend");
                return Ok(false);
            }
            m.state = MemberState::Detached {
                reason: reason.clone(),
            };
            m.pool.retire();
        }
        self.counters.detaches.fetch_add(1, Ordering::Relaxed);
        self.counters.count_detach(reason.cause);
        tracing::warn!(backend = name, cause = reason.cause.as_str(), detail = %reason.detail, "backend detached");
        self.persist_state(name)?;
        Ok(true)
    }

    /// Detaches an unreachable `name` on behalf of one request; returns whether it is out
    /// of service now, detached by this call or by a concurrent one. `false` means it is
    /// still active (the last one): the request fails instead of moving on.
    pub(crate) fn take_out(&self, name: &str, reason: DetachReason) -> Result<bool, ClusterError> {
        Ok(self.detach(name, reason)? || !self.is_active(name))
    }

    /// Detaches `name` because its result differed from the others': its marker no longer
    /// describes its content, so it can only return through a snapshot.
    pub(crate) fn detach_diverged(&self, name: &str, detail: &str) -> Result<bool, ClusterError> {
        if self.active().len() <= 1 {
            return self.detach(name, DetachReason::new(DetachCause::Disagreed, detail));
        }
        self.set_untrusted(name, Some(detail))?;
        self.detach(name, DetachReason::new(DetachCause::Disagreed, detail))
    }

    /// Sets `name`'s state, whatever it was, durably (the join coordinator's transitions).
    /// Making a member active must happen under the write turn.
    pub(crate) fn set_state(&self, name: &str, state: MemberState) -> Result<(), ClusterError> {
        self.set_state_in_memory(name, state)?;
        self.persist_state(name)
    }

    /// Sets `name`'s state for everything that runs from now on, without writing it down:
    /// a switch-over does this under the write turn and persists afterwards, so writers
    /// do not wait for a sync. A crash in between finds the member still joining and its
    /// catch-up is resumed from its marker, which is as safe as it is cheap.
    pub(crate) fn set_state_in_memory(
        &self,
        name: &str,
        state: MemberState,
    ) -> Result<(), ClusterError> {
        {
            let mut members = self.members.write().unwrap_or_else(|p| p.into_inner());
            let Some(m) = members.iter_mut().find(|m| m.backend.name() == name) else {
                return Err(ClusterError::State(format!("no backend named {name:?}")));
            };
            // Whatever it comes back as, it starts with fresh connections; out of service,
            // nobody waits for one.
            if state == MemberState::Active {
                m.pool.clear_idle();
            } else {
                m.pool.retire();
            }
            m.state = state.clone();
        }
        tracing::info!(backend = name, state = %state.encode(), "member state changed");
        Ok(())
    }

    /// Writes `name`'s current state down, durably.
    pub(crate) fn persist_state(&self, name: &str) -> Result<(), ClusterError> {
        let state = self
            .state_of(name)
            .ok_or_else(|| ClusterError::State(format!("no backend named {name:?}")))?;
        self.log
            .set_meta(&state_key(name), state.encode().as_bytes())?;
        Ok(())
    }

    /// The state of `name`.
    pub fn state_of(&self, name: &str) -> Option<MemberState> {
        self.members()
            .iter()
            .find(|m| m.backend.name() == name)
            .map(|m| m.state.clone())
    }

    /// Marks (`Some(reason)`) or clears (`None`) `name`'s marker as untrustworthy.
    pub(crate) fn set_untrusted(&self, name: &str, reason: Option<&str>) -> Result<(), LogError> {
        match reason {
            Some(r) => self.log.set_meta(&untrusted_key(name), r.as_bytes()),
            None => self.log.remove_meta(&untrusted_key(name)),
        }
    }

    /// Why `name`'s marker cannot be trusted, if it cannot.
    pub fn untrusted(&self, name: &str) -> Result<Option<String>, LogError> {
        Ok(self
            .log
            .meta(&untrusted_key(name))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Registers a backend added to the configuration at run time (a reload): detached
    /// and untrusted, ready to be joined. A name already known is left alone.
    pub fn add_backend(&self, backend: Arc<dyn Backend>) -> Result<bool, ClusterError> {
        let name = backend.name().to_string();
        if self.backend(&name).is_some() {
            return Ok(false);
        }
        let recorded = self.log.meta(&state_key(&name))?;
        let state = settle_state(&self.log, &name, recorded, false)?;
        self.members
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Member::new(
                backend,
                state,
                &self.options,
                &self.pool_counters,
            ));
        Ok(true)
    }
}
