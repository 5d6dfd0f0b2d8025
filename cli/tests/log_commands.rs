//! `mdbd log verify` and `mdbd log dump` against real logs, healthy and corrupt.

use mdbd_engine::log::{
    DeltaLog, Durability, FrameKey, LogOptions, LogStorage, Lsn, Record, SledStorage, Statement,
    Value,
};
use std::path::Path;
use std::process::{Command, Output};

fn mdbd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdbd"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Ten records, one frame each.
fn make_log(dir: &Path) {
    let log = DeltaLog::open(
        dir,
        LogOptions {
            durability: Durability::Fsync,
            batch_bytes: 16,
            ..LogOptions::default()
        },
    )
    .unwrap();
    for i in 0..10 {
        let stmt = Statement::with_params(
            "INSERT INTO t(id, name) VALUES ($1, $2)",
            vec![Value::Int(i), Value::Text(format!("n{i}"))],
        );
        log.append_blocking(&[Record::write(1, vec![stmt])])
            .unwrap();
    }
    log.set_cursor("joiner", Lsn(4)).unwrap();
}

#[test]
fn verify_reports_counts_and_range_of_a_healthy_log() {
    let dir = tempfile::tempdir().unwrap();
    make_log(dir.path());
    let out = mdbd(&["log", "verify", dir.path().to_str().unwrap()]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("records     10 (LSN 1..=10)"), "{t}");
    assert!(t.contains("cursor      joiner at LSN 4"), "{t}");
    assert!(t.contains("status      OK"), "{t}");
}

#[test]
fn verify_exits_non_zero_naming_the_corrupt_frame() {
    let dir = tempfile::tempdir().unwrap();
    make_log(dir.path());
    {
        let storage = SledStorage::open(dir.path()).unwrap();
        let key = FrameKey::at(Lsn(7));
        let mut frame = storage.get_frame(key).unwrap().unwrap().to_vec();
        let last = frame.len() - 1;
        frame[last] ^= 0x01;
        storage.put_frames(&[(key, frame)]).unwrap();
        storage.sync().unwrap();
    }
    let out = mdbd(&["log", "verify", dir.path().to_str().unwrap()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("CORRUPT at LSN 7"), "{t}");
    assert!(t.contains("records     6 (LSN 1..=6)"), "{t}");
}

#[test]
fn dump_prints_records_from_an_lsn_with_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    make_log(dir.path());
    let out = mdbd(&[
        "log",
        "dump",
        dir.path().to_str().unwrap(),
        "--from",
        "3",
        "--limit",
        "2",
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("LSN 3  session 1"), "{t}");
    assert!(t.contains("LSN 4  session 1"), "{t}");
    assert!(!t.contains("LSN 5 "), "{t}");
    assert!(t.contains("INSERT INTO t(id, name) VALUES ($1, $2)"), "{t}");
    assert!(t.contains("$1=2, $2='n2'"), "{t}");
}

#[test]
fn a_directory_without_a_log_is_a_clear_error_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = mdbd(&["log", "verify", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("is not a delta log directory"),
        "{}",
        text(&out)
    );
    assert!(!missing.exists());
    let out = mdbd(&["log", "dump", dir.path().to_str().unwrap(), "--from", "x"]);
    assert!(!out.status.success());
}

#[test]
fn check_config_accepts_every_example_and_names_the_line_of_a_bad_key() {
    for example in ["sqlite", "postgres", "mysql"] {
        let path = format!("{}/../examples/{example}.toml", env!("CARGO_MANIFEST_DIR"));
        // The examples' passwords come from the environment.
        let out = Command::new(env!("CARGO_BIN_EXE_mdbd"))
            .args(["check-config", &path])
            .env("MDBD_APP_PASSWORD", "change-me")
            .output()
            .unwrap();
        assert!(out.status.success(), "{example}: {}", text(&out));
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let good = std::fs::read_to_string(format!(
        "{}/../examples/sqlite.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    std::fs::write(
        &bad,
        good.replace("durability = \"fsync\"", "durabilty = \"fsync\""),
    )
    .unwrap();
    let out = mdbd(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let t = text(&out);
    assert!(t.contains("bad.toml:14: unknown field `durabilty`"), "{t}");
}
