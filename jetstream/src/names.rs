//! Names on the NATS side and the small codecs of what the store reads back from it: frame
//! keys in headers, metadata keys in the bucket, the key lists of removals. Pure and fuzzed
//! (`fuzz/fuzz_targets/jetstream_message.rs`): whatever a server sends back is checked here
//! and refused as [`Entry`] parse errors, never taken for a default.

use mdbd_engine::log::{FrameKey, Lsn};

/// Header naming what a message of the log stream is (`frame`, `commit`, `remove` or
/// `claim`).
pub const KIND: &str = "Mdbd-Kind";
/// Header with a frame's key, 24 hex digits (LSN then part, big-endian).
pub const KEY: &str = "Mdbd-Key";
/// Header with the put a frame or commit belongs to, 16 hex digits (multi-frame puts only).
pub const PUT: &str = "Mdbd-Put";

/// The stream of one log: `MDBD_LOG_<name>`.
pub fn stream(name: &str) -> String {
    format!("MDBD_LOG_{name}")
}

/// The one subject of that stream: `mdbd.<name>.log`.
pub fn subject(name: &str) -> String {
    format!("mdbd.{name}.log")
}

/// The key-value bucket of the log's metadata: `mdbd_meta_<name>`.
pub fn bucket(name: &str) -> String {
    format!("mdbd_meta_{name}")
}

/// A log name is 1 to 64 of `A-Z a-z 0-9 _ -` (it is part of stream, subject and bucket
/// names, which allow no more).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "log name {name:?} must be 1 to 64 of A-Z, a-z, 0-9, '_' and '-'"
        ))
    }
}

/// JetStream keeps 1 to 5 copies of a stream.
pub fn check_replicas(replicas: usize) -> Result<(), String> {
    if (1..=5).contains(&replicas) {
        Ok(())
    } else {
        Err(format!(
            "replicas = {replicas}: JetStream keeps 1 to 5 copies"
        ))
    }
}

/// A frame key as 24 hex digits.
pub fn key_hex(key: FrameKey) -> String {
    format!("{:016x}{:08x}", key.lsn.get(), key.part)
}

/// Parses [`key_hex`]'s output.
pub fn parse_key_hex(s: &str) -> Option<FrameKey> {
    if s.len() != 24 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let lsn = u64::from_str_radix(&s[..16], 16).ok()?;
    let part = u32::from_str_radix(&s[16..], 16).ok()?;
    Some(FrameKey {
        lsn: Lsn(lsn),
        part,
    })
}

/// A metadata key as a bucket key: bucket keys allow only `A-Z a-z 0-9 - _ = / .`, so every
/// other byte (and `=`, `/`, `.`, which have meanings there) is written `=XX`.
pub fn meta_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    if out.is_empty() {
        // An empty key has no bucket form of its own: `=` alone stands for it.
        out.push('=');
    }
    out
}

/// Parses [`meta_key`]'s output; `None` for anything it cannot have written.
pub fn parse_meta_key(s: &str) -> Option<String> {
    match s {
        "=" => return Some(String::new()),
        "" => return None,
        _ => {}
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            // Only what `meta_key` writes: upper-case digits, of a byte it escapes.
            let hex = s.get(i + 1..i + 3)?;
            if !hex
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
            {
                return None;
            }
            let byte = u8::from_str_radix(hex, 16).ok()?;
            if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
                return None;
            }
            out.push(byte);
            i += 3;
        } else if b[i].is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b'_' {
            out.push(b[i]);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

/// What one message of the log stream says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A frame; `put` names its multi-frame put, which counts only once committed.
    Frame { key: FrameKey, put: Option<u64> },
    /// The end of multi-frame put `put`: its frames count from here on.
    Commit { put: u64 },
    /// Frames removed together: those stored before this message at these keys.
    Remove { keys: Vec<FrameKey> },
    /// A writer's claim on the log when it opened it (see `fence.rs`); no content.
    Claim,
}

/// Reads a message of the log stream from its headers and payload.
pub fn parse_entry(
    kind: Option<&str>,
    key: Option<&str>,
    put: Option<&str>,
    payload: &[u8],
) -> Result<Entry, String> {
    let put = match put {
        None => None,
        Some(p) if p.len() == 16 => Some(
            u64::from_str_radix(p, 16).map_err(|_| format!("{PUT} {p:?} is not 16 hex digits"))?,
        ),
        Some(p) => return Err(format!("{PUT} {p:?} is not 16 hex digits")),
    };
    match kind {
        Some("frame") => {
            let key = key.ok_or_else(|| format!("a frame without {KEY}"))?;
            let key = parse_key_hex(key).ok_or_else(|| format!("{KEY} {key:?} is not a key"))?;
            Ok(Entry::Frame { key, put })
        }
        Some("commit") => Ok(Entry::Commit {
            put: put.ok_or_else(|| format!("a commit without {PUT}"))?,
        }),
        Some("remove") => Ok(Entry::Remove {
            keys: parse_keys(payload)?,
        }),
        Some("claim") => Ok(Entry::Claim),
        Some(other) => Err(format!("unknown {KIND} {other:?}")),
        None => Err(format!("a message without {KIND}")),
    }
}

