//! One module per subcommand.

pub mod check_config;
pub mod log_dump;
pub mod log_verify;
pub mod run;

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
