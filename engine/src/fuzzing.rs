//! What the fuzz targets run, shared with the stable-toolchain corpus test
//! (`tests/fuzz_corpus.rs`) so that `cargo test` exercises exactly the same code.
//!
//! Each function must never panic, whatever the input; the round trip panics only when a
//! decoded record differs from the one encoded, which is the bug it looks for.

use crate::log::frame::{batch_entries, decode_frame, FrameKind};
use crate::log::{decode_record, encode_record, Record};
use crate::snapshot::SnapshotDecoder;
use bytes::BytesMut;
use tokio_util::codec::Decoder;

/// Decodes arbitrary bytes as a frame, then the records of a batch frame.
pub fn frame_decode(data: &[u8]) {
    let Ok(mut decompressor) = zstd::bulk::Decompressor::new() else {
        return;
    };
    if let Ok((header, raw)) = decode_frame(data, &mut decompressor) {
        if let FrameKind::Batch { records } = header.kind {
            if let Ok(entries) = batch_entries(&raw, records) {
                for entry in entries {
                    let _ = decode_record(entry);
                }
            }
        }
    }
}

/// Decodes arbitrary bytes as one record; if it decodes, its re-encoding must decode to the
/// same record.
pub fn record_decode(data: &[u8]) {
    if let Ok(record) = decode_record(data) {
        let mut again = Vec::new();
        if encode_record(&record, &mut again).is_ok() {
            let decoded = decode_record(&again).ok();
            assert!(
                same(decoded.as_ref(), &record),
                "re-encoded record decodes differently"
            );
        }
    }
}

/// Encodes a record and decodes it again: the result must be equal (NaN-aware).
pub fn roundtrip(record: &Record) {
    let mut bytes = Vec::new();
    encode_record(record, &mut bytes).expect("every record encodes");
    let decoded = decode_record(&bytes).expect("an encoded record decodes");
    assert!(
        same(Some(&decoded), record),
        "round trip changed the record"
    );
}

/// Equality where NaN equals NaN (bit-for-bit float comparison), via the Debug form.
fn same(a: Option<&Record>, b: &Record) -> bool {
    a.is_some_and(|a| a == b || format!("{a:?}") == format!("{b:?}"))
}

/// Feeds arbitrary bytes to the snapshot decoder in pieces, then ends the stream.
pub fn snapshot_decode(data: &[u8]) {
    let Ok(mut decoder) = SnapshotDecoder::new() else {
        return;
    };
    let mut buf = BytesMut::new();
    // Feed in uneven pieces so partial-frame paths run too.
    for piece in data.chunks(7) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    while let Ok(Some(_)) = decoder.decode_eof(&mut buf) {}
}
