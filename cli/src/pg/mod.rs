//! The PostgreSQL wire protocol front end (pgwire): one handler per client connection,
//! owning that client's cluster session.
//!
//! - `simple.rs`: the simple query protocol (several statements in one string included),
//!   `COPY ... TO STDOUT`, and the start of `COPY ... FROM STDIN`;
//! - `copy.rs`: copy-in mode (the COPY data);
//! - `extended.rs`: Parse / Bind / Describe / Execute;
//! - `types.rs`: wire types, value encoding, parameter decoding;
//! - `response.rs`: cluster outcomes and errors (SQLSTATE verbatim) as wire responses;
//! - `split.rs`: splitting a query string into statements;
//! - `portal.rs`: Execute's row limit (PortalSuspended);
//! - `parameters.rs`: the backends' own server parameters, reported at login;
//! - `serve.rs`: the message loop (framing, Terminate, FATAL errors, errors until Sync).
//!
//! - `startup.rs`: what comes before the startup packet: its size bounded, cancel
//!   requests, SSLRequest (TLS) and GSSENCRequest answered, TCP keepalive.
//!
//! - `login.rs`: the login after the startup packet (SCRAM-SHA-256[-PLUS], md5, trust;
//!   the database name; refusals as PostgreSQL gives them).
//!
//! Each session gets its own cancel key
//! (BackendKeyData); a CancelRequest with it cancels the session's running statement on
//! every backend. A watch task ends a transaction whose client stays idle too long.

mod copy;
mod extended;
pub mod login;
pub mod parameters;
mod portal;
mod response;
pub mod serve;
mod simple;
mod split;
pub mod startup;
mod types;

use mdbd_engine::backend::Description;
use mdbd_engine::cluster::{Cluster, ClusterSession, TransactionState};
use pgwire::messages::response::TransactionStatus;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// One client connection.
pub struct Connection {
    session: Arc<Mutex<ClusterSession>>,
    /// Rows of portals executed with a row limit, not yet sent (see `portal.rs`).
    suspended: portal::SuspendedPortals,
    /// Statement descriptions given to this client (see `extended.rs`).
    described: std::sync::Mutex<HashMap<String, Description>>,
    /// The cancel key given to this client, and the registry it is in.
    key: (i32, i32),
    keys: startup::CancelKeys,
    /// What the client is told about the server at login.
    parameters: parameters::ServerParameters,
    kind: mdbd_engine::snapshot::BackendKind,
    /// Set when the login is complete.
    pub logged_in: startup::LoggedIn,
    /// Cancels the session's work when its client hangs up.
    pub canceller: mdbd_engine::cluster::SessionCanceller,
    /// Woken when a notification (LISTEN/NOTIFY) for the client arrives.
    notified: Arc<tokio::sync::Notify>,
    watch: tokio::task::JoinHandle<()>,
}

impl Connection {
    /// A handler for a new client of `cluster`; its cancel key goes into `keys`.
    pub fn new(
        cluster: &Arc<Cluster>,
        keys: &startup::CancelKeys,
        parameters: &parameters::ServerParameters,
    ) -> Arc<Self> {
        let session = cluster.session();
        let canceller = session.canceller();
        let notified = session.notification_signal();
        let key = keys.issue(canceller.clone());
        let session = Arc::new(Mutex::new(session));
        Arc::new(Connection {
            watch: mdbd_engine::cluster::spawn_watch(&session),
            session,
            described: std::sync::Mutex::new(HashMap::new()),
            suspended: portal::SuspendedPortals::default(),
            key,
            keys: keys.clone(),
            parameters: parameters.clone(),
            kind: cluster.kind(),
            logged_in: startup::LoggedIn::default(),
            canceller,
            notified,
        })
    }
}

impl Connection {
    /// Whether the cluster's backends are PostgreSQL (their types reach clients as theirs).
    pub fn postgres(&self) -> bool {
        self.kind == mdbd_engine::snapshot::BackendKind::Postgres
    }

    /// Ends the client's session when the connection is over (see
    /// [`ClusterSession::end`]).
    pub async fn end(&self) {
        self.session.lock().await.end().await;
    }

    /// The session's transaction state as ReadyForQuery reports it: the session's own
    /// view, so a failed statement, a savepoint rollback, a COMMIT that rolled back or a
    /// transaction ended by a timeout are all reported as they are.
    pub async fn transaction_status(&self) -> TransactionStatus {
        match self.session.lock().await.transaction_state() {
            TransactionState::Idle => TransactionStatus::Idle,
            TransactionState::Failed => TransactionStatus::Error,
            _ => TransactionStatus::Transaction,
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.keys.remove(self.key);
        self.watch.abort();
    }
}
