//! `mdbd join NAME [--donor D] [--mode M] [--force-snapshot] [--no-wait]`: requests an
//! online join through the admin API, then shows a live progress bar of the snapshot
//! bytes and then of the replay lag, until the server is active (exit 0) or the join is
//! aborted (exit 1, with the reason).

use super::admin_target;
use crate::admin::client::call;
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// What `mdbd join` was asked.
pub struct Request<'a> {
    pub name: &'a str,
    pub donor: Option<&'a str>,
    pub mode: Option<&'a str>,
    pub force_snapshot: bool,
    pub wait: bool,
}

pub fn run(req: Request, config: Option<&Path>, admin: Option<&str>) -> anyhow::Result<ExitCode> {
    let (addr, token) = admin_target(config, admin)?;
    let mut query = Vec::new();
    if let Some(d) = req.donor {
        query.push(format!("donor={d}"));
    }
    if let Some(m) = req.mode {
        query.push(format!("mode={m}"));
    }
    if req.force_snapshot {
        query.push("force_snapshot=true".into());
    }
    let path = format!("/v1/backends/{}/join?{}", req.name, query.join("&"));
    let started = call(&addr, "POST", &path, token.as_deref())?;
    let id = started["id"]
        .as_u64()
        .context("the answer names no join id")?;
    println!("{}: join {id} started", req.name);
    if !req.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let bar = ProgressBar::new(0);
    let mut showing = String::new();
    loop {
        let j = call(&addr, "GET", &format!("/v1/joins/{id}"), token.as_deref())?;
        let phase = j["phase"].as_str().unwrap_or("?").to_string();
        match phase.as_str() {
            "finished" => {
                bar.finish_and_clear();
                let pauses: Vec<u64> = j["pauses_micros"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_u64())
                    .collect();
                let how = if j["delta_only"].as_bool() == Some(true) {
                    "delta replay only".to_string()
                } else {
                    format!("snapshot of {} bytes", j["snapshot"]["bytes"])
                };
                println!(
                    "{}: active (join {id}: {how}; switch-over pauses {pauses:?} µs)",
                    req.name
                );
                return Ok(ExitCode::SUCCESS);
            }
            "aborted" => {
                bar.finish_and_clear();
                bail!(
                    "join {id} aborted: {}",
                    j["reason"].as_str().unwrap_or("no reason recorded")
                );
            }
            "snapshot" => {
                if showing != "snapshot" {
                    bar.set_style(
                        ProgressStyle::with_template(
                            "snapshot {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    showing = phase.clone();
                }
                bar.set_length(j["snapshot"]["estimated_total"].as_u64().unwrap_or(0));
                bar.set_position(j["snapshot"]["bytes"].as_u64().unwrap_or(0));
            }
            "catch_up" => {
                if showing != "catch_up" {
                    bar.set_style(
                        ProgressStyle::with_template("catch-up: {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    showing = phase.clone();
                }
                let lag: Vec<String> = j["lag"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k} {v} records behind"))
                    .collect();
                let switching = if j["switching"].as_bool() == Some(true) {
                    " (switching over)"
                } else {
                    ""
                };
                bar.set_message(format!("{}{switching}", lag.join(", ")));
                bar.tick();
            }
            other => bar.set_message(other.to_string()),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
