//! The message loop of one PostgreSQL client connection, in place of pgwire's
//! `process_socket`, which ignores Terminate (so a client that closes politely waits
//! forever for the server to hang up: asyncpg's `close()`, `Pool.close()`) and follows a
//! FATAL error with ReadyForQuery (a refused login then looks like a protocol error).
//!
//! pgwire's message types and handler traits are used as they are; what is here is the
//! socket type the handlers write to ([`ClientSocket`]) over the library's framing
//! (`mdbd::pg_wire::Codec`, fuzzed), and the loop:
//! - the startup packet starts the login (`login.rs`), which reads its own messages;
//! - `Terminate` ends the session: the loop returns and the socket is closed;
//! - a FATAL error is sent, flushed, and the connection closed, with no ReadyForQuery;
//! - bytes that do not frame as a message get `08P01` (FATAL) and the connection closed,
//!   as PostgreSQL does;
//! - an ERROR during the extended protocol discards messages until Sync, as the protocol says.

use super::login::{self, FrontDoor, Refused};
use super::response::WireError;
use super::Connection;
use crate::tls::Stream;
use futures_util::{Sink, SinkExt, StreamExt};
use mdbd::pg_wire::Codec;
use pgwire::api::copy::CopyHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::DEFAULT_NAME;
use pgwire::api::{ClientInfo, ClientPortalStore, DefaultClient, PgWireConnectionState};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::extendedquery::TARGET_TYPE_BYTE_PORTAL;
use pgwire::messages::response::{
    ErrorResponse, NotificationResponse, ReadyForQuery, TransactionStatus,
};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio_util::codec::Framed;

/// The client's socket as the handlers see it: a sink of backend messages that knows the
/// connection's state, metadata and portals.
pub struct ClientSocket(Framed<Stream, Codec>);

impl ClientSocket {
    /// The next message from the client, once what was sent to it is flushed; `None`
    /// when it hung up.
    pub async fn next_message(&mut self) -> Option<PgWireResult<PgWireFrontendMessage>> {
        if let Err(e) = self.flush_now().await {
            return Some(Err(e.into()));
        }
        self.0.next().await
    }

    /// Writes out what is buffered for the client. The sink's own flush does not (see
    /// `poll_flush`): this is called where mdbd is about to wait for the client.
    pub async fn flush_now(&mut self) -> io::Result<()> {
        SinkExt::<PgWireBackendMessage>::flush(&mut self.0).await
    }

    fn client(&self) -> &DefaultClient<String> {
        self.0.codec().client()
    }

    fn client_mut(&mut self) -> &mut DefaultClient<String> {
        self.0.codec_mut().client_mut()
    }
}

impl ClientInfo for ClientSocket {
    fn socket_addr(&self) -> std::net::SocketAddr {
        self.client().socket_addr
    }

    fn is_secure(&self) -> bool {
        self.client().is_secure
    }

    fn state(&self) -> PgWireConnectionState {
        self.client().state
    }

    fn set_state(&mut self, new_state: PgWireConnectionState) {
        self.client_mut().state = new_state;
    }

    fn metadata(&self) -> &std::collections::HashMap<String, String> {
        &self.client().metadata
    }

    fn metadata_mut(&mut self) -> &mut std::collections::HashMap<String, String> {
        &mut self.client_mut().metadata
    }

    fn transaction_status(&self) -> TransactionStatus {
        self.client().transaction_status
    }

    fn set_transaction_status(&mut self, new_status: TransactionStatus) {
        self.client_mut().transaction_status = new_status;
    }
}

impl ClientPortalStore for ClientSocket {
    type PortalStore = <DefaultClient<String> as ClientPortalStore>::PortalStore;

    fn portal_store(&self) -> &Self::PortalStore {
        self.client().portal_store()
    }
}

