//! Membership: what each backend is doing, persisted in the log's metadata so that a
//! restart sees the same cluster.
//!
//! Keys: `member/<name>` holds `active`, `detached:<reason>` or `joining:<id>:<role>`;
//! `untrusted/<name>` exists while a backend's applied-LSN marker cannot be trusted to
//! describe its content (it diverged, or a restore into it began and did not finish), so
//! it may only come back through a snapshot, never by delta replay alone.
//!
//! A backend that appears in the configuration of a cluster that already has members on
//! record is **new**: it is registered detached (and untrusted), ready to be joined, never
//! made active blindly.

use super::{Cluster, ClusterError, Member};
use crate::backend::Backend;
use crate::log::{DeltaLog, LogError};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What a member is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberState {
    /// Receives every write and may serve reads.
    Active,
    /// Receives nothing, for the recorded reason, until it is joined again.
    Detached { reason: String },
    /// Taken out of live traffic by join `join`, as `role`, until its switch-over.
    Joining { join: u64, role: JoinRole },
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
    fn encode(&self) -> String {
        match self {
            MemberState::Active => "active".into(),
            MemberState::Detached { reason } => format!("detached:{reason}"),
            MemberState::Joining { join, role } => format!("joining:{join}:{}", role.as_str()),
        }
    }

    fn decode(bytes: &[u8]) -> MemberState {
        let text = String::from_utf8_lossy(bytes);
        if let Some(reason) = text.strip_prefix("detached:") {
            return MemberState::Detached {
                reason: reason.into(),
            };
        }
        if let Some(rest) = text.strip_prefix("joining:") {
            let (id, role) = rest.split_once(':').unwrap_or((rest, ""));
            let role = if role == "donor" {
                JoinRole::Donor
            } else {
                JoinRole::Joiner
            };
            return match id.parse() {
                Ok(join) => MemberState::Joining { join, role },
                Err(_) => MemberState::Detached {
                    reason: format!("unreadable member state {text:?}"),
                },
            };
        }
        MemberState::Active
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
) -> Result<Vec<Member>, LogError> {
    let mut recorded = Vec::new();
    for backend in &backends {
        recorded.push(log.meta(&state_key(backend.name()))?);
    }
    let first_start = recorded.iter().all(Option::is_none);
    let mut members = Vec::new();
    for (backend, record) in backends.into_iter().zip(recorded) {
        let state = settle_state(log, backend.name(), record, first_start)?;
        members.push(Member::new(backend, state));
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
) -> Result<MemberState, LogError> {
    let state = match recorded {
        Some(v) => MemberState::decode(&v),
        None if first_start => MemberState::Active,
        None => new_member(log, name)?,
    };
    log.set_meta(&state_key(name), state.encode().as_bytes())?;
    Ok(state)
}

fn new_member(log: &DeltaLog, name: &str) -> Result<MemberState, LogError> {
    let reason = "new backend: join it to bring it into service".to_string();
    log.set_meta(&untrusted_key(name), reason.as_bytes())?;
    tracing::info!(backend = name, "new backend registered detached");
    Ok(MemberState::Detached { reason })
}

impl Cluster {
    /// Takes `name` out of service with `reason`, durably. Only an active member is
    /// detached; a member in a join is left to its join.
    pub fn detach(&self, name: &str, reason: &str) -> Result<(), ClusterError> {
        {
            let mut members = self.members.write().unwrap_or_else(|p| p.into_inner());
            let Some(m) = members.iter_mut().find(|m| m.backend.name() == name) else {
                return Err(ClusterError::State(format!("no backend named {name:?}")));
            };
            if m.state != MemberState::Active {
                return Ok(());
            }
            m.state = MemberState::Detached {
                reason: reason.into(),
            };
        }
        self.counters.detaches.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(backend = name, reason, "backend detached");
        self.persist_state(name)
    }

    /// Detaches `name` because its result differed from the others': its marker no longer
    /// describes its content, so it can only return through a snapshot.
    pub(crate) fn detach_diverged(&self, name: &str, reason: &str) -> Result<(), ClusterError> {
        self.set_untrusted(name, Some(reason))?;
        self.detach(name, reason)
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
            .push(Member::new(backend, state));
        Ok(true)
    }
}
