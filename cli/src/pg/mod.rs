//! The PostgreSQL wire protocol front end (pgwire): one handler per client connection,
//! owning that client's cluster session.
//!
//! Today: the simple query protocol (several statements in one string included), errors
//! with the backend's SQLSTATE, transaction status in ReadyForQuery, `trust` users. The
//! extended protocol (Parse/Bind/Execute), SCRAM, COPY and cancel are issue #4's remaining
//! work: a client that sends Parse gets an error, not a wrong answer.

mod response;
mod split;

use async_trait::async_trait;
use mdbd_engine::cluster::{Cluster, ClusterSession};
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::copy::NoopCopyHandler;
use pgwire::api::query::{PlaceholderExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::Response;
use pgwire::api::{ClientInfo, NoopErrorHandler, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::Arc;
use tokio::sync::Mutex;

/// One client connection.
pub struct Connection {
    session: Mutex<ClusterSession>,
    users: Arc<HashSet<String>>,
}

impl Connection {
    /// A handler for a new client of `cluster`; `users` are the `trust` users.
    pub fn new(cluster: &Arc<Cluster>, users: Arc<HashSet<String>>) -> Arc<Self> {
        Arc::new(Connection {
            session: Mutex::new(cluster.session()),
            users,
        })
    }
}

#[async_trait]
impl SimpleQueryHandler for Connection {
    async fn do_query<'a, C>(&self, _client: &mut C, query: &str) -> PgWireResult<Vec<Response<'a>>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut session = self.session.lock().await;
        let mut out = Vec::new();
        for statement in split::statements(query) {
            let response = response::outcome(session.execute(statement, &[]).await)?;
            let failed = matches!(response, Response::Error(_));
            out.push(response);
            // PostgreSQL stops a multi-statement string at its first error.
            if failed {
                break;
            }
        }
        Ok(out)
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
    type ExtendedQueryHandler = PlaceholderExtendedQueryHandler;
    type CopyHandler = NoopCopyHandler;
    type ErrorHandler = NoopErrorHandler;

    fn simple_query_handler(&self) -> Arc<Self::SimpleQueryHandler> {
        self.0.clone()
    }

    fn extended_query_handler(&self) -> Arc<Self::ExtendedQueryHandler> {
        Arc::new(PlaceholderExtendedQueryHandler)
    }

    fn startup_handler(&self) -> Arc<Self::StartupHandler> {
        self.0.clone()
    }

    fn copy_handler(&self) -> Arc<Self::CopyHandler> {
        Arc::new(NoopCopyHandler)
    }

    fn error_handler(&self) -> Arc<Self::ErrorHandler> {
        Arc::new(NoopErrorHandler)
    }
}
