//! The connection phase: greeting, the client's answer, an auth switch for clients that
//! default to another method, the password check, and the database named at connect.

use super::packet::{self, Packets};
use crate::config::SslMode;
use crate::tls::Stream;
use mdbd::auth::caching_sha2;
use mdbd::mysql_wire::change_user::ChangeUser;
use mdbd::mysql_wire::handshake::{self, HandshakeResponse};
use mdbd::mysql_wire::{results, status};
use mdbd_engine::backend::Outcome;
use mdbd_engine::cluster::Cluster;
use mdbd_engine::log::Value;
use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::net::TcpStream;

/// How a configured user logs in on a MySQL listener.
#[derive(Clone, Debug)]
pub enum MysqlMethod {
    /// Any password (loopback listeners only; the configuration checks).
    Trust,
    /// `mysql_native_password` with this password.
    Native(String),
    /// `caching_sha2_password`: SHA256(SHA256(password)).
    CachingSha2([u8; 32]),
}

/// A configured user of a MySQL listener.
#[derive(Clone, Debug)]
pub struct MysqlUser {
    pub method: MysqlMethod,
    /// The user must connect over TLS.
    pub require_ssl: bool,
}

/// What every connection of one MySQL listener shares.
pub struct Frontend {
    pub cluster: Arc<Cluster>,
    pub users: HashMap<String, MysqlUser>,
    /// The listener's certificate, when it offers TLS.
    pub tls: Option<crate::tls::Tls>,
    pub ssl: crate::config::SslMode,
    /// Delays after failed logins, per client address.
    pub throttle: Arc<mdbd::auth::throttle::Throttle>,
    /// The one database this cluster serves (`USE` of another is refused), and other
    /// names accepted for it.
    pub database: String,
    pub aliases: Vec<String>,
    /// PostgreSQL backends: `?` placeholders are numbered `$1`, `$2`, ...
    pub numbered_placeholders: bool,
    /// MySQL/MariaDB backends: DDL commits an open transaction first, as MySQL does.
    pub is_mysql: bool,
    /// A client must have logged in within this time (`authentication_timeout`).
    pub login_timeout: std::time::Duration,
    /// The sessions of this listener by connection id, for `KILL [QUERY] <id>`.
    pub sessions: std::sync::Mutex<HashMap<u32, mdbd_engine::cluster::SessionCanceller>>,
    /// The backends' version, once read (see [`Frontend::greeting_version`]).
    pub version: tokio::sync::OnceCell<String>,
}

/// The server version clients of non-MySQL clusters see.
pub const VERSION: &str = concat!("5.7.99-mdbd-", env!("CARGO_PKG_VERSION"));

impl Frontend {
    /// The version the greeting announces. On MySQL clusters it is the backends' own,
    /// read once: drivers choose their queries by it (MariaDB Connector/J asks a "5.7"
    /// server for `@@transaction_isolation`, which MariaDB lacks), and MariaDB's carries
    /// the `5.5.5-` prefix MariaDB itself sends. Elsewhere (or while no backend answers)
    /// it is [`VERSION`].
    pub async fn greeting_version(&self) -> String {
        if !self.is_mysql {
            return VERSION.into();
        }
        if let Some(v) = self.version.get() {
            return v.clone();
        }
        let mut session = self.cluster.session();
        let read = session.execute("SELECT VERSION()", &[]).await;
        let version = match read {
            Ok(Outcome::Rows(rs)) => match rs
                .rows
                .into_iter()
                .next()
                .and_then(|r| r.into_iter().next())
            {
                Some(Value::Text(v)) => v,
                _ => return VERSION.into(),
            },
            Ok(_) => return VERSION.into(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the backends' version; announcing mdbd's");
                return VERSION.into();
            }
        };
        let version = if version.contains("MariaDB") && !version.starts_with("5.5.5-") {
            format!("5.5.5-{version}")
        } else {
            version
        };
        let _ = self.version.set(version.clone());
        version
    }
}

/// Who logged in.
pub struct Login {
    pub user: String,
    pub capabilities: u32,
    /// The client asked for MariaDB's extended column metadata (and was offered it).
    pub extended_metadata: bool,
    /// The greeting's scramble: COM_CHANGE_USER answers it again.
    pub scramble: [u8; 20],
    pub peer: std::net::SocketAddr,
}