impl Sink<PgWireBackendMessage> for ClientSocket {
    type Error = io::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: PgWireBackendMessage) -> io::Result<()> {
        let item = match item {
            PgWireBackendMessage::RowDescription(mut row) => {
                // pgwire describes every column with size 0 and type modifier 0, which
                // clients read as a constraint (pgjdbc: numeric with 65532 decimals);
                // PostgreSQL says -1 for "no modifier" and the type's own size.
                for field in &mut row.fields {
                    field.type_size = super::types::type_size(field.type_id);
                    field.type_modifier = -1;
                }
                PgWireBackendMessage::RowDescription(row)
            }
            other => other,
        };
        Pin::new(&mut self.0).start_send(item)
    }

    /// Deferred: pgwire flushes after nearly every message (RowDescription, CommandComplete,
    /// ReadyForQuery), which would make each a socket write of its own. Messages are
    /// written when mdbd is about to wait for the client ([`ClientSocket::flush_now`],
    /// before each read), as PostgreSQL flushes when it would block on the client, and
    /// whenever the buffer passes the framing's backpressure boundary (`poll_ready`).
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// Serves one client until it sends Terminate, hangs up, or a FATAL error ends it.
pub async fn serve(
    socket: Stream,
    connection: Arc<Connection>,
    door: &FrontDoor,
) -> io::Result<()> {
    let addr = socket.tcp().peer_addr()?;
    socket.tcp().set_nodelay(true)?;
    let secure = socket.is_tls();
    let mut codec = Codec::new(addr);
    codec.client_mut().is_secure = secure;
    // SSLRequest and GSSENCRequest were answered before (`startup.rs`): what comes now is
    // the startup packet.
    codec.client_mut().state = PgWireConnectionState::AwaitingStartup;
    let mut client = ClientSocket(Framed::new(socket, codec));
    loop {
        let idle = matches!(client.state(), PgWireConnectionState::ReadyForQuery);
        client.flush_now().await?;
        let next = tokio::select! {
            next = client.0.next() => next,
            // Notifications go out while the client waits between requests, as the
            // server sends them between transactions.
            () = connection.notified.notified(), if idle => {
                notify(&connection, &mut client).await?;
                continue;
            }
        };
        let message = match next {
            None => return Ok(()),
            Some(Ok(message)) => message,
            Some(Err(e)) => {
                tracing::info!(%addr, error = %e, "client sent bytes that are not a message");
                let error = ErrorInfo::new("FATAL".into(), "08P01".into(), e.to_string());
                client
                    .send(PgWireBackendMessage::ErrorResponse(error.into()))
                    .await?;
                return client.close().await;
            }
        };
        match message {
            PgWireFrontendMessage::Terminate(_) => return Ok(()),
            PgWireFrontendMessage::Startup(startup)
                if matches!(client.state(), PgWireConnectionState::AwaitingStartup) =>
            {
                match login::login(&connection, &mut client, door, startup).await {
                    Ok(()) => continue,
                    Err(Refused::Io(e)) => return Err(e),
                    Err(Refused::Fatal(error)) => {
                        client
                            .send(PgWireBackendMessage::ErrorResponse((*error).into()))
                            .await?;
                        return client.close().await;
                    }
                }
            }
            _ => {}
        }
        let extended = match client.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
        if let Err(e) = dispatch(&connection, &mut client, message).await {
            let error = WireError::from_pgwire(e);
            if error.is_fatal() {
                client
                    .send(PgWireBackendMessage::ErrorResponse(ErrorResponse::new(
                        error.0,
                    )))
                    .await?;
                return client.close().await;
            }
            report_error(&connection, &mut client, error, extended).await?;
        }
    }
}

/// Sends the client its session's notifications.
async fn notify(connection: &Connection, client: &mut ClientSocket) -> io::Result<()> {
    let notifications = connection.session.lock().await.take_notifications().await;
    for n in notifications {
        let message = NotificationResponse::new(n.process_id, n.channel, n.payload);
        client
            .feed(PgWireBackendMessage::NotificationResponse(message))
            .await?;
    }
    // Written when the loop turns to read from the client, right after this.
    Ok(())
}

