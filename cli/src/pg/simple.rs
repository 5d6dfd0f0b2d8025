//! The simple query protocol: one string, possibly several statements, answered in order;
//! `COPY ... FROM STDIN` switches the connection to copy-in mode, `COPY ... TO STDOUT`
//! streams the data out here.

use super::copy::{copy_binary, copy_direction, copy_out, CopyDirection};
use super::{response, split, Connection};
use async_trait::async_trait;
use futures_util::{Sink, SinkExt};
use pgwire::api::copy::send_copy_in_response;
use pgwire::api::query::{
    send_execution_response, send_query_response, send_ready_for_query, SimpleQueryHandler,
};
use pgwire::api::results::{CopyResponse, Response};
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::response::{EmptyQueryResponse, ErrorResponse};
use pgwire::messages::simplequery::Query;
use pgwire::messages::PgWireBackendMessage;
use std::fmt::Debug;

#[async_trait]
impl SimpleQueryHandler for Connection {
    /// Runs the statements of the string one at a time and sends each one's response
    /// before the next runs (so `COPY ... TO STDOUT` data follows the results before it),
    /// stops at the first error as PostgreSQL does and sends it with every field, its
    /// position counted in the whole string; then ReadyForQuery. A FATAL error is returned
    /// instead, for `serve.rs` to end the connection.
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        let text = query.query.as_str();
        let statements = split::statements(text);
        if statements.is_empty() {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
        }
        let postgres = self.postgres();
        let mut session = self.session.lock().await;
        for statement in statements {
            let result = match copy_direction(statement) {
                Some(CopyDirection::FromStdin) => match session.copy_in_start(statement).await {
                    Ok(()) => {
                        // The data follows as CopyData messages (see `copy.rs`); what
                        // follows the COPY in this string is not run, as in psql's use.
                        let format = i8::from(copy_binary(statement));
                        let response = CopyResponse::new(format, 0, Vec::new());
                        send_copy_in_response(client, response).await?;
                        client.set_state(PgWireConnectionState::CopyInProgress(false));
                        return Ok(());
                    }
                    Err(e) => Err(response::failure(&e)),
                },
                Some(CopyDirection::ToStdout) => copy_out(client, &mut session, statement).await,
                None => response::outcome(session.execute(statement, &[]).await, |rs| {
                    response::simple_fields(rs, postgres)
                }),
            };
            response::send_notices(client, session.take_notices()).await?;
            match result {
                Ok(response) => send(client, response).await?,
                Err(e) => {
                    let mut error = response::WireError::from_pgwire(e);
                    error.shift_position(text, statement);
                    if error.is_fatal() {
                        return Err(PgWireError::ApiError(Box::new(error)));
                    }
                    client
                        .feed(PgWireBackendMessage::ErrorResponse(ErrorResponse::new(
                            error.0,
                        )))
                        .await?;
                    // PostgreSQL stops a multi-statement string at its first error.
                    break;
                }
            }
        }
        drop(session);
        let status = self.transaction_status().await;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(status);
        send_ready_for_query(client, status).await
    }

    /// Not used: `on_query` runs the statements itself.
    async fn do_query<'a, C>(
        &self,
        _client: &mut C,
        _query: &str,
    ) -> PgWireResult<Vec<Response<'a>>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage>,
        C: Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Err(PgWireError::ApiError(
            "the simple query protocol is served by on_query".into(),
        ))
    }
}

/// Sends one statement's successful response.
async fn send<C>(client: &mut C, response: Response<'static>) -> PgWireResult<()>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    match response {
        Response::Query(results) => send_query_response(client, results, true).await,
        Response::Execution(tag)
        | Response::TransactionStart(tag)
        | Response::TransactionEnd(tag) => send_execution_response(client, tag).await,
        Response::EmptyQuery => Ok(client
            .feed(PgWireBackendMessage::EmptyQueryResponse(
                EmptyQueryResponse::new(),
            ))
            .await?),
        Response::Error(info) => Ok(client
            .feed(PgWireBackendMessage::ErrorResponse((*info).into()))
            .await?),
        Response::CopyIn(_) | Response::CopyOut(_) | Response::CopyBoth(_) => Ok(()),
    }
}
