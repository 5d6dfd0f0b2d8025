//! One byte flipped inside a stored frame makes open report corruption at that frame's LSN;
//! the intact prefix stays readable, appends are refused, and an operator's
//! `TruncateCorruptTail` reopen drops the corrupt tail and lets the log continue.

mod common;

use common::sample;
use mdbd_engine::log::{
    DeltaLog, Durability, FrameKey, LogError, LogOptions, LogStorage, Lsn, RecoveryMode,
    SledStorage,
};
use std::path::Path;

fn options() -> LogOptions {
    // Batches smaller than one record: one frame per record, so frame LSNs are predictable.
    LogOptions {
        durability: Durability::Fsync,
        batch_bytes: 64,
        ..LogOptions::default()
    }
}

fn fill(dir: &Path, appends: u64) {
    let log = DeltaLog::open(dir, options()).unwrap();
    for s in 0..appends {
        log.append_blocking(&[sample(9, s * 2), sample(9, s * 2 + 1)])
            .unwrap();
    }
}

/// Flips one byte of the frame stored at `key`, `offset` bytes from its start.
fn flip(dir: &Path, key: FrameKey, offset: usize) {
    let storage = SledStorage::open(dir).unwrap();
    let mut frame = storage
        .get_frame(key)
        .unwrap()
        .expect("frame exists")
        .to_vec();
    let at = offset.min(frame.len() - 1);
    frame[at] ^= 0x40;
    storage.put_frames(&[(key, frame)]).unwrap();
    storage.sync().unwrap();
}

#[test]
fn a_flipped_payload_byte_is_reported_at_its_frame_lsn_and_appends_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 10); // frames at LSN 1, 2, ..., 20
    flip(dir.path(), FrameKey::at(Lsn(11)), 40);

    let log = DeltaLog::open(dir.path(), options()).unwrap();
    let c = log
        .recovery_report()
        .corruption
        .clone()
        .expect("corruption reported");
    assert_eq!((c.lsn, c.part), (Lsn(11), 0));
    assert!(c.reason.contains("checksum"), "reason: {}", c.reason);
    assert_eq!(
        log.end(),
        Lsn(11),
        "the intact prefix ends before the corrupt frame"
    );
    assert_eq!(
        log.read_from(Lsn(1))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .len(),
        10
    );
    match log.append_blocking(&[sample(9, 100)]) {
        Err(LogError::Refused(why)) => assert!(why.contains("LSN 11"), "{why}"),
        other => panic!("append after corruption: {other:?}"),
    }
    drop(log);

    // The operator chooses to drop the corrupt tail.
    let repair = LogOptions {
        recovery: RecoveryMode::TruncateCorruptTail,
        ..options()
    };
    let log = DeltaLog::open(dir.path(), repair).unwrap();
    assert_eq!(log.end(), Lsn(11));
    assert_eq!(
        log.append_blocking(&[sample(9, 100)]).unwrap().start,
        Lsn(11)
    );
    drop(log);
    let log = DeltaLog::open(dir.path(), options()).unwrap();
    assert!(log.recovery_report().corruption.is_none());
    assert_eq!(log.end(), Lsn(12));
}

#[test]
fn a_flipped_header_byte_or_a_missing_frame_is_reported_too() {
    for (what, offset) in [("count", 19usize), ("base lsn", 15), ("crc", 33)] {
        let dir = tempfile::tempdir().unwrap();
        fill(dir.path(), 5);
        flip(dir.path(), FrameKey::at(Lsn(5)), offset);
        let log = DeltaLog::open(dir.path(), options()).unwrap();
        let c = log
            .recovery_report()
            .corruption
            .clone()
            .unwrap_or_else(|| panic!("{what} flip not found"));
        assert_eq!(c.lsn, Lsn(5), "{what}");
    }
    // A frame removed from the middle breaks the chain at the next frame.
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 5);
    SledStorage::open(dir.path())
        .unwrap()
        .remove_frames(&[FrameKey::at(Lsn(5))])
        .unwrap();
    let log = DeltaLog::open(dir.path(), options()).unwrap();
    let c = log
        .recovery_report()
        .corruption
        .clone()
        .expect("gap reported");
    assert_eq!(c.lsn, Lsn(6));
    assert!(
        c.reason.contains("expected the next frame at LSN 5"),
        "{}",
        c.reason
    );
}

#[test]
fn a_corrupt_part_of_a_split_record_is_reported_at_the_record_lsn() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions {
        part_bytes: 4096,
        ..options()
    };
    {
        let log = DeltaLog::open(dir.path(), opts.clone()).unwrap();
        log.append_blocking(&[sample(1, 1)]).unwrap();
        let mut big = sample(1, 2);
        if let mdbd_engine::log::Payload::Write(t) = &mut big.payload {
            t.statements[0].copy_data = Some((0..20_000u32).map(|i| (i % 251) as u8).collect());
        }
        log.append_blocking(&[big]).unwrap();
    }
    flip(
        dir.path(),
        FrameKey {
            lsn: Lsn(2),
            part: 2,
        },
        50,
    );
    let log = DeltaLog::open(dir.path(), opts).unwrap();
    let c = log
        .recovery_report()
        .corruption
        .clone()
        .expect("corrupt part reported");
    assert_eq!((c.lsn, c.part), (Lsn(2), 2));
    assert_eq!(log.end(), Lsn(2));
}

/// Every file below `dir`.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            out.extend(files(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

#[test]
fn a_byte_flipped_in_the_stores_own_file_is_reported_not_silently_dropped() {
    // sled treats a bad checksum in its own file as a torn write and drops what follows;
    // the end marker must turn that into reported corruption.
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 10);
    let mut flipped = false;
    for path in files(dir.path()) {
        let mut bytes = std::fs::read(&path).unwrap();
        let hit = (0..bytes.len().saturating_sub(16))
            .rev()
            .find(|&i| bytes[i..i + 4] == *b"MDLF" && bytes[i + 8..i + 16] == 11u64.to_be_bytes());
        if let Some(i) = hit {
            bytes[i + 40] ^= 0x40;
            std::fs::write(&path, &bytes).unwrap();
            flipped = true;
        }
    }
    assert!(flipped, "frame 11 not found in the store's files");
    let log = DeltaLog::open(dir.path(), options()).unwrap();
    let c = log
        .recovery_report()
        .corruption
        .clone()
        .expect("damage in the store's file went unreported");
    // Either our frame CRC catches the flipped frame (at LSN 11), or sled drops its own
    // damaged message and all after it, and the end marker reports the first LSN lost.
    assert!(
        c.lsn <= Lsn(11) || c.reason.contains("lost records"),
        "reported at {}: {}",
        c.lsn,
        c.reason
    );
    assert!(
        c.lsn < Lsn(21),
        "reported at {} (the log held 20 records)",
        c.lsn
    );
    assert!(matches!(
        log.append_blocking(&[sample(9, 100)]),
        Err(LogError::Refused(_))
    ));
}
