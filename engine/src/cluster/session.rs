//! A client session on the cluster: routing, the transaction and the write turn.

use super::{Cluster, ClusterError, Kind};
use crate::backend::{Backend, BackendError, Description, Outcome, Session};
use crate::log::{Lsn, Payload, Record, Statement, Value, WriteTxn};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::OwnedMutexGuard;

/// An open transaction of a session.
#[derive(Default)]
pub(super) struct Txn {
    /// Held from the first write to COMMIT/ROLLBACK.
    pub(super) turn: Option<OwnedMutexGuard<()>>,
    /// Backends with an open transaction for this session, in configuration order.
    pub(super) members: Vec<String>,
    /// Statements to log at COMMIT.
    pub(super) writes: Vec<Statement>,
    /// A statement failed in a PostgreSQL transaction: only ROLLBACK is possible now.
    pub(super) aborted: bool,
    /// The instant current-time functions of its writes are pinned to.
    pub(super) time: Option<std::time::SystemTime>,
}

/// One client connection's view of the cluster.
pub struct ClusterSession {
    pub(super) cluster: Arc<Cluster>,
    id: u64,
    pub(super) conns: HashMap<String, Box<dyn Session>>,
    pub(super) txn: Option<Txn>,
    /// A `COPY ... FROM STDIN` in progress.
    pub(super) copy: Option<super::copy::CopyIn>,
    /// `SET` statements of this session, logged with every write so replay reproduces it.
    pub(super) settings: Vec<(String, String)>,
}

pub(super) fn command(tag: &str) -> Outcome {
    Outcome::Command {
        tag: tag.into(),
        rows: 0,
        last_insert_id: None,
    }
}

/// `SET name = value` / `SET name TO value` -> (name, value), best effort.
fn parse_set(sql: &str) -> Option<(String, String)> {
    let rest = sql.trim().trim_end_matches(';').trim();
    let rest = rest.get(3..)?.trim_start();
    let rest = rest
        .strip_prefix("SESSION ")
        .or_else(|| rest.strip_prefix("session "))
        .unwrap_or(rest);
    let (name, value) = rest
        .split_once('=')
        .or_else(|| rest.split_once(" TO "))
        .or_else(|| rest.split_once(" to "))?;
    Some((
        name.trim().to_string(),
        value.trim().trim_matches('\'').to_string(),
    ))
}

impl ClusterSession {
    pub(crate) fn new(cluster: Arc<Cluster>, id: u64) -> Self {
        ClusterSession {
            cluster,
            id,
            conns: HashMap::new(),
            txn: None,
            copy: None,
            settings: Vec::new(),
        }
    }

    /// This session's id (logged with its writes).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// True inside an explicit transaction.
    pub fn in_transaction(&self) -> bool {
        self.txn.is_some()
    }

    pub(super) async fn conn(
        &mut self,
        backend: &Arc<dyn Backend>,
    ) -> Result<&mut Box<dyn Session>, BackendError> {
        let name = backend.name().to_string();
        if !self.conns.contains_key(&name) {
            let mut session = backend.open_session().await?;
            for (k, v) in &self.settings {
                session
                    .execute(&format!("SET {k} = '{}'", v.replace('\'', "''")), &[])
                    .await?;
            }
            self.conns.insert(name.clone(), session);
        }
        self.conns
            .get_mut(&name)
            .ok_or_else(|| BackendError::Config("session vanished".into()))
    }

    /// The backend a read-only request goes to: inside a transaction that wrote, the
    /// session's own first member (it sees the transaction's writes); else the next one.
    pub(super) fn one_backend(&self) -> Result<Arc<dyn Backend>, ClusterError> {
        match self.txn.as_ref().and_then(|t| t.members.first()) {
            Some(name) => self.cluster.backend(name),
            None => self.cluster.read_backend(),
        }
        .ok_or_else(|| ClusterError::NoActiveBackend("nothing to read from".into()))
    }

    /// The parameter types and result columns of `sql`, from one backend.
    pub async fn describe(&mut self, sql: &str) -> Result<Description, ClusterError> {
        let backend = self.one_backend()?;
        self.conn(&backend)
            .await?
            .describe(sql)
            .await
            .map_err(to_client)
    }

    fn backend(&self, name: &str) -> Option<Arc<dyn Backend>> {
        self.cluster.active().into_iter().find(|b| b.name() == name)
    }

    fn drop_detached(&mut self) {
        let cluster = self.cluster.clone();
        self.conns.retain(|name, _| cluster.is_active(name));
    }

    /// Runs one statement and returns the one normal answer.
    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<Outcome, ClusterError> {
        self.drop_detached();
        match self.cluster.classifier().classify(sql) {
            Kind::Begin => {
                if self.txn.is_none() {
                    self.txn = Some(Txn::default());
                }
                Ok(command("BEGIN"))
            }
            Kind::Commit => self.commit().await,
            Kind::Rollback => {
                self.rollback().await;
                Ok(command("ROLLBACK"))
            }
            Kind::Set => self.set(sql).await,
            Kind::Read if self.txn.as_ref().is_none_or(|t| t.members.is_empty()) => {
                self.read(sql, params).await
            }
            Kind::Read => {
                // Inside a transaction that wrote: read from one of its own connections.
                let name = self
                    .txn
                    .as_ref()
                    .and_then(|t| t.members.first().cloned())
                    .unwrap_or_default();
                let backend = self
                    .backend(&name)
                    .ok_or_else(|| ClusterError::NoActiveBackend(name.clone()))?;
                Ok(self
                    .conn(&backend)
                    .await?
                    .execute(sql, params)
                    .await
                    .map_err(to_client)?)
            }
            Kind::Write if super::outside_transaction(sql) && self.txn.is_none() => {
                self.write_alone(sql).await
            }
            Kind::Write => self.write(sql, params).await,
        }
    }