/// One message to the handler its connection state calls for.
async fn dispatch(
    connection: &Arc<Connection>,
    client: &mut ClientSocket,
    message: PgWireFrontendMessage,
) -> PgWireResult<()> {
    use PgWireFrontendMessage as M;
    let c = connection.as_ref();
    match client.state() {
        // Anything but the startup packet before login (the login reads its own messages).
        PgWireConnectionState::AwaitingSslRequest
        | PgWireConnectionState::AwaitingStartup
        | PgWireConnectionState::AuthenticationInProgress => {
            Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "08P01".into(),
                "expected a startup packet".into(),
            ))))
        }
        // After an error in the extended protocol, everything up to Sync is discarded.
        PgWireConnectionState::AwaitingSync => match message {
            M::Sync(sync) => {
                let result = c.on_sync(client, sync).await;
                client.set_state(PgWireConnectionState::ReadyForQuery);
                result
            }
            _ => Ok(()),
        },
        PgWireConnectionState::CopyInProgress(extended) => match message {
            M::CopyData(data) => c.on_copy_data(client, data).await,
            M::CopyDone(done) => {
                let result = c.on_copy_done(client, done).await;
                // In the extended protocol the Sync that follows brings ReadyForQuery.
                client.set_state(PgWireConnectionState::ReadyForQuery);
                if !extended && result.is_ok() {
                    let status = c.transaction_status().await;
                    client.set_transaction_status(status);
                    client
                        .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                            status,
                        )))
                        .await?;
                }
                result
            }
            M::CopyFail(fail) => {
                let error = c.on_copy_fail(client, fail).await;
                if !extended {
                    client.set_state(PgWireConnectionState::ReadyForQuery);
                }
                Err(error)
            }
            // Sync and Flush are allowed (and ignored) during copy-in; anything else is
            // a protocol violation PostgreSQL also ends the copy for.
            M::Sync(_) | M::Flush(_) => Ok(()),
            _ => {
                c.session.lock().await.copy_in_fail().await;
                if !extended {
                    client.set_state(PgWireConnectionState::ReadyForQuery);
                }
                Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                    "ERROR".into(),
                    "08P01".into(),
                    "unexpected message type during COPY from stdin".into(),
                ))))
            }
        },
        _ => match message {
            M::Query(query) => c.on_query(client, query).await,
            M::Parse(parse) => c.on_parse(client, parse).await,
            M::Bind(bind) => {
                let cursor = c
                    .suspended
                    .forget(super::portal::portal_name(&bind.portal_name));
                super::portal::close(c, cursor).await;
                c.on_bind(client, bind).await
            }
            M::Execute(execute) => super::portal::execute(c, client, execute).await,
            M::Describe(describe) if describe.target_type == TARGET_TYPE_BYTE_PORTAL => {
                let name = super::portal::portal_name(&describe.name).to_string();
                match super::portal::describe_cursor(c, client, &name).await {
                    Some(done) => done,
                    None => c.on_describe(client, describe).await,
                }
            }
            M::Describe(describe) => {
                let name = describe.name.as_deref().unwrap_or(DEFAULT_NAME);
                super::extended::describe_statement(c, client, name).await
            }
            M::Flush(_) => Ok(client.flush_now().await?),
            M::Sync(sync) => c.on_sync(client, sync).await,
            M::Close(close) => {
                if close.target_type == TARGET_TYPE_BYTE_PORTAL {
                    let cursor = c.suspended.forget(super::portal::portal_name(&close.name));
                    super::portal::close(c, cursor).await;
                }
                c.on_close(client, close).await
            }
            // What a copy-in the server already ended still has in flight: PostgreSQL
            // ignores it, per the protocol.
            M::CopyData(_) | M::CopyDone(_) | M::CopyFail(_) => Ok(()),
            _ => Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "08P01".into(),
                "unexpected message for the state of the connection".into(),
            )))),
        },
    }
}

/// An ERROR (not FATAL): the ErrorResponse, then either ReadyForQuery (simple protocol) or
/// discarding until Sync (extended protocol).
async fn report_error(
    connection: &Connection,
    client: &mut ClientSocket,
    error: WireError,
    extended: bool,
) -> io::Result<()> {
    client
        .feed(PgWireBackendMessage::ErrorResponse(ErrorResponse::new(
            error.0,
        )))
        .await?;
    if extended {
        client.set_state(PgWireConnectionState::AwaitingSync);
    } else {
        let status = connection.transaction_status().await;
        client.set_transaction_status(status);
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client
            .feed(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                status,
            )))
            .await?;
    }
    // Written when the loop turns to read from the client, right after this.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgwire::messages::response::CommandComplete;

    /// A connected pair: mdbd's side as a `ClientSocket`, and the client's end.
    async fn pair() -> (ClientSocket, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(tokio::net::TcpStream::connect(addr), async {
            listener.accept().await.unwrap().0
        });
        let socket = ClientSocket(Framed::new(Stream::Plain(accepted), Codec::new(addr)));
        (socket, client.unwrap())
    }

    fn nothing_to_read(peer: &tokio::net::TcpStream) -> bool {
        let mut buf = [0u8; 64];
        matches!(peer.try_read(&mut buf), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    #[tokio::test]
    async fn a_response_goes_out_in_one_write_when_mdbd_turns_to_the_client() {
        let (mut socket, peer) = pair().await;
        // pgwire sends (feed and flush) CommandComplete and ReadyForQuery one by one.
        let complete = CommandComplete::new("SELECT 1".into());
        socket
            .send(PgWireBackendMessage::CommandComplete(complete))
            .await
            .unwrap();
        let ready = ReadyForQuery::new(TransactionStatus::Idle);
        socket
            .send(PgWireBackendMessage::ReadyForQuery(ready))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            nothing_to_read(&peer),
            "written before mdbd waited for the client"
        );
        socket.flush_now().await.unwrap();
        peer.readable().await.unwrap();
        let mut buf = [0u8; 64];
        let n = peer.try_read(&mut buf).unwrap();
        // 'C' (4 + "SELECT 1\0") and 'Z' (4 + status): both, in one read.
        assert_eq!(n, (1 + 4 + 9) + (1 + 4 + 1), "{:?}", &buf[..n]);
        assert_eq!((buf[0], buf[14]), (b'C', b'Z'));
    }
}
