//! The PostgreSQL listener's front door with real clients: SCRAM-SHA-256 (and -PLUS over
//! TLS), md5, TLS verified against a CA the test makes, refusals with PostgreSQL's codes
//! after the same exchange, the delay after failed logins, the connection limit.

mod common;

use common::wire::{connect, next, send, startup_to, Message};
use common::{free_port, start_with, Running, Three};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const APP_PW: &str = "app-secret";
const VER_PW: &str = "ver-secret ünïcode";
const OLD_PW: &str = "old-secret";

/// mdbd over three SQLite files with a TLS listener (database `app`) and users of every
/// method; `server` goes into `[server]`.
fn daemon(dir: &Path, server: &str) -> (Running, u16) {
    let (d, port, _) = daemon_and_admin(dir, server);
    (d, port)
}

/// [`daemon`], with its admin port too.
fn daemon_and_admin(dir: &Path, server: &str) -> (Running, u16, u16) {
    let ca = common::tls::make(dir);
    let port = free_port();
    let admin = free_port();
    std::fs::write(dir.join("app.pw"), format!("{APP_PW}\n")).unwrap();
    let verifier = {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mdbd"))
            .args(["passwd", "ver"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(VER_PW.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert!(verifier.starts_with("SCRAM-SHA-256$4096:"), "{verifier}");
    let text = format!(
        "[server]\nadmin_listen = \"127.0.0.1:{admin}\"\ndata_dir = \"{d}/data\"\n\
         tls_cert = \"{cert}\"\ntls_key = \"{key}\"\n{server}\n\n\
         [[listener]]\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:{port}\"\ndatabase = \"app\"\ndatabase_aliases = [\"shop\"]\n\n\
         [[user]]\nname = \"app\"\npassword_file = \"{d}/app.pw\"\n\n\
         [[user]]\nname = \"ver\"\npassword = \"{verifier}\"\n\n\
         [[user]]\nname = \"old\"\nauth = \"md5\"\npassword_env = \"MDBD_TEST_OLD_PW\"\n\n\
         [[user]]\nname = \"secure\"\npassword = \"{APP_PW}\"\nssl = \"require\"\n\n\
         [[user]]\nname = \"demo\"\nauth = \"trust\"\n\n{}",
        Three::sqlite(dir).backend_toml(&common::NAMES),
        d = dir.display(),
        cert = ca.cert.display(),
        key = ca.key.display(),
    );
    let conf = dir.join("mdbd.toml");
    std::fs::write(&conf, text).unwrap();
    let (ok, out) = common::mdbd(&["check-config", conf.to_str().unwrap()]);
    assert!(!ok, "the md5 user's variable is not set here: {out}");
    assert!(out.contains("MDBD_TEST_OLD_PW"), "{out}");
    (
        start_with(&conf, port, &[("MDBD_TEST_OLD_PW", OLD_PW)]),
        port,
        admin,
    )
}

async fn plain(
    port: u16,
    user: &str,
    password: &str,
    db: &str,
) -> Result<(), tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user={user} password='{password}' dbname={db}"),
        tokio_postgres::NoTls,
    )
    .await?;
    tokio::spawn(conn);
    client.simple_query("SELECT 1").await.map(|_| ())
}

async fn tls(
    port: u16,
    user: &str,
    password: &str,
    ca: &Path,
) -> Result<(), tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=localhost port={port} user={user} password='{password}' dbname=app sslmode=require channel_binding=require"),
        common::tls::pg_connector(ca),
    )
    .await?;
    tokio::spawn(conn);
    client.simple_query("SELECT 1").await.map(|_| ())
}

fn code(e: tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| format!("{} {}", d.code().code(), d.message()))
        .unwrap_or_else(|| format!("not a server error: {e}"))
}

