//! The admin API's listener: bounded, so that no client can hold it. At most
//! [`MAX_CONNECTIONS`] connections at once (more are closed at once); a request's header
//! must arrive within [`HEADER_TIMEOUT`]; a connection lives at most [`CONNECTION_TIMEOUT`]
//! (the longest handler, a join request, answers at once and is followed with
//! `GET /v1/joins/{id}`).

use crate::tls::Stream;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Admin connections open at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Time for a request's header to arrive.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest an admin connection stays open.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves `router` on `listener` (over TLS when `tls` is given) until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    tls: Option<crate::tls::Tls>,
    router: Router,
    stop: impl std::future::Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "admin API: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max = MAX_CONNECTIONS, "admin API: too many connections; closing a new one");
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let tls = tls.clone();
        connections.spawn(async move {
            let served = async {
                let stream = match tls {
                    None => Stream::Plain(stream),
                    Some(tls) => match tls.acceptor.accept(stream).await {
                        Ok(s) => Stream::Tls(Box::new(s)),
                        Err(e) => {
                            tracing::info!(%peer, error = %e, "admin API: TLS handshake failed");
                            return Ok(());
                        }
                    },
                };
                hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await
            };
            match tokio::time::timeout(CONNECTION_TIMEOUT, served).await {
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "admin connection ended with an error")
                }
                Err(_) => tracing::info!(%peer, "admin connection closed after the time limit"),
                Ok(Ok(())) => {}
            }
            drop(permit);
        });
    }
    connections.shutdown().await;
}
