//! The extended query protocol: Parse / Bind / Describe / Execute / Sync, named and
//! unnamed statements and portals (kept by pgwire's portal store).
//!
//! Describe asks one backend (the engine's own prepare) for parameter and result types,
//! and the answer is cached per connection so Bind decodes binary parameters with the
//! types the client was told. Execute runs the statement through the cluster session like
//! any other; its row limit is honoured by `portal.rs`.

use super::{response, types, Connection};
use async_trait::async_trait;
use futures_util::SinkExt;
use mdbd_engine::backend::Description;
use mdbd_engine::log::Value;
use pgwire::api::portal::Portal;
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::{DescribePortalResponse, DescribeStatementResponse, Response};
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
                        .map_or(Type::UNKNOWN, |t| types::parameter_type(t))
                })
            })
            .collect())
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
            self.suspended.clear();
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
            response::described_fields(&d.columns, None),
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
        )))
    }

    async fn do_query<'a, C>(
        &self,
        _client: &mut C,
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
        let count = portal.parameter_len();
        let binary = (0..count).any(|i| !portal.parameter_format.is_text(i));
        let types = if binary {
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
            })
            .collect::<PgWireResult<Vec<Value>>>()?;
        let result = self.session.lock().await.execute(sql, &params).await;
        response::outcome(result, |rs| {
            response::described_fields(&rs.columns, Some(&portal.result_column_format))
        })
    }
}
