//! What the backend tests share.
#![allow(dead_code)]

pub mod flaky;

use mdbd_engine::backend::Backend;
use mdbd_engine::log::Lsn;
use mdbd_engine::snapshot::{write_snapshot, SnapshotHeader, SnapshotReader};

/// Moves `donor`'s database into `joiner` as a join does: snapshot, frame it with the
/// snapshot codec, check it while reading it back, and restore it into the emptied joiner.
/// Returns the LSN the snapshot is consistent with.
pub async fn transfer(donor: &dyn Backend, joiner: &dyn Backend) -> Lsn {
    let mut content = Vec::new();
    let info = donor.snapshot(&mut content).await.expect("snapshot");
    let header = SnapshotHeader {
        kind: donor.kind(),
        source: donor.name().into(),
        lsn: info.lsn,
        created_micros: 0,
        content_type: info.content_type,
    };
    let mut stream = Vec::new();
    write_snapshot(header, content.as_slice(), &mut stream, 64 << 10, Some(1))
        .await
        .expect("encode");

    joiner.reset().await.expect("reset");
    let reader = SnapshotReader::open(std::io::Cursor::new(stream))
        .await
        .expect("header");
    assert_eq!(reader.header().lsn, info.lsn);
    let content_type = reader.header().content_type.clone();
    let (mut tx, mut rx) = tokio::io::duplex(64 << 10);
    let feed = tokio::spawn(async move { reader.copy_to(&mut tx).await });
    joiner
        .restore(&content_type, &mut rx)
        .await
        .expect("restore");
    feed.await.expect("feed task").expect("stream checks");
    info.lsn
}
