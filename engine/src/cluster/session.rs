//! A client session on the cluster: routing, the transaction and the write turn.

use super::{vote, Cluster, ClusterError, Kind, Verdict};
use crate::backend::{Backend, BackendError, Outcome, Session};
use crate::log::{Lsn, Payload, Record, Statement, Value, WriteTxn};
use crate::snapshot::BackendKind;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::OwnedMutexGuard;

/// An open transaction of a session.
#[derive(Default)]
struct Txn {
    /// Held from the first write to COMMIT/ROLLBACK.
    turn: Option<OwnedMutexGuard<()>>,
    /// Backends with an open transaction for this session, in configuration order.
    members: Vec<String>,
    /// Statements to log at COMMIT.
    writes: Vec<Statement>,
    /// A statement failed in a PostgreSQL transaction: only ROLLBACK is possible now.
    aborted: bool,
}

/// One client connection's view of the cluster.
pub struct ClusterSession {
    cluster: Arc<Cluster>,
    id: u64,
    conns: HashMap<String, Box<dyn Session>>,
    txn: Option<Txn>,
    /// `SET` statements of this session, logged with every write so replay reproduces it.
    settings: Vec<(String, String)>,
}

fn command(tag: &str) -> Outcome {
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

    async fn conn(
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
            let backend = self
                .cluster
                .read_backend()
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

    /// Runs a write on every active backend (inside this session's transaction on each).
    async fn write(&mut self, sql: &str, params: &[Value]) -> Result<Outcome, ClusterError> {
        let autocommit = self.txn.is_none();
        let mut txn = self.txn.take().unwrap_or_default();
        if txn.aborted {
            self.txn = Some(txn);
            return Err(ClusterError::State(
                "current transaction is aborted, commands ignored until end of transaction block"
                    .into(),
            ));
        }
        self.cluster
            .counters()
            .writes
            .fetch_add(1, Ordering::Relaxed);
        if txn.turn.is_none() {
            let waited = std::time::Instant::now();
            txn.turn = Some(self.cluster.turn().lock_owned().await);
            self.cluster
                .counters()
                .turn_wait_micros
                .fetch_add(waited.elapsed().as_micros() as u64, Ordering::Relaxed);
            for backend in self.cluster.active() {
                let begun = match self.conn(&backend).await {
                    Ok(conn) => conn.begin().await,
                    Err(e) => Err(e),
                };
                match begun {
                    Ok(()) => txn.members.push(backend.name().into()),
                    Err(e) => {
                        self.conns.remove(backend.name());
                        self.cluster
                            .detach(backend.name(), &format!("could not begin: {e}"))?;
                    }
                }
            }
            if txn.members.is_empty() {
                return Err(ClusterError::NoActiveBackend(
                    "no backend could begin the write".into(),
                ));
            }
        }
        // Every backend runs the statement at the same time; the vote needs them all.
        let members = txn.members.clone();
        let running = self
            .conns
            .iter_mut()
            .filter(|(name, _)| members.contains(name))
            .map(|(name, conn)| async move {
                let result = conn.execute(sql, params).await;
                (name.clone(), result)
            });
        let mut results: Vec<(String, Verdict)> = futures_util::future::join_all(running).await;
        for name in &members {
            if !results.iter().any(|(n, _)| n == name) {
                results.push((
                    name.clone(),
                    Err(BackendError::Connection {
                        backend: name.clone(),
                        reason: "no connection".into(),
                    }),
                ));
            }
        }
        // Configuration order: with no majority, the first configured backend's side wins.
        results.sort_by_key(|(n, _)| members.iter().position(|m| m == n));
        let (winner, dissent) = vote(&results);
        for (name, reason) in &dissent {
            if let Some(mut conn) = self.conns.remove(name) {
                let _ = conn.rollback().await;
            }
            txn.members.retain(|m| m != name);
            self.cluster.detach(name, reason)?;
        }
        let Some(w) = winner else {
            self.txn = Some(txn);
            self.rollback().await;
            return Err(ClusterError::NoActiveBackend(
                "every backend failed the write".into(),
            ));
        };
        match results.swap_remove(w).1 {
            Ok(outcome) => {
                txn.writes.push(Statement {
                    sql: sql.into(),
                    params: params.to_vec(),
                    copy_data: None,
                });
                self.txn = Some(txn);
                if autocommit {
                    self.commit().await?;
                }
                Ok(outcome)
            }
            Err(e) => {
                // Every voter agreed on this error. PostgreSQL aborts the transaction;
                // the others undo the statement alone.
                let postgres = self
                    .cluster
                    .active()
                    .first()
                    .is_some_and(|b| b.kind() == BackendKind::Postgres);
                txn.aborted = postgres;
                self.txn = Some(txn);
                if autocommit {
                    self.rollback().await;
                }
                Err(to_client(e))
            }
        }
    }

    /// Logs the transaction's writes durably, then commits them everywhere with the marker.
    async fn commit(&mut self) -> Result<Outcome, ClusterError> {
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
                settings: self.settings.clone(),
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

    async fn rollback(&mut self) {
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

fn to_client(e: BackendError) -> ClusterError {
    match e {
        BackendError::Db(db) => ClusterError::Db(db),
        other => ClusterError::Backend(other),
    }
}
