//! The admin API's door: a non-loopback listener without a token never starts; the read
//! token looks but cannot change anything; tokens come from the environment too.

mod common;

use common::{free_port, start_with, Three};
use std::net::TcpStream;

fn request(admin: u16, method: &str, path: &str, token: Option<&str>) -> u16 {
    common::admin_as(admin, method, path, token).0
}

fn config(
    dir: &std::path::Path,
    port: u16,
    admin_listen: &str,
    server: &str,
) -> std::path::PathBuf {
    let text = format!(
        "[server]\nadmin_listen = \"{admin_listen}\"\ndata_dir = \"{d}/data\"\n{server}\n\n\
         [[listener]]\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:{port}\"\ndatabase = \"app\"\n\n\
         [[user]]\nname = \"demo\"\nauth = \"trust\"\n\n{}",
        Three::sqlite(dir).backend_toml(&common::NAMES),
        d = dir.display(),
    );
    let path = dir.join("mdbd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_non_loopback_admin_listener_without_a_token_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let admin = format!("0.0.0.0:{}", free_port());
    let conf = config(dir.path(), port, &admin, "");
    let (ok, out) = common::mdbd(&["check-config", conf.to_str().unwrap()]);
    assert!(
        !ok && out.contains("an operator token is required"),
        "{out}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mdbd"))
        .args(["run", "--config", conf.to_str().unwrap()])
        .output()
        .unwrap();
    let (ok, text) = common::ran(out);
    assert!(
        !ok && text.contains("an operator token is required"),
        "{text}"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens"
    );
    // With a token (here from a file) it starts.
    std::fs::write(dir.path().join("token"), "op-token\n").unwrap();
    let conf = config(
        dir.path(),
        port,
        &admin,
        &format!("admin_token_file = \"{}/token\"", dir.path().display()),
    );
    let d = start_with(&conf, port, &[]);
    let admin_port: u16 = admin.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(request(admin_port, "GET", "/v1/status", None), 401);
    assert_eq!(
        request(admin_port, "GET", "/v1/status", Some("op-token")),
        200
    );
    common::stop(d);
}

#[test]
fn a_read_only_token_can_look_but_cannot_detach() {
    let dir = tempfile::tempdir().unwrap();
    let (port, admin) = (free_port(), free_port());
    let conf = config(
        dir.path(),
        port,
        &format!("127.0.0.1:{admin}"),
        "admin_token = \"op-token\"\nadmin_read_token_env = \"MDBD_TEST_READ_TOKEN\"",
    );
    let d = start_with(&conf, port, &[("MDBD_TEST_READ_TOKEN", "look-token")]);
    let detach = "/v1/backends/c/detach";
    assert_eq!(request(admin, "GET", "/v1/status", Some("look-token")), 200);
    assert_eq!(request(admin, "GET", "/metrics", Some("look-token")), 200);
    assert_eq!(request(admin, "GET", "/v1/joins", Some("look-token")), 200);
    assert_eq!(request(admin, "POST", detach, Some("look-token")), 403);
    assert_eq!(
        request(admin, "POST", "/v1/reload", Some("look-token")),
        403
    );
    assert_eq!(request(admin, "POST", detach, None), 401);
    assert_eq!(request(admin, "POST", detach, Some("wrong")), 401);
    assert_eq!(request(admin, "POST", detach, Some("op-token")), 200);
    common::stop(d);
}

/// An example configuration with its addresses moved to free ports and its data
/// directory into `dir`; (config, client port).
fn example(dir: &std::path::Path, name: &str, client: &str) -> (std::path::PathBuf, u16) {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples")
            .join(name),
    )
    .unwrap();
    let port = free_port();
    let mut text = text.replace(&format!("127.0.0.1:{client}"), &format!("127.0.0.1:{port}"));
    for other in ["6432", "6033", "6480"] {
        text = text.replace(
            &format!("127.0.0.1:{other}"),
            &format!("127.0.0.1:{}", free_port()),
        );
    }
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("data_dir") {
                format!("data_dir = \"{}/data\"", dir.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    (path, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_start_as_they_are_with_a_password_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("MDBD_APP_PASSWORD", "change-me")];
    let (pg, pg_port) = example(dir.path(), "postgres.toml", "6432");
    let (ok, out) = common::mdbd(&["check-config", pg.to_str().unwrap()]);
    assert!(!ok && out.contains("MDBD_APP_PASSWORD"), "{out}");
    let d = start_with(&pg, pg_port, &env);
    // The SCRAM user is served (its backends are not reachable here: a wrong password is
    // refused before any backend is asked anything).
    let e = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={pg_port} user=app password=wrong dbname=app"),
        tokio_postgres::NoTls,
    )
    .await
    .err()
    .unwrap();
    assert_eq!(e.as_db_error().unwrap().code().code(), "28P01");
    common::stop(d);

    let dir = tempfile::tempdir().unwrap();
    let (my, my_port) = example(dir.path(), "mysql.toml", "6033");
    let d = start_with(&my, my_port, &env);
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(my_port)
        .user(Some("app"))
        .pass(Some("wrong"));
    match mysql_async::Conn::new(opts).await {
        Err(mysql_async::Error::Server(s)) => assert_eq!(s.code, 1045, "{s:?}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    common::stop(d);
}

#[test]
fn the_admin_api_is_served_over_tls_with_admin_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = common::tls::make(dir.path());
    let (port, admin) = (free_port(), free_port());
    let conf = config(
        dir.path(),
        port,
        &format!("127.0.0.1:{admin}"),
        &format!(
            "admin_tls = true\nadmin_token = \"op-token\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
            ca.cert.display(),
            ca.key.display()
        ),
    );
    let d = start_with(&conf, port, &[]);
    let curl = |url: &str, extra: &[&str]| {
        let out = std::process::Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "10",
            ])
            .args(extra)
            .arg(url)
            .output()
            .unwrap();
        eprintln!("curl {url}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let https = format!("https://localhost:{admin}/v1/status");
    let ca_path = ca.ca.display().to_string();
    let ca_arg = ["--cacert", ca_path.as_str()];
    let with_token = [ca_arg[0], ca_arg[1], "-H", "Authorization: Bearer op-token"];
    assert_eq!(curl(&https, &with_token), "200");
    assert_eq!(curl(&https, &ca_arg), "401");
    // Plain HTTP gets no answer from a TLS listener.
    assert_ne!(
        curl(&format!("http://127.0.0.1:{admin}/v1/status"), &[]),
        "200"
    );
    common::stop(d);
}

/// A readiness probe that sees the daemon accept clients can reach its admin API at that
/// moment: the admin API is bound before the client listeners.
#[test]
fn the_admin_api_listens_before_the_client_listeners_accept() {
    let dir = tempfile::tempdir().unwrap();
    let (port, admin) = (free_port(), free_port());
    let conf = config(dir.path(), port, &format!("127.0.0.1:{admin}"), "");
    // The admin API's bind is held back 1.5 s: were the client listeners bound first,
    // they would accept clients all that time.
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_mdbd"))
        .args(["run", "--config", conf.to_str().unwrap()])
        .env("MDBD_FAILPOINTS", "admin-bind=1500")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let daemon = common::Running(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "mdbd never listened");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    // At once, without a retry.
    assert!(
        TcpStream::connect(("127.0.0.1", admin)).is_ok(),
        "the client port accepts but the admin API does not listen yet"
    );
    assert_eq!(request(admin, "GET", "/v1/status", None), 200);
    common::stop(daemon);
}