fn scramble() -> [u8; 20] {
    let mut rng = rand::thread_rng();
    // Printable, no NUL: some clients treat the scramble as a C string.
    std::array::from_fn(|_| rng.gen_range(0x21u8..0x7f))
}

fn denied(user: &str, with_password: bool) -> Vec<u8> {
    results::err(
        1045,
        "28000",
        &format!(
            "Access denied for user '{user}' (using password: {})",
            if with_password { "YES" } else { "NO" }
        ),
    )
}

/// Runs the connection phase on `socket`: the greeting, a TLS upgrade when the client
/// asks (and the listener offers it), the password check by the user's method, the
/// database. Returns the client's packets and who logged in; `None` when the client was
/// refused (the reason was sent) or left.
pub async fn connect(
    mut socket: TcpStream,
    frontend: &Frontend,
    id: u32,
) -> std::io::Result<Option<(Packets, Login)>> {
    let peer = socket.peer_addr()?;
    let scramble = scramble();
    let version = frontend.greeting_version().await;
    // A listener with `ssl = "disable"` has no `tls` (see `Config::tls_of`).
    // Clients of MariaDB backends are greeted as MariaDB greets them, so that they ask for
    // the extended column metadata (mysql2 reads JSON columns by it).
    let mariadb = version.contains("MariaDB");
    let greeting = handshake::greeting(
        &version,
        id,
        &scramble,
        frontend.tls.is_some(),
        handshake::CACHING_SHA2_PASSWORD,
        mariadb,
    );
    packet::send_raw(&mut socket, 0, &greeting).await?;
    let Some((seq, first)) = packet::read_raw(&mut socket).await? else {
        return Ok(None);
    };
    let (mut packets, payload) = match (handshake::is_ssl_request(&first), &frontend.tls) {
        (true, Some(tls)) => {
            let stream = match tls.acceptor.accept(socket).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::info!(%peer, error = %e, "TLS handshake with a MySQL client failed");
                    return Ok(None);
                }
            };
            let mut packets = Packets::new(Stream::Tls(Box::new(stream)), seq.wrapping_add(1));
            let Some(payload) = packets.read().await? else {
                return Ok(None);
            };
            (packets, payload)
        }
        _ => (
            Packets::new(Stream::Plain(socket), seq.wrapping_add(1)),
            first,
        ),
    };
    let mut hello = match HandshakeResponse::parse(&payload) {
        Ok(h) => h,
        Err(e) => {
            tracing::debug!(error = %e, "bad MySQL handshake");
            packets.push(&results::err(1043, "08S01", &format!("Bad handshake: {e}")));
            packets.flush().await?;
            return Ok(None);
        }
    };
    let checked = check_password(
        &mut packets,
        frontend,
        &scramble,
        &hello.user,
        hello.auth_plugin.as_deref(),
        std::mem::take(&mut hello.auth_response),
    )
    .await?;
    let Some(Checked { accepted, answered }) = checked else {
        return Ok(None);
    };
    if !accepted {
        refuse(&mut packets, frontend, peer, &hello.user, answered).await;
        packets.flush().await?;
        return Ok(None);
    }
    if let Some(db) = hello.database.as_deref() {
        if let Err(message) = check_database(frontend, db) {
            packets.push(&results::err(1049, "42000", &message));
            packets.flush().await?;
            return Ok(None);
        }
    }
    frontend.throttle.succeeded(peer.ip());
    packets.push(&results::ok(0, 0, status::AUTOCOMMIT));
    packets.flush().await?;
    Ok(Some((
        packets,
        Login {
            user: hello.user,
            capabilities: hello.capabilities,
            extended_metadata: mariadb
                && hello.mariadb_capabilities & handshake::caps::mariadb::EXTENDED_METADATA != 0,
            scramble,
            peer,
        },
    )))
}

/// A refused password: counted, the client's address slowed down by the throttle, and
/// the refusal pushed once the delay has passed.
async fn refuse(
    packets: &mut Packets,
    frontend: &Frontend,
    peer: std::net::SocketAddr,
    user: &str,
    answered: bool,
) {
    frontend
        .cluster
        .counters()
        .logins_failed
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let delay = frontend.throttle.failed(peer.ip());
    let tls = packets.is_tls();
    tracing::warn!(user, %peer, ?delay, tls, "MySQL login refused");
    tokio::time::sleep(delay).await;
    packets.push(&denied(user, answered));
}