fn psql(conninfo: &str, password: &str) -> (bool, String) {
    let out = Command::new("psql")
        .args(["-X", "-At", "-c", "SELECT 41 + 1", conninfo])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap();
    common::ran(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_md5_and_tls_logins_work_with_tokio_postgres_and_psql() {
    let dir = tempfile::tempdir().unwrap();
    let (d, port) = daemon(dir.path(), "auth_failure_delay = \"0s\"");
    let ca = dir.path().join("ca.pem");
    // SCRAM from a password file, from a stored verifier (non-ASCII, SASLprep'd), md5.
    plain(port, "app", APP_PW, "app").await.unwrap();
    plain(port, "ver", VER_PW, "app").await.unwrap();
    plain(port, "old", OLD_PW, "app").await.unwrap();
    plain(port, "app", APP_PW, "shop").await.unwrap();
    // TLS verified against the test CA, with channel binding required (SCRAM-SHA-256-PLUS).
    tls(port, "app", APP_PW, &ca).await.unwrap();
    tls(port, "secure", APP_PW, &ca).await.unwrap();
    // A user that must use TLS, without it.
    let e = plain(port, "secure", APP_PW, "app").await.unwrap_err();
    assert!(code(e).starts_with("28000 "));
    // Refusals, with PostgreSQL's codes and messages.
    let e = plain(port, "app", "wrong", "app").await.unwrap_err();
    assert_eq!(
        code(e),
        "28P01 password authentication failed for user \"app\""
    );
    let e = plain(port, "nobody", "wrong", "app").await.unwrap_err();
    assert_eq!(
        code(e),
        "28P01 password authentication failed for user \"nobody\""
    );
    let e = plain(port, "app", APP_PW, "elsewhere").await.unwrap_err();
    assert_eq!(code(e), "3D000 database \"elsewhere\" does not exist");
    let e = plain(port, "old", "wrong", "app").await.unwrap_err();
    assert_eq!(
        code(e),
        "28P01 password authentication failed for user \"old\""
    );
    // md5 cannot give channel binding: a client that requires it refuses md5 itself.
    assert!(tls(port, "old", OLD_PW, &ca)
        .await
        .unwrap_err()
        .as_db_error()
        .is_none());

    // psql (libpq): verify-full against the CA with channel binding, plain, md5.
    let full = format!(
        "host=localhost port={port} user=app dbname=app sslmode=verify-full sslrootcert={} channel_binding=require",
        ca.display()
    );
    let (ok, out) = psql(&full, APP_PW);
    assert!(ok && out.trim() == "42", "{out}");
    let (ok, out) = psql(
        &format!("host=127.0.0.1 port={port} user=app dbname=app sslmode=disable"),
        APP_PW,
    );
    assert!(ok && out.trim() == "42", "{out}");
    let (ok, out) = psql(
        &format!("host=127.0.0.1 port={port} user=old dbname=app sslmode=disable"),
        OLD_PW,
    );
    assert!(ok && out.trim() == "42", "{out}");
    let (ok, out) = psql(&full, "wrong");
    assert!(
        !ok && out.contains("password authentication failed for user \"app\""),
        "{out}"
    );
    // A certificate for another name fails verify-full at the client.
    let wrong_host = full.replace("host=localhost", "host=127.0.0.2");
    let (ok, _) = psql(&wrong_host, APP_PW);
    assert!(!ok, "127.0.0.2 is not in the certificate");
    common::stop(d);
}

/// One SCRAM exchange on raw bytes with a wrong proof: the messages the server sent, and
/// the salt it offered.
fn wrong_proof_exchange(port: u16, user: &str, db: &str) -> (Vec<u8>, String, Duration) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let started = Instant::now();
    let mut socket = connect(port);
    startup_to(&mut socket, user, db);
    let mut kinds = Vec::new();
    let (kind, body) = next(&mut socket).unwrap();
    kinds.push(kind);
    assert_eq!(&body[..4], &10i32.to_be_bytes(), "AuthenticationSASL");
    let mut initial = b"SCRAM-SHA-256\0".to_vec();
    let first = b"n,,n=,r=testnonce";
    initial.extend_from_slice(&(first.len() as i32).to_be_bytes());
    initial.extend_from_slice(first);
    send(&mut socket, b'p', &initial);
    let (kind, body) = next(&mut socket).unwrap();
    kinds.push(kind);
    assert_eq!(
        &body[..4],
        &11i32.to_be_bytes(),
        "AuthenticationSASLContinue"
    );
    let server_first = String::from_utf8(body[4..].to_vec()).unwrap();
    let mut attrs = server_first.split(',');
    let nonce = attrs
        .next()
        .unwrap()
        .strip_prefix("r=")
        .unwrap()
        .to_string();
    assert!(nonce.starts_with("testnonce"));
    let salt = attrs.next().unwrap().to_string();
    assert_eq!(attrs.next(), Some("i=4096"));
    let last = format!("c=biws,r={nonce},p={}", b64.encode([0u8; 32]));
    send(&mut socket, b'p', last.as_bytes());
    let mut rest: Vec<Message> = Vec::new();
    while let Some(m) = next(&mut socket) {
        rest.push(m);
    }
    let elapsed = started.elapsed();
    assert_eq!(rest.len(), 1, "one FATAL error and the end: {rest:?}");
    kinds.push(rest[0].0);
    let code = common::wire::field(&rest[0].1, b'C');
    kinds.extend_from_slice(code.as_bytes());
    (kinds, salt, elapsed)
}

#[test]
fn unknown_users_and_wrong_passwords_follow_the_same_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let (d, port) = daemon(dir.path(), "auth_failure_delay = \"0s\"");
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    let mut salts = Vec::new();
    for _ in 0..5 {
        let (kinds, _, t) = wrong_proof_exchange(port, "app", "app");
        assert_eq!(kinds, b"RRE28P01");
        known.push(t);
        let (kinds, salt, t) = wrong_proof_exchange(port, "nobody", "app");
        assert_eq!(kinds, b"RRE28P01", "the same messages for an unknown user");
        unknown.push(t);
        salts.push(salt);
    }
    // A salt that changed between attempts would tell an unknown user apart.
    salts.dedup();
    assert_eq!(salts.len(), 1, "an unknown user's salt is stable");
    // A wrong database is refused only after the password (the same exchange).
    let (kinds, _, _) = wrong_proof_exchange(port, "app", "elsewhere");
    assert_eq!(
        kinds, b"RRE28P01",
        "a wrong password is reported before the database"
    );
    known.sort();
    unknown.sort();
    let (a, b) = (known[2], unknown[2]);
    let gap = a.max(b) - a.min(b);
    assert!(
        gap < Duration::from_millis(25),
        "median times differ: {a:?} vs {b:?}"
    );
    common::stop(d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_failed_logins_from_one_address_are_slowed() {
    let dir = tempfile::tempdir().unwrap();
    let (d, port) = daemon(
        dir.path(),
        "auth_failure_delay = \"50ms\"\nauth_failure_delay_max = \"400ms\"",
    );
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let e = plain(port, "app", "guess", "app").await.unwrap_err();
        assert!(code(e).starts_with("28P01"));
        times.push(started.elapsed());
    }
    assert!(times[0] >= Duration::from_millis(50), "{times:?}");
    assert!(
        times[0] < Duration::from_millis(400),
        "the first failure waits the base delay: {times:?}"
    );
    for t in &times[4..] {
        assert!(
            *t >= Duration::from_millis(400),
            "failures in a row wait the maximum: {times:?}"
        );
    }
    let total: Duration = times.iter().sum();
    assert!(
        total >= Duration::from_millis(50 + 100 + 200 + 400 * 17),
        "{total:?}"
    );
    // Unknown users and wrong databases count too; a success forgets the failures.
    plain(port, "app", APP_PW, "app").await.unwrap();
    let started = Instant::now();
    plain(port, "nobody", "guess", "app").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "forgotten after a success"
    );
    common::stop(d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_full_of_clients_refuses_the_next_with_53300() {
    let dir = tempfile::tempdir().unwrap();
    let (d, port, admin) = daemon_and_admin(dir.path(), "max_client_connections = 2");
    // The start-up probe's connection held a slot; the gauge says when it is given back.
    let open = || {
        let (_, text) = common::admin_text(admin, "GET", "/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix("mdbd_client_connections "))
            .map(|v| v.trim().to_string())
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while open().as_deref() != Some("0") {
        assert!(Instant::now() < deadline, "the probe's slot: {:?}", open());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect = || async {
        let (client, conn) = tokio_postgres::connect(
            &format!("host=127.0.0.1 port={port} user=demo dbname=app"),
            tokio_postgres::NoTls,
        )
        .await?;
        let task = tokio::spawn(conn);
        Ok::<_, tokio_postgres::Error>((client, task))
    };
    let first = connect().await.unwrap();
    let second = connect().await.unwrap();
    let Err(e) = connect().await else {
        panic!("a third client was let in");
    };
    assert_eq!(code(e), "53300 sorry, too many clients already");
    assert_eq!(open().as_deref(), Some("2"));
    drop(first);
    // The slot is free once the first client's connection has closed.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match connect().await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                assert!(code(e).starts_with("53300"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the slot was not freed: {e}"),
        }
    }
    // An open client would hold the daemon's shutdown for its grace period.
    drop(second);
    common::stop(d);
}

#[test]
fn psycopg_logs_in_with_scram_over_tls_and_without() {
    // The driver matrix's virtual environment (drivers/python/requirements.txt) has it.
    let Some(python) = common::drivers::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (d, port) = daemon(dir.path(), "auth_failure_delay = \"0s\"");
    let ca = dir.path().join("ca.pem");
    let script = r#"
import sys, psycopg
conninfo, password = sys.argv[1], sys.argv[2]
try:
    with psycopg.connect(conninfo, password=password) as c:
        print(c.execute("SELECT 41 + 1").fetchone()[0], c.info.pgconn.ssl_in_use)
except psycopg.OperationalError as e:
    print("error", e.sqlstate if hasattr(e, "sqlstate") else None, str(e).strip().splitlines()[-1])
"#;
    let run = |conninfo: &str, password: &str| {
        let out = Command::new(&python)
            .args(["-c", script, conninfo, password])
            .output()
            .unwrap();
        let (ok, text) = common::ran(out);
        assert!(ok, "{text}");
        text.trim().to_string()
    };
    let full = format!(
        "host=localhost port={port} user=app dbname=app sslmode=verify-full sslrootcert={} channel_binding=require",
        ca.display()
    );
    assert_eq!(run(&full, APP_PW), "42 True");
    let plain = format!("host=127.0.0.1 port={port} user=app dbname=app sslmode=disable");
    assert_eq!(run(&plain, APP_PW), "42 False");
    let old = format!("host=127.0.0.1 port={port} user=old dbname=app sslmode=disable");
    assert_eq!(run(&old, OLD_PW), "42 False");
    let wrong = run(&plain, "wrong");
    assert!(
        wrong.contains("password authentication failed for user \"app\""),
        "{wrong}"
    );
    common::stop(d);
}

#[test]
fn sighup_replaces_the_certificate_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (d, port) = daemon(dir.path(), "auth_failure_delay = \"0s\"");
    let conninfo = |ca: &Path| {
        format!(
            "host=localhost port={port} user=app dbname=app sslmode=verify-full sslrootcert={} channel_binding=require",
            ca.display()
        )
    };
    let old_ca = dir.path().join("ca.pem");
    let (ok, out) = psql(&conninfo(&old_ca), APP_PW);
    assert!(ok && out.trim() == "42", "{out}");
    // A certificate from another CA replaces the files; SIGHUP makes it the one served.
    let other = tempfile::tempdir().unwrap();
    let new = common::tls::make(other.path());
    std::fs::copy(&new.cert, dir.path().join("server.pem")).unwrap();
    std::fs::copy(&new.key, dir.path().join("server.key")).unwrap();
    let sent = Command::new("kill")
        .args(["-HUP", &d.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, out) = psql(&conninfo(&new.ca), APP_PW);
        if ok {
            assert_eq!(out.trim(), "42");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served: {out}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The old CA no longer verifies it; channel binding follows the new certificate.
    let (ok, _) = psql(&conninfo(&old_ca), APP_PW);
    assert!(!ok, "the old certificate is still served");
    // A broken file keeps the current certificate.
    std::fs::write(dir.path().join("server.pem"), "not a certificate").unwrap();
    Command::new("kill")
        .args(["-HUP", &d.id().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let (ok, out) = psql(&conninfo(&new.ca), APP_PW);
    assert!(ok && out.trim() == "42", "{out}");
    common::stop(d);
}
