//! The MySQL listener's front door with real clients: `caching_sha2_password` and
//! `mysql_native_password`, TLS by CLIENT_SSL verified against a CA the test makes, a user
//! that must use TLS; mysql_async and the `mariadb` command-line client.

mod common;

use common::{free_port, start_with, Running, Three};
use mysql_async::prelude::Queryable;
use std::path::Path;
use std::process::Command;

const SHA2_PW: &str = "sha2-secret";
const NATIVE_PW: &str = "native-secret";

fn daemon(dir: &Path) -> (Running, u16) {
    let ca = common::tls::make(dir);
    let (my, admin) = (free_port(), free_port());
    let text = format!(
        "[server]\nadmin_listen = \"127.0.0.1:{admin}\"\ndata_dir = \"{d}/data\"\n\
         tls_cert = \"{cert}\"\ntls_key = \"{key}\"\nauth_failure_delay = \"0s\"\n\n\
         [[listener]]\nprotocol = \"mysql\"\nlisten = \"127.0.0.1:{my}\"\ndatabase = \"app\"\ndatabase_aliases = [\"shop\"]\n\n\
         [[user]]\nname = \"sha2\"\nauth = \"caching_sha2_password\"\npassword_env = \"MDBD_TEST_SHA2_PW\"\n\n\
         [[user]]\nname = \"native\"\nauth = \"mysql_native_password\"\npassword = \"{NATIVE_PW}\"\n\n\
         [[user]]\nname = \"tlsonly\"\nauth = \"caching_sha2_password\"\npassword = \"{SHA2_PW}\"\nssl = \"require\"\n\n{}",
        Three::sqlite(dir).backend_toml(&common::NAMES),
        d = dir.display(),
        cert = ca.cert.display(),
        key = ca.key.display(),
    );
    let conf = dir.join("mdbd.toml");
    std::fs::write(&conf, text).unwrap();
    (start_with(&conf, my, &[("MDBD_TEST_SHA2_PW", SHA2_PW)]), my)
}

async fn login(
    port: u16,
    user: &str,
    password: &str,
    ca: Option<&Path>,
) -> Result<i64, mysql_async::Error> {
    let mut opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(password))
        .db_name(Some("app"));
    if let Some(ca) = ca {
        opts = opts.ssl_opts(Some(
            mysql_async::SslOpts::default().with_root_certs(vec![ca.to_path_buf().into()]),
        ));
    }
    let mut c = mysql_async::Conn::new(opts).await?;
    let v: Option<i64> = c.query_first("SELECT 41 + 1").await?;
    c.disconnect().await?;
    Ok(v.unwrap_or_default())
}

fn denied(e: mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        other => panic!("not a server error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_async_logs_in_with_caching_sha2_and_native_with_and_without_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (d, port) = daemon(dir.path());
    let ca = dir.path().join("ca.pem");
    assert_eq!(login(port, "sha2", SHA2_PW, None).await.unwrap(), 42);
    assert_eq!(login(port, "sha2", SHA2_PW, Some(&ca)).await.unwrap(), 42);
    assert_eq!(login(port, "native", NATIVE_PW, None).await.unwrap(), 42);
    assert_eq!(
        login(port, "native", NATIVE_PW, Some(&ca)).await.unwrap(),
        42
    );
    assert_eq!(
        login(port, "tlsonly", SHA2_PW, Some(&ca)).await.unwrap(),
        42
    );
    assert_eq!(
        denied(login(port, "tlsonly", SHA2_PW, None).await.unwrap_err()),
        1045
    );
    assert_eq!(
        denied(login(port, "sha2", "wrong", None).await.unwrap_err()),
        1045
    );
    assert_eq!(
        denied(login(port, "native", "wrong", Some(&ca)).await.unwrap_err()),
        1045
    );
    assert_eq!(
        denied(login(port, "nobody", "wrong", None).await.unwrap_err()),
        1045
    );
    // The listener's alias is the same database; another name is refused.
    for (db, refused) in [("shop", None), ("nope", Some(1049))] {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(port)
            .user(Some("sha2"))
            .pass(Some(SHA2_PW))
            .db_name(Some(db));
        match (mysql_async::Conn::new(opts).await, refused) {
            (Ok(c), None) => c.disconnect().await.unwrap(),
            (Err(e), Some(code)) => assert_eq!(denied(e), code),
            (other, _) => panic!("{db}: {:?}", other.map(|_| ())),
        }
    }
    common::stop(d);
}

fn mariadb(port: u16, user: &str, password: &str, tls: Option<&Path>) -> (bool, String) {
    let mut cmd = Command::new("mariadb");
    cmd.args(["--no-defaults", "--protocol=TCP", "-h", "127.0.0.1"])
        .arg(format!("-P{port}"))
        .arg(format!("-u{user}"))
        .arg(format!("-p{password}"))
        .args([
            "--batch",
            "--skip-column-names",
            "-e",
            "SELECT 41 + 1",
            "app",
        ]);
    // The client's own plugins (caching_sha2_password) live in Connector/C's directory.
    if let Some(dir) = [
        "/usr/lib/x86_64-linux-gnu/libmariadb3/plugin",
        "/usr/lib/mysql/plugin",
    ]
    .iter()
    .find(|d| Path::new(d).join("caching_sha2_password.so").exists())
    {
        cmd.arg(format!("--plugin-dir={dir}"));
    }
    match tls {
        Some(ca) => cmd
            .arg(format!("--ssl-ca={}", ca.display()))
            .arg("--ssl-verify-server-cert"),
        None => cmd.arg("--skip-ssl"),
    };
    common::ran(cmd.output().unwrap())
}

#[test]
fn the_mariadb_client_logs_in_with_caching_sha2_over_tls_and_with_native() {
    let dir = tempfile::tempdir().unwrap();
    let (d, port) = daemon(dir.path());
    let ca = dir.path().join("ca.pem");
    // `tlsonly` is refused without TLS: its success proves the session is TLS.
    let (ok, out) = mariadb(port, "tlsonly", SHA2_PW, Some(&ca));
    assert!(ok && out.trim() == "42", "{out}");
    let (ok, out) = mariadb(port, "tlsonly", SHA2_PW, None);
    assert!(!ok && out.contains("Access denied"), "{out}");
    let (ok, out) = mariadb(port, "sha2", SHA2_PW, Some(&ca));
    assert!(ok && out.trim() == "42", "{out}");
    let (ok, out) = mariadb(port, "native", NATIVE_PW, None);
    assert!(ok && out.trim() == "42", "{out}");
    let (ok, out) = mariadb(port, "native", "wrong", Some(&ca));
    assert!(
        !ok && out.contains("Access denied for user 'native'"),
        "{out}"
    );
    common::stop(d);
}