    async fn read(&mut self, sql: &str, params: &[Value]) -> Result<Outcome, ClusterError> {
        self.cluster
            .counters()
            .reads
            .fetch_add(1, Ordering::Relaxed);
        // Try each active backend in turn: a broken one is detached and the next answers.
        for _ in 0..self.cluster.active().len().max(1) {
            let (backend, _load) = self
                .cluster
                .read_backend_counted()
                .ok_or_else(|| ClusterError::NoActiveBackend("nothing to read from".into()))?;
            let result = match self.conn(&backend).await {
                Ok(conn) => conn.execute(sql, params).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if !e.is_db_error() => {
                    self.conns.remove(backend.name());
                    self.cluster
                        .detach(backend.name(), &format!("read failed: {e}"))?;
                }
                other => return other.map_err(to_client),
            }
        }
        Err(ClusterError::NoActiveBackend(
            "every backend failed the read".into(),
        ))
    }

    async fn set(&mut self, sql: &str) -> Result<Outcome, ClusterError> {
        let names: Vec<String> = self.conns.keys().cloned().collect();
        for name in names {
            if let Some(conn) = self.conns.get_mut(&name) {
                conn.execute(sql, &[]).await.map_err(to_client)?;
            }
        }
        if let Some((k, v)) = parse_set(sql) {
            self.settings
                .retain(|(name, _)| !name.eq_ignore_ascii_case(&k));
            self.settings.push((k, v));
        }
        Ok(command("SET"))
    }

    /// Logs the transaction's writes durably, then commits them everywhere with the marker.
    pub(super) async fn commit(&mut self) -> Result<Outcome, ClusterError> {
        let Some(mut txn) = self.txn.take() else {
            return Ok(command("COMMIT"));
        };
        if txn.aborted {
            self.txn = Some(txn);
            self.rollback().await;
            return Ok(command("ROLLBACK"));
        }
        if txn.writes.is_empty() {
            for conn in self.conns.values_mut() {
                let _ = conn.rollback().await;
            }
            return Ok(command("COMMIT"));
        }
        let record = Record::now(
            self.id,
            Payload::Write(WriteTxn {
                settings: super::pin_time::with_clock(
                    &self.settings,
                    self.cluster.kind(),
                    txn.time,
                ),
                statements: std::mem::take(&mut txn.writes),
            }),
        );
        let lsn: Lsn = match self
            .cluster
            .log()
            .append(std::slice::from_ref(&record))
            .await
        {
            Ok(range) => range.start,
            Err(e) => {
                // Not logged, so not acknowledged: undo it everywhere.
                self.txn = Some(txn);
                self.rollback().await;
                return Err(e.into());
            }
        };
        // Detached meanwhile (by another session's failure): it gets nothing more.
        let (live, gone): (Vec<String>, Vec<String>) = txn
            .members
            .iter()
            .cloned()
            .partition(|n| self.cluster.is_active(n));
        for name in gone {
            if let Some(mut conn) = self.conns.remove(&name) {
                let _ = conn.rollback().await;
            }
        }
        let committing = self
            .conns
            .iter_mut()
            .filter(|(name, _)| live.contains(name))
            .map(|(name, conn)| async move {
                let result = conn.commit(Some(lsn)).await;
                (name.clone(), result)
            });
        let committed: Vec<(String, Result<(), BackendError>)> =
            futures_util::future::join_all(committing).await;
        for name in &live {
            let failure = match committed.iter().find(|(n, _)| n == name) {
                Some((_, Ok(()))) => continue,
                Some((_, Err(e))) => e.to_string(),
                None => "no connection".to_string(),
            };
            // The write is logged: the backend is now behind and must catch up.
            self.conns.remove(name);
            self.cluster
                .detach(name, &format!("commit of LSN {lsn} failed: {failure}"))?;
        }
        drop(txn.turn.take());
        self.cluster
            .counters()
            .commits
            .fetch_add(1, Ordering::Relaxed);
        Ok(command("COMMIT"))
    }

    pub(super) async fn rollback(&mut self) {
        if let Some(txn) = self.txn.take() {
            for name in &txn.members {
                if let Some(conn) = self.conns.get_mut(name) {
                    let _ = conn.rollback().await;
                }
            }
        }
    }
}

impl Drop for ClusterSession {
    fn drop(&mut self) {
        self.cluster
            .counters()
            .open_sessions
            .fetch_sub(1, Ordering::Relaxed);
        // An open transaction is rolled back by each backend when its connection closes;
        // the write turn is released with the guard.
        if self.txn.as_ref().is_some_and(|t| t.turn.is_some()) {
            tracing::info!(
                session = self.id,
                "client left mid-transaction; rolled back everywhere"
            );
        }
    }
}

pub(super) fn to_client(e: BackendError) -> ClusterError {
    match e {
        BackendError::Db(db) => ClusterError::Db(db),
        other => ClusterError::Backend(other),
    }
}
