//! `mdbd check-config FILE`: validate a configuration without starting anything.

use crate::config::Config;
use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path) -> anyhow::Result<ExitCode> {
    let loaded = Config::load(file).and_then(|c| {
        // The secrets' sources (variables, files, verifiers) are checked too.
        c.accounts()?;
        c.admin_tokens()?;
        Ok(c)
    });
    match loaded {
        Ok(c) => {
            println!(
                "{}: OK ({} {:?} backends, listen {}, admin {})",
                file.display(),
                c.backends.len(),
                c.backends[0].kind,
                c.listeners()
                    .iter()
                    .map(|l| format!("{:?} {}", l.protocol, l.address()).to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", "),
                c.server.admin_listen
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}
