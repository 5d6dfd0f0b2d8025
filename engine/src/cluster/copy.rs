//! COPY through the cluster. `COPY ... FROM STDIN` is a write: it takes the write turn,
//! its data goes to every backend piece by piece as the client sends it (never collected
//! before the backends see it), and the whole data is logged with the statement at
//! commit. `COPY ... TO STDOUT` is a read, streamed from one backend.

use super::session::{command, Txn};
use super::write::on_members;
use super::{ClusterError, ClusterSession, Verdict};
use crate::backend::Session;
use crate::backend::{BackendError, CopyOut, Outcome};
use crate::log::Statement;
use bytes::Bytes;
use std::sync::atomic::Ordering;

/// A `COPY ... FROM STDIN` in progress.
pub(crate) struct CopyIn {
    sql: String,
    autocommit: bool,
    txn: Txn,
    /// Everything sent so far, for the log record.
    data: Vec<u8>,
    /// Members whose COPY already failed, with the error they will vote with.
    failed: Vec<(String, BackendError)>,
}

impl CopyIn {
    /// The transaction's members whose COPY has not failed.
    fn healthy_members(&self) -> Vec<String> {
        self.txn
            .members
            .iter()
            .filter(|m| !self.failed.iter().any(|(n, _)| n == *m))
            .cloned()
            .collect()
    }
}

fn no_copy() -> ClusterError {
    ClusterError::State("no COPY FROM STDIN is in progress".into())
}

impl ClusterSession {
    /// True while a `COPY ... FROM STDIN` waits for its data.
    pub fn copy_in_progress(&self) -> bool {
        self.copy.is_some()
    }

    /// Starts `COPY ... FROM STDIN` on every active backend.
    pub async fn copy_in_start(&mut self, sql: &str) -> Result<(), ClusterError> {
        // Cancellable until the session's next request ends (see `SessionCanceller`).
        self.request_starts().await;
        let autocommit = self.txn.is_none();
        let mut txn = self.begin_write(sql.as_bytes(), &[]).await?;
        let members = txn.members.clone();
        let results = on_members!(self.conns, &members, |conn| conn.copy_start(sql));
        let results: Vec<(String, Verdict)> = results
            .into_iter()
            .map(|(name, r)| (name, r.map(|()| command("COPY"))))
            .collect();
        match self.settle(&mut txn, results).await {
            Ok(Ok(_)) => {
                self.copy = Some(CopyIn {
                    sql: sql.into(),
                    autocommit,
                    txn,
                    data: Vec::new(),
                    failed: Vec::new(),
                });
                Ok(())
            }
            verdict => {
                let unused = Statement::new(sql);
                self.conclude(txn, autocommit, unused, verdict)
                    .await
                    .map(|_| ())
            }
        }
    }

    /// Passes the next piece of data to every backend.
    pub async fn copy_in_data(&mut self, data: Bytes) -> Result<(), ClusterError> {
        let copy = self.copy.as_mut().ok_or_else(no_copy)?;
        copy.data.extend_from_slice(&data);
        let members = copy.healthy_members();
        let data = &data;
        let results = on_members!(self.conns, &members, |conn| conn.copy_data(data.clone()));
        for (name, result) in results {
            if let Err(e) = result {
                copy.failed.push((name, e));
            }
        }
        Ok(())
    }

    /// Ends the COPY everywhere, compares the row counts, and (in autocommit) commits it.
    pub async fn copy_in_finish(&mut self) -> Result<Outcome, ClusterError> {
        let mut copy = self.copy.take().ok_or_else(no_copy)?;
        let members = copy.healthy_members();
        let finished = on_members!(self.conns, &members, |conn| conn.copy_finish());
        let mut results: Vec<(String, Verdict)> = finished
            .into_iter()
            .map(|(name, r)| {
                let outcome = r.map(|rows| Outcome::Command {
                    tag: format!("COPY {rows}"),
                    rows,
                    last_insert_id: None,
                });
                (name, outcome)
            })
            .collect();
        results.extend(copy.failed.drain(..).map(|(n, e)| (n, Err(e))));
        let order = copy.txn.members.clone();
        results.sort_by_key(|(n, _)| order.iter().position(|m| m == n));
        self.cluster
            .counters()
            .copy_bytes
            .fetch_add(copy.data.len() as u64, Ordering::Relaxed);
        let verdict = self.settle(&mut copy.txn, results).await;
        let mut statement = Statement::new(copy.sql.clone());
        statement.copy_data = Some(copy.data);
        self.conclude(copy.txn, copy.autocommit, statement, verdict)
            .await
    }

    /// The client abandoned the COPY: it fails everywhere, like on PostgreSQL (the
    /// transaction it was part of can only be rolled back).
    pub async fn copy_in_fail(&mut self) {
        if let Some(mut copy) = self.copy.take() {
            copy.txn.aborted = true;
            self.txn = Some(copy.txn);
            // Rolling back drops each backend's COPY; ROLLBACK from the client ends it.
            let names: Vec<String> = self.conns.keys().cloned().collect();
            for name in names {
                if let Some(conn) = self.conns.get_mut(&name) {
                    let _ = conn.rollback().await;
                }
            }
            if copy.autocommit {
                self.rollback().await;
            }
        }
    }

    /// Runs `COPY ... TO STDOUT` on one backend (inside a transaction that wrote: on the
    /// session's own connection) and streams its data.
    pub async fn copy_out(&mut self, sql: &str) -> Result<CopyOut<'_>, ClusterError> {
        self.request_starts().await;
        self.cluster
            .counters()
            .reads
            .fetch_add(1, Ordering::Relaxed);
        let backend = self.one_backend()?;
        let conn = self.conn(&backend).await?;
        conn.copy_out(sql).await.map_err(super::session::to_client)
    }
}
