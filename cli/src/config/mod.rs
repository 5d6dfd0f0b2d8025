//! The configuration file (TOML): what `mdbd run` reads and `mdbd check-config` checks.
//!
//! Every key is documented in `docs/configuration.md`. Unknown keys and bad values are
//! rejected with the file, the line and what was expected.

mod backend;
mod duration;
mod limits;
mod log;
mod security;

pub use security::{Account, Accounts, AdminTokens, Method, SslMode, User};

pub use backend::{BackendConfig, Kind};
pub use duration::parse_duration;
pub use log::Log;

use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listeners, data directory, routing.
    #[serde(default)]
    pub server: Server,
    /// The delta log.
    #[serde(default)]
    pub log: Log,
    /// Health checks.
    #[serde(default)]
    pub health: Health,
    /// Online joins.
    #[serde(default)]
    pub join: Join,
    /// Front-end users.
    #[serde(default, rename = "user")]
    pub users: Vec<User>,
    /// Client listeners; without any, one PostgreSQL listener on `[server] listen`.
    #[serde(default, rename = "listener")]
    pub listeners: Vec<Listener>,
    /// The backends, in priority order (the first breaks ties).
    #[serde(rename = "backend")]
    pub backends: Vec<BackendConfig>,
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// The PostgreSQL listener when no `[[listener]]` is given.
    pub listen: Option<String>,
    pub admin_listen: String,
    pub data_dir: PathBuf,
    pub consistency: String,
    pub write_turn_timeout: String,
    pub read_routing: String,
    pub write_functions: Vec<String>,
    /// The admin API's operator token (everything), inline, from a variable or a file.
    pub admin_token: Option<String>,
    pub admin_token_env: Option<String>,
    pub admin_token_file: Option<PathBuf>,
    /// A read-only token (status and metrics).
    pub admin_read_token: Option<String>,
    pub admin_read_token_env: Option<String>,
    pub admin_read_token_file: Option<PathBuf>,
    /// Serve the admin API over TLS with `tls_cert`/`tls_key`.
    pub admin_tls: bool,
    /// The certificate chain and key (PEM) of every listener that has none of its own.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Client connections open at once, all listeners together.
    pub max_client_connections: usize,
    /// Threads serving client connections, each a single-threaded event loop (none: one
    /// per core).
    pub client_threads: Option<usize>,
    /// The wait after a failed login from an address, doubling per failure in a row.
    pub auth_failure_delay: String,
    pub auth_failure_delay_max: String,
    /// Deadline of one backend operation before the server is probed.
    pub backend_timeout: String,
    /// How long a session waits for a free backend connection.
    pub pool_timeout: String,
    /// A transaction whose client sends nothing for this long is ended (`0s`: never).
    pub idle_in_transaction_timeout: String,
    /// A client must have logged in within this time.
    pub authentication_timeout: String,
    /// TCP keepalive idle time on client sockets (`0s`: off).
    pub tcp_keepalive: String,
    /// `keyed`: how long a statement waits for mdbd's row and table locks.
    pub lock_wait_timeout: String,
    /// `keyed`: how long mdbd's sessions wait for a lock inside a backend (PostgreSQL
    /// `lock_timeout`; MySQL `innodb_lock_wait_timeout`, rounded up to whole seconds).
    pub backend_lock_timeout: String,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: None,
            admin_listen: "127.0.0.1:6480".into(),
            data_dir: "mdbd-data".into(),
            consistency: "serial".into(),
            write_turn_timeout: "60s".into(),
            read_routing: "round_robin".into(),
            write_functions: mdbd_engine::cluster::DEFAULT_WRITE_FUNCTIONS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            admin_token: None,
            admin_token_env: None,
            admin_token_file: None,
            admin_read_token: None,
            admin_read_token_env: None,
            admin_read_token_file: None,
            admin_tls: false,
            tls_cert: None,
            tls_key: None,
            max_client_connections: 1000,
            client_threads: None,
            auth_failure_delay: "200ms".into(),
            auth_failure_delay_max: "5s".into(),
            backend_timeout: "5s".into(),
            pool_timeout: "5s".into(),
            idle_in_transaction_timeout: "30s".into(),
            authentication_timeout: "10s".into(),
            tcp_keepalive: "60s".into(),
            lock_wait_timeout: "5s".into(),
            backend_lock_timeout: "1s".into(),
        }
    }
}

/// `[health]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Health {
    pub interval: String,
    pub timeout: String,
    /// Failed checks in a row before a backend is detached.
    pub failures: u32,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            interval: "2s".into(),
            timeout: "5s".into(),
            failures: 3,
        }
    }
}

/// `[join]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Join {
    /// `online` (the donor keeps serving) or `detach` (it leaves service meanwhile).
    pub donor_mode: String,
    /// Join detached, healthy backends automatically (not those the operator detached).
    pub auto_join: bool,
}

impl Default for Join {
    fn default() -> Self {
        Join {
            donor_mode: "online".into(),
            auto_join: false,
        }
    }
}

/// The wire protocol of a listener.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Postgres,
    Mysql,
}

/// `[[listener]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub protocol: Protocol,
    /// Default: 127.0.0.1:6432 (postgres), 127.0.0.1:6033 (mysql).
    pub listen: Option<String>,
    /// The database name clients connect to (and on MySQL `USE`); any other is refused
    /// (3D000, 1049). Default: the first backend's database.
    pub database: Option<String>,
    /// Other names clients may connect with for the same database.
    #[serde(default)]
    pub database_aliases: Vec<String>,
    /// TLS for this listener: `disable`, `allow` (default with a certificate), `require`.
    pub ssl: Option<SslMode>,
    /// This listener's own certificate and key (PEM), in place of `[server]`'s.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// The PostgreSQL listener's default address.
