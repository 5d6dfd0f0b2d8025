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
//! take_notifications) gives them.
//!
//! The session remembers its channels. When its listening backend leaves the cluster or
//! its connection breaks (both wake the signal too), it listens to them again on another
//! backend, so the client goes on hearing what is notified from then on; what was
//! notified in between is lost, as it is for a PostgreSQL client whose server restarts.

use super::session::to_client;
use super::sql_cursor::identifier;
use super::{ClusterError, ClusterSession};
use crate::backend::{Notification, Outcome, Session};
use std::sync::Arc;
use tokio::sync::Notify;

/// What a `LISTEN` / `UNLISTEN` does to the session's channels.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    Listen(String),
    Unlisten(String),
    UnlistenAll,
}

fn change(sql: &str) -> Option<Change> {
    let body = crate::backend::strip_leading_comments(sql);
    let (verb, rest) = identifier(body)?;
    let rest = rest.trim_start();
    match verb.as_str() {
        "listen" => Some(Change::Listen(identifier(rest)?.0)),
        "unlisten" if rest.starts_with('*') => Some(Change::UnlistenAll),
        "unlisten" => Some(Change::Unlisten(identifier(rest)?.0)),
        _ => None,
    }
}

/// `LISTEN "channel"`, quoted as the channel is spelled.
fn listen_statement(channel: &str) -> String {
    format!("LISTEN \"{}\"", channel.replace('"', "\"\""))
}

impl ClusterSession {
    /// Runs `LISTEN` / `UNLISTEN` on the session's listening backend.
    pub(super) async fn listen(&mut self, sql: &[u8], text: &str) -> Result<Outcome, ClusterError> {
        self.refuse_if_aborted()?;
        self.keep_listening().await;
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
                self.listening_on(backend.name());
                match change(text) {
                    Some(Change::Listen(c)) if !self.channels.contains(&c) => self.channels.push(c),
                    Some(Change::Unlisten(c)) => self.channels.retain(|x| *x != c),
                    Some(Change::UnlistenAll) => self.channels.clear(),
                    _ => {}
                }
                Ok(outcome)
            }
            Err(e) => Err(self.failed_read(backend.name(), e)),
        }
    }

    fn listening_on(&mut self, name: &str) {
        if self.listening.as_deref() != Some(name) {
            if let Some(pool) = self.cluster.pool(name) {
                pool.wake_when_retired(&self.wake);
            }
            self.listening = Some(name.to_string());
        }
    }

    /// Woken when a notification for this session arrives, or its listening backend goes
    /// (see the module's docs).
    pub fn notification_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The notifications received since the last call, oldest first. Moves the session's
    /// listening to another backend when its own is gone.
    pub async fn take_notifications(&mut self) -> Vec<Notification> {
        let taken = match self.listening.as_ref().and_then(|n| self.conns.get_mut(n)) {
            Some(conn) => conn.take_notifications(),
            None => Vec::new(),
        };
        self.keep_listening().await;
        taken
    }

    /// Listens to the session's channels on another backend when its listening one has
    /// left the cluster or its connection broke.
    pub(super) async fn keep_listening(&mut self) {
        let Some(old) = self.listening.clone() else {
            return;
        };
        let healthy =
            self.cluster.is_active(&old) && self.conns.get(&old).is_some_and(|c| !c.is_closed());
        if healthy {
            return;
        }
        self.conns.remove(&old);
        self.listening = None;
        if self.channels.is_empty() {
            return;
        }
        let wake = self.wake.clone();
        let channels = self.channels.clone();
        for backend in self.cluster.active() {
            if backend.name() == old {
                continue;
            }
            let Ok(conn) = self.conn(&backend).await else {
                continue;
            };
            let mut listened = true;
            for channel in &channels {
                listened &= conn.execute(&listen_statement(channel), &[]).await.is_ok();
            }
            if !listened {
                continue;
            }
            conn.wake_on_notification(Some(wake));
            tracing::info!(session = self.id(), from = %old, to = backend.name(), channels = channels.len(), "the listening backend is gone; listening on another");
            self.listening_on(backend.name());
            return;
        }
        tracing::warn!(session = self.id(), backend = %old, "the listening backend is gone and no other took the session's LISTENs");
    }
}

#[cfg(test)]
mod tests {
    use super::{change, listen_statement, Change};

    #[test]
    fn listen_and_unlisten_change_the_channels() {
        assert_eq!(change("LISTEN Jobs"), Some(Change::Listen("jobs".into())));
        assert_eq!(
            change("listen \"Mixed Case\";"),
            Some(Change::Listen("Mixed Case".into()))
        );
        assert_eq!(
            change("UNLISTEN jobs"),
            Some(Change::Unlisten("jobs".into()))
        );
        assert_eq!(change("unlisten *"), Some(Change::UnlistenAll));
        assert_eq!(change("SELECT 1"), None);
        assert_eq!(listen_statement("a\"b"), "LISTEN \"a\"\"b\"");
    }
}
