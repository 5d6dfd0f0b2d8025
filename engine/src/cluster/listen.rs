//! `LISTEN` / `UNLISTEN` and the notifications they bring (PostgreSQL).
//!
//! A session listens on one backend only, its *listening* backend (chosen as a read's
//! would be, then kept): `NOTIFY` and `pg_notify` are writes, so every backend notifies
//! its own listeners, and a client listening on one backend hears each notification once.
//! `LISTEN` is not logged (it changes no data) and pins the session to its connections
//! (`pins_session`), since the listening lives on the connection. Notifications arrive
//! while the client is idle: the backend session wakes the session's
//! [`notification_signal`](ClusterSession::notification_signal), which the front end
//! waits on between requests, and [`take_notifications`](ClusterSession::
//! take_notifications) gives them. When the listening backend leaves the cluster its
//! connection goes, and with it the listening: the session says so in the log.

use super::session::to_client;
use super::write::aborted;
use super::{ClusterError, ClusterSession};
use crate::backend::{Notification, Outcome, Session};
use std::sync::Arc;
use tokio::sync::Notify;

impl ClusterSession {
    /// Runs `LISTEN` / `UNLISTEN` on the session's listening backend.
    pub(super) async fn listen(&mut self, sql: &[u8]) -> Result<Outcome, ClusterError> {
        if self.txn.as_ref().is_some_and(|t| t.aborted) {
            return Err(aborted());
        }
        let backend = match self
            .listening
            .as_deref()
            .and_then(|name| self.backend(name))
        {
            Some(backend) => backend,
            None => self.one_backend()?,
        };
        let wake = self.wake.clone();
        let conn = self.conn(&backend).await.map_err(to_client)?;
        let result = conn.execute_bytes(sql, &[]).await;
        conn.wake_on_notification(Some(wake));
        match result {
            Ok(outcome) => {
                self.listening = Some(backend.name().to_string());
                Ok(outcome)
            }
            Err(e) => {
                if e.is_db_error() && self.error_aborts_transaction() {
                    if let Some(txn) = self.txn.as_mut() {
                        txn.aborted = true;
                    }
                }
                Err(to_client(e))
            }
        }
    }

    /// Woken when a notification for this session arrives (see the module's docs).
    pub fn notification_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The notifications received since the last call, oldest first.
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        match self.listening.as_ref().and_then(|n| self.conns.get_mut(n)) {
            Some(conn) => conn.take_notifications(),
            None => Vec::new(),
        }
    }
}
