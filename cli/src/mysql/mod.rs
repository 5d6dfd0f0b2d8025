//! The MySQL wire protocol front end: one task per client connection, owning that
//! client's cluster session, like the PostgreSQL one (`src/pg/`); both feed the same
//! ordering and dispatch.
//!
//! - `packet.rs`: packet framing;
//! - `auth.rs`: the connection phase (greeting, TLS, the password check, the database);
//! - `query.rs`: COM_QUERY (several statements when the client allows), `USE`,
//!   `autocommit`;
//! - `load.rs`: `LOAD DATA LOCAL INFILE` (MySQL clusters: the client's file is the data);
//! - `prepared.rs`: COM_STMT_PREPARE / EXECUTE / SEND_LONG_DATA / RESET / CLOSE;
//! - `variables.rs`: `SELECT @@name` on PostgreSQL and SQLite clusters;
//! - `reply.rs`: cluster outcomes and errors as packets (error number and SQLSTATE of
//!   MySQL backends verbatim).
//!
//! The byte-level codec is `mdbd::mysql_wire` (a library module, so it can be fuzzed).
//! Logins: `caching_sha2_password` (its fast path: mdbd keeps SHA256(SHA256(password))),
//! `mysql_native_password`, trust; TLS by CLIENT_SSL when the listener has a certificate.
//! COM_CHANGE_USER logs in again and starts a fresh session, as COM_RESET_CONNECTION
//! does. Not offered: compression, server-side cursors, replication commands.

mod auth;
mod load;
mod packet;
mod prepared;
mod query;
mod reply;
mod variables;

pub use auth::{Frontend, MysqlMethod, MysqlUser};
pub use packet::send_raw;

use mdbd::mysql_wire::{results, status};
use mdbd_engine::cluster::ClusterSession;
use packet::Packets;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::net::TcpStream;

/// Command bytes.
mod cmd {
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const FIELD_LIST: u8 = 0x04;
    pub const STATISTICS: u8 = 0x09;
    pub const PING: u8 = 0x0e;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1a;
    pub const SET_OPTION: u8 = 0x1b;
    pub const CHANGE_USER: u8 = 0x11;
    pub const RESET_CONNECTION: u8 = 0x1f;
}

static NEXT_CONNECTION: AtomicU32 = AtomicU32::new(1);

/// Removes a connection from its listener's `KILL` registry when it ends.
struct Registered(Arc<Frontend>, u32);

impl Drop for Registered {
    fn drop(&mut self) {
        self.0
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.1);
    }
}

impl Conn {
    /// Waits for the client's next request; inside a transaction, ends it when a session
    /// timeout passes first (the client gets the error and the connection closes).
    /// `false`: the connection is over.
    async fn wait_for_client(&mut self) -> std::io::Result<bool> {
        loop {
            if !self.session.in_transaction() {
                return self.packets.ready().await;
            }
            tokio::select! {
                ready = self.packets.ready() => return ready,
                _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {
                    if let Some(expiry) = self.session.expire_if_due().await {
                        let e = expiry.error(self.frontend.cluster.dialect());
                        let code = e.code.parse().unwrap_or(1105);
                        self.packets.push(&results::err(code, &e.sqlstate, &e.message));
                        self.packets.flush().await?;
                        return Ok(false);
                    }
                }
            }
        }
    }
}

/// One client connection.
pub(crate) struct Conn {
    packets: Packets,
    session: ClusterSession,
    frontend: Arc<Frontend>,
    /// The client's capability flags.
    caps: u32,
    /// Who logged in, and the greeting's scramble (COM_CHANGE_USER answers it again).
    login: auth::Login,
    /// `SET autocommit = 0`: every statement outside a transaction opens one.
    autocommit: bool,
    statements: HashMap<u32, prepared::Prepared>,
    next_statement: u32,
    /// The connection id the handshake gave the client: `CONNECTION_ID()` and `KILL`'s.
    id: u32,
    /// The last statement's rows went to the client as they came (see `reply::Streamed`);
    /// and the client's socket failed meanwhile.
    streamed: bool,
    stream_failed: Option<std::io::Error>,
}

