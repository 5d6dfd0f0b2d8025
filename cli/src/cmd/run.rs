//! `mdbd run --config FILE`: the daemon.
//!
//! Opens the delta log in `data_dir`, builds the backends, starts the cluster (which first
//! brings every active backend up to the end of the log), then serves PostgreSQL- and
//! MySQL-protocol clients on its listeners (`listeners.rs`) until SIGINT or SIGTERM; then it stops accepting, gives open connections a
//! bounded time to finish, and closes the log (synced). The admin API (`crate::admin`)
//! listens on `admin_listen` meanwhile.

use super::listeners::{Client, PgListener};
use crate::config::{Config, Kind};
use crate::pg::Connection;
use anyhow::Context;
use mdbd_backends::mysql::{MysqlBackend, MysqlOptions};
use mdbd_backends::postgres::{PgBackend, PgOptions};
use mdbd_backends::sqlite::{SqliteBackend, SqliteOptions};
use mdbd_engine::backend::Backend;
use mdbd_engine::cluster::{Classifier, Cluster, DonorMode};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// How long open connections may take to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

/// How long closing the delta log may take at shutdown.
const CLOSE_LOG: Duration = Duration::from_secs(10);

fn backends(config: &Config) -> anyhow::Result<Vec<Arc<dyn Backend>>> {
    let mut out: Vec<Arc<dyn Backend>> = Vec::new();
    for b in &config.backends {
        let backend: Arc<dyn Backend> = match b.kind {
            Kind::Sqlite => {
                let path = b.path.as_deref().context("path")?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                Arc::new(SqliteBackend::new(
                    &b.name,
                    path,
                    SqliteOptions {
                        marker_table: b.marker_table.clone(),
                        ..SqliteOptions::default()
                    },
                )?)
            }
            Kind::Postgres => {
                let mut o = PgOptions::new(b.conninfo.as_deref().context("conninfo")?);
                o.marker_table = b.marker_table.clone();
                if let Some(t) = &b.dump_tool {
                    o.pg_dump = t.clone();
                }
                if let Some(t) = &b.restore_tool {
                    o.pg_restore = t.clone();
                }
                o.lock_timeout = config.backend_lock_timeout();
                Arc::new(PgBackend::new(&b.name, o)?)
            }
            Kind::Mysql => {
                let mut o = MysqlOptions::new(b.url.as_deref().context("url")?);
                o.marker_table = b.marker_table.clone();
                if let Some(t) = &b.dump_tool {
                    o.dump = t.clone();
                }
                if let Some(t) = &b.restore_tool {
                    o.client = t.clone();
                }
                o.keyed_lock_timeout = config.backend_lock_timeout();
                Arc::new(MysqlBackend::new(&b.name, o)?)
            }
        };
        out.push(backend);
    }
    Ok(out)
}

/// What every PostgreSQL client connection shares.
#[derive(Clone)]
struct PgShared {
    /// The cancel keys handed out.
    keys: crate::pg::startup::CancelKeys,
    /// What clients are told about the server at login.
    parameters: crate::pg::parameters::ServerParameters,
}

/// One PostgreSQL client: screened (startup size, cancel requests), then served by pgwire;
/// the login must complete within `login_timeout`.
async fn serve_postgres(
    socket: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    listener: Arc<PgListener>,
    cluster: Arc<Cluster>,
    shared: PgShared,
    login_timeout: Duration,
    keepalive: Option<Duration>,
) {
    let PgShared { keys, parameters } = shared;
    use crate::pg::startup::{screen, Screened};
    if let Some(idle) = keepalive {
        crate::pg::startup::keepalive(&socket, idle);
    }
    let stream = match screen(socket, &keys, listener.tls.as_ref(), login_timeout).await {
        Screened::Session(stream) => stream,
        Screened::Done => return,
        Screened::Refused => {
            cluster
                .counters()
                .startup_refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
    };
    let connection = Connection::new(&cluster, &keys, &parameters);
    let logged_in = connection.logged_in.clone();
    let hangup = match crate::pg::startup::watch_hangup(stream.tcp(), connection.canceller.clone())
    {
        Ok(task) => Some(task),
        Err(e) => {
            tracing::debug!(%peer, error = %e, "cannot watch the client socket for a hang-up");
            None
        }
    };
    let _stop_watch = AbortOnDrop(hangup);
    let ending = connection.clone();
    let serving = crate::pg::serve::serve(stream, connection, &listener.door);
    tokio::pin!(serving);
    let result = tokio::select! {
        r = &mut serving => r,
        _ = tokio::time::sleep(login_timeout) => {
            if !logged_in.get() {
                cluster.counters().startup_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(%peer, ?login_timeout, "client did not log in in time; closed");
                return;
            }
            serving.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "client connection ended with an error");
    }
    ending.end().await;
}

/// Aborts a task when dropped (the hang-up watch ends with its connection).
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

pub fn run(file: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(file)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(config, file.to_path_buf()))?;
    Ok(ExitCode::SUCCESS)
}

