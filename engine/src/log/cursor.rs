//! Named cursors: one per consumer that must be able to read from some LSN on (a server
//! catching up). A cursor at LSN `c` means "this consumer still needs every record from
//! `c` on"; truncation never removes them. Cursors live in the metadata tree.

use super::lsn::Lsn;
use super::storage::LogStorage;
use super::LogError;
use std::collections::BTreeMap;

const PREFIX: &str = "cursor/";

pub(crate) fn key(name: &str) -> Result<String, LogError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !valid {
        return Err(LogError::InvalidCursorName(name.to_string()));
    }
    Ok(format!("{PREFIX}{name}"))
}

fn parse(value: &[u8]) -> Option<Lsn> {
    let bytes: [u8; 8] = value.try_into().ok()?;
    Some(Lsn(u64::from_be_bytes(bytes)))
}

pub(crate) fn get(storage: &dyn LogStorage, name: &str) -> Result<Option<Lsn>, LogError> {
    Ok(storage.get_meta(&key(name)?)?.and_then(|v| parse(&v)))
}

pub(crate) fn all(storage: &dyn LogStorage) -> Result<BTreeMap<String, Lsn>, LogError> {
    let mut out = BTreeMap::new();
    for (k, v) in storage.scan_meta(PREFIX)? {
        if let Some(lsn) = parse(&v) {
            out.insert(k[PREFIX.len()..].to_string(), lsn);
        }
    }
    Ok(out)
}

pub(crate) fn min_cursor(storage: &dyn LogStorage) -> Result<Option<Lsn>, LogError> {
    Ok(all(storage)?.into_values().min())
}
