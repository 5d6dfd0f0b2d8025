//! The delta log's append throughput and latency on each store: sled (embedded) against
//! NATS JetStream with one replica (one throwaway `nats-server`) and with three (a
//! throwaway 3-node cluster on loopback), every append durable (`Durability::Fsync`), with
//! 1, 8 and 32 concurrent appenders of ~100 B records, as client sessions append.
//!
//! `cargo bench -p benches --bench log_store`. Figures: `benches/README.md` (#14).

use benches::{records, Size};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mdbd_engine::log::{DeltaLog, Durability, LogOptions, Record};
use mdbd_jetstream::{JetStreamOptions, JetStreamStorage};
use mdbd_testkit::NatsCluster;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
                |b| {
                    b.iter_custom(|iters| {
                        rt.block_on(async {
                            let start = Instant::now();
                            let tasks: Vec<_> = (0..writers)
                                .map(|w| {
                                    let (log, pool) = (log.clone(), pool.clone());
                                    tokio::spawn(async move {
                                        for i in 0..iters as usize {
                                            let r = &pool[(w * 131 + i) % pool.len()];
                                            log.append(std::slice::from_ref(r))
                                                .await
                                                .expect("append");
                                        }
                                    })
                                })
                                .collect();
                            for t in tasks {
                                t.await.expect("task");
                            }
                            start.elapsed()
                        })
                    })
                },
            );
            let s = log.stats();
            eprintln!(
                "log_store/{store}/{writers}: {} records in {} frames (mean {:.1} records per frame)",
                s.end.get() - 1,
                s.frames,
                (s.end.get() - 1) as f64 / s.frames.max(1) as f64
            );
            log.close();
        }
    }
    group.finish();
}

criterion_group!(benches, append_by_store);
criterion_main!(benches);
