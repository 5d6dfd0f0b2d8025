//! Availability rows of issue #15 that concern the machine rather than the clients, over
//! three throwaway PostgreSQL servers: a slow server is not a dead one for the health
//! check; a delta log that lost a record refuses every join and keeps the complete
//! backends serving; a full disk refuses appends cleanly, resumes when there is room, and
//! does not hang the shutdown.

mod common;

use common::{admin, free_port, start, Three};
use mdbd_engine::log::{FrameKey, LogStorage, Lsn, SledStorage};
use std::process::Command;
use std::time::{Duration, Instant};

fn servers(three: &Three) -> &[mdbd_testkit::PgServer] {
    let Three::Postgres(servers) = three else {
        unreachable!("a PostgreSQL test")
    };
    servers
}

fn metric(admin_port: u16, name: &str) -> f64 {
    let (_, text) = common::admin_text(admin_port, "GET", "/metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

/// A busy machine answers late; that is not a dead server. Health checks that time out a
/// few times, but not `failures` times in a row, detach nothing; a server that stays
/// silent is detached by them, with its cause.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_server_passes_the_health_check_and_a_silent_one_is_detached() {
    let three = Three::postgres();
    let dir = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    // Nothing else may detach: the write path's deadline is far away and there is no load.
    let conf = three.config_of(
        dir.path(),
        port,
        admin_port,
        &common::NAMES,
        "\n[health]\ninterval = \"250ms\"\ntimeout = \"250ms\"\nfailures = 6\n",
    );
    let daemon = start(&conf, port);
    for _ in 0..3 {
        // About two checks in a row go unanswered.
        servers(&three)[1].pause();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        servers(&three)[1].resume();
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    assert!(
        metric(admin_port, "mdbd_health_check_failures_total") >= 3.0,
        "the checks did time out"
    );
    assert_eq!(common::states(admin_port), ["active", "active", "active"]);
    // Silent for longer than six checks: detached as unhealthy.
    servers(&three)[1].pause();
    let paused = Instant::now();
    while common::states(admin_port)[1] == "active" {
        assert!(paused.elapsed() < Duration::from_secs(20), "never detached");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    servers(&three)[1].resume();
    let (_, status) = admin(admin_port, "GET", "/v1/status");
    let reason = status["backends"][1]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("unhealthy"), "{reason}");
    let (ok, out) = common::psql(port, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)");
    assert!(ok, "{out}");
    common::stop(daemon);
    three.identical(&[0, 2]).await;
}

/// One flipped byte in a record the lagging backend still needs: the daemon starts with
/// the two complete backends serving every acknowledged write, says what is damaged, and
/// refuses to join the lagging one (it would serve a history with a hole in it).
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_log_refuses_every_join_and_the_complete_backends_keep_serving() {
    let three = Three::postgres();
    let dir = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    // One client, one autocommit write at a time: one record per frame.
    let conf = three.config_of(dir.path(), port, admin_port, &common::NAMES, "");
    let daemon = start(&conf, port);
    let sql = |range: std::ops::Range<i32>| {
        range
            .map(|i| format!("INSERT INTO t VALUES ({i});"))
            .collect::<String>()
    };
    let (ok, out) = common::psql(
        port,
        &format!("CREATE TABLE t (id int PRIMARY KEY); {}", sql(0..10)),
    );
    assert!(ok, "{out}");
    let (status, body) = admin(admin_port, "POST", "/v1/backends/c/detach");
    assert_eq!(status, 200, "{body}");
    let (ok, out) = common::psql(port, &sql(10..30));
    assert!(ok, "{out}");
    common::stop(daemon);
    {
        let storage = SledStorage::open(&dir.path().join("data/log")).unwrap();
        let (key, frame) = storage
            .frame_at_or_before(FrameKey::at(Lsn(20)))
            .unwrap()
            .expect("a frame");
        let mut frame = frame.to_vec();
        frame[40] ^= 0x40;
        storage.put_frames(&[(key, frame)]).unwrap();
        storage.sync().unwrap();
    }
    let daemon = start(&conf, port);
    let (_, status) = admin(admin_port, "GET", "/v1/status");
    let damage = status["log"]["damage"].as_str().expect("damage reported");
    assert!(damage.contains("LSN"), "{damage}");
    assert_eq!(common::states(admin_port)[..2], ["active", "active"]);
    let (code, body) = admin(admin_port, "POST", "/v1/backends/c/join");
    assert_eq!(code, 409, "{body}");
    assert!(body.to_string().contains("damaged"), "{body}");
    assert_ne!(common::states(admin_port)[2], "active");
    let (ok, out) = common::psql(port, "SELECT count(*) FROM t");
    assert!(ok && out.contains("30"), "{out}");
    let (_, text) = common::mdbd(&["status", "--config", conf.to_str().unwrap()]);
    assert!(text.contains("DELTA LOG DAMAGED"), "{text}");
    common::stop(daemon);
    three.identical(&[0, 1]).await;
}

/// The daemon's data directory on a small tmpfs, filled to the brim: writes are refused
/// with a clear error and nothing acknowledged is lost; once there is room again they are
/// accepted; and SIGTERM with the disk full ends the daemon within its bound.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_writes_cleanly_resumes_with_room_and_stops_in_bounded_time() {
    let three = Three::postgres();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=48m", "tmpfs"])
        .arg(&data)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "this test needs root and CAP_SYS_ADMIN to mount a small tmpfs"
    );
    let _unmount = Unmount(data.clone());
    let (port, admin_port) = (free_port(), free_port());
    let conf = three.config_of(dir.path(), port, admin_port, &common::NAMES, "");
    let mut daemon = start(&conf, port);
    let client = common::client(port).await;
    client
        .batch_execute("CREATE TABLE big (id int PRIMARY KEY, body text)")
        .await
        .unwrap();
    // Leave a little room, then write incompressible rows until the log refuses.
    let ballast = data.join("ballast");
    fill(&ballast, &data, 2 << 20);
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    let mut id = 0;
    while refused.len() < 5 {
        id += 1;
        assert!(id < 5000, "the disk never filled");
        match client
            .execute(
                "INSERT INTO big VALUES ($1, $2)",
                &[&id, &noise(id, 64 << 10)],
            )
            .await
        {
            Ok(_) => acked.push(id),
            Err(e) => refused.push(match e.as_db_error() {
                Some(db) => format!("{}: {}", db.code().code(), db.message()),
                None => e.to_string(),
            }),
        }
    }
    eprintln!("{} writes acknowledged, then: {}", acked.len(), refused[0]);
    assert!(
        refused.iter().all(|e| e.starts_with("53100:")),
        "not PostgreSQL's disk_full: {refused:?}"
    );
    let (_, status) = admin(admin_port, "GET", "/v1/status");
    assert!(
        status["log"]["refusing_appends"].is_string(),
        "the status says appends are refused: {status}"
    );
    assert_eq!(common::states(admin_port), ["active", "active", "active"]);
    // Room again: writes are accepted.
    std::fs::remove_file(&ballast).unwrap();
    let mut resumed = Err(String::new());
    for _ in 0..50 {
        id += 1;
        match client
            .execute("INSERT INTO big VALUES ($1, $2)", &[&id, &noise(id, 1024)])
            .await
        {
            Ok(_) => {
                acked.push(id);
                resumed = Ok(());
                break;
            }
            Err(e) => resumed = Err(format!("{:?}", e.as_db_error().map(|d| d.message()))),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Err(last) = resumed {
        panic!("appends did not resume once the disk had room: {last}");
    }
    // Full again, then SIGTERM: the daemon ends within its bound.
    fill(&ballast, &data, 0);
    for _ in 0..3 {
        id += 1;
        let _ = client
            .execute(
                "INSERT INTO big VALUES ($1, $2)",
                &[&id, &noise(id, 64 << 10)],
            )
            .await;
    }
    drop(client);
    let asked = Instant::now();
    Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    loop {
        if daemon.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(20),
            "SIGTERM with a full disk did not end the daemon"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Every acknowledged write is on every backend.
    for i in 0..3 {
        let mut s = three.backend(i).open_session().await.unwrap();
        let out = s
            .execute("SELECT id FROM big ORDER BY id", &[])
            .await
            .unwrap();
        let mdbd_engine::backend::Outcome::Rows(rs) = out else {
            panic!("no rows")
        };
        let ids: Vec<i64> = rs
            .rows
            .iter()
            .map(|r| match r[0] {
                mdbd_engine::log::Value::Int(v) => v,
                ref other => panic!("{other:?}"),
            })
            .collect();
        for a in &acked {
            assert!(
                ids.contains(&i64::from(*a)),
                "acknowledged {a} missing on {i}"
            );
        }
    }
}

/// Unmounts the tmpfs when the test ends, however it ends.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes `path` until the file system of `dir` has `leave` bytes free (or fewer).
fn fill(path: &std::path::Path, dir: &std::path::Path, leave: u64) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let chunk = vec![0x5au8; 256 << 10];
    while free_bytes(dir) > leave + chunk.len() as u64 {
        f.write_all(&chunk).unwrap();
    }
    if leave == 0 {
        while f.write_all(&chunk[..4096]).is_ok() {}
    }
    let _ = f.sync_all();
}

fn free_bytes(dir: &std::path::Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap()
}

/// `len` bytes of text zstd cannot shrink much (an xorshift stream, hex-encoded).
fn noise(seed: i32, len: usize) -> String {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ seed as u64;
    let mut out = String::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(&format!("{x:016x}"));
    }
    out.truncate(len);
    out
}
