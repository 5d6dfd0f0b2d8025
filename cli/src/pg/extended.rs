//! The extended query protocol: Parse / Bind / Describe / Execute / Sync, named and
//! unnamed statements and portals (kept by pgwire's portal store).
//!
//! Describe asks one backend (the engine's own prepare) for parameter and result types,
//! and the answer is cached per connection so Bind decodes binary parameters with the
//! types the client was told. Execute runs the statement through the cluster session like
//! any other; its row limit is honoured by `portal.rs`. COPY works here as in the simple
//! protocol (`copy.rs`).

use super::copy::{copy_binary, copy_direction, copy_out, CopyDirection};
use super::{response, types, Connection};
use async_trait::async_trait;
use futures_util::SinkExt;
use mdbd_engine::backend::Description;
use mdbd_engine::log::Value;
use pgwire::api::portal::Portal;
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::{
    CopyResponse, DescribePortalResponse, DescribeStatementResponse, Response,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::extendedquery::Sync as SyncMessage;
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::PgWireBackendMessage;
use std::fmt::Debug;
use std::sync::Arc;

/// Descriptions kept per connection before the cache starts over.
const DESCRIBED_MAX: usize = 256;

/// Keeps the SQL text as the statement: the backends parse it.
#[derive(Debug, Default)]
pub struct SqlText;

#[async_trait]
impl QueryParser for SqlText {
    type Statement = String;

    async fn parse_sql<C>(&self, _client: &C, sql: &str, _types: &[Type]) -> PgWireResult<String>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        Ok(sql.to_string())
    }
}

impl Connection {
    /// The description of `sql`, from the cache or one backend.
    async fn describe(&self, sql: &str) -> PgWireResult<Description> {
        if let Some(d) = self.described().get(sql) {
            return Ok(d.clone());
        }
        let d = self
            .session
            .lock()
            .await
            .describe(sql)
            .await
            .map_err(|e| response::failure(&e))?;
        let mut cache = self.described();
        if cache.len() >= DESCRIBED_MAX {
            cache.clear();
        }
        cache.insert(sql.to_string(), d.clone());
        Ok(d)
    }

