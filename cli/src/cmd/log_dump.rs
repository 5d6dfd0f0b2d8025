//! `mdbd log dump DIR [--from LSN] [--limit N]`: print records in human-readable form.

use super::open_for_inspection;
use crate::format::record;
use mdbd_engine::log::Lsn;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

pub fn run(
    dir: Option<&Path>,
    config: Option<&Path>,
    from: Option<u64>,
    limit: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let (log, _) = open_for_inspection(dir, config)?;
    let from = from.map(Lsn).unwrap_or_else(|| log.first());
    let mut out = std::io::stdout().lock();
    let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    for item in log.read_from(from)?.take(limit) {
        let logged = item?;
        // A closed pipe (`| head`) ends the dump quietly.
        if write!(out, "{}", record(&logged)).is_err() {
            break;
        }
    }
    if let Some(c) = &log.recovery_report().corruption {
        eprintln!("warning: the log is corrupt at LSN {} (part {}): {}; records from there on are not shown", c.lsn, c.part, c.reason);
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
