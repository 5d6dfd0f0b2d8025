//! The front door's settings: users and where their secrets come from, TLS, admin tokens,
//! login throttling. Checked with the rest of the file; the secrets themselves (files,
//! environment variables) are read by [`Config::accounts`] and [`Config::admin_tokens`],
//! which `mdbd run` and `mdbd check-config` call.

use super::{parse_duration, Config, ConfigError, Listener};
use mdbd::auth::{caching_sha2, md5, scram};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `[[user]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    /// `scram-sha-256` (default) or `md5` for PostgreSQL listeners,
    /// `caching_sha2_password` or `mysql_native_password` for MySQL listeners, `trust` (any
    /// password; loopback listeners only) for both.
    #[serde(default = "default_auth")]
    pub auth: String,
    /// The password, or for `scram-sha-256` its verifier (`SCRAM-SHA-256$...`), for `md5`
    /// its hash (`md5...`), as `pg_authid` stores them.
    pub password: Option<String>,
    /// The name of an environment variable holding the password.
    pub password_env: Option<String>,
    /// A file holding the password (one line; a trailing newline is ignored).
    pub password_file: Option<PathBuf>,
    /// `require`: this user must connect over TLS.
    pub ssl: Option<SslMode>,
}

fn default_auth() -> String {
    "scram-sha-256".into()
}

/// TLS on a listener, or for a user.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SslMode {
    /// No TLS (PostgreSQL's SSLRequest is answered `N`).
    Disable,
    /// TLS when the client asks (the default when a certificate is configured).
    Allow,
    /// TLS or nothing.
    Require,
}

/// How one user proves who they are, with what the server keeps of the secret.
#[derive(Clone, Debug)]
pub enum Method {
    Trust,
    Scram(scram::Verifier),
    /// `md5` + hex, as stored for PostgreSQL's md5 method.
    Md5(String),
    MysqlNative(String),
    CachingSha2([u8; 32]),
}

/// A configured user, secrets resolved.
#[derive(Clone, Debug)]
pub struct Account {
    pub method: Method,
    pub require_ssl: bool,
}

/// Every configured user by name.
pub type Accounts = HashMap<String, Account>;

/// The admin API's tokens: `operator` may do everything, `read` only look.
#[derive(Clone, Debug, Default)]
pub struct AdminTokens {
    pub operator: Option<String>,
    pub read: Option<String>,
}

const METHODS: &str =
    "\"scram-sha-256\", \"md5\", \"caching_sha2_password\", \"mysql_native_password\" or \"trust\"";

fn is_loopback(address: &str) -> bool {
    address
        .parse::<SocketAddr>()
        .map(|a| a.ip().is_loopback())
        .unwrap_or(false)
}

impl Config {
    pub(super) fn validate_security(
        &self,
        err: &dyn Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let listeners = self.listeners();
        let loopback = listeners.iter().all(|l| is_loopback(l.address()));
        let mut names = std::collections::HashSet::new();
        for u in &self.users {
            let at = format!("\"{}\"", u.name);
            if !names.insert(u.name.as_str()) {
                return Err(err(&at, format!("user {:?} is defined twice", u.name)));
            }
            let sources = [
                u.password.is_some(),
                u.password_env.is_some(),
                u.password_file.is_some(),
            ]
            .into_iter()
            .filter(|s| *s)
            .count();
            match u.auth.as_str() {
                "trust" if !loopback => {
                    return Err(err(
                        "trust",
                        format!(
                            "user {:?}: trust is allowed only when every listener is on a loopback address",
                            u.name
                        ),
                    ))
                }
                "trust" => {}
                "scram-sha-256" | "md5" | "caching_sha2_password" | "mysql_native_password" => {
                    if sources != 1 {
                        return Err(err(
                            &at,
                            format!(
                                "user {:?} needs exactly one of password, password_env, password_file for {}",
                                u.name, u.auth
                            ),
                        ));
                    }
                }
                other => {
                    return Err(err(
                        other,
                        format!("user {:?}: auth = {other:?}: use {METHODS}", u.name),
                    ))
                }
            }
            if u.ssl == Some(SslMode::Require)
                && !listeners.iter().any(|l| self.tls_of(l).is_some())
            {
                return Err(err(
                    &at,
                    format!("user {:?}: ssl = \"require\" but no listener has a certificate (tls_cert, tls_key)", u.name),
                ));
            }
        }
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            return Err(err(
                "tls_",
                "[server] tls_cert and tls_key go together".into(),
            ));
        }
        for l in &listeners {
            if l.tls_cert.is_some() != l.tls_key.is_some() {
                return Err(err(
                    "tls_",
                    format!("listener {}: tls_cert and tls_key go together", l.address()),
                ));
            }
            if l.ssl == Some(SslMode::Require) && self.tls_of(l).is_none() {
                return Err(err(
                    "ssl",
                    format!(
                        "listener {}: ssl = \"require\" needs tls_cert and tls_key (on it or in [server])",
                        l.address()
                    ),
                ));
            }
        }
        if self.server.admin_tls && self.server.tls_cert.is_none() {
            return Err(err(
                "admin_tls",
                "admin_tls = true needs [server] tls_cert and tls_key".into(),
            ));
        }
        let s = &self.server;
        if !is_loopback(&s.admin_listen)
            && s.admin_token.is_none()
            && s.admin_token_env.is_none()
            && s.admin_token_file.is_none()
        {
            return Err(err(
                "admin_listen",
                format!(
                    "admin_listen = {:?} is not a loopback address: an operator token is required (admin_token, admin_token_env or admin_token_file)",
                    s.admin_listen
                ),
            ));
        }
        for (key, value) in [
            ("auth_failure_delay", &s.auth_failure_delay),
            ("auth_failure_delay_max", &s.auth_failure_delay_max),
        ] {
            parse_duration(value).map_err(|e| err(key, format!("{key} = {value:?}: {e}")))?;
        }
        if s.max_client_connections == 0 {
            return Err(err(
                "max_client_connections",
                "max_client_connections = 0: use 1 or more".into(),
            ));
        }
        if s.client_threads == Some(0) {
            return Err(err(
                "client_threads",
                "client_threads = 0: use 1 or more (or leave it out: one per core)".into(),
            ));
        }
        Ok(())
    }

    /// The certificate and key a listener serves TLS with: its own, else `[server]`'s;
    /// `None` when it has none or `ssl = "disable"`.
    pub fn tls_of(&self, listener: &Listener) -> Option<(PathBuf, PathBuf)> {
        if listener.ssl == Some(SslMode::Disable) {
            return None;
        }
        match (&listener.tls_cert, &listener.tls_key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            _ => Some((self.server.tls_cert.clone()?, self.server.tls_key.clone()?)),
        }
    }

    /// Every user with its secret read and turned into what the server keeps. Errors name
    /// the user and the source (a missing variable, an unreadable file, a bad verifier).
    pub fn accounts(&self) -> Result<Accounts, ConfigError> {
        let mut accounts = HashMap::new();
        for u in &self.users {
            let fail = |message: String| ConfigError {
                file: PathBuf::from("[[user]]"),
                line: None,
                message: format!("user {:?}: {message}", u.name),
            };
            let secret = secret(&u.password, &u.password_env, &u.password_file).map_err(fail)?;
            let method = match (u.auth.as_str(), secret) {
                ("trust", _) => Method::Trust,
                ("scram-sha-256", Some(s)) if s.starts_with("SCRAM-SHA-256$") => {
                    Method::Scram(scram::Verifier::parse(&s).map_err(|e| fail(e.to_string()))?)
                }
                ("scram-sha-256", Some(s)) => Method::Scram(scram::Verifier::generate(&s)),
                ("md5", Some(s)) if md5::is_stored_form(&s) => Method::Md5(s),
                ("md5", Some(s)) => Method::Md5(md5::stored(&u.name, &s)),
                ("mysql_native_password", Some(s)) => Method::MysqlNative(s),
                ("caching_sha2_password", Some(s)) => Method::CachingSha2(caching_sha2::stored(&s)),
                (method, _) => return Err(fail(format!("no password for {method}"))),
            };
            accounts.insert(
                u.name.clone(),
                Account {
                    method,
                    require_ssl: u.ssl == Some(SslMode::Require),
                },
            );
        }
        Ok(accounts)
    }

    /// The admin tokens, read from where they are configured.
    pub fn admin_tokens(&self) -> Result<AdminTokens, ConfigError> {
        let s = &self.server;
        let fail = |message: String| ConfigError {
            file: PathBuf::from("[server]"),
            line: None,
            message,
        };
        Ok(AdminTokens {
            operator: secret(&s.admin_token, &s.admin_token_env, &s.admin_token_file)
                .map_err(|e| fail(format!("admin token: {e}")))?,
            read: secret(
                &s.admin_read_token,
                &s.admin_read_token_env,
                &s.admin_read_token_file,
            )
            .map_err(|e| fail(format!("admin read token: {e}")))?,
        })
    }

    /// Delays after failed logins: (first, max).
    pub fn auth_failure_delays(&self) -> (Duration, Duration) {
        let d = |t: &str| parse_duration(t).unwrap_or_default();
        (
            d(&self.server.auth_failure_delay),
            d(&self.server.auth_failure_delay_max),
        )
    }
}

/// A secret given inline, by environment variable or by file.
fn secret(
    inline: &Option<String>,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<String>, String> {
    if let Some(s) = inline {
        return Ok(Some(s.clone()));
    }
    if let Some(name) = env {
        return std::env::var(name)
            .map(Some)
            .map_err(|e| format!("environment variable {name}: {e}"));
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.is_empty() {
            return Err(format!("{} is empty", path.display()));
        }
        return Ok(Some(text.to_string()));
    }
    Ok(None)
}
