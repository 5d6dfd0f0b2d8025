//! Execute with a row limit: a portal's rows are sent `max_rows` at a time, each batch
//! ended by PortalSuspended, the last by CommandComplete, as PostgreSQL does (asyncpg's
//! `cursor.fetch(n)`, pg-cursor, pgjdbc's `setFetchSize` read a result in pages so).
//!
//! The statement runs once, at the portal's first Execute; the rows not yet sent wait
//! here, in mdbd's memory, until the next Execute of the portal, its Close, a new Bind
//! of its name, or the end of the transaction (a portal lives no longer on PostgreSQL
//! either). Streaming them from the backend instead is open (#16).

use super::Connection;
use futures_util::{Sink, SinkExt, StreamExt};
use pgwire::api::portal::Portal;
use pgwire::api::query::{send_execution_response, ExtendedQueryHandler};
use pgwire::api::results::{Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, DEFAULT_NAME};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::{DataRow, RowDescription};
use pgwire::messages::extendedquery::{Execute, PortalSuspended};
use pgwire::messages::response::EmptyQueryResponse;
use pgwire::messages::PgWireBackendMessage;
use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::sync::Mutex;

/// The rows of an executed portal not yet sent (none once it completed), and its
/// command tag.
pub struct Suspended {
    tag: String,
    rows: VecDeque<DataRow>,
}

/// Suspended portals by name.
#[derive(Default)]
pub struct SuspendedPortals(Mutex<HashMap<String, Suspended>>);

impl SuspendedPortals {
    fn take(&self, name: &str) -> Option<Suspended> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
    }

    fn keep(&self, name: String, rest: Suspended) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, rest);
    }

    /// Forgets portal `name` (closed, or bound anew).
    pub fn forget(&self, name: &str) {
        self.take(name);
    }

    /// Forgets every portal (the transaction ended).
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// The name a Bind, Close or Execute message gives a portal.
pub fn portal_name(name: &Option<String>) -> &str {
    name.as_deref().unwrap_or(DEFAULT_NAME)
}

/// Execute: the next at most `max_rows` rows of the portal (all when 0).
pub async fn execute<C>(
    connection: &Connection,
    client: &mut C,
    message: Execute,
) -> PgWireResult<()>
where
    C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::PortalStore: PortalStore<Statement = String>,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
        return Err(PgWireError::NotReadyForQuery);
    }
    let name = portal_name(&message.name).to_string();
    let limit = usize::try_from(message.max_rows).unwrap_or(0);
    let mut pending = match connection.suspended.take(&name) {
        Some(rest) => rest,
        None => {
            let portal: std::sync::Arc<Portal<String>> = client
                .portal_store()
                .get_portal(&name)
                .ok_or_else(|| PgWireError::PortalNotFound(name.clone()))?;
            match connection.do_query(client, portal.as_ref(), 0).await? {
                Response::Query(results) => {
                    let tag = results.command_tag().to_string();
                    let mut stream = results.data_rows();
                    let mut rows = VecDeque::new();
                    while let Some(row) = stream.next().await {
                        rows.push_back(row?);
                    }
                    Suspended { tag, rows }
                }
                Response::EmptyQuery => {
                    let empty = EmptyQueryResponse::new();
                    client
                        .feed(PgWireBackendMessage::EmptyQueryResponse(empty))
                        .await?;
                    return Ok(());
                }
                Response::Execution(tag)
                | Response::TransactionStart(tag)
                | Response::TransactionEnd(tag) => {
                    return send_execution_response(client, tag).await;
                }
                Response::Error(info) => return Err(PgWireError::UserError(info)),
                // COPY ... FROM STDIN: copy-in mode until CopyDone (see `serve.rs`).
                Response::CopyIn(response) => {
                    client.set_state(PgWireConnectionState::CopyInProgress(true));
                    return pgwire::api::copy::send_copy_in_response(client, response).await;
                }
                // `do_query` streams COPY ... TO STDOUT itself and answers with its tag.
                Response::CopyOut(_) | Response::CopyBoth(_) => {
                    return Err(PgWireError::ApiError(
                        "COPY TO STDOUT is streamed by do_query".into(),
                    ))
                }
            }
        }
    };
    let count = if limit == 0 {
        pending.rows.len()
    } else {
        limit.min(pending.rows.len())
    };
    for row in pending.rows.drain(..count) {
        client.feed(PgWireBackendMessage::DataRow(row)).await?;
    }
    let message = if pending.rows.is_empty() {
        let tag = Tag::new(&pending.tag).with_rows(count);
        PgWireBackendMessage::CommandComplete(tag.into())
    } else {
        PgWireBackendMessage::PortalSuspended(PortalSuspended::new())
    };
    // Kept even when complete: executing a completed portal again returns no rows
    // (PostgreSQL does not run it again).
    connection.suspended.keep(name, pending);
    client.feed(message).await?;
    Ok(())
}

/// Describe of a portal the protocol never bound: a cursor made with SQL `DECLARE` (psycopg
/// 3's named cursors, SQLAlchemy's `yield_per`). Its columns are those of `FETCH 0 FROM`
/// it, described on the backend that holds the session's transaction. `None` when the
/// protocol did bind `name` (pgwire describes it).
pub async fn describe_cursor<C>(
    connection: &Connection,
    client: &mut C,
    name: &str,
) -> Option<PgWireResult<()>>
where
    C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::PortalStore: PortalStore<Statement = String>,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    if client.portal_store().get_portal(name).is_some() {
        return None;
    }
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    let described = connection
        .session
        .lock()
        .await
        .describe(&format!("FETCH 0 FROM {quoted}"))
        .await;
    Some(match described {
        Ok(d) => {
            // A cursor made with SQL `DECLARE` (not `BINARY`) gives its rows in text.
            let fields = super::response::described_fields(
                &d.columns,
                Some(&pgwire::api::portal::Format::UnifiedText),
                connection.postgres(),
            );
            let row = RowDescription::new(fields.iter().map(Into::into).collect());
            client
                .send(PgWireBackendMessage::RowDescription(row))
                .await
                .map_err(Into::into)
        }
        Err(e) => Err(super::response::failure(&e)),
    })
}
