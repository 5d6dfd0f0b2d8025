//! The MySQL front end's test helpers: a config with a MySQL and a PostgreSQL listener,
//! mysql_async clients, the `mariadb` command-line client, and the join workload of
//! `join.rs` driven through MySQL clients.

use super::join::ClientResult;
use super::{free_port, start, Three};
use mysql_async::prelude::Queryable;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The password of the `app` user (mysql_native_password).
pub const PASSWORD: &str = "secret";

/// A daemon with both front ends.
pub struct Daemon {
    pub cfg: PathBuf,
    pub pg: u16,
    pub my: u16,
    pub admin: u16,
    pub child: super::Running,
}

/// Writes the config: PostgreSQL listener on `pg`, MySQL listener on `my`, user `demo`
/// (trust) and `app` (mysql_native_password).
pub fn config(three: &Three, dir: &Path, d: (u16, u16, u16), names: &[&str]) -> PathBuf {
    config_with_server(three, dir, d, names, "")
}

/// [`config`] with `server` lines added to `[server]` (a `consistency` there wins over
/// `MDBD_TEST_CONSISTENCY`).
pub fn config_with_server(
    three: &Three,
    dir: &Path,
    d: (u16, u16, u16),
    names: &[&str],
    server: &str,
) -> PathBuf {
    let (pg, my, admin) = d;
    let text = format!(
        "[server]\nadmin_listen = \"127.0.0.1:{admin}\"\ndata_dir = \"{}/data\"\n{}{server}\n\
         [[listener]]\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:{pg}\"\ndatabase = \"app\"\n\n\
         [[listener]]\nprotocol = \"mysql\"\nlisten = \"127.0.0.1:{my}\"\n\n\
         [[user]]\nname = \"demo\"\nauth = \"trust\"\n\n\
         [[user]]\nname = \"app\"\nauth = \"mysql_native_password\"\npassword = \"{PASSWORD}\"\n{}",
        dir.display(),
        three.test_consistency(server),
        three.backend_toml(names)
    );
    let path = dir.join("mdbd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts mdbd with both front ends over `names`.
pub fn daemon(three: &Three, dir: &Path, names: &[&str]) -> Daemon {
    let (pg, my, admin) = (free_port(), free_port(), free_port());
    let cfg = config(three, dir, (pg, my, admin), names);
    let child = start(&cfg, my);
    Daemon {
        cfg,
        pg,
        my,
        admin,
        child,
    }
}

/// Connection options for `app` on the MySQL listener. `prefer_socket` off: the test must
/// talk to mdbd, never to a socket a server names.
pub fn opts(port: u16) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some("app"))
        .pass(Some(PASSWORD))
        .db_name(Some("app"))
        .prefer_socket(false)
        .into()
}

pub async fn connect(port: u16) -> mysql_async::Conn {
    mysql_async::Conn::new(opts(port)).await.unwrap()
}

/// Runs `sql` through the `mariadb` client as `app`; (success, stdout + stderr).
pub fn cli(port: u16, args: &[&str], sql: &str) -> (bool, String) {
    let out = Command::new("timeout")
        .args(["20", "mariadb", "--no-defaults", "-h", "127.0.0.1"])
        .args(["-P", &port.to_string(), "-u", "app"])
        .arg(format!("-p{PASSWORD}"))
        .args(args)
        .args(["-e", sql])
        .output()
        .unwrap();
    super::ran(out)
}

/// `n` MySQL clients, each inserting `(writer, seq)` rows into `acked` (every other one
/// with a prepared statement) and every fourth time reading its own count back, until
/// `stop` or their first error.
pub async fn load(port: u16, n: i32, stop: Arc<AtomicBool>) -> Vec<ClientResult> {
    let mut tasks = Vec::new();
    for w in 0..n {
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = match mysql_async::Conn::new(opts(port)).await {
                Ok(c) => c,
                Err(e) => return (0, Some(format!("connect: {e}"))),
            };
            let mut acked = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let done = if acked % 2 == 0 {
                    c.query_drop(format!("INSERT INTO acked VALUES ({w}, {acked})"))
                        .await
                } else {
                    c.exec_drop("INSERT INTO acked VALUES (?, ?)", (w, acked))
                        .await
                };
                if let Err(e) = done {
                    return (acked, Some(format!("insert: {e}")));
                }
                acked += 1;
                if acked % 4 == 0 {
                    let seen: Result<Option<i64>, _> = c
                        .exec_first("SELECT count(*) FROM acked WHERE writer = ?", (w,))
                        .await;
                    match seen {
                        Ok(Some(s)) if s == acked => {}
                        Ok(other) => {
                            return (acked, Some(format!("read {other:?} of {acked} rows")))
                        }
                        Err(e) => return (acked, Some(format!("select: {e}"))),
                    }
                }
            }
            let _ = c.disconnect().await;
            (acked, None)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Every acknowledged insert is there (read through the MySQL front end).
pub async fn all_present(port: u16, results: &[ClientResult]) {
    let mut c = connect(port).await;
    for (w, (n, _)) in results.iter().enumerate() {
        let got: Option<i64> = c
            .exec_first(
                "SELECT count(*) FROM acked WHERE writer = ? AND seq < ?",
                (w as i64, *n),
            )
            .await
            .unwrap();
        assert_eq!(got, Some(*n), "writer {w}: acknowledged writes missing");
    }
}
