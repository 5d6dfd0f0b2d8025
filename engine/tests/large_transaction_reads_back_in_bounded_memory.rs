//! A single 200 MB transaction (a COPY-sized payload) between small ones is split across
//! frames, reads back intact, and the reader holds the record plus at most a frame or two:
//! peak memory while reading grows by less than the payload plus 48 MiB. A reader that
//! gathered all the frames first, or reassembled the raw bytes before decoding, would need
//! at least twice the payload and fail.
//!
//! Alone in its file: it measures this process's peak RSS.

mod common;

use common::sample;
use mdbd_engine::log::{
    DeltaLog, Durability, LogOptions, Lsn, Payload, Record, Statement, WriteTxn,
};

const PAYLOAD: usize = 200 << 20;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Pseudo-random (incompressible) bytes, so compression cannot hide the size.
fn payload() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut v = Vec::with_capacity(PAYLOAD);
    while v.len() < PAYLOAD {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

#[test]
fn a_200mb_transaction_reads_back_intact_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let expected_crc;
    {
        let log = DeltaLog::open(
            dir.path(),
            LogOptions {
                durability: Durability::Fsync,
                ..LogOptions::default()
            },
        )
        .unwrap();
        log.append_blocking(&[sample(1, 1), sample(1, 2)]).unwrap();
        let data = payload();
        expected_crc = crc32fast::hash(&data);
        let mut copy = Statement::new("COPY pgbench_accounts FROM STDIN");
        copy.copy_data = Some(data);
        let big = Record {
            session: 2,
            timestamp_micros: 1,
            payload: Payload::Write(WriteTxn {
                settings: vec![],
                statements: vec![copy],
            }),
        };
        let range = log.append_blocking(&[big]).unwrap();
        assert_eq!(range.start, Lsn(3));
        log.append_blocking(&[sample(1, 3)]).unwrap();
        assert!(
            log.stats().frames >= 50,
            "the record was not split: {} frames",
            log.stats().frames
        );
    }

    // Reopen (open verifies every frame, the split record included), then measure reading.
    let log = DeltaLog::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(log.end(), Lsn(5));
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS counter");
    let before = status_kib("VmRSS:");
    let mut lsns = Vec::new();
    for r in log.read_from(Lsn(1)).unwrap() {
        let r = r.unwrap();
        lsns.push(r.lsn.get());
        if r.lsn == Lsn(3) {
            let Payload::Write(txn) = &r.record.payload else {
                panic!("not a write")
            };
            let data = txn.statements[0].copy_data.as_ref().unwrap();
            assert_eq!(data.len(), PAYLOAD);
            assert_eq!(
                crc32fast::hash(data),
                expected_crc,
                "the 200 MB payload changed"
            );
        } else {
            assert!(matches!(r.record.payload, Payload::Write(_)));
        }
    }
    let peak_growth_mib = (status_kib("VmHWM:").saturating_sub(before)) / 1024;
    assert_eq!(lsns, vec![1, 2, 3, 4]);
    let bound = (PAYLOAD >> 20) as u64 + 48;
    eprintln!(
        "reader peak growth {peak_growth_mib} MiB for a {} MiB record (bound {bound} MiB)",
        PAYLOAD >> 20
    );
    assert!(
        peak_growth_mib < bound,
        "reader grew by {peak_growth_mib} MiB, bound {bound} MiB"
    );
}
