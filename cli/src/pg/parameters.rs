//! The ParameterStatus messages a client gets at login: the backends' own values, so that
//! a client sees the server it would see directly. `psql` picks its catalog queries by
//! `server_version` (a made-up version makes `\d` ask a PostgreSQL 15 server for columns
//! it lacks); drivers escape strings by `standard_conforming_strings` and parse dates by
//! `DateStyle`.
//!
//! The server-wide values are read once from a backend (on PostgreSQL clusters) and kept;
//! the per-session ones (`application_name`, `session_authorization`, `client_encoding`)
//! come from the client's startup packet, as the server would echo them. On other engines
//! the values are PostgreSQL's defaults, with a version that says what serves them.

use mdbd_engine::backend::Outcome;
use mdbd_engine::cluster::ClusterSession;
use mdbd_engine::log::Value;
use mdbd_engine::snapshot::BackendKind;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Server-wide settings reported at login, in the order PostgreSQL sends them.
const SERVER_WIDE: [&str; 8] = [
    "server_version",
    "server_encoding",
    "DateStyle",
    "IntervalStyle",
    "TimeZone",
    "integer_datetimes",
    "standard_conforming_strings",
    "is_superuser",
];

/// The values of [`SERVER_WIDE`] for engines that have none of their own.
fn defaults() -> Vec<(String, String)> {
    let values = [
        concat!("15.0 (mdbd ", env!("CARGO_PKG_VERSION"), ")"),
        "UTF8",
        "ISO, MDY",
        "postgres",
        "UTC",
        "on",
        "on",
        "off",
    ];
    SERVER_WIDE
        .iter()
        .zip(values)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The server-wide values, read once per daemon and shared by every connection.
#[derive(Clone, Default)]
pub struct ServerParameters(Arc<OnceCell<Vec<(String, String)>>>);

impl ServerParameters {
    /// Every ParameterStatus for a client that logged in with `startup` parameters.
    pub async fn for_client(
        &self,
        session: &mut ClusterSession,
        kind: BackendKind,
        startup: &HashMap<String, String>,
    ) -> Vec<(String, String)> {
        let mut out = match self.server_wide(session, kind).await {
            Some(values) => values,
            None => defaults(),
        };
        let user = startup.get("user").cloned().unwrap_or_default();
        // The backends' connections are UTF8; that is what the client will get.
        out.push(("client_encoding".into(), "UTF8".into()));
        out.push((
            "application_name".into(),
            startup.get("application_name").cloned().unwrap_or_default(),
        ));
        out.push(("session_authorization".into(), user));
        out.push(("default_transaction_read_only".into(), "off".into()));
        out.push(("in_hot_standby".into(), "off".into()));
        out
    }

    /// Read from a backend the first time it can be; `None` (the defaults, not kept)
    /// when it cannot be now or the engine is not PostgreSQL.
    async fn server_wide(
        &self,
        session: &mut ClusterSession,
        kind: BackendKind,
    ) -> Option<Vec<(String, String)>> {
        if kind != BackendKind::Postgres {
            return None;
        }
        if let Some(values) = self.0.get() {
            return Some(values.clone());
        }
        let sql = format!(
            "SELECT {}",
            SERVER_WIDE
                .iter()
                .map(|k| format!("current_setting('{k}')"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let row = match session.execute(&sql, &[]).await {
            Ok(Outcome::Rows(rs)) => rs.rows.into_iter().next()?,
            Ok(_) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the server's parameters; defaults sent");
                return None;
            }
        };
        let values: Vec<(String, String)> = SERVER_WIDE
            .iter()
            .zip(row)
            .filter_map(|(k, v)| match v {
                Value::Text(t) => Some((k.to_string(), t)),
                _ => None,
            })
            .collect();
        if values.len() != SERVER_WIDE.len() {
            return None;
        }
        let _ = self.0.set(values.clone());
        Some(values)
    }
}
