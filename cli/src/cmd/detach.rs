//! `mdbd detach NAME`: take a backend out of service (through the admin API).

use super::admin_target;
use crate::admin::client::call;
use std::path::Path;
use std::process::ExitCode;

pub fn run(name: &str, config: Option<&Path>, admin: Option<&str>) -> anyhow::Result<ExitCode> {
    let (addr, token) = admin_target(config, admin)?;
    call(
        &addr,
        "POST",
        &format!("/v1/backends/{name}/detach"),
        token.as_deref(),
    )?;
    println!("{name}: detached");
    Ok(ExitCode::SUCCESS)
}
