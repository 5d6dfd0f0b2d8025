//! Delta log throughput: buffered append by record size, durable vs buffered append with
//! 1, 8 and 32 concurrent appenders, replay (decode), and the compression ratio achieved.
//!
//! `cargo bench -p benches --bench delta_log`. Figures and the machine: `benches/README.md`.

use benches::{append_concurrently, mean_encoded_size, records, report_frames, Size};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mdbd_engine::log::{DeltaLog, Durability, LogOptions, Lsn, Record};
use std::sync::Arc;
use std::time::Duration;

fn open(durability: Durability) -> (tempfile::TempDir, DeltaLog) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = DeltaLog::open(
        dir.path(),
        LogOptions {
            durability,
            ..LogOptions::default()
        },
    )
    .expect("open");
    (dir, log)
}

/// One iteration appends ~1 MiB of records in one call, from one thread.
fn buffered_append_by_size(c: &mut Criterion) {
    let mut group = c.benchmark_group("append_buffered");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(6));
    for (size, n) in [
        (Size::Small, 10_000),
        (Size::Medium, 1_000),
        (Size::Large, 100),
    ] {
        let batch = records(7, size, n);
        let mean = mean_encoded_size(&batch);
        eprintln!(
            "append_buffered/{}: mean encoded record {mean:.0} B, {n} records per append",
            size.label()
        );
        group.throughput(Throughput::Bytes((mean * n as f64) as u64));
        let (_dir, log) = open(Durability::None);
        group.bench_function(BenchmarkId::new("records", size.label()), |b| {
            b.iter(|| log.append_blocking(&batch).expect("append"))
        });
    }
    group.finish();
}

/// One iteration: each of `writers` tasks appends one ~100 B record (one transaction) and
/// waits for it, as client sessions do.
fn concurrent_append(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("append_concurrent");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for durability in [Durability::None, Durability::Fsync] {
        let mode = if durability == Durability::Fsync {
            "fsync"
        } else {
            "none"
        };
        for writers in [1usize, 8, 32] {
            let (_dir, log) = open(durability);
            let pool: Arc<Vec<Record>> = Arc::new(records(11, Size::Small, 4096));
            group.throughput(Throughput::Elements(writers as u64));
            group.bench_function(
                BenchmarkId::new(mode, format!("{writers}_appenders")),
                |b| b.iter_custom(|iters| append_concurrently(&rt, &log, &pool, writers, iters)),
            );
            report_frames(&format!("append_concurrent/{mode}/{writers}"), &log);
        }
    }
    group.finish();
}

/// Replay: decode every record of a log of 200,000 ~100 B records.
fn replay(c: &mut Criterion) {
    const N: usize = 200_000;
    let (_dir, log) = open(Durability::None);
    for chunk in records(13, Size::Small, N).chunks(10_000) {
        log.append_blocking(chunk).expect("append");
    }
    let s = log.stats();
    eprintln!(
        "compression on ~100 B SQL records in 256 KiB batches: raw {} B, stored {} B, ratio {:.2}x",
        s.raw_bytes,
        s.stored_bytes,
        s.raw_bytes as f64 / s.stored_bytes as f64
    );
    let mut group = c.benchmark_group("replay");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("decode_100B_records", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for r in log.read_from(Lsn(1)).expect("reader") {
                r.expect("record");
                n += 1;
            }
            assert_eq!(n, N);
        })
    });
    group.finish();
}

/// Compression ratio on each record size, as the writer stores them (no timing).
fn compression_ratio(_c: &mut Criterion) {
    for size in [Size::Small, Size::Medium, Size::Large] {
        let (_dir, log) = open(Durability::None);
        let n = match size {
            Size::Small => 50_000,
            Size::Medium => 5_000,
            Size::Large => 500,
        };
        let batch = records(17, size, n);
        for chunk in batch.chunks(1000) {
            log.append_blocking(chunk).expect("append");
        }
        let s = log.stats();
        eprintln!(
            "compression {}: raw {} B -> stored {} B = {:.2}x",
            size.label(),
            s.raw_bytes,
            s.stored_bytes,
            s.raw_bytes as f64 / s.stored_bytes as f64
        );
    }
}

criterion_group!(
    benches,
    compression_ratio,
    buffered_append_by_size,
    concurrent_append,
    replay
);
criterion_main!(benches);
