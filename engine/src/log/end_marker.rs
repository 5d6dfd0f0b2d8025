//! The end marker: a tiny file beside the store that records an LSN the log is known to
//! have held durably, so that open can tell "the log ends here" from "the store lost
//! records".
//!
//! Why: sled checksums its own on-disk log and, at recovery, treats the first bad checksum
//! as a torn write and drops everything after it. That is right for a crash mid-write and
//! silent data loss for a flipped bit in the middle. Our frame CRCs cannot see records the
//! store never returns, so open compares the recovered end with this marker and reports
//! any shortfall as corruption. The marker is rewritten (atomically: temp file, fsync,
//! rename, fsync of the directory) by the background thread about once a second and at
//! close, so it protects everything older than that.

use super::lsn::Lsn;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

const FILE: &str = "END";
const HEADER: &str = "mdbd delta log end marker v1";

/// The marker file of one log directory.
#[derive(Clone, Debug)]
pub(crate) struct EndMarker {
    dir: PathBuf,
}

impl EndMarker {
    pub fn new(dir: &Path) -> Self {
        EndMarker {
            dir: dir.to_path_buf(),
        }
    }

    /// The recorded end, or `None` when there is no marker. A marker that does not parse is
    /// reported and ignored: it can only weaken detection, never block the log.
    pub fn read(&self) -> Option<Lsn> {
        let text = fs::read_to_string(self.dir.join(FILE)).ok()?;
        let parsed = parse(&text);
        if parsed.is_none() {
            tracing::warn!(path = %self.dir.join(FILE).display(), "end marker unreadable; ignoring it");
        }
        parsed
    }

    /// Durably records `end`.
    pub fn write(&self, end: Lsn) -> std::io::Result<()> {
        let body = format!("{HEADER}\nend={}\n", end.get());
        let text = format!("{body}crc={:08x}\n", crc32fast::hash(body.as_bytes()));
        let tmp = self.dir.join(format!("{FILE}.tmp"));
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, self.dir.join(FILE))?;
        File::open(&self.dir)?.sync_all()
    }
}

fn parse(text: &str) -> Option<Lsn> {
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    let end_line = lines.next()?;
    let end = end_line.strip_prefix("end=")?.parse().ok()?;
    let crc = u32::from_str_radix(lines.next()?.strip_prefix("crc=")?, 16).ok()?;
    let body = format!("{HEADER}\n{end_line}\n");
    (crc32fast::hash(body.as_bytes()) == crc).then_some(Lsn(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reads_and_rejects_a_damaged_marker() {
        let dir = tempfile::tempdir().unwrap();
        let m = EndMarker::new(dir.path());
        assert_eq!(m.read(), None);
        m.write(Lsn(1234)).unwrap();
        assert_eq!(m.read(), Some(Lsn(1234)));
        let text = fs::read_to_string(dir.path().join(FILE))
            .unwrap()
            .replace("1234", "1235");
        fs::write(dir.path().join(FILE), text).unwrap();
        assert_eq!(m.read(), None);
    }
}
