//! The PostgreSQL wire protocol front end (pgwire): one handler per client connection,
//! owning that client's cluster session.
//!
//! - `simple.rs`: the simple query protocol (several statements in one string included),
//!   `COPY ... TO STDOUT`, and the start of `COPY ... FROM STDIN`;
//! - `copy.rs`: copy-in mode (the COPY data);
//! - `extended.rs`: Parse / Bind / Describe / Execute;
//! - `types.rs`: wire types, value encoding, parameter decoding;
//! - `response.rs`: cluster outcomes and errors (SQLSTATE verbatim) as wire responses;
//! - `split.rs`: splitting a query string into statements.
//!
//! Users are `trust` users from the configuration; cancel requests are not supported.

mod copy;
mod extended;
mod response;
mod simple;
mod split;
mod types;

use async_trait::async_trait;
use mdbd_engine::backend::Description;
use mdbd_engine::cluster::{Cluster, ClusterSession};
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::{ClientInfo, NoopErrorHandler, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::Arc;
use tokio::sync::Mutex;

/// One client connection.
pub struct Connection {
    session: Mutex<ClusterSession>,
    users: Arc<HashSet<String>>,
    /// Statement descriptions given to this client (see `extended.rs`).
    described: std::sync::Mutex<HashMap<String, Description>>,
}

impl Connection {
    /// A handler for a new client of `cluster`; `users` are the `trust` users.
    pub fn new(cluster: &Arc<Cluster>, users: Arc<HashSet<String>>) -> Arc<Self> {
        Arc::new(Connection {
            session: Mutex::new(cluster.session()),
            users,
            described: std::sync::Mutex::new(HashMap::new()),
        })
    }
}

#[async_trait]
impl NoopStartupHandler for Connection {
    async fn post_startup<C>(
        &self,
        client: &mut C,
        _message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + futures_util::Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as futures_util::Sink<PgWireBackendMessage>>::Error>,
    {
        let user = client.metadata().get("user").cloned().unwrap_or_default();
        if self.users.contains(&user) {
            return Ok(());
        }
        tracing::warn!(%user, "login refused");
        Err(PgWireError::UserError(Box::new(ErrorInfo::new(
            "FATAL".into(),
            "28000".into(),
            format!("no trust user {user:?} is configured"),
        ))))
    }
}

/// The handlers pgwire asks for, all this connection.
pub struct Handlers(pub Arc<Connection>);

impl PgWireServerHandlers for Handlers {
    type StartupHandler = Connection;
    type SimpleQueryHandler = Connection;
    type ExtendedQueryHandler = Connection;
    type CopyHandler = Connection;
    type ErrorHandler = NoopErrorHandler;

    fn simple_query_handler(&self) -> Arc<Self::SimpleQueryHandler> {
        self.0.clone()
    }

    fn extended_query_handler(&self) -> Arc<Self::ExtendedQueryHandler> {
        self.0.clone()
    }

    fn startup_handler(&self) -> Arc<Self::StartupHandler> {
        self.0.clone()
    }

    fn copy_handler(&self) -> Arc<Self::CopyHandler> {
        self.0.clone()
    }

    fn error_handler(&self) -> Arc<Self::ErrorHandler> {
        Arc::new(NoopErrorHandler)
    }
}
