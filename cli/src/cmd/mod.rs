//! One module per subcommand.

pub mod check_config;
pub mod detach;
pub mod join;
pub mod listeners;
pub mod log_dump;
pub mod log_verify;
pub mod loops;
pub mod passwd;
pub mod reload;
pub mod run;
pub mod status;

use anyhow::{bail, Context};
use mdbd_engine::log::{DeltaLog, LogOptions};
use std::path::Path;

/// Opens an existing log for inspection; refuses to create one where there is none.
pub fn open_existing(dir: &Path) -> anyhow::Result<DeltaLog> {
    if !dir.join("db").is_file() {
        bail!(
            "{} is not a delta log directory (no sled database in it)",
            dir.display()
        );
    }
    DeltaLog::open(dir, LogOptions::default()).with_context(|| {
        format!(
            "opening the delta log in {} (is a daemon running on it?)",
            dir.display()
        )
    })
}

/// Where the admin API is and its token: `--admin` wins, then the config file's
/// `admin_listen`, then the default; the token from the config or `MDBD_ADMIN_TOKEN`.
pub fn admin_target(
    config: Option<&Path>,
    admin: Option<&str>,
) -> anyhow::Result<(String, Option<String>)> {
    let loaded = config.map(crate::config::Config::load).transpose()?;
    let addr = admin
        .map(str::to_string)
        .or_else(|| loaded.as_ref().map(|c| c.server.admin_listen.clone()))
        .unwrap_or_else(|| "127.0.0.1:6480".into());
    let token = match std::env::var("MDBD_ADMIN_TOKEN") {
        Ok(t) => Some(t),
        Err(_) => match loaded {
            Some(c) => c.admin_tokens()?.operator,
            None => None,
        },
    };
    Ok((addr, token))
}
