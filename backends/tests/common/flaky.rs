//! A SQLite backend that can be made to fail like an unreachable server, for tests of
//! what the cluster does when a backend breaks.
#![allow(dead_code)]

use async_trait::async_trait;
use mdbd_backends::sqlite::SqliteBackend;
use mdbd_engine::backend::{
    Backend, BackendError, Description, Outcome, Session, SnapshotInfo, TableChecksum,
};
use mdbd_engine::log::{Lsn, Value, WriteTxn};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// A backend that starts failing with connection errors when `broken` is set.
pub struct Flaky {
    pub inner: SqliteBackend,
    broken: Arc<AtomicBool>,
    /// Everything fails, snapshot, restore and replay included: a dead server.
    pub dead: Arc<AtomicBool>,
}

impl Flaky {
    pub fn new(inner: SqliteBackend, broken: Arc<AtomicBool>) -> Self {
        Flaky {
            inner,
            broken,
            dead: Arc::new(AtomicBool::new(false)),
        }
    }

    fn check_alive(&self) -> Result<(), BackendError> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(down(self.name()));
        }
        Ok(())
    }
}

struct FlakySession {
    inner: Box<dyn Session>,
    broken: Arc<AtomicBool>,
    name: String,
}

pub fn down(name: &str) -> BackendError {
    BackendError::Connection {
        backend: name.into(),
        reason: "connection reset by peer".into(),
    }
}

#[async_trait]
impl Session for FlakySession {
    async fn execute_bytes(
        &mut self,
        sql: &[u8],
        params: &[Value],
    ) -> Result<Outcome, BackendError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(down(&self.name));
        }
        self.inner.execute_bytes(sql, params).await
    }
    async fn begin(&mut self) -> Result<(), BackendError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(down(&self.name));
        }
        self.inner.begin().await
    }
    async fn commit(&mut self, marker: Option<Lsn>) -> Result<(), BackendError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(down(&self.name));
        }
        self.inner.commit(marker).await
    }
    async fn rollback(&mut self) -> Result<(), BackendError> {
        self.inner.rollback().await
    }
    async fn describe(&mut self, sql: &str) -> Result<Description, BackendError> {
        self.inner.describe(sql).await
    }
}

#[async_trait]
impl Backend for Flaky {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn dialect(&self) -> &'static dyn mdbd_engine::backend::Dialect {
        self.inner.dialect()
    }
    fn snapshot_content_type(&self) -> &'static str {
        self.inner.snapshot_content_type()
    }
    async fn open_session(&self) -> Result<Box<dyn Session>, BackendError> {
        if self.broken.load(Ordering::SeqCst) || self.dead.load(Ordering::SeqCst) {
            return Err(down(self.name()));
        }
        Ok(Box::new(FlakySession {
            inner: self.inner.open_session().await?,
            broken: self.broken.clone(),
            name: self.name().into(),
        }))
    }
    async fn health(&self) -> Result<(), BackendError> {
        self.check_alive()?;
        self.inner.health().await
    }
    async fn ensure_marker(&self) -> Result<(), BackendError> {
        self.inner.ensure_marker().await
    }
    async fn applied_lsn(&self) -> Result<Lsn, BackendError> {
        self.check_alive()?;
        self.inner.applied_lsn().await
    }
    async fn apply(&self, lsn: Lsn, txn: &WriteTxn) -> Result<bool, BackendError> {
        self.check_alive()?;
        self.inner.apply(lsn, txn).await
    }
    async fn snapshot(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> Result<SnapshotInfo, BackendError> {
        self.check_alive()?;
        self.inner.snapshot(out).await
    }
    async fn restore(
        &self,
        content_type: &str,
        input: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<(), BackendError> {
        self.check_alive()?;
        self.inner.restore(content_type, input).await
    }
    async fn reset(&self) -> Result<(), BackendError> {
        self.check_alive()?;
        self.inner.reset().await
    }
    async fn checksums(&self) -> Result<Vec<TableChecksum>, BackendError> {
        self.inner.checksums().await
    }
}
