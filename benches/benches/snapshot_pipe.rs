//! Snapshot transfer of a PostgreSQL database of >= 500 MB of table data: a raw
//! `pg_dump | pg_restore` pipe against mdbd's codec path (backend snapshot -> snapshot
//! codec -> decoder -> backend restore, in this process), with this process's peak memory
//! growth while the codec path runs.
//!
//! `cargo bench -p benches --bench snapshot_pipe` (scale: `MDBD_BENCH_SCALE`, default 40,
//! about 540 MB of pgbench tables). Starts two throwaway PostgreSQL servers.

use mdbd_backends::postgres::{PgBackend, PgOptions, CONTENT_TYPE};
use mdbd_engine::backend::Backend;
use mdbd_engine::snapshot::{write_snapshot, SnapshotHeader, SnapshotReader, DEFAULT_CHUNK};
use mdbd_testkit::PgServer;
use std::process::Command;
use std::time::Instant;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .expect("field");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("number")
}

fn backend(server: &PgServer, name: &str) -> PgBackend {
    let mut o = PgOptions::new(&server.conninfo("postgres"));
    o.pg_dump = server.bin().join("pg_dump");
    o.pg_restore = server.bin().join("pg_restore");
    PgBackend::new(name, o).expect("backend")
}

fn fingerprint(server: &PgServer) -> String {
    server
        .psql("postgres", "SELECT (SELECT count(*) FROM pgbench_accounts) || '/' || (SELECT sum(abalance) FROM pgbench_accounts) || '/' || (SELECT count(*) FROM pgbench_branches)")
        .expect("fingerprint")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let scale: u32 = std::env::var("MDBD_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let (donor_server, joiner_server) = (
        PgServer::start().expect("donor"),
        PgServer::start().expect("joiner"),
    );
    let t = Instant::now();
    let init = Command::new(donor_server.bin().join("pgbench"))
        .args([
            "-i",
            "-q",
            "-s",
            &scale.to_string(),
            "-h",
            "127.0.0.1",
            "-p",
            &donor_server.port().to_string(),
            "-U",
            "postgres",
            "postgres",
        ])
        .output()
        .expect("pgbench");
    assert!(
        init.status.success(),
        "pgbench -i failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let donor = backend(&donor_server, "donor");
    donor.ensure_marker().await.expect("marker");
    let table_mb: f64 = donor_server
        .psql("postgres", "SELECT sum(pg_relation_size(c.oid)) / 1e6 FROM pg_class c WHERE c.relname LIKE 'pgbench_%' AND c.relkind = 'r'")
        .expect("size")
        .parse()
        .expect("number");
    let expected = fingerprint(&donor_server);
    println!(
        "pgbench -i -s {scale}: {table_mb:.0} MB of table data in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let joiner = backend(&joiner_server, "joiner");
    // Raw pipe: the same pg_dump options the backend uses, straight into pg_restore.
    joiner.reset().await.expect("reset");
    let t = Instant::now();
    let pipe = format!(
        "set -o pipefail; {}/pg_dump --format=custom --compress=0 --no-owner --no-privileges --dbname '{}' | {}/pg_restore --single-transaction --exit-on-error --no-owner --no-privileges --dbname '{}'",
        donor_server.bin().display(),
        donor_server.conninfo("postgres"),
        joiner_server.bin().display(),
        joiner_server.conninfo("postgres")
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&pipe)
        .output()
        .expect("pipe");
    assert!(
        out.status.success(),
        "raw pipe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw_secs = t.elapsed().as_secs_f64();
    assert_eq!(fingerprint(&joiner_server), expected);
    println!(
        "raw pg_dump | pg_restore: {raw_secs:.2} s = {:.1} MB/s of table data",
        table_mb / raw_secs
    );

    for (label, level) in [
        ("codec, zstd level 1", Some(1)),
        ("codec, chunks stored raw", None),
    ] {
        joiner.reset().await.expect("reset");
        std::fs::write("/proc/self/clear_refs", "5").expect("reset peak RSS");
        let before = status_kib("VmRSS:");
        let t = Instant::now();
        let (mut dump_w, dump_r) = tokio::io::duplex(1 << 20);
        let (stream_w, stream_r) = tokio::io::duplex(1 << 20);
        let (mut restore_w, mut restore_r) = tokio::io::duplex(1 << 20);
        let header = SnapshotHeader {
            kind: donor.kind(),
            source: "donor".into(),
            lsn: donor.applied_lsn().await.expect("lsn"),
            created_micros: 0,
            content_type: CONTENT_TYPE.into(),
        };
        let (snap, framed, decoded, restored) = tokio::join!(
            async {
                let r = donor.snapshot(&mut dump_w).await;
                drop(dump_w);
                r
            },
            write_snapshot(header, dump_r, stream_w, DEFAULT_CHUNK, level),
            async {
                let reader = SnapshotReader::open(stream_r).await?;
                let r = reader.copy_to(&mut restore_w).await;
                drop(restore_w);
                r
            },
            joiner.restore(CONTENT_TYPE, &mut restore_r),
        );
        let secs = t.elapsed().as_secs_f64();
        let info = snap.expect("snapshot");
        let summary = framed.expect("encode");
        decoded.expect("decode");
        restored.expect("restore");
        let growth_mb = status_kib("VmHWM:").saturating_sub(before) as f64 / 1024.0;
        assert_eq!(fingerprint(&joiner_server), expected);
        println!(
            "{label}: {secs:.2} s = {:.1} MB/s of table data ({:.0} MB dump, {} chunks), {:.2}x the raw pipe; peak memory growth {growth_mb:.1} MB",
            table_mb / secs,
            info.bytes as f64 / 1e6,
            summary.chunks,
            raw_secs / secs
        );
    }
}