/// The payload of a removal: the keys' 12-byte encodings, one after the other.
pub fn encode_keys(keys: &[FrameKey]) -> Vec<u8> {
    keys.iter().flat_map(|k| k.to_bytes()).collect()
}

fn parse_keys(payload: &[u8]) -> Result<Vec<FrameKey>, String> {
    if payload.len() % 12 != 0 {
        return Err(format!(
            "a removal of {} bytes is not a list of 12-byte keys",
            payload.len()
        ));
    }
    Ok(payload
        .chunks_exact(12)
        .filter_map(FrameKey::from_bytes)
        .collect())
}

/// The fuzz targets' entry point (`fuzz/fuzz_targets/jetstream_message.rs`): `data` split at
/// NUL bytes into a message's kind, key and put headers and its payload, read as the store
/// reads what a server sends back; each piece also read as a bucket key. Must never panic,
/// and what parses must encode back to itself.
pub fn fuzz_message(data: &[u8]) {
    let mut pieces = data.splitn(4, |b| *b == 0);
    fn text(b: Option<&[u8]>) -> Option<&str> {
        b.and_then(|b| std::str::from_utf8(b).ok())
    }
    let (kind, key, put) = (pieces.next(), pieces.next(), pieces.next());
    let payload = pieces.next().unwrap_or_default();
    if let Ok(Entry::Remove { keys }) = parse_entry(text(kind), text(key), text(put), payload) {
        assert_eq!(encode_keys(&keys), payload);
    }
    for piece in [kind, key, put].into_iter().flatten() {
        if let Ok(s) = std::str::from_utf8(piece) {
            if let Some(parsed) = parse_meta_key(s) {
                assert_eq!(meta_key(&parsed), s);
            }
            if let Some(k) = parse_key_hex(s) {
                assert_eq!(parse_key_hex(&key_hex(k)), Some(k));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_keys_round_trip_through_hex_in_key_order() {
        let keys = [
            FrameKey::at(Lsn(1)),
            FrameKey {
                lsn: Lsn(1),
                part: 7,
            },
            FrameKey::at(Lsn(u64::MAX)),
        ];
        for k in keys {
            assert_eq!(parse_key_hex(&key_hex(k)), Some(k));
        }
        assert!(key_hex(keys[0]) < key_hex(keys[1]) && key_hex(keys[1]) < key_hex(keys[2]));
        assert_eq!(parse_key_hex("00000000000000000000000g"), None);
        assert_eq!(parse_key_hex("+0000000000000000000000f"), None);
    }

    #[test]
    fn metadata_keys_of_any_text_round_trip_through_bucket_keys() {
        for k in ["", "first_lsn", "cursor:b-1", "app/join.state", "é=/."] {
            let encoded = meta_key(k);
            assert!(encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)));
            assert_eq!(parse_meta_key(&encoded).as_deref(), Some(k));
        }
        assert_eq!(parse_meta_key("a=4"), None);
        assert_eq!(parse_meta_key("a.b"), None);
        assert_eq!(parse_meta_key("=ZZ"), None);
        assert_eq!(parse_meta_key("=3a"), None);
        assert_eq!(parse_meta_key("=41"), None);
    }

    #[test]
    fn a_message_that_is_not_the_logs_is_an_error_not_a_default() {
        assert!(parse_entry(None, None, None, b"").is_err());
        assert!(parse_entry(Some("frame"), None, None, b"").is_err());
        assert!(parse_entry(Some("frame"), Some("xyz"), None, b"").is_err());
        assert!(parse_entry(Some("commit"), None, None, b"").is_err());
        assert!(parse_entry(Some("remove"), None, None, &[0; 13]).is_err());
        assert!(parse_entry(Some("frame"), Some(&"0".repeat(24)), Some("12"), b"").is_err());
        let keys = vec![
            FrameKey::at(Lsn(3)),
            FrameKey {
                lsn: Lsn(3),
                part: 1,
            },
        ];
        assert_eq!(
            parse_entry(Some("remove"), None, None, &encode_keys(&keys)),
            Ok(Entry::Remove { keys })
        );
        assert_eq!(
            parse_entry(
                Some("frame"),
                Some(&key_hex(FrameKey::at(Lsn(9)))),
                Some("00000000000000ff"),
                b"x"
            ),
            Ok(Entry::Frame {
                key: FrameKey::at(Lsn(9)),
                put: Some(255)
            })
        );
    }
}
