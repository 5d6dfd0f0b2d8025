//! Writes the seed corpora of the fuzz targets into `fuzz/corpus/<target>/`.
//!
//! `cargo run -p mdbd-engine --example make_fuzz_seeds` (from the repository root).
//! The seeds are committed and the output is deterministic; rerun when a format changes.

use bytes::{Bytes, BytesMut};
use mdbd_engine::log::frame::{encode_frame, push_entry, FrameKind};
use mdbd_engine::log::{encode_record, Control, Lsn, Payload, Record, Statement, Value, WriteTxn};
use mdbd_engine::snapshot::{BackendKind, SnapshotEncoder, SnapshotHeader, SnapshotPiece};
use std::fs;
use std::path::Path;
use tokio_util::codec::Encoder;

fn records() -> Vec<Record> {
    let mut copy = Statement::new("COPY t FROM STDIN");
    copy.copy_data = Some(b"1\tone\n2\ttwo\n".to_vec());
    vec![
        Record {
            session: 1,
            timestamp_micros: 1_764_000_000_000_000,
            payload: Payload::Write(WriteTxn { settings: vec![], statements: vec![Statement::with_params(
            "INSERT INTO accounts(id, balance, note, raw, ok, rate) VALUES ($1, $2, $3, $4, $5, $6)",
            vec![Value::Int(42), Value::Int(-7), Value::Text("héllo 世界".into()), Value::Bytes(vec![0, 255, 7]), Value::Bool(true), Value::Float(1.5)],
        )] }),
        },
        Record {
            session: 9,
            timestamp_micros: 1,
            payload: Payload::Write(WriteTxn {
                settings: vec![("search_path".into(), "app,public".into()), ("TimeZone".into(), "UTC".into())],
                statements: vec![Statement::new("UPDATE t SET x = x + 1"), Statement::with_params("DELETE FROM t WHERE id = $1", vec![Value::Null]), copy],
            }),
        },
        Record { session: 0, timestamp_micros: 2, payload: Payload::Control(Control::JoinStarted { join_id: 3, donor: "pg-a".into(), joiner: "pg-c".into() }) },
        Record { session: 0, timestamp_micros: 3, payload: Payload::Control(Control::JoinAborted { join_id: 3, reason: "donor unreachable".into() }) },
    ]
}

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let dir = root.join(target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(name), bytes)
    };
    let mut encoded = Vec::new();
    for (i, r) in records().iter().enumerate() {
        let mut bytes = Vec::new();
        encode_record(r, &mut bytes).expect("encodes");
        write("record_decode", &format!("record-{i}"), &bytes)?;
        encoded.push(bytes);
    }
    let mut batch = Vec::new();
    for _ in 0..8 {
        for e in &encoded {
            push_entry(&mut batch, e);
        }
    }
    let records = (encoded.len() * 8) as u32;
    let mut zstd = zstd::bulk::Compressor::new(1)?;
    let mut frame = Vec::new();
    encode_frame(
        Lsn(1),
        FrameKind::Batch { records },
        &batch,
        Some(&mut zstd),
        &mut frame,
    );
    write("frame_decode", "batch-zstd", &frame)?;
    let mut raw_frame = Vec::new();
    let mut single = Vec::new();
    push_entry(&mut single, &encoded[0]);
    encode_frame(
        Lsn(77),
        FrameKind::Batch { records: 1 },
        &single,
        None,
        &mut raw_frame,
    );
    write("frame_decode", "batch-raw", &raw_frame)?;
    let mut part = Vec::new();
    encode_frame(
        Lsn(5),
        FrameKind::Part { index: 1, total: 3 },
        &encoded[1],
        Some(&mut zstd),
        &mut part,
    );
    write("frame_decode", "part", &part)?;
    // A small snapshot stream: header, three chunks (raw and zstd), trailer.
    let mut encoder = SnapshotEncoder::new(Some(1)).expect("encoder");
    let mut stream = BytesMut::new();
    let header = SnapshotHeader {
        kind: BackendKind::Sqlite,
        source: "sqlite-a".into(),
        lsn: Lsn(42),
        created_micros: 1,
        content_type: "sqlite/database".into(),
    };
    encoder
        .encode(SnapshotPiece::Header(header), &mut stream)
        .expect("header");
    encoder
        .encode(
            SnapshotPiece::Data(Bytes::from_static(b"SQLite format 3\0 tiny")),
            &mut stream,
        )
        .expect("chunk");
    encoder
        .encode(SnapshotPiece::Data(Bytes::from(batch.clone())), &mut stream)
        .expect("chunk");
    encoder
        .encode(SnapshotPiece::Data(Bytes::from_static(b"x")), &mut stream)
        .expect("chunk");
    encoder
        .encode(SnapshotPiece::Finish, &mut stream)
        .expect("trailer");
    write("snapshot_decode", "stream", &stream)?;
    // Round-trip seeds are arbitrary bytes that `arbitrary` shapes into records.
    write("roundtrip", "bytes-0", &encoded[0])?;
    write("roundtrip", "bytes-1", &encoded[1])?;
    write("roundtrip", "bytes-2", &(0u8..=255).collect::<Vec<_>>())?;
    println!("seeds written under {}", root.display());
    Ok(())
}
