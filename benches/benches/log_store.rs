//! The delta log's append throughput and latency on each store: sled (embedded) against
//! NATS JetStream with one replica (one throwaway `nats-server`) and with three (a
//! throwaway 3-node cluster on loopback), every append durable (`Durability::Fsync`), with
//! 1, 8 and 32 concurrent appenders of ~100 B records, as client sessions append.
//!
//! `cargo bench -p benches --bench log_store`. Figures: `benches/README.md` (#14).

use benches::{append_concurrently, records, report_frames, Size};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mdbd_engine::log::{DeltaLog, Durability, LogOptions, Record};
use mdbd_jetstream::{JetStreamOptions, JetStreamStorage};
use mdbd_testkit::NatsCluster;
use std::sync::Arc;
use std::time::Duration;

fn options() -> LogOptions {
    LogOptions {
        durability: Durability::Fsync,
        ..LogOptions::default()
    }
}

/// A log on `store`: `sled`, `jetstream_r1` or `jetstream_r3`; what must outlive it.
fn open(store: &str) -> (Box<dyn std::any::Any>, DeltaLog) {
    if store == "sled" {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = DeltaLog::open(dir.path(), options()).expect("open");
        return (Box::new(dir), log);
    }
    let replicas = if store == "jetstream_r3" { 3 } else { 1 };
    let nats = NatsCluster::start(replicas).expect("nats-server");
    let storage = JetStreamStorage::open(&JetStreamOptions {
        servers: nats.urls(),
        name: "bench".into(),
        replicas,
        ..JetStreamOptions::default()
    })
    .expect("open on JetStream");
    let log = DeltaLog::open_with_storage(Arc::new(storage), options()).expect("open");
    (Box::new(nats), log)
}

fn append_by_store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("log_store");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for store in ["sled", "jetstream_r1", "jetstream_r3"] {
        for writers in [1usize, 8, 32] {
            let (_keep, log) = open(store);
            let pool: Arc<Vec<Record>> = Arc::new(records(11, Size::Small, 4096));
            group.throughput(Throughput::Elements(writers as u64));
            group.bench_function(
                BenchmarkId::new(store, format!("{writers}_appenders")),
                |b| b.iter_custom(|iters| append_concurrently(&rt, &log, &pool, writers, iters)),
            );
            report_frames(&format!("log_store/{store}/{writers}"), &log);
            log.close();
        }
    }
    group.finish();
}

criterion_group!(benches, append_by_store);
criterion_main!(benches);
