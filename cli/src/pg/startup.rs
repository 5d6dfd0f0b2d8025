//! The start of a PostgreSQL client connection, before its startup packet:
//! unauthenticated input is bounded, cancel requests are served, TLS is negotiated.
//!
//! - The first packet is peeked (never consumed) and its length checked: PostgreSQL
//!   refuses startup packets over 10,000 bytes, and so does mdbd, before allocating.
//! - A `CancelRequest` (a connection that sends only a backend key) is answered here: the
//!   key mdbd gave that client session ([`CancelKeys`]) finds its running statement,
//!   which is cancelled on every backend it runs on. As on PostgreSQL, nothing is sent
//!   back and a wrong key is silently ignored.
//! - The login must finish within `authentication_timeout`; the caller enforces it with
//!   [`LoggedIn`].

use crate::tls::{Stream, Tls};
use mdbd::pg_wire::{opening, Opening};
use mdbd_engine::cluster::SessionCanceller;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The cancel keys handed to client sessions (BackendKeyData), and what each cancels.
#[derive(Clone, Default)]
pub struct CancelKeys(Arc<Mutex<HashMap<(i32, i32), SessionCanceller>>>);

impl CancelKeys {
    /// A new random key for `canceller`; removed again with [`CancelKeys::remove`].
    pub fn issue(&self, canceller: SessionCanceller) -> (i32, i32) {
        let mut keys = self.0.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let key = (rand::random::<i32>() & i32::MAX, rand::random::<i32>());
            if let std::collections::hash_map::Entry::Vacant(e) = keys.entry(key) {
                e.insert(canceller);
                return key;
            }
        }
    }

    /// Forgets `key` (its session ended).
    pub fn remove(&self, key: (i32, i32)) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }

    fn find(&self, key: (i32, i32)) -> Option<SessionCanceller> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned()
    }
}

/// Set once the client has logged in (ReadyForQuery sent).
#[derive(Clone, Default)]
pub struct LoggedIn(Arc<AtomicBool>);