impl Conn {
    /// The status flags of OK and EOF packets.
    fn status(&self) -> u16 {
        let mut s = 0;
        if self.autocommit {
            s |= status::AUTOCOMMIT;
        }
        if self.session.in_transaction() {
            s |= status::IN_TRANS;
        }
        s
    }

    fn ok(&mut self) {
        let st = self.status();
        self.packets.push(&results::ok(0, 0, st));
    }

    /// COM_RESET_CONNECTION and COM_CHANGE_USER: the open transaction is rolled back and
    /// the client continues on a fresh session (no settings, no prepared statements),
    /// reachable by `KILL` under the same connection id.
    async fn reset_session(&mut self) {
        if self.session.in_transaction() {
            let _ = self.session.execute("ROLLBACK", &[]).await;
        }
        self.session = self.frontend.cluster.session();
        self.frontend
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.id, self.session.canceller());
        self.statements.clear();
        self.autocommit = true;
    }
}

/// Serves one client until it quits or the connection breaks.
pub async fn serve(socket: TcpStream, frontend: Arc<Frontend>) -> std::io::Result<()> {
    let id = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
    let login =
        match tokio::time::timeout(frontend.login_timeout, auth::connect(socket, &frontend, id))
            .await
        {
            Ok(login) => login?,
            Err(_) => {
                frontend
                    .cluster
                    .counters()
                    .startup_refused
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    connection = id,
                    "MySQL client did not log in in time; closed"
                );
                return Ok(());
            }
        };
    let Some((mut packets, login)) = login else {
        return Ok(());
    };
    packets.logged_in();
    let mut conn = Conn {
        packets,
        session: frontend.cluster.session(),
        frontend,
        caps: login.capabilities,
        login,
        autocommit: true,
        statements: HashMap::new(),
        next_statement: 1,
        id,
        streamed: false,
        stream_failed: None,
    };
    conn.frontend
        .sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, conn.session.canceller());
    let _registered = Registered(conn.frontend.clone(), id);
    tracing::debug!(connection = id, user = %conn.login.user, "MySQL client connected");
    let served = requests(&mut conn, id).await;
    // A departing client's open transaction is rolled back everywhere now, with what a
    // rollback logs, not only by each server as its connection closes.
    conn.session.end().await;
    tracing::debug!(connection = id, "MySQL client left");
    served
}

/// Serves the client's requests until it quits or its connection fails.
async fn requests(conn: &mut Conn, id: u32) -> std::io::Result<()> {
    loop {
        if !conn.wait_for_client().await? {
            break;
        }
        let Some(payload) = conn.packets.read().await? else {
            break;
        };
        let Some((&command, body)) = payload.split_first() else {
            continue;
        };
        match command {
            cmd::QUIT => break,
            cmd::QUERY => query::run(conn, body).await?,
            cmd::INIT_DB => query::use_database(conn, &String::from_utf8_lossy(body)),
            cmd::PING | cmd::SET_OPTION => conn.ok(),
            cmd::FIELD_LIST => {
                // Deprecated; the mysql CLI asks after USE for completion: no columns.
                let st = conn.status();
                conn.packets.push(&results::eof(st));
            }
            cmd::STATISTICS => conn.packets.push(b"mdbd: see the admin API for statistics"),
            cmd::STMT_PREPARE => prepared::prepare(conn, body).await,
            cmd::STMT_EXECUTE => prepared::execute(conn, body).await?,
            cmd::STMT_SEND_LONG_DATA => prepared::long_data(conn, body),
            cmd::STMT_CLOSE => prepared::close(conn, body),
            cmd::STMT_RESET => prepared::reset(conn, body),
            cmd::RESET_CONNECTION => {
                conn.reset_session().await;
                conn.ok();
            }
            cmd::CHANGE_USER => {
                let changed =
                    auth::change_user(&mut conn.packets, &conn.frontend, &conn.login, body).await?;
                let Some(user) = changed else {
                    conn.packets.flush().await?;
                    break;
                };
                tracing::debug!(connection = id, from = %conn.login.user, to = %user, "MySQL client changed user");
                conn.login.user = user;
                conn.reset_session().await;
                conn.ok();
            }
            other => conn.packets.push(&results::err(
                1047,
                "08S01",
                &format!("unknown or unsupported command 0x{other:02x}"),
            )),
        }
        conn.packets.flush().await?;
    }
    Ok(())
}
