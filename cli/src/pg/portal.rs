//! Execute with a row limit: a portal's rows are sent `max_rows` at a time, each batch
//! ended by PortalSuspended, the last by CommandComplete, as PostgreSQL does (asyncpg's
//! `cursor.fetch(n)`, pg-cursor, pgjdbc's `setFetchSize` read a result in pages so).
//!
//! A plain query on an engine with cursors (PostgreSQL) becomes a cursor on one backend
//! at the portal's first Execute (the engine's `cursor.rs`): each Execute fetches one page
//! from it, so mdbd never holds more than a page, whatever the result's size. Anything
//! else runs once, at the first Execute, and the rows not yet sent wait here, in mdbd's
//! memory. Either lives until the portal's next Execute, its Close, a new Bind of its name,
//! or the end of its transaction (a portal lives no longer on PostgreSQL either).

use super::{response, Connection};
use futures_util::{Sink, SinkExt, StreamExt};
use mdbd_engine::backend::Outcome;
use mdbd_engine::cluster::CursorId;
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

/// An executed portal not yet complete (or complete: executing it again gives no rows).
pub enum Suspended {
    /// Its rows not yet sent, held here, and its command tag.
    Held {
        tag: String,
        rows: VecDeque<DataRow>,
    },
    /// Its rows on a backend's cursor.
    Cursor(CursorId),
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

    /// Forgets portal `name` (closed, or bound anew); its cursor, if any, is the caller's
    /// to close.
    pub fn forget(&self, name: &str) -> Option<CursorId> {
        match self.take(name) {
            Some(Suspended::Cursor(id)) => Some(id),
            _ => None,
        }
    }

    /// Forgets every portal (the transaction ended); their cursors are the caller's to
    /// close.
    pub fn clear(&self) -> Vec<CursorId> {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.drain()
            .filter_map(|(_, s)| match s {
                Suspended::Cursor(id) => Some(id),
                Suspended::Held { .. } => None,
            })
            .collect()
    }
}

/// Closes the cursors of forgotten portals.
pub async fn close(connection: &Connection, cursors: impl IntoIterator<Item = CursorId>) {
    let mut cursors = cursors.into_iter().peekable();
    if cursors.peek().is_none() {
        return;
    }
    let mut session = connection.session.lock().await;
    for id in cursors {
        session.close_cursor(&id).await;
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
    let pending = match connection.suspended.take(&name) {
        Some(rest) => rest,
        None => {
            let portal: std::sync::Arc<Portal<String>> = client
                .portal_store()
                .get_portal(&name)
                .ok_or_else(|| PgWireError::PortalNotFound(name.clone()))?;
            if let Some(id) = open_cursor(connection, &portal, limit).await? {
                Suspended::Cursor(id)
            } else {
                match connection.do_query(client, portal.as_ref(), 0).await? {
                    Response::Query(results) => {
                        let tag = results.command_tag().to_string();
                        let mut stream = results.data_rows();
                        let mut rows = VecDeque::new();
                        while let Some(row) = stream.next().await {
                            rows.push_back(row?);
                        }
                        Suspended::Held { tag, rows }
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
        }
    };
    match pending {
        Suspended::Held { tag, mut rows } => {
            let count = if limit == 0 {
                rows.len()
            } else {
                limit.min(rows.len())
            };
            for row in rows.drain(..count) {
                client.feed(PgWireBackendMessage::DataRow(row)).await?;
            }
            let message = if rows.is_empty() {
                let tag = Tag::new(&tag).with_rows(count);
                PgWireBackendMessage::CommandComplete(tag.into())
            } else {
                PgWireBackendMessage::PortalSuspended(PortalSuspended::new())
            };
            // Kept even when complete: executing a completed portal again returns no
            // rows (PostgreSQL does not run it again).
            connection
                .suspended
                .keep(name, Suspended::Held { tag, rows });
            client.feed(message).await?;
        }
        Suspended::Cursor(id) => page(connection, client, name, id, limit).await?,
    }
    Ok(())
}

/// At a portal's first Execute with a row limit: its query as a backend cursor, when the
/// cluster's engine has cursors and the statement is a plain query; else `None`.
async fn open_cursor(
    connection: &Connection,
    portal: &Portal<String>,
    limit: usize,
) -> PgWireResult<Option<CursorId>> {
    let sql = portal.statement.statement.as_str();
    // Anything but a plain query runs whole: its parameters are bound once, there.
    if limit == 0 || !connection.postgres() || !mdbd_engine::cluster::is_query(sql) {
        return Ok(None);
    }
    let params = connection.bound_values(portal).await?;
    let opened = connection
        .session
        .lock()
        .await
        .open_cursor(sql.as_bytes(), &params)
        .await;
    opened.map_err(|e| response::failure(&e))
}

/// One Execute of a portal on a cursor: its next page (all the rest when `limit` is 0),
/// then PortalSuspended, or CommandComplete once the cursor ran out (it is closed then).
async fn page<C>(
    connection: &Connection,
    client: &mut C,
    name: String,
    id: CursorId,
    limit: usize,
) -> PgWireResult<()>
where
    C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::PortalStore: PortalStore<Statement = String>,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let portal = client
        .portal_store()
        .get_portal(&name)
        .ok_or_else(|| PgWireError::PortalNotFound(name.clone()))?;
    // Without a limit, the rest all the same a page at a time: mdbd holds one at once.
    let size = if limit == 0 { WHOLE_RESULT_PAGE } else { limit };
    let mut sent = 0;
    loop {
        let (fetched, notices) = {
            let mut session = connection.session.lock().await;
            let fetched = session.fetch_cursor(&id, size).await;
            (fetched, session.take_notices())
        };
        response::send_notices(client, notices).await?;
        let rs = match fetched {
            Ok(rs) => rs,
            Err(e) => {
                close(connection, [id]).await;
                return Err(response::failure(&e));
            }
        };
        let count = rs.rows.len();
        sent += count;
        let response = response::outcome(Ok(Outcome::Rows(rs)), |rs| {
            response::described_fields(
                &rs.columns,
                Some(&portal.result_column_format),
                connection.postgres(),
            )
        })?;
        if let Response::Query(results) = response {
            let mut rows = results.data_rows();
            while let Some(row) = rows.next().await {
                client.feed(PgWireBackendMessage::DataRow(row?)).await?;
            }
        }
        if count < size {
            close(connection, [id]).await;
            let empty = Suspended::Held {
                tag: "SELECT".into(),
                rows: VecDeque::new(),
            };
            connection.suspended.keep(name, empty);
            let tag = Tag::new("SELECT").with_rows(sent);
            client
                .feed(PgWireBackendMessage::CommandComplete(tag.into()))
                .await?;
            return Ok(());
        }
        if limit != 0 {
            connection.suspended.keep(name, Suspended::Cursor(id));
            let message = PgWireBackendMessage::PortalSuspended(PortalSuspended::new());
            client.feed(message).await?;
            return Ok(());
        }
    }
}

/// Rows per page when a cursor's portal is executed without a limit.
const WHOLE_RESULT_PAGE: usize = 1000;

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
