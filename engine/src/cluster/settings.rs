//! `SET` of a session variable: checked on one backend, applied on every connection the
//! session holds, remembered for the ones it opens later, and logged with its writes.

use super::session::{command, to_client};
use super::{ClusterError, ClusterSession};
use crate::backend::{Outcome, Session};
use crate::log::Sql;
use std::sync::atomic::Ordering;

/// `SET name = value` / `SET name TO value` -> (name, value), best effort.
pub(super) fn parse_set(sql: &str) -> Option<(String, String)> {
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
    /// A session setting: checked where the server checks it first (on one backend: the
    /// session's own connection, or one checked out for it), so an invalid value is this
    /// client's error and is never replayed on other connections; then applied on every
    /// connection the session holds and remembered for the ones it opens later.
    pub(super) async fn set(&mut self, sql: &[u8]) -> Result<Outcome, ClusterError> {
        let first = match self.conns.keys().next().cloned() {
            Some(name) => name,
            None => self.one_backend()?.name().to_string(),
        };
        let backend = self
            .cluster
            .backend(&first)
            .ok_or_else(|| ClusterError::NoActiveBackend(first.clone()))?;
        let checked = match self.conn(&backend).await {
            Ok(conn) => conn.execute_bytes(sql, &[]).await,
            Err(e) => Err(e),
        };
        if let Err(e) = checked {
            if e.is_db_error() {
                self.cluster
                    .counters()
                    .settings_refused
                    .fetch_add(1, Ordering::Relaxed);
            } else {
                self.conns.remove(&first);
            }
            return Err(to_client(e));
        }
        let names: Vec<String> = self
            .conns
            .keys()
            .filter(|n| **n != first)
            .cloned()
            .collect();
        for name in names {
            if let Some(conn) = self.conns.get_mut(&name) {
                if let Err(e) = conn.execute_bytes(sql, &[]).await {
                    // It passed on the first backend: a connection that cannot take it
                    // is dropped and opens again (with the setting) when needed.
                    tracing::warn!(backend = %name, error = %e, "a session setting failed on one connection");
                    self.conns.remove(&name);
                }
            }
        }
        // A setting is logged as text; one whose bytes are not UTF-8 stays on the
        // session's own connections instead of being logged with a guess.
        if let Some((k, v)) = std::str::from_utf8(sql).ok().and_then(parse_set) {
            // Logged as the server now holds it, not as the client spelled it (`TO
            // '$user', public`, quoted lists): that is the form replay takes back.
            let v = match self.conns.get_mut(&first) {
                Some(conn) => conn.setting(&k).await.ok().flatten().unwrap_or(v),
                None => v,
            };
            self.settings
                .retain(|(name, _)| !name.eq_ignore_ascii_case(&k));
            self.settings.push((k.clone(), v));
            self.set_statements
                .retain(|(name, _)| !name.eq_ignore_ascii_case(&k));
            self.set_statements.push((k, Sql::from(sql)));
        } else {
            self.pinned = true;
        }
        Ok(command("SET"))
    }
}
