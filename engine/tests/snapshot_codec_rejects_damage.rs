//! The snapshot codec round-trips content and rejects each kind of damage with a typed
//! error: a flipped byte, a dropped chunk, swapped chunks, a truncated stream, a wrong
//! trailer, data after the trailer.

use mdbd_engine::log::Lsn;
use mdbd_engine::snapshot::{
    write_snapshot, BackendKind, SnapshotError, SnapshotHeader, SnapshotReader,
};

fn header() -> SnapshotHeader {
    SnapshotHeader {
        kind: BackendKind::Postgres,
        source: "pg-a".into(),
        lsn: Lsn(1234),
        created_micros: 1,
        content_type: "pg_dump/custom".into(),
    }
}

/// ~1.2 MB of half-compressible content.
fn content() -> Vec<u8> {
    let mut x = 7u64;
    (0..1_200_000u32)
        .map(|i| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if i % 3 == 0 {
                (x >> 56) as u8
            } else {
                b"INSERT INTO t VALUES (1, 'abc');\n"[i as usize % 33]
            }
        })
        .collect()
}

async fn encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_snapshot(header(), data, &mut out, 64 << 10, Some(1))
        .await
        .unwrap();
    out
}

async fn decode(stream: &[u8]) -> Result<(SnapshotHeader, Vec<u8>), SnapshotError> {
    let reader = SnapshotReader::open(stream).await?;
    let header = reader.header().clone();
    let mut out = Vec::new();
    reader.copy_to(&mut out).await?;
    Ok((header, out))
}

/// Byte ranges of the frames: header, chunks..., trailer.
fn frames(stream: &[u8]) -> Vec<std::ops::Range<usize>> {
    let hlen = u32::from_be_bytes(stream[6..10].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    out.push(0..10 + hlen + 4);
    let mut at = out[0].end;
    while stream[at] == 2 {
        let stored = u32::from_be_bytes(stream[at + 13..at + 17].try_into().unwrap()) as usize;
        out.push(at..at + 22 + stored);
        at += 22 + stored;
    }
    out.push(at..at + 53);
    assert_eq!(at + 53, stream.len());
    out
}

#[tokio::test]
async fn content_round_trips_with_its_header() {
    let data = content();
    let stream = encode(&data).await;
    assert!(
        stream.len() < data.len(),
        "no compression: {} >= {}",
        stream.len(),
        data.len()
    );
    let (h, back) = decode(&stream).await.unwrap();
    assert_eq!(h, header());
    assert_eq!(back, data);
    let (_, empty) = decode(&encode(&[]).await).await.unwrap();
    assert!(empty.is_empty());
}

#[tokio::test]
async fn a_flipped_byte_anywhere_is_rejected() {
    let stream = encode(&content()).await;
    let f = frames(&stream);
    // One byte in the header, in a chunk payload, in a chunk's fields, in the trailer.
    for at in [
        f[0].start + 12,
        f[3].start + 100,
        f[5].start + 3,
        f[f.len() - 1].start + 20,
    ] {
        let mut bad = stream.clone();
        bad[at] ^= 0x10;
        let err = decode(&bad).await.expect_err("flipped byte accepted");
        assert!(
            matches!(
                err,
                SnapshotError::Checksum { .. } | SnapshotError::OutOfOrder { .. }
            ),
            "byte {at}: {err}"
        );
    }
}

#[tokio::test]
async fn a_dropped_chunk_is_rejected() {
    let stream = encode(&content()).await;
    let f = frames(&stream);
    let mut bad = stream[..f[4].start].to_vec();
    bad.extend_from_slice(&stream[f[4].end..]);
    let err = decode(&bad).await.unwrap_err();
    assert!(
        matches!(
            err,
            SnapshotError::OutOfOrder {
                expected: 3,
                found: 4
            }
        ),
        "{err}"
    );
    // The last chunk dropped: the trailer's count catches it.
    let last = &f[f.len() - 2];
    let mut bad = stream[..last.start].to_vec();
    bad.extend_from_slice(&stream[last.end..]);
    let err = decode(&bad).await.unwrap_err();
    assert!(
        matches!(
            err,
            SnapshotError::TrailerMismatch {
                what: "the chunk count",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn swapped_chunks_are_rejected() {
    let stream = encode(&content()).await;
    let f = frames(&stream);
    let mut bad = stream[..f[2].start].to_vec();
    bad.extend_from_slice(&stream[f[3].clone()]);
    bad.extend_from_slice(&stream[f[2].clone()]);
    bad.extend_from_slice(&stream[f[3].end..]);
    let err = decode(&bad).await.unwrap_err();
    assert!(
        matches!(
            err,
            SnapshotError::OutOfOrder {
                expected: 1,
                found: 2
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_truncated_stream_is_rejected() {
    let stream = encode(&content()).await;
    let f = frames(&stream);
    for cut in [
        f[0].end - 2,
        f[3].start + 30,
        f[f.len() - 1].start,
        stream.len() - 1,
    ] {
        let err = decode(&stream[..cut]).await.unwrap_err();
        assert!(
            matches!(err, SnapshotError::Truncated { .. }),
            "cut at {cut}: {err}"
        );
    }
}

#[tokio::test]
async fn a_wrong_trailer_is_rejected() {
    let stream = encode(&content()).await;
    let t = frames(&stream).pop().unwrap();
    // A trailer with a valid CRC but a different digest or byte count.
    for (offset, what) in [(17, "the SHA-256"), (16, "the byte count")] {
        let mut bad = stream.clone();
        bad[t.start + offset] ^= 0x01;
        let crc = crc32fast::hash(&bad[t.start..t.end - 4]);
        bad[t.end - 4..t.end].copy_from_slice(&crc.to_be_bytes());
        let err = decode(&bad).await.unwrap_err();
        assert!(
            matches!(err, SnapshotError::TrailerMismatch { what: w, .. } if w == what),
            "{err}"
        );
    }
    let mut extra = stream.clone();
    extra.push(0);
    assert!(matches!(
        decode(&extra).await.unwrap_err(),
        SnapshotError::TrailingData(1)
    ));
    assert!(matches!(
        decode(b"PGDMP..").await.unwrap_err(),
        SnapshotError::BadMagic(_)
    ));
}
