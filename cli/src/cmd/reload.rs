//! `mdbd reload`: the daemon re-reads its configuration file (as on SIGHUP); backends
//! added to it are registered detached, ready to be joined.

use super::admin_target;
use crate::admin::client::call;
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: Option<&Path>, admin: Option<&str>) -> anyhow::Result<ExitCode> {
    let (addr, token) = admin_target(config, admin)?;
    let answer = call(&addr, "POST", "/v1/reload", token.as_deref())?;
    let added: Vec<&str> = answer["added"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    if added.is_empty() {
        println!("configuration reloaded; no backend added");
    } else {
        println!(
            "configuration reloaded; added (detached, ready to be joined): {}",
            added.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