/// The outcome of a password check.
struct Checked {
    accepted: bool,
    /// The client sent a password (for the "using password" of the refusal).
    answered: bool,
}

/// The password check of a login and of COM_CHANGE_USER: the client's `response` to
/// `scramble` by `plugin` is checked by the user's method, after an auth switch when the
/// client answered by another; an accepted caching_sha2_password answer gets its
/// fast-auth-success packet (pushed). `None`: the client left.
async fn check_password(
    packets: &mut Packets,
    frontend: &Frontend,
    scramble: &[u8; 20],
    user_name: &str,
    plugin: Option<&str>,
    mut response: Vec<u8>,
) -> std::io::Result<Option<Checked>> {
    let tls = packets.is_tls();
    let user = frontend.users.get(user_name);
    // The method the client must answer with: its user's (unknown users are asked for
    // caching_sha2_password, as MySQL 8 does).
    let wanted = match user.map(|u| &u.method) {
        Some(MysqlMethod::Native(_)) => handshake::NATIVE_PASSWORD,
        // Trust takes whatever the client answers with: no switch.
        Some(MysqlMethod::Trust) => match plugin {
            Some(p) if p != handshake::NATIVE_PASSWORD => handshake::CACHING_SHA2_PASSWORD,
            _ => handshake::NATIVE_PASSWORD,
        },
        _ => handshake::CACHING_SHA2_PASSWORD,
    };
    if plugin.unwrap_or(handshake::NATIVE_PASSWORD) != wanted {
        packets.push(&handshake::auth_switch(wanted, scramble));
        packets.flush().await?;
        let Some(answer) = packets.read().await? else {
            return Ok(None);
        };
        response = answer;
    }
    let answer = response.strip_suffix(&[0]).unwrap_or(&response);
    let ssl_refused = user.is_some_and(|u| u.require_ssl) || frontend.ssl == SslMode::Require;
    let accepted = (!ssl_refused || tls)
        && match user.map(|u| &u.method) {
            Some(MysqlMethod::Trust) => true,
            Some(MysqlMethod::Native(p)) => {
                handshake::native_password_matches(p, scramble, &response)
            }
            Some(MysqlMethod::CachingSha2(stored)) => {
                caching_sha2::fast_matches(stored, scramble, answer)
            }
            None => false,
        };
    if accepted && wanted == handshake::CACHING_SHA2_PASSWORD && !answer.is_empty() {
        packets.push(&[0x01, caching_sha2::FAST_AUTH_SUCCESS]);
    }
    Ok(Some(Checked {
        accepted,
        answered: !response.is_empty(),
    }))
}

/// COM_CHANGE_USER: the client logs in again on this connection, answering the
/// greeting's scramble. Returns the new user when accepted and the database (if named)
/// is the cluster's; otherwise the refusal was pushed (a failed login counts as one for
/// the throttle) and the caller closes the connection, as MySQL does.
pub async fn change_user(
    packets: &mut Packets,
    frontend: &Frontend,
    login: &Login,
    body: &[u8],
) -> std::io::Result<Option<String>> {
    let change = match ChangeUser::parse(body, login.capabilities) {
        Ok(c) => c,
        Err(e) => {
            packets.push(&results::err(1043, "08S01", &format!("Bad handshake: {e}")));
            return Ok(None);
        }
    };
    let checked = check_password(
        packets,
        frontend,
        &login.scramble,
        &change.user,
        change.auth_plugin.as_deref(),
        change.auth_response,
    )
    .await?;
    let Some(Checked { accepted, answered }) = checked else {
        return Ok(None);
    };
    let peer = login.peer;
    if !accepted {
        refuse(packets, frontend, peer, &change.user, answered).await;
        return Ok(None);
    }
    if let Some(db) = change.database.as_deref() {
        if let Err(message) = check_database(frontend, db) {
            packets.push(&results::err(1049, "42000", &message));
            return Ok(None);
        }
    }
    frontend.throttle.succeeded(peer.ip());
    Ok(Some(change.user))
}

/// A database name a client may use: the cluster's own.
pub fn check_database(frontend: &Frontend, db: &str) -> Result<(), String> {
    let db = db.trim().trim_matches('`');
    if db == frontend.database || frontend.aliases.iter().any(|a| a == db) {
        Ok(())
    } else {
        Err(format!(
            "Unknown database '{db}': mdbd serves one database, '{}'",
            frontend.database
        ))
    }
}
