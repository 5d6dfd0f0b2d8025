//! `[log]` and `[log.jetstream]`: where the delta log lives and when an append counts as
//! done; opening it.

use super::{parse_duration, ConfigError};
use anyhow::Context;
use mdbd_engine::log::{DeltaLog, Durability, LogOptions};
use mdbd_jetstream::{JetStreamOptions, JetStreamStorage};
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;

/// Where the log's frames and metadata are stored.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogStore {
    /// sled in `data_dir/log`: embedded, on this machine's disk.
    #[default]
    Sled,
    /// A NATS JetStream stream and bucket (`[log.jetstream]`): replicated off this machine.
    Jetstream,
}

/// `[log]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    pub store: LogStore,
    pub durability: String,
    pub interval: String,
    pub compression_level: i32,
    pub retention_bytes: Option<u64>,
    pub jetstream: LogJetStream,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            store: LogStore::Sled,
            durability: "fsync".into(),
            interval: "100ms".into(),
            compression_level: 1,
            retention_bytes: None,
            jetstream: LogJetStream::default(),
        }
    }
}

/// `[log.jetstream]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogJetStream {
    pub servers: Vec<String>,
    pub name: String,
    pub replicas: usize,
    pub timeout: String,
    pub open_timeout: String,
}

impl Default for LogJetStream {
    fn default() -> Self {
        let d = JetStreamOptions::default();
        LogJetStream {
            servers: d.servers,
            name: d.name,
            replicas: d.replicas,
            timeout: "15s".into(),
            open_timeout: "30s".into(),
        }
    }
}

impl Log {
    pub(super) fn validate(
        &self,
        err: &dyn Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        parse_duration(&self.interval)
            .map_err(|e| err("interval", format!("interval = {:?}: {e}", self.interval)))?;
        if !matches!(self.durability.as_str(), "fsync" | "interval" | "none") {
            return Err(err(
                "durability",
                format!(
                    "durability = {:?}: use \"fsync\", \"interval\" or \"none\"",
                    self.durability
                ),
            ));
        }
        if !(0..=22).contains(&self.compression_level) {
            return Err(err(
                "compression_level",
                format!(
                    "compression_level = {}: use 0 (off) to 22",
                    self.compression_level
                ),
            ));
        }
        let js = &self.jetstream;
        for (key, value) in [("timeout", &js.timeout), ("open_timeout", &js.open_timeout)] {
            parse_duration(value).map_err(|e| err(key, format!("{key} = {value:?}: {e}")))?;
        }
        mdbd_jetstream::names::check_name(&js.name).map_err(|e| err("name", e))?;
        mdbd_jetstream::names::check_replicas(js.replicas).map_err(|e| err("replicas", e))?;
        if self.store == LogStore::Jetstream && js.servers.is_empty() {
            return Err(err(
                "servers",
                "[log.jetstream] servers: at least one nats:// address is needed".into(),
            ));
        }
        Ok(())
    }

    /// The log's options from this section.
    pub fn options(&self) -> anyhow::Result<LogOptions> {
        let durability = match self.durability.as_str() {
            "none" => Durability::None,
            "interval" => {
                Durability::Interval(parse_duration(&self.interval).map_err(anyhow::Error::msg)?)
            }
            _ => Durability::Fsync,
        };
        Ok(LogOptions {
            durability,
            compression_level: (self.compression_level > 0).then_some(self.compression_level),
            retention_bytes: self.retention_bytes,
            ..LogOptions::default()
        })
    }

    fn jetstream_options(&self) -> anyhow::Result<JetStreamOptions> {
        let js = &self.jetstream;
        Ok(JetStreamOptions {
            servers: js.servers.clone(),
            name: js.name.clone(),
            replicas: js.replicas,
            timeout: parse_duration(&js.timeout).map_err(anyhow::Error::msg)?,
            open_timeout: parse_duration(&js.open_timeout).map_err(anyhow::Error::msg)?,
        })
    }

    /// On JetStream, the log opened to be read only (`mdbd log verify --config`): the
    /// daemon writing it is not disturbed. `None` for a sled log (its directory is read).
    pub fn open_read_only(&self) -> anyhow::Result<Option<DeltaLog>> {
        if self.store != LogStore::Jetstream {
            return Ok(None);
        }
        let storage = JetStreamStorage::open_read_only(&self.jetstream_options()?)
            .context("opening the delta log on JetStream")?;
        let log = DeltaLog::open_with_storage(Arc::new(storage), LogOptions::default())
            .context("reading the delta log on JetStream")?;
        Ok(Some(log))
    }

    /// Opens the log where `store` says: sled in `data_dir/log`, or JetStream.
    pub fn open(&self, data_dir: &Path) -> anyhow::Result<DeltaLog> {
        let mut options = self.options()?;
        match self.store {
            LogStore::Sled => {
                let dir = data_dir.join("log");
                DeltaLog::open(&dir, options)
                    .with_context(|| format!("opening the delta log in {}", dir.display()))
            }
            LogStore::Jetstream => {
                let js = &self.jetstream;
                let storage =
                    JetStreamStorage::open(&self.jetstream_options()?).with_context(|| {
                        format!(
                            "opening the delta log on JetStream ({})",
                            js.servers.join(", ")
                        )
                    })?;
                // Every frame must fit in one message: a batch closes at `batch_bytes` and
                // may then hold one record of up to `part_bytes`, compressed or not
                // (stored frames can be a little larger than their raw payload).
                let max = storage.max_frame_len();
                let room = max.saturating_sub(max / 64 + (8 << 10));
                if options.batch_bytes + options.part_bytes > room {
                    options.batch_bytes = options.batch_bytes.min(room / 4).max(1);
                    options.part_bytes = (room - options.batch_bytes).max(1024);
                }
                DeltaLog::open_with_storage(Arc::new(storage), options)
                    .context("opening the delta log on JetStream")
            }
        }
    }
}
