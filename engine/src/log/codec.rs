//! Record bytes: a format version byte, then the record in bincode 2 (serde, varint).
//!
//! bincode checks every length it reads against a byte *limit* before it allocates, so the
//! limit is what bounds the memory a malformed record can make the decoder take. We pick it
//! from the size of the encoded input: a valid record never claims more than
//! [`CLAIM_FACTOR`] times its encoded size (a one-byte `Null` parameter claims one `Value`
//! slot of memory), so a corrupt length can cost at most that much, never "unbounded".

use super::record::Record;
use bincode::config::{self, Configuration};
use std::io::Read;
use thiserror::Error;

/// Format version of the record encoding. Bump on any incompatible change.
pub const RECORD_FORMAT_V1: u8 = 1;

/// A valid record claims at most this many bytes of memory per encoded byte.
const CLAIM_FACTOR: usize = 64;

/// Why record bytes could not be decoded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Zero bytes where a record was expected.
    #[error("empty record")]
    Empty,
    /// The version byte names a format this build does not know.
    #[error("unsupported record format version {0} (this build reads version {RECORD_FORMAT_V1})")]
    UnsupportedVersion(u8),
    /// bincode rejected the bytes.
    #[error("record does not decode: {0}")]
    Decode(String),
    /// The record decoded but bytes were left over.
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
    /// The record could not be encoded.
    #[error("record does not encode: {0}")]
    Encode(String),
}

fn base_config() -> Configuration {
    config::standard()
}

/// Appends the encoding of `record` to `out`.
pub fn encode_record(record: &Record, out: &mut Vec<u8>) -> Result<(), RecordError> {
    out.push(RECORD_FORMAT_V1);
    bincode::serde::encode_into_std_write(record, out, base_config())
        .map_err(|e| RecordError::Encode(e.to_string()))?;
    Ok(())
}

/// Decodes one record that fills `bytes` exactly.
pub fn decode_record(bytes: &[u8]) -> Result<Record, RecordError> {
    let (&version, body) = bytes.split_first().ok_or(RecordError::Empty)?;
    check_version(version)?;
    let mut reader = body;
    let record = decode_limited(&mut reader, body.len())?;
    if !reader.is_empty() {
        return Err(RecordError::TrailingBytes(reader.len()));
    }
    Ok(record)
}

/// Decodes one record from a reader holding at most `max_len` encoded bytes (version byte
/// included). Used for records split across frames, so they are decoded as their parts are
/// read instead of being reassembled in one buffer first. The caller checks that the
/// reader is exhausted afterwards.
pub fn decode_record_from_read<R: Read>(
    mut reader: R,
    max_len: usize,
) -> Result<Record, RecordError> {
    let mut version = [0u8; 1];
    reader
        .read_exact(&mut version)
        .map_err(|_| RecordError::Empty)?;
    check_version(version[0])?;
    decode_limited(reader, max_len)
}

fn check_version(version: u8) -> Result<(), RecordError> {
    if version == RECORD_FORMAT_V1 {
        Ok(())
    } else {
        Err(RecordError::UnsupportedVersion(version))
    }
}

