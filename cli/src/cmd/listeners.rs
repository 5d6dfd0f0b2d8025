//! The client listeners of `mdbd run`: one accept task per listener (PostgreSQL or
//! MySQL protocol), all handing their connections to the daemon's loop, which owns them
//! so it can drain them at shutdown.

use crate::config::{Config, Kind, Protocol};
use crate::mysql::{Frontend, MysqlUser};
use anyhow::Context;
use mdbd_engine::cluster::Cluster;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A client that connected, with the front end that serves it.
pub enum Client {
    Postgres(TcpStream, SocketAddr),
    Mysql(TcpStream, SocketAddr, Arc<Frontend>),
}

fn mysql_users(config: &Config) -> HashMap<String, MysqlUser> {
    config
        .users
        .iter()
        .filter_map(|u| match (u.auth.as_str(), &u.password) {
            ("trust", _) => Some((u.name.clone(), MysqlUser::Trust)),
            ("mysql_native_password", Some(p)) => {
                Some((u.name.clone(), MysqlUser::Password(p.clone())))
            }
            _ => None,
        })
        .collect()
}

/// Binds every listener; fails (naming the address) if one cannot be bound. Returns the
/// stream of accepted clients, the accept tasks, and a line per listener for the log.
pub async fn bind(
    config: &Config,
    cluster: &Arc<Cluster>,
) -> anyhow::Result<(mpsc::Receiver<Client>, Vec<JoinHandle<()>>, Vec<String>)> {
    let (tx, rx) = mpsc::channel(64);
    let mut tasks = Vec::new();
    let mut lines = Vec::new();
    for l in config.listeners() {
        let address = l.address().to_string();
        let listener = TcpListener::bind(&address)
            .await
            .with_context(|| format!("listening on {address} ({:?})", l.protocol))?;
        let frontend = match l.protocol {
            Protocol::Postgres => {
                lines.push(format!("PostgreSQL clients on {address}"));
                None
            }
            Protocol::Mysql => {
                let database = l
                    .database
                    .clone()
                    .unwrap_or_else(|| config.backends[0].database());
                lines.push(format!("MySQL clients on {address} (database {database})"));
                Some(Arc::new(Frontend {
                    cluster: cluster.clone(),
                    users: mysql_users(config),
                    database,
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
                    None => Client::Postgres(socket, peer),
                    Some(f) => Client::Mysql(socket, peer, f.clone()),
                };
                if tx.send(client).await.is_err() {
                    return;
                }
            }
        }));
    }
    Ok((rx, tasks, lines))
}
