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
//! - `startup.rs`: what comes before pgwire: bounded startup packets, cancel requests,
//!   TCP keepalive.
//!
//! Users are `trust` users from the configuration. Each session gets its own cancel key
//! (BackendKeyData); a CancelRequest with it cancels the session's running statement on
//! every backend. A watch task ends a transaction whose client stays idle too long.

mod copy;
mod extended;
pub mod parameters;
mod portal;
mod response;
pub mod serve;
mod simple;
mod split;
pub mod startup;
mod types;

use async_trait::async_trait;
use futures_util::SinkExt;
use mdbd_engine::backend::Description;
use mdbd_engine::cluster::{Cluster, ClusterSession, TransactionState};
use pgwire::api::auth::{save_startup_parameters_to_metadata, StartupHandler};
use pgwire::api::{ClientInfo, PgWireConnectionState};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{Authentication, BackendKeyData, ParameterStatus};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::Arc;
use tokio::sync::Mutex;

/// One client connection.
pub struct Connection {
    session: Arc<Mutex<ClusterSession>>,
    users: Arc<HashSet<String>>,
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
    watch: tokio::task::JoinHandle<()>,
}

impl Connection {
    /// A handler for a new client of `cluster`; `users` are the `trust` users; its cancel
    /// key goes into `keys`.
    pub fn new(
        cluster: &Arc<Cluster>,
        users: Arc<HashSet<String>>,
        keys: &startup::CancelKeys,
        parameters: &parameters::ServerParameters,
    ) -> Arc<Self> {
        let session = cluster.session();
        let canceller = session.canceller();
        let key = keys.issue(canceller.clone());
        let session = Arc::new(Mutex::new(session));
        Arc::new(Connection {
            watch: mdbd_engine::cluster::spawn_watch(&session),
            session,
            users,
            described: std::sync::Mutex::new(HashMap::new()),
            suspended: portal::SuspendedPortals::default(),
            key,
            keys: keys.clone(),
            parameters: parameters.clone(),
            kind: cluster.kind(),
            logged_in: startup::LoggedIn::default(),
            canceller,
        })
    }
}

impl Connection {
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

#[async_trait]
impl StartupHandler for Connection {
    /// Checks the user **before** anything says the login succeeded, then sends what
    /// PostgreSQL sends: AuthenticationOk, ParameterStatus, this session's own
    /// BackendKeyData, ReadyForQuery.
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + futures_util::Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as futures_util::Sink<PgWireBackendMessage>>::Error>,
    {
        let PgWireFrontendMessage::Startup(ref startup) = message else {
            return Ok(());
        };
        save_startup_parameters_to_metadata(client, startup);
        let user = client.metadata().get("user").cloned().unwrap_or_default();
        if !self.users.contains(&user) {
            tracing::warn!(%user, "login refused");
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28000".into(),
                format!("no trust user {user:?} is configured"),
            ))));
        }
        client
            .feed(PgWireBackendMessage::Authentication(Authentication::Ok))
            .await?;
        let parameters = {
            let mut session = self.session.lock().await;
            self.parameters
                .for_client(&mut session, self.kind, client.metadata())
                .await
        };
        for (name, value) in parameters {
            client
                .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                    name, value,
                )))
                .await?;
        }
        client
            .feed(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(
                self.key.0, self.key.1,
            )))
            .await?;
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                TransactionStatus::Idle,
            )))
            .await?;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        self.logged_in.set();
        Ok(())
    }
}
