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

/// The log `mdbd log verify` and `dump` read, and how to name it: the sled directory
/// `dir`, or the log of the config file `config` (a sled one in its `data_dir`, a
/// JetStream one read only).
pub fn open_for_inspection(
    dir: Option<&Path>,
    config: Option<&Path>,
) -> anyhow::Result<(DeltaLog, String)> {
    match (dir, config) {
        (Some(dir), _) => Ok((open_existing(dir)?, dir.display().to_string())),
        (None, Some(file)) => {
            let config = crate::config::Config::load(file)?;
            match config.log.open_read_only()? {
                Some(log) => Ok((
                    log,
                    format!(
                        "JetStream log {:?} on {}",
                        config.log.jetstream.name,
                        config.log.jetstream.servers.join(", ")
                    ),
                )),
                None => {
                    let dir = config.server.data_dir.join("log");
                    Ok((open_existing(&dir)?, dir.display().to_string()))
                }
            }
        }
        (None, None) => bail!("give a log directory or --config"),
    }
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
