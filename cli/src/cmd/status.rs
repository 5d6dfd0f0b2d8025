//! `mdbd status`: the cluster as a table (from the admin API).

use super::admin_target;
use crate::admin::client::call;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: Option<&Path>, admin: Option<&str>) -> anyhow::Result<ExitCode> {
    // A closed pipe (`mdbd status | head`) ends the listing quietly instead of panicking.
    macro_rules! println {
        ($($arg:tt)*) => {
            if writeln!(std::io::stdout(), $($arg)*).is_err() {
                return Ok(ExitCode::SUCCESS);
            }
        };
    }
    let (addr, token) = admin_target(config, admin)?;
    let status = call(&addr, "GET", "/v1/status", token.as_deref())?;
    println!(
        "{:<20} {:<10} {:>12} {:>8}  reason",
        "backend", "state", "applied LSN", "lag"
    );
    for b in status["backends"].as_array().into_iter().flatten() {
        let applied = b["applied_lsn"]
            .as_u64()
            .map(|l| l.to_string())
            .unwrap_or_else(|| "?".into());
        let lag = b["lag"]
            .as_u64()
            .map(|l| l.to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<20} {:<10} {:>12} {:>8}  {}",
            b["name"].as_str().unwrap_or("?"),
            b["state"].as_str().unwrap_or("?"),
            applied,
            lag,
            b["reason"].as_str().unwrap_or("")
        );
    }
    for j in status["joins"].as_array().into_iter().flatten() {
        println!(
            "join {}: {} <- {} ({} mode), phase {}{}; snapshot {} bytes; lag {}",
            j["id"],
            j["joiner"].as_str().unwrap_or("?"),
            j["donor"].as_str().unwrap_or("-"),
            j["mode"].as_str().unwrap_or("?"),
            j["phase"].as_str().unwrap_or("?"),
            if j["switching"].as_bool() == Some(true) {
                " (switching over)"
            } else {
                ""
            },
            j["snapshot"]["bytes"],
            j["lag"]
        );
    }
    let log = &status["log"];
    if let Some(damage) = log["damage"].as_str() {
        println!("DELTA LOG DAMAGED: {damage}");
    } else if let Some(refusal) = log["refusing_appends"].as_str() {
        println!("delta log refusing appends: {refusal}");
    }
    println!(
        "delta log: LSN {}..{} ({} frames, {} bytes stored); {} client sessions",
        log["first_lsn"], log["end_lsn"], log["frames"], log["stored_bytes"], status["sessions"]
    );
    Ok(ExitCode::SUCCESS)
}