pub const DEFAULT_PG_LISTEN: &str = "127.0.0.1:6432";
/// The MySQL listener's default address.
pub const DEFAULT_MYSQL_LISTEN: &str = "127.0.0.1:6033";

impl Listener {
    /// Its address, the default of its protocol when none is given.
    pub fn address(&self) -> &str {
        self.listen.as_deref().unwrap_or(match self.protocol {
            Protocol::Postgres => DEFAULT_PG_LISTEN,
            Protocol::Mysql => DEFAULT_MYSQL_LISTEN,
        })
    }
}

/// A configuration error, with where it is.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The line of the first occurrence of `needle` in `text` (1-based).
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.into(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(path, &text)
    }

    /// Parses and checks `text`, as read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            ConfigError {
                file: path.into(),
                line,
                message: e.message().trim().to_string(),
            }
        })?;
        config.validate(path, text)?;
        Ok(config)
    }

    fn validate(&self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let err = |needle: &str, message: String| ConfigError {
            file: path.into(),
            line: line_of(text, needle),
            message,
        };
        if self.server.listen.is_some() && !self.listeners.is_empty() {
            return Err(err(
                "[[listener]]",
                "[server] listen and [[listener]] tables together: give every listener as a [[listener]]".into(),
            ));
        }
        let listeners = self.listeners();
        let mut addresses = vec![("admin_listen", self.server.admin_listen.clone())];
        addresses.extend(
            listeners
                .iter()
                .map(|l| ("listen", l.address().to_string())),
        );
        let mut seen = HashSet::new();
        for (key, value) in &addresses {
            value.parse::<SocketAddr>().map_err(|e| {
                err(
                    key,
                    format!("{key} = {value:?} is not an address:port ({e})"),
                )
            })?;
            if !seen.insert(value.clone()) {
                return Err(err(value, format!("{value} is used by two listeners")));
            }
        }
        if let Err(why) = limits::consistency(&self.server.consistency) {
            return Err(err("consistency", why));
        }
        if !matches!(
            self.server.read_routing.as_str(),
            "round_robin" | "least_outstanding"
        ) {
            return Err(err(
                "read_routing",
                format!(
                    "read_routing = {:?}: use \"round_robin\" or \"least_outstanding\"",
                    self.server.read_routing
                ),
            ));
        }
        for (key, value) in [
            ("write_turn_timeout", &self.server.write_turn_timeout),
            ("backend_timeout", &self.server.backend_timeout),
            ("pool_timeout", &self.server.pool_timeout),
            (
                "idle_in_transaction_timeout",
                &self.server.idle_in_transaction_timeout,
            ),
            (
                "authentication_timeout",
                &self.server.authentication_timeout,
            ),
            ("tcp_keepalive", &self.server.tcp_keepalive),
            ("lock_wait_timeout", &self.server.lock_wait_timeout),
            ("backend_lock_timeout", &self.server.backend_lock_timeout),
            ("interval", &self.health.interval),
            ("timeout", &self.health.timeout),
        ] {
            parse_duration(value).map_err(|e| err(key, format!("{key} = {value:?}: {e}")))?;
        }
        self.validate_limits(&err)?;
        self.log.validate(&err)?;
        if let Err(e) = self
            .join
            .donor_mode
            .parse::<mdbd_engine::cluster::DonorMode>()
        {
            return Err(err("donor_mode", format!("donor_mode: {e}")));
        }
        self.validate_security(&err)?;
        if self.backends.is_empty() {
            return Err(err(
                "[[backend]]",
                "at least one [[backend]] is needed".into(),
            ));
        }
        let mut names = HashSet::new();
        let kind = self.backends[0].kind;
        for b in &self.backends {
            let at = format!("\"{}\"", b.name);
            if !names.insert(b.name.as_str()) {
                return Err(err(&at, format!("backend {:?} is defined twice", b.name)));
            }
            if b.kind != kind {
                return Err(err(
                    &at,
                    format!(
                        "backend {:?} is {:?} but {:?} is {kind:?}: a cluster is of one kind",
                        b.name, b.kind, self.backends[0].name
                    ),
                ));
            }
            if b.weight == 0 {
                return Err(err(
                    &at,
                    format!("backend {:?}: weight must be at least 1", b.name),
                ));
            }
            let (needed, present) = match b.kind {
                Kind::Sqlite => ("path", b.path.is_some()),
                Kind::Postgres => ("conninfo", b.conninfo.is_some()),
                Kind::Mysql => ("url", b.url.is_some()),
            };
            if !present {
                return Err(err(
                    &at,
                    format!("backend {:?} ({:?}) needs {needed}", b.name, b.kind),
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// The client listeners: the `[[listener]]` tables, or one PostgreSQL listener on
    /// `[server] listen` (default 127.0.0.1:6432).
    pub fn listeners(&self) -> Vec<Listener> {
        if !self.listeners.is_empty() {
            return self.listeners.clone();
        }
        vec![Listener {
            protocol: Protocol::Postgres,
            listen: Some(
                self.server
                    .listen
                    .clone()
                    .unwrap_or_else(|| DEFAULT_PG_LISTEN.into()),
            ),
            database: None,
            database_aliases: Vec::new(),
            ssl: None,
            tls_cert: None,
            tls_key: None,
        }]
    }
}

#[cfg(test)]
mod tests;