/// Decodes with the smallest limit tier that a valid record of `len` bytes fits in.
fn decode_limited<R: Read>(reader: R, len: usize) -> Result<Record, RecordError> {
    let claim = len.saturating_mul(CLAIM_FACTOR);
    let cfg = base_config();
    let result = if claim <= 1 << 16 {
        bincode::serde::decode_from_std_read(&mut { reader }, cfg.with_limit::<{ 1 << 16 }>())
    } else if claim <= 1 << 20 {
        bincode::serde::decode_from_std_read(&mut { reader }, cfg.with_limit::<{ 1 << 20 }>())
    } else if claim <= 1 << 24 {
        bincode::serde::decode_from_std_read(&mut { reader }, cfg.with_limit::<{ 1 << 24 }>())
    } else if claim <= 1 << 28 {
        bincode::serde::decode_from_std_read(&mut { reader }, cfg.with_limit::<{ 1 << 28 }>())
    } else if claim <= 1 << 32 {
        bincode::serde::decode_from_std_read(&mut { reader }, cfg.with_limit::<{ 1 << 32 }>())
    } else {
        bincode::serde::decode_from_std_read(&mut { reader }, cfg.with_limit::<{ 1 << 36 }>())
    };
    result.map_err(|e| RecordError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::{Statement, Value};

    #[test]
    fn round_trips_and_rejects_trailing_and_version() {
        let rec = Record::write(
            7,
            vec![Statement::with_params(
                "INSERT INTO t VALUES ($1)",
                vec![Value::Int(5)],
            )],
        );
        let mut buf = Vec::new();
        encode_record(&rec, &mut buf).unwrap();
        assert_eq!(decode_record(&buf).unwrap(), rec);
        let mut trailing = buf.clone();
        trailing.push(0);
        assert!(matches!(
            decode_record(&trailing),
            Err(RecordError::TrailingBytes(1))
        ));
        let mut bad_version = buf.clone();
        bad_version[0] = 9;
        assert!(matches!(
            decode_record(&bad_version),
            Err(RecordError::UnsupportedVersion(9))
        ));
        assert!(matches!(decode_record(&[]), Err(RecordError::Empty)));
    }

    #[test]
    fn statement_bytes_that_are_not_utf8_round_trip_byte_for_byte() {
        // What mysql-connector-python sends for `INSERT INTO bl VALUES (1, %s)` with
        // b"\x00\x01\xff": the raw bytes between the quotes.
        let sql = b"INSERT INTO bl VALUES (1, '\\0\x01\xff')".to_vec();
        let rec = Record::write(1, vec![Statement::new(sql.clone())]);
        let mut buf = Vec::new();
        encode_record(&rec, &mut buf).unwrap();
        let back = decode_record(&buf).unwrap();
        let crate::log::Payload::Write(txn) = back.payload else {
            panic!("not a write: {back:?}");
        };
        assert_eq!(txn.statements[0].sql.as_bytes(), &sql[..]);
        assert!(txn.statements[0].sql.as_str().is_none());
    }

    #[test]
    fn records_written_when_statements_were_strings_still_decode() {
        // The shape of the record model before `Sql`: the on-disk bytes must not change.
        #[derive(serde::Serialize)]
        struct OldStatement {
            sql: String,
            params: Vec<Value>,
            #[serde(with = "serde_bytes")]
            copy_data: Option<Vec<u8>>,
        }
        #[derive(serde::Serialize)]
        struct OldTxn {
            settings: Vec<(String, String)>,
            statements: Vec<OldStatement>,
        }
        #[derive(serde::Serialize)]
        enum OldPayload {
            Write(OldTxn),
        }
        #[derive(serde::Serialize)]
        struct OldRecord {
            session: u64,
            timestamp_micros: u64,
            payload: OldPayload,
        }
        let old = OldRecord {
            session: 3,
            timestamp_micros: 99,
            payload: OldPayload::Write(OldTxn {
                settings: vec![("TimeZone".into(), "UTC".into())],
                statements: vec![OldStatement {
                    sql: "UPDATE t SET a = 'é' WHERE id = $1".into(),
                    params: vec![Value::Int(2)],
                    copy_data: Some(b"1\tx\n".to_vec()),
                }],
            }),
        };
        let mut buf = vec![RECORD_FORMAT_V1];
        bincode::serde::encode_into_std_write(&old, &mut buf, base_config()).unwrap();
        let rec = decode_record(&buf).unwrap();
        let crate::log::Payload::Write(txn) = rec.payload else {
            panic!("not a write: {rec:?}");
        };
        assert_eq!(txn.statements[0].sql, "UPDATE t SET a = 'é' WHERE id = $1");
        assert_eq!(txn.statements[0].params, vec![Value::Int(2)]);
        assert_eq!(txn.statements[0].copy_data.as_deref(), Some(&b"1\tx\n"[..]));
        assert_eq!(txn.settings, vec![("TimeZone".into(), "UTC".into())]);
    }

    #[test]
    fn huge_claimed_length_is_refused_without_allocating() {
        // version, session=0, ts=0, Payload::Write, settings=[], one statement whose SQL
        // text claims u64::MAX-ish bytes (varint 0xFD = u64 follows).
        let mut bytes = vec![RECORD_FORMAT_V1, 0, 0, 0, 0, 1, 0xFD];
        bytes.extend_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(matches!(decode_record(&bytes), Err(RecordError::Decode(_))));
    }
}