/// Re-reads `file`: backends it adds are built and registered detached, ready to be
/// joined. Removed or changed backends need a restart (said in the log).
fn reload(cluster: &Cluster, file: &Path) -> anyhow::Result<Vec<String>> {
    let config = Config::load(file)?;
    let mut added = Vec::new();
    let built = backends(&config)?;
    for backend in built {
        let name = backend.name().to_string();
        if cluster.add_backend(backend)? {
            tracing::info!(backend = %name, "backend added by reload: detached, ready to be joined");
            added.push(name);
        }
    }
    for member in cluster.status() {
        if !config.backends.iter().any(|b| b.name == member.name) {
            tracing::warn!(backend = %member.name, "backend removed from the configuration: it stays until a restart");
        }
    }
    Ok(added)
}

async fn serve(config: Config, file: std::path::PathBuf) -> anyhow::Result<()> {
    let accounts = Arc::new(config.accounts()?);
    let admin_tokens = config.admin_tokens()?;
    std::fs::create_dir_all(&config.server.data_dir)
        .with_context(|| format!("creating {}", config.server.data_dir.display()))?;
    let log = config.log.open(&config.server.data_dir)?;
    let cluster = Cluster::start_with(
        log,
        backends(&config)?,
        Classifier::new(config.server.write_functions.clone()),
        config.cluster_options(),
    )
    .await?;
    let health = cluster.spawn_health_checks(config.health_options());
    let donor_mode: DonorMode = config.join.donor_mode.parse().map_err(anyhow::Error::msg)?;
    let auto_join = config.join.auto_join.then(|| {
        cluster.spawn_auto_join(
            crate::config::parse_duration(&config.health.interval)
                .unwrap_or(Duration::from_secs(2)),
            Some(donor_mode),
        )
    });
    let reloader: crate::admin::Reload = {
        let (cluster, file) = (cluster.clone(), file.clone());
        Arc::new(move || reload(&cluster, &file))
    };
    mdbd_engine::cluster::join::failpoint("admin-bind").await;
    let admin_listener = tokio::net::TcpListener::bind(&config.server.admin_listen)
        .await
        .with_context(|| format!("admin API: listening on {}", config.server.admin_listen))?;
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin_tls = match (&config.server.tls_cert, &config.server.tls_key) {
        (Some(cert), Some(key)) if config.server.admin_tls => {
            Some(crate::tls::Tls::load(cert, key).context("admin API TLS")?)
        }
        _ => None,
    };
    let admin_tls_certificate = admin_tls.clone();
    let admin = crate::admin::serve::serve(
        admin_listener,
        admin_tls,
        crate::admin::router(
            cluster.clone(),
            admin_tokens,
            Some(donor_mode),
            Some(reloader.clone()),
        ),
        async {
            let _ = admin_stopped.await;
        },
    );
    let admin_task = tokio::spawn(admin);
    // The client listeners after the admin API: whoever sees the daemon accept clients
    // (a readiness probe, an orchestrator) can reach its admin API too.
    let super::listeners::Bound {
        mut clients,
        tasks: accept_tasks,
        lines,
        mut certificates,
    } = super::listeners::bind(&config, &cluster, &accounts).await?;
    certificates.extend(admin_tls_certificate);
    let active = cluster.active().len();
    tracing::info!(listeners = ?lines, backends = config.backends.len(), active, "mdbd serving");
    println!(
        "mdbd: serving {} ({active} of {} backends active)",
        lines.join(", "),
        config.backends.len()
    );
    let shared = PgShared {
        keys: crate::pg::startup::CancelKeys::default(),
        parameters: crate::pg::parameters::ServerParameters::default(),
    };
    let login_timeout = config.authentication_timeout();
    let keepalive = config.tcp_keepalive();
    let loops = super::loops::ClientLoops::start(
        config
            .server
            .client_threads
            .unwrap_or(super::loops::DEFAULT_THREADS),
    )
    .context("starting the client threads")?;
    tracing::debug!(threads = loops.len(), "client event loops started");
    let mut connections = tokio::task::JoinSet::new();
    let client_slots = Arc::new(tokio::sync::Semaphore::new(
        config.server.max_client_connections,
    ));
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    loop {
        tokio::select! {
            Some(client) = clients.recv() => {
                let Some(permit) = super::listeners::Slot::take(&client_slots, &cluster) else {
                    connections.spawn(super::listeners::too_many(client, cluster.clone()));
                    continue;
                };
                match client {
                    Client::Postgres(socket, peer, listener) => {
                        let (cluster, shared) = (cluster.clone(), shared.clone());
                        loops.serve(&mut connections, socket, peer, move |socket| async move {
                            serve_postgres(socket, peer, listener, cluster, shared, login_timeout, keepalive).await;
                            drop(permit);
                        });
                    }
                    Client::Mysql(socket, peer, frontend) => {
                        if let Some(idle) = keepalive {
                            crate::pg::startup::keepalive(&socket, idle);
                        }
                        loops.serve(&mut connections, socket, peer, move |socket| async move {
                            if let Err(e) = crate::mysql::serve(socket, frontend).await {
                                tracing::debug!(%peer, error = %e, "MySQL client connection ended with an error");
                            }
                            drop(permit);
                        });
                    }
                }
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = hangup.recv() => {
                for tls in &certificates {
                    match tls.reload() {
                        Ok(()) => tracing::info!(cert = %tls.cert_path().display(), "TLS certificate reloaded (SIGHUP)"),
                        Err(e) => tracing::error!(cert = %tls.cert_path().display(), error = %format!("{e:#}"), "TLS certificate not reloaded; the old one stays"),
                    }
                }
                let reloader = reloader.clone();
                match tokio::task::spawn_blocking(move || reloader()).await {
                    Ok(Ok(added)) => tracing::info!(?added, "configuration reloaded (SIGHUP)"),
                    Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "reload failed; nothing changed"),
                    Err(e) => tracing::error!(error = %e, "reload failed"),
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    for task in &accept_tasks {
        task.abort();
    }
    drop(clients);
    tracing::info!(
        open = connections.len(),
        "shutting down: no new connections"
    );
    if tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the drain time; closing them"
        );
        connections.shutdown().await;
    }
    // The loops' threads end with their runtimes (what is left there: idle backend
    // connections' I/O tasks).
    let _ = tokio::task::spawn_blocking(move || drop(loops)).await;
    health.abort();
    let _ = health.await;
    if let Some(task) = auto_join {
        task.abort();
    }
    let _ = stop_admin.send(());
    let _ = admin_task.await;
    // Closing the log syncs it one last time. A store that no longer takes writes (a
    // full disk) could keep that sync waiting forever; every acknowledged write was synced
    // when it was acknowledged, so the wait is bounded and the process then exits, which
    // also releases the store's lock for the next start.
    let closing = tokio::task::spawn_blocking(move || drop(cluster));
    if tokio::time::timeout(CLOSE_LOG, closing).await.is_err() {
        tracing::error!(?CLOSE_LOG, "the delta log did not close in time (is its disk full?); exiting without the final sync: every acknowledged write was already synced");
        eprintln!("mdbd: the delta log did not close within {CLOSE_LOG:?}; exiting");
        std::process::exit(1);
    }
    println!("mdbd: stopped");
    Ok(())
}