    fn described(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Description>> {
        self.described.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parameter types: what the client declared at Parse, else what Describe said.
    async fn parameter_types(
        &self,
        stmt: &StoredStatement<String>,
        count: usize,
    ) -> PgWireResult<Vec<Type>> {
        let declared = |i: usize| {
            stmt.parameter_types
                .get(i)
                .filter(|t| **t != Type::UNKNOWN)
                .cloned()
        };
        if (0..count).all(|i| declared(i).is_some()) {
            return Ok((0..count).filter_map(declared).collect());
        }
        let described = self.describe(&stmt.statement).await?;
        Ok((0..count)
            .map(|i| {
                declared(i).unwrap_or_else(|| {
                    described
                        .params
                        .get(i)
                        .map_or(Type::UNKNOWN, |t| types::parameter_type(t, self.postgres()))
                })
            })
            .collect())
    }

    /// A bound portal's parameters as the cluster takes them.
    pub(super) async fn bound_values(&self, portal: &Portal<String>) -> PgWireResult<Vec<Value>> {
        let count = portal.parameter_len();
        let binary = (0..count).any(|i| !portal.parameter_format.is_text(i));
        // Text parameters are the backend's to parse, except on engines that take values
        // (SQLite: see `types::typed_text`), where their types are needed too.
        let types = if binary || (count > 0 && !self.postgres()) {
            self.parameter_types(&portal.statement, count).await?
        } else {
            vec![Type::TEXT; count]
        };
        let params = (0..count)
            .map(|i| {
                types::decode(
                    portal.parameters[i].as_ref(),
                    portal.parameter_format.format_for(i),
                    &types[i],
                )
                .map(|v| {
                    if self.postgres() {
                        v
                    } else {
                        types::typed_text(v, &types[i])
                    }
                })
            })
            .collect::<PgWireResult<Vec<Value>>>()?;
        Ok(params)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Connection {
    /// ReadyForQuery with the session's own transaction state (see
    /// `Connection::transaction_status`).
    async fn on_sync<C>(&self, client: &mut C, _message: SyncMessage) -> PgWireResult<()>
    where
        C: ClientInfo + futures_util::Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as futures_util::Sink<PgWireBackendMessage>>::Error>,
    {
        let status = self.transaction_status().await;
        if status == TransactionStatus::Idle {
            // The implicit transaction ended: so did its portals.
            let cursors = self.suspended.clear();
            super::portal::close(self, cursors).await;
        }
        client.set_transaction_status(status);
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                status,
            )))
            .await?;
        Ok(())
    }

    type Statement = String;
    type QueryParser = SqlText;

    fn query_parser(&self) -> Arc<SqlText> {
        Arc::new(SqlText)
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<String>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + futures_util::Sink<PgWireBackendMessage>,
        C: Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = String>,
        C::Error: Debug,
        PgWireError: From<<C as futures_util::Sink<PgWireBackendMessage>>::Error>,
    {
        if target.statement.trim().is_empty() {
            return Ok(DescribeStatementResponse::new(Vec::new(), Vec::new()));
        }
        let d = self.describe(&target.statement).await?;
        let params = self.parameter_types(target, d.params.len()).await?;
        Ok(DescribeStatementResponse::new(
            params,
            response::described_fields(&d.columns, None, self.postgres()),
        ))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        target: &Portal<String>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + futures_util::Sink<PgWireBackendMessage>,
        C: Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = String>,
        C::Error: Debug,
        PgWireError: From<<C as futures_util::Sink<PgWireBackendMessage>>::Error>,
    {
        if target.statement.statement.trim().is_empty() {
            return Ok(DescribePortalResponse::new(Vec::new()));
        }
        let d = self.describe(&target.statement.statement).await?;
        Ok(DescribePortalResponse::new(response::described_fields(
            &d.columns,
            Some(&target.result_column_format),
            self.postgres(),
        )))
    }

    async fn do_query<'a, C>(
        &self,
        client: &mut C,
        portal: &Portal<String>,
        _max_rows: usize,
    ) -> PgWireResult<Response<'a>>
    where
        C: ClientInfo + ClientPortalStore + futures_util::Sink<PgWireBackendMessage>,
        C: Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = String>,
        C::Error: Debug,
        PgWireError: From<<C as futures_util::Sink<PgWireBackendMessage>>::Error>,
    {
        let sql = portal.statement.statement.as_str();
        if sql.trim().is_empty() {
            return Ok(Response::EmptyQuery);
        }
        // COPY through Parse/Bind/Execute (tokio-postgres): copy-in mode until CopyDone,
        // or the data streamed out here, as in the simple protocol.
        match copy_direction(sql) {
            Some(CopyDirection::FromStdin) => {
                let mut session = self.session.lock().await;
                return match session.copy_in_start(sql).await {
                    Ok(()) => {
                        let format = i8::from(copy_binary(sql));
                        Ok(Response::CopyIn(CopyResponse::new(format, 0, Vec::new())))
                    }
                    Err(e) => Err(response::failure(&e)),
                };
            }
            Some(CopyDirection::ToStdout) => {
                let mut session = self.session.lock().await;
                return copy_out(client, &mut session, sql).await;
            }
            None => {}
        }
        let params = self.bound_values(portal).await?;
        let (result, notices) = {
            let mut session = self.session.lock().await;
            let result = session.execute(sql, &params).await;
            (result, session.take_notices())
        };
        response::send_notices(client, notices).await?;
        response::outcome(result, |rs| {
            response::described_fields(
                &rs.columns,
                Some(&portal.result_column_format),
                self.postgres(),
            )
        })
    }
}

/// Describe of a statement: ParameterDescription, then RowDescription, or NoData when the
/// statement returns no rows. (pgwire's own answer for a statement with parameters and no
/// result columns is an empty RowDescription, which pgjdbc takes for a result set: batch
/// counts of 0, "a result was returned when none was expected".)
pub async fn describe_statement<C>(
    connection: &Connection,
    client: &mut C,
    name: &str,
) -> PgWireResult<()>
where
    C: ClientInfo + ClientPortalStore + futures_util::Sink<PgWireBackendMessage>,
    C: Unpin + Send + Sync,
    C::PortalStore: pgwire::api::store::PortalStore<Statement = String>,
    C::Error: Debug,
    PgWireError: From<<C as futures_util::Sink<PgWireBackendMessage>>::Error>,
{
    use pgwire::api::results::DescribeResponse;
    use pgwire::api::store::PortalStore;
    use pgwire::messages::data::{NoData, ParameterDescription, RowDescription};
    let statement = client
        .portal_store()
        .get_statement(name)
        .ok_or_else(|| PgWireError::StatementNotFound(name.to_string()))?;
    let described = connection.do_describe_statement(client, &statement).await?;
    let parameters = described.parameters().unwrap_or_default();
    client
        .feed(PgWireBackendMessage::ParameterDescription(
            ParameterDescription::new(parameters.iter().map(Type::oid).collect()),
        ))
        .await?;
    let message = if described.fields().is_empty() {
        PgWireBackendMessage::NoData(NoData::new())
    } else {
        let fields = described.fields().iter().map(Into::into).collect();
        PgWireBackendMessage::RowDescription(RowDescription::new(fields))
    };
    client.send(message).await?;
    Ok(())
}
