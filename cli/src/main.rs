//! `mdbd`: the daemon that keeps several identical SQL databases in lock-step behind one
//! endpoint, and its operator commands.
//!
//! Parts of this binary:
//! - `cmd::log_verify`, `cmd::log_dump`: inspect a delta log on disk (`mdbd log ...`).
//! - `config`: the TOML configuration file and its checks; `cmd::check_config`.
//! - `cmd::run`: the daemon; `cmd::listeners`: its client listeners; `pg`: its PostgreSQL
//!   wire protocol front end; `mysql`: its MySQL one (over the codec in the library part,
//!   `mdbd::mysql_wire`); `admin`: its HTTP API, which `cmd::status`, `cmd::detach`,
//!   `cmd::join` and `cmd::reload` call.
//! - `format`: human-readable sizes, timestamps and records.
//! - `tls`: certificates for the listeners and the plain-or-TLS client stream.
//! - `cmd::passwd`: `mdbd passwd NAME` prints a SCRAM verifier for the configuration.

#![deny(unsafe_code)]

mod admin;
mod cmd;
mod config;
mod format;
mod mysql;
mod pg;
mod tls;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "mdbd", version, about = "Multiplexed SQL database daemon")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Show the cluster: backends, their state and lag, the delta log.
    Status {
        /// Read the admin address and token from this configuration file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The admin API address (default: from the config, else 127.0.0.1:6480).
        #[arg(long)]
        admin: Option<String>,
    },
    /// Take a backend out of service.
    Detach {
        /// The backend's name.
        name: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long)]
        admin: Option<String>,
    },
    /// Join a backend online (snapshot from a donor, delta replay, switch-over) and show
    /// its progress until it is active.
    Join {
        /// The backend's name.
        name: String,
        /// The donor (default: chosen by the daemon).
        #[arg(long)]
        donor: Option<String>,
        /// `online` (the donor keeps serving) or `detach` (default: from the config).
        #[arg(long)]
        mode: Option<String>,
        /// Take a snapshot even if a delta-only rejoin would do.
        #[arg(long)]
        force_snapshot: bool,
        /// Return once the join is started.
        #[arg(long)]
        no_wait: bool,
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long)]
        admin: Option<String>,
    },
    /// Make the daemon re-read its configuration file (as SIGHUP does).
    Reload {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long)]
        admin: Option<String>,
    },
    /// Check a configuration file without starting anything.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
    /// Print what the configuration keeps of a password (a `[[user]] password` value): a
    /// SCRAM-SHA-256 verifier, as `pg_authid` stores it, or an md5 hash. The password is
    /// read from standard input (one line).
    Passwd {
        /// The user's name (part of the md5 hash).
        name: String,
        /// `scram-sha-256` or `md5`.
        #[arg(long, default_value = "scram-sha-256")]
        method: String,
    },
    /// Inspect a delta log: a sled directory (the daemon must not be running on it), or
    /// the log of a config (`--config`), wherever it is stored.
    #[command(subcommand)]
    Log(LogCommand),
}

#[derive(Subcommand)]
enum LogCommand {
    /// Check every frame and record; print counts, the LSN range and sizes. Exits with
    /// status 2 when the log is corrupt, naming the LSN of the corrupt frame.
    Verify {
        /// The delta log directory (a sled log).
        #[arg(required_unless_present = "config", conflicts_with = "config")]
        dir: Option<PathBuf>,
        /// The daemon's config: its log wherever `[log] store` says (a JetStream log is
        /// read without disturbing the daemon writing it).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print records in human-readable form.
    Dump {
        /// The delta log directory (a sled log).
        #[arg(required_unless_present = "config", conflicts_with = "config")]
        dir: Option<PathBuf>,
        /// The daemon's config: its log wherever `[log] store` says.
        #[arg(long)]
        config: Option<PathBuf>,
        /// First LSN to print (default: the first stored).
        #[arg(long)]
        from: Option<u64>,
        /// Print at most this many records.
        #[arg(long)]
        limit: Option<u64>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config } => cmd::run::run(&config),
        Command::Join {
            name,
            donor,
            mode,
            force_snapshot,
            no_wait,
            config,
            admin,
        } => cmd::join::run(
            cmd::join::Request {
                name: &name,
                donor: donor.as_deref(),
                mode: mode.as_deref(),
                force_snapshot,
                wait: !no_wait,
            },
            config.as_deref(),
            admin.as_deref(),
        ),
        Command::Reload { config, admin } => cmd::reload::run(config.as_deref(), admin.as_deref()),
        Command::CheckConfig { file } => cmd::check_config::run(&file),
        Command::Passwd { name, method } => cmd::passwd::run(&name, &method),
        Command::Status { config, admin } => cmd::status::run(config.as_deref(), admin.as_deref()),
        Command::Detach {
            name,
            config,
            admin,
        } => cmd::detach::run(&name, config.as_deref(), admin.as_deref()),
        Command::Log(LogCommand::Verify { dir, config }) => {
            cmd::log_verify::run(dir.as_deref(), config.as_deref())
        }
        Command::Log(LogCommand::Dump {
            dir,
            config,
            from,
            limit,
        }) => cmd::log_dump::run(dir.as_deref(), config.as_deref(), from, limit),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
