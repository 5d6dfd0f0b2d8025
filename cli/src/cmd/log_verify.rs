//! `mdbd log verify DIR`: open the log (which checks every frame's CRC, decodes every
//! record and checks the LSN chain) and report what was found.

use super::open_for_inspection;
use crate::format::{bytes, ratio};
use std::path::Path;
use std::process::ExitCode;

/// Exit status when the log is corrupt.
const CORRUPT: u8 = 2;

pub fn run(dir: Option<&Path>, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (log, name) = open_for_inspection(dir, config)?;
    let report = log.recovery_report().clone();
    let cursors = log.cursors()?;
    println!("delta log   {name}");
    let range = if report.end > report.first {
        format!("LSN {}..={}", report.first, report.end.get() - 1)
    } else {
        format!("empty, next LSN {}", report.end)
    };
    println!("records     {} ({range})", report.records);
    println!("frames      {}", report.frames);
    println!("stored      {}", bytes(report.stored_bytes));
    println!(
        "raw         {} (compression {})",
        bytes(report.raw_bytes),
        ratio(report.raw_bytes, report.stored_bytes)
    );
    for (name, lsn) in &cursors {
        println!("cursor      {name} at LSN {lsn}");
    }
    match &report.corruption {
        None => {
            println!("status      OK");
            Ok(ExitCode::SUCCESS)
        }
        Some(c) => {
            println!(
                "status      CORRUPT at LSN {} (part {}): {}",
                c.lsn, c.part, c.reason
            );
            println!("            the intact log ends before LSN {}; appends are refused until an operator acts", report.end);
            Ok(ExitCode::from(CORRUPT))
        }
    }
}
