//! The client listeners of `mdbd run`: one accept task per listener (PostgreSQL or
//! MySQL protocol), all handing their connections to the daemon's loop, which owns them
//! so it can drain them at shutdown.

use crate::config::{Accounts, Config, Kind, Method, Protocol, SslMode};
use crate::mysql::{Frontend, MysqlMethod, MysqlUser};
use crate::pg::login::FrontDoor;
use crate::tls::Tls;
use anyhow::Context;
use mdbd::auth::throttle::Throttle;
use mdbd_engine::cluster::Cluster;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A client that connected, with the front end that serves it.
pub enum Client {
    Postgres(TcpStream, SocketAddr, Arc<PgListener>),
    Mysql(TcpStream, SocketAddr, Arc<Frontend>),
}

/// What the clients of one PostgreSQL listener share.
pub struct PgListener {
    pub door: FrontDoor,
    pub tls: Option<Tls>,
}

enum Front {
    Pg(Arc<PgListener>),
    Mysql(Arc<Frontend>),
}

/// The users a MySQL listener knows: those of MySQL methods, and trust users.
fn mysql_users(accounts: &Accounts) -> HashMap<String, MysqlUser> {
    accounts
        .iter()
        .filter_map(|(name, a)| {
            let method = match &a.method {
                Method::Trust => MysqlMethod::Trust,
                Method::MysqlNative(p) => MysqlMethod::Native(p.clone()),
                Method::CachingSha2(stored) => MysqlMethod::CachingSha2(*stored),
                Method::Scram(_) | Method::Md5(_) => return None,
            };
            let user = MysqlUser {
                method,
                require_ssl: a.require_ssl,
            };
            Some((name.clone(), user))
        })
        .collect()
}

/// Binds every listener; fails (naming the address) if one cannot be bound. Returns the
/// stream of accepted clients, the accept tasks, and a line per listener for the log.
pub async fn bind(
    config: &Config,
    cluster: &Arc<Cluster>,
    accounts: &Arc<Accounts>,
) -> anyhow::Result<Bound> {
    let (tx, rx) = mpsc::channel(64);
    let (base, max) = config.auth_failure_delays();
    let throttle = Arc::new(Throttle::new(base, max));
    let mock_secret: [u8; 32] = rand::random();
    let mut certificates = Vec::new();
    let mut tasks = Vec::new();
    let mut lines = Vec::new();
    for l in config.listeners() {
        let address = l.address().to_string();
        let listener = TcpListener::bind(&address)
            .await
            .with_context(|| format!("listening on {address} ({:?})", l.protocol))?;
        let tls = match config.tls_of(&l) {
            Some((cert, key)) => Some(
                Tls::load(&cert, &key)
                    .with_context(|| format!("TLS of the listener on {address}"))?,
            ),
            None => None,
        };
        certificates.extend(tls.clone());
        let ssl = match (&tls, l.ssl) {
            (None, _) => SslMode::Disable,
            (Some(_), Some(mode)) => mode,
            (Some(_), None) => SslMode::Allow,
        };
        let database = l
            .database
            .clone()
            .unwrap_or_else(|| config.backends[0].database());
        let tls_note = match ssl {
            SslMode::Disable => "",
            SslMode::Allow => ", TLS",
            SslMode::Require => ", TLS required",
        };
        let frontend = match l.protocol {
            Protocol::Postgres => {
                lines.push(format!(
                    "PostgreSQL clients on {address} (database {database}{tls_note})"
                ));
                Front::Pg(Arc::new(PgListener {
                    door: FrontDoor {
                        accounts: accounts.clone(),
                        database,
                        aliases: l.database_aliases.clone(),
                        ssl,
                        tls: tls.clone(),
                        throttle: throttle.clone(),
                        mock_secret,
                        cluster: cluster.clone(),
                    },
                    tls,
                }))
            }
            Protocol::Mysql => {
                lines.push(format!(
                    "MySQL clients on {address} (database {database}{tls_note})"
                ));
                Front::Mysql(Arc::new(Frontend {
                    cluster: cluster.clone(),
                    users: mysql_users(accounts),
                    tls,
                    ssl,
                    throttle: throttle.clone(),
                    database,
                    aliases: l.database_aliases.clone(),
                    numbered_placeholders: config.backends[0].kind == Kind::Postgres,
                    is_mysql: config.backends[0].kind == Kind::Mysql,
                    login_timeout: config.authentication_timeout(),
                    sessions: Default::default(),
                    version: Default::default(),
                }))
            }
        };
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let (socket, peer) = match listener.accept().await {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, %address, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let client = match &frontend {
                    Front::Pg(pg) => Client::Postgres(socket, peer, pg.clone()),
                    Front::Mysql(f) => Client::Mysql(socket, peer, f.clone()),
                };
                if tx.send(client).await.is_err() {
                    return;
                }
            }
        }));
    }
    Ok(Bound {
        clients: rx,
        tasks,
        lines,
        certificates,
    })
}

/// The bound listeners.
pub struct Bound {
    /// Every accepted client.
    pub clients: mpsc::Receiver<Client>,
    /// The accept tasks.
    pub tasks: Vec<JoinHandle<()>>,
    /// A line per listener for the log.
    pub lines: Vec<String>,
    /// The listeners' TLS, to reload on SIGHUP.
    pub certificates: Vec<Tls>,
}

/// One of the `max_client_connections` slots, held by a client connection from accept to
/// close and counted in `mdbd_client_connections`.
pub struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    cluster: Arc<Cluster>,
}

impl Slot {
    /// Takes a free slot, or `None` when every one is held.
    pub fn take(slots: &Arc<tokio::sync::Semaphore>, cluster: &Arc<Cluster>) -> Option<Slot> {
        let permit = slots.clone().try_acquire_owned().ok()?;
        cluster
            .counters()
            .client_connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(Slot {
            _permit: permit,
            cluster: cluster.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.cluster
            .counters()
            .client_connections
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Refuses a client because `max_client_connections` are open, as the server would:
/// PostgreSQL's FATAL 53300, MySQL's error 1040 in place of the greeting.
pub async fn too_many(client: Client, cluster: Arc<Cluster>) {
    cluster
        .counters()
        .clients_over_limit
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match client {
        Client::Postgres(mut socket, peer, _) => {
            tracing::warn!(%peer, "max_client_connections reached; PostgreSQL client refused");
            crate::pg::startup::refuse(&mut socket, "53300", "sorry, too many clients already")
                .await;
        }
        Client::Mysql(mut socket, peer, _) => {
            tracing::warn!(%peer, "max_client_connections reached; MySQL client refused");
            let error = mdbd::mysql_wire::results::err(1040, "08004", "Too many connections");
            let _ = crate::mysql::send_raw(&mut socket, 0, &error).await;
        }
    }
}
