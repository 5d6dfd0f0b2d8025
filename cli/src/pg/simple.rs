//! The simple query protocol: one string, possibly several statements, answered in order;
//! `COPY ... FROM STDIN` switches the connection to copy-in mode, `COPY ... TO STDOUT`
//! streams the data out here.

use super::{response, split, Connection};
use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use mdbd_engine::cluster::ClusterSession;
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::{CopyResponse, Response, Tag};
use pgwire::api::{ClientInfo, ClientPortalStore};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};
use pgwire::messages::PgWireBackendMessage;
use std::fmt::Debug;

/// Which way a `COPY` statement moves data through the client connection.
#[derive(Debug, PartialEq, Eq)]
enum CopyDirection {
    FromStdin,
    ToStdout,
}

fn copy_direction(sql: &str) -> Option<CopyDirection> {
    let words: Vec<String> = sql
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .collect();
    if words.first().map(String::as_str) != Some("copy") {
        return None;
    }
    let pair = |a: &str, b: &str| words.windows(2).any(|p| p[0] == a && p[1] == b);
    if pair("from", "stdin") {
        Some(CopyDirection::FromStdin)
    } else if pair("to", "stdout") {
        Some(CopyDirection::ToStdout)
    } else {
        None
    }
}

/// Streams a `COPY ... TO STDOUT` to the client; the tag counts the lines sent.
async fn copy_out<C>(
    client: &mut C,
    session: &mut ClusterSession,
    sql: &str,
) -> PgWireResult<Response<'static>>
where
    C: futures_util::Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<C::Error>,
{
    let mut data = match session.copy_out(sql).await {
        Ok(stream) => stream,
        Err(e) => return response::outcome(Err(e), |_| Vec::new()),
    };
    client
        .send(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
            0,
            0,
            Vec::new(),
        )))
        .await?;
    let mut lines = 0;
    while let Some(chunk) = data.next().await {
        match chunk {
            Ok(bytes) => {
                lines += bytes.iter().filter(|&&b| b == b'\n').count();
                client
                    .feed(PgWireBackendMessage::CopyData(CopyData::new(bytes)))
                    .await?;
            }
            Err(e) => return response::outcome(Err(e.into()), |_| Vec::new()),
        }
    }
    client
        .send(PgWireBackendMessage::CopyDone(CopyDone::new()))
        .await?;
    Ok(Response::Execution(Tag::new("COPY").with_rows(lines)))
}

#[async_trait]
impl SimpleQueryHandler for Connection {
    async fn do_query<'a, C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response<'a>>>
    where
        C: ClientInfo + ClientPortalStore + futures_util::Sink<PgWireBackendMessage>,
        C: Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as futures_util::Sink<PgWireBackendMessage>>::Error>,
    {
        let mut session = self.session.lock().await;
        let mut out = Vec::new();
        for statement in split::statements(query) {
            let response = match copy_direction(statement) {
                Some(CopyDirection::FromStdin) => match session.copy_in_start(statement).await {
                    Ok(()) => {
                        // The data follows as CopyData messages (see `copy.rs`); what
                        // follows the COPY in this string is not run, as in psql's use.
                        out.push(Response::CopyIn(CopyResponse::new(0, 0, Vec::new())));
                        break;
                    }
                    Err(e) => response::outcome(Err(e), |_| Vec::new())?,
                },
                Some(CopyDirection::ToStdout) => copy_out(client, &mut session, statement).await?,
                None => response::outcome(
                    session.execute(statement, &[]).await,
                    response::simple_fields,
                )?,
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_directions() {
        assert_eq!(
            copy_direction("COPY t (a, b) FROM STDIN WITH (FORMAT csv)"),
            Some(CopyDirection::FromStdin)
        );
        assert_eq!(
            copy_direction("copy t to stdout"),
            Some(CopyDirection::ToStdout)
        );
        assert_eq!(copy_direction("COPY t FROM '/tmp/x'"), None);
        assert_eq!(copy_direction("SELECT 'copy from stdin'"), None);
    }
}