impl LoggedIn {
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What the first packets say the connection is.
pub enum Screened {
    /// A session: serve it (over TLS if the client asked and the listener has it).
    Session(Stream),
    /// Done here (a cancel request, or the client left); the socket is finished with.
    Done,
    /// Refused: oversized, malformed or too slow.
    Refused,
}

/// Looks at the first packets: serves cancel requests, answers SSLRequest (`S` and a TLS
/// handshake when `tls` is given, else `N`) and GSSENCRequest (`N`), refuses an oversized
/// or malformed length; all within `timeout`. The startup packet is left unread.
pub async fn screen(
    mut socket: TcpStream,
    keys: &CancelKeys,
    tls: Option<&Tls>,
    timeout: Duration,
) -> Screened {
    let deadline = Instant::now() + timeout;
    loop {
        let Some(head) = peek_head(&socket, deadline).await else {
            return Screened::Refused;
        };
        let Some(head) = head else {
            return Screened::Done;
        };
        match opening(&head) {
            Opening::Invalid(len) => {
                tracing::warn!(len, "startup packet of an invalid length refused");
                refuse(&mut socket, "08P01", "invalid length of startup packet").await;
                return Screened::Refused;
            }
            Opening::Startup(_) => return Screened::Session(Stream::Plain(socket)),
            Opening::Cancel => {
                cancel(&mut socket, keys, deadline).await;
                return Screened::Done;
            }
            Opening::GssEncRequest => {
                let mut request = [0u8; 8];
                if socket.read_exact(&mut request).await.is_err()
                    || socket.write_all(b"N").await.is_err()
                {
                    return Screened::Done;
                }
            }
            Opening::SslRequest => {
                let mut request = [0u8; 8];
                if socket.read_exact(&mut request).await.is_err() {
                    return Screened::Done;
                }
                let Some(tls) = tls else {
                    if socket.write_all(b"N").await.is_err() {
                        return Screened::Done;
                    }
                    continue;
                };
                if socket.write_all(b"S").await.is_err() {
                    return Screened::Done;
                }
                let handshake = tls.acceptor.accept(socket);
                return match tokio::time::timeout_at(deadline.into(), handshake).await {
                    Ok(Ok(stream)) => Screened::Session(Stream::Tls(Box::new(stream))),
                    Ok(Err(e)) => {
                        tracing::info!(error = %e, "TLS handshake with a client failed");
                        Screened::Refused
                    }
                    Err(_) => {
                        tracing::info!("client did not finish its TLS handshake in time");
                        Screened::Refused
                    }
                };
            }
        }
    }
}

/// The next packet's first 8 bytes, peeked: `Some(None)` when the client left, `None`
/// when the deadline passed.
async fn peek_head(socket: &TcpStream, deadline: Instant) -> Option<Option<[u8; 8]>> {
    let mut head = [0u8; 8];
    loop {
        let got = match tokio::time::timeout_at(deadline.into(), socket.peek(&mut head)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => return Some(None),
            Err(_) => {
                tracing::info!("client sent no complete startup packet in time; closed");
                return None;
            }
        };
        if got == 0 {
            return Some(None);
        }
        if got >= 8 {
            return Some(Some(head));
        }
        // Part of the header: wait for the rest without spinning.
        tokio::time::sleep(Duration::from_millis(5)).await;
        if Instant::now() >= deadline {
            return None;
        }
    }
}

/// A CancelRequest: the key mdbd gave a session finds its running statement, cancelled
/// on every backend; nothing is sent back, as on PostgreSQL.
async fn cancel(socket: &mut TcpStream, keys: &CancelKeys, deadline: Instant) {
    let mut packet = [0u8; 16];
    if tokio::time::timeout_at(deadline.into(), socket.read_exact(&mut packet))
        .await
        .is_ok_and(|r| r.is_ok())
    {
        let pid = i32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        let secret = i32::from_be_bytes([packet[12], packet[13], packet[14], packet[15]]);
        match keys.find((pid, secret)) {
            Some(canceller) => {
                // The cancel runs on its own: the requester is not kept waiting.
                tokio::spawn(async move {
                    canceller.cancel().await;
                });
            }
            None => tracing::info!("cancel request with an unknown key ignored"),
        }
    }
    let _ = socket.shutdown().await;
}

/// A FATAL ErrorResponse, then the socket is closed (what PostgreSQL does with a bad
/// startup packet).
pub async fn refuse(socket: &mut TcpStream, sqlstate: &str, message: &str) {
    let mut body = Vec::new();
    for (field, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', sqlstate),
        (b'M', message),
    ] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = vec![b'E'];
    packet.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    packet.extend_from_slice(&body);
    let _ = socket.write_all(&packet).await;
    let _ = socket.shutdown().await;
}

/// Turns TCP keepalive on for a client socket, so a client whose host died silently is
/// noticed by the kernel and its session (and any write turn it holds) ends.
pub fn keepalive(socket: &TcpStream, idle: Duration) {
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(idle)
        .with_interval(Duration::from_secs(10).min(idle));
    #[cfg(target_os = "linux")]
    let keepalive = keepalive.with_retries(3);
    if let Err(e) = socket2::SockRef::from(socket).set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "could not set TCP keepalive");
    }
}

/// Watches a client's socket (a second handle on it) for the client hanging up, and tells
/// its session: the statement it is running is cancelled on every backend and nothing it
/// queued runs later. Ends when the hang-up is seen or the task is aborted.
pub fn watch_hangup(
    socket: &TcpStream,
    session: SessionCanceller,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let watcher = {
        use std::os::fd::{AsFd, OwnedFd};
        let fd: OwnedFd = socket.as_fd().try_clone_to_owned()?;
        let std_stream = std::net::TcpStream::from(fd);
        std_stream.set_nonblocking(true)?;
        TcpStream::from_std(std_stream)?
    };
    Ok(tokio::spawn(async move {
        loop {
            let Ok(ready) = watcher.ready(tokio::io::Interest::READABLE).await else {
                return;
            };
            if ready.is_read_closed() {
                tracing::debug!("client hung up; cancelling what its session runs");
                session.client_gone().await;
                return;
            }
            // Data for pgwire, not for us: forget this readiness and wait for the next
            // event (the socket is edge-triggered, and a hang-up is an event of its own).
            let _ = watcher.try_io(tokio::io::Interest::READABLE, || {
                Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
            });
        }
    }))
}
