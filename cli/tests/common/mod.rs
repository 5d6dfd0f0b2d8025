//! Shared by the daemon tests: a cluster of three backends (SQLite files or throwaway
//! PostgreSQL servers), `mdbd run` on it, and real clients.
#![allow(dead_code)] // each test file uses a part

pub mod drivers;
pub mod join;
pub mod keyed;
pub mod keyed_mysql;
pub mod mysql;
pub mod tls;
pub mod wire;
pub mod workload;

use mdbd_backends::mysql::{MysqlBackend, MysqlOptions};
use mdbd_backends::postgres::{PgBackend, PgOptions};
use mdbd_backends::sqlite::{SqliteBackend, SqliteOptions};
use mdbd_engine::backend::{Backend, TableChecksum};
use mdbd_testkit::{MariaDb, PgServer};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    mdbd_testkit::free_port().unwrap()
}

/// Three backends named a, b, c.
pub enum Three {
    Sqlite(PathBuf),
    Postgres(Vec<PgServer>),
    Mariadb(Vec<MariaDb>),
}

pub const NAMES: [&str; 3] = ["a", "b", "c"];

impl Three {
    pub fn sqlite(dir: &Path) -> Self {
        Three::Sqlite(dir.to_path_buf())
    }

    pub fn postgres() -> Self {
        Three::Postgres((0..3).map(|_| PgServer::start().unwrap()).collect())
    }

    pub fn mariadb() -> Self {
        Three::Mariadb((0..3).map(|_| MariaDb::start().unwrap()).collect())
    }

    /// The PostgreSQL servers (a test that made `Three::postgres()`).
    pub fn pg_servers(&self) -> &[PgServer] {
        match self {
            Three::Postgres(servers) => servers,
            _ => panic!("not a PostgreSQL cluster"),
        }
    }

    pub fn backend_toml(&self, names: &[&str]) -> String {
        let mut out = String::new();
        for (i, name) in NAMES.iter().enumerate() {
            if !names.contains(name) {
                continue;
            }
            match self {
                Three::Sqlite(dir) => out.push_str(&format!(
                    "\n[[backend]]\nname = \"{name}\"\nkind = \"sqlite\"\npath = \"{}/{name}.db\"\n",
                    dir.display()
                )),
                Three::Postgres(servers) => out.push_str(&format!(
                    "\n[[backend]]\nname = \"{name}\"\nkind = \"postgres\"\nconninfo = \"{}\"\n",
                    servers[i].conninfo("postgres")
                )),
                Three::Mariadb(servers) => out.push_str(&format!(
                    "\n[[backend]]\nname = \"{name}\"\nkind = \"mysql\"\nurl = \"{}\"\n",
                    servers[i].url("app")
                )),
            }
        }
        out
    }

    /// A config for `mdbd run` on these backends, written into `dir`.
    pub fn config(&self, dir: &Path, port: u16) -> PathBuf {
        self.config_of(dir, port, free_port(), &NAMES, "")
    }

    /// A config with only the backends `names`, the admin API on `admin`, and `extra`
    /// sections appended.
    pub fn config_of(
        &self,
        dir: &Path,
        port: u16,
        admin: u16,
        names: &[&str],
        extra: &str,
    ) -> PathBuf {
        self.config_with_server(dir, port, admin, names, "", extra)
    }

    /// [`Self::config_of`] with `server` lines added to `[server]`.
    pub fn config_with_server(
        &self,
        dir: &Path,
        port: u16,
        admin: u16,
        names: &[&str],
        server: &str,
        extra: &str,
    ) -> PathBuf {
        let mode = self.test_consistency(server);
        let text = format!(
            "[server]\nadmin_listen = \"127.0.0.1:{admin}\"\ndata_dir = \"{}/data\"\n{mode}{server}\n\n[[listener]]\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:{port}\"\ndatabase = \"app\"\n\n[[user]]\nname = \"demo\"\nauth = \"trust\"\n{extra}\n{}",
            dir.display(),
            self.backend_toml(names)
        );
        let path = dir.join("mdbd.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn backend(&self, i: usize) -> Box<dyn Backend> {
        let name = NAMES[i];
        match self {
            Three::Sqlite(dir) => Box::new(
                SqliteBackend::new(
                    name,
                    &dir.join(format!("{name}.db")),
                    SqliteOptions::default(),
                )
                .unwrap(),
            ),
            Three::Postgres(servers) => Box::new(
                PgBackend::new(name, PgOptions::new(&servers[i].conninfo("postgres"))).unwrap(),
            ),
            Three::Mariadb(servers) => Box::new(
                MysqlBackend::new(name, MysqlOptions::new(&servers[i].url("app"))).unwrap(),
            ),
        }
    }

    /// Per-table checksums of backend `i`.
    pub async fn checksums(&self, i: usize) -> Vec<TableChecksum> {
        self.backend(i).checksums().await.unwrap()
    }

    /// Asserts the backends at `which` hold identical content; returns it.
    pub async fn identical(&self, which: &[usize]) -> Vec<TableChecksum> {
        let first = self.checksums(which[0]).await;
        for &i in &which[1..] {
            assert_eq!(
                first,
                self.checksums(i).await,
                "backend {i} differs from {}",
                which[0]
            );
        }
        first
    }

    /// Kills server `i` (SIGKILL). SQLite has no server: panics.
    pub fn kill_server(&mut self, i: usize) {
        match self {
            Three::Sqlite(_) => panic!("SQLite has no server to kill"),
            Three::Postgres(s) => s[i].kill(),
            Three::Mariadb(s) => s[i].kill(),
        }
    }

    /// Stops server `i` cleanly (SIGTERM / fast shutdown).
    pub fn stop_server(&mut self, i: usize) {
        match self {
            Three::Sqlite(_) => panic!("SQLite has no server to stop"),
            Three::Postgres(s) => s[i].stop(),
            Three::Mariadb(s) => s[i].stop(),
        }
    }

    /// Starts server `i` again on its data directory.
    pub fn restart_server(&mut self, i: usize) {
        match self {
            Three::Sqlite(_) => panic!("SQLite has no server to restart"),
            Three::Postgres(s) => s[i].restart().unwrap(),
            Three::Mariadb(s) => s[i].restart().unwrap(),
        }
    }

    /// The `[server]` line MDBD_TEST_CONSISTENCY=keyed asks for: it runs a PostgreSQL or
    /// MariaDB test in that ordering mode (a test that sets its own mode in `server`
    /// keeps it; SQLite has one mode).
    pub fn test_consistency(&self, server: &str) -> String {
        match std::env::var("MDBD_TEST_CONSISTENCY") {
            Ok(mode) if !server.contains("consistency") && !matches!(self, Three::Sqlite(_)) => {
                format!("consistency = \"{mode}\"\n")
            }
            _ => String::new(),
        }
    }

    /// The engine's name, for messages.
    pub fn engine(&self) -> &'static str {
        match self {
            Three::Sqlite(_) => "sqlite",
            Three::Postgres(_) => "postgres",
            Three::Mariadb(_) => "mariadb",
        }
    }
}

/// A running `mdbd run`: killed when dropped, so a test that panics before `stop`
/// leaves no daemon behind.
pub struct Running(pub Child);

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Already reaped (stopped or killed by the test): both calls fail harmlessly.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `mdbd run` and waits until it listens.
pub fn start(config: &Path, port: u16) -> Running {
    start_with(config, port, &[])
}

/// Starts `mdbd run` with extra environment variables (failpoints) and waits until it
/// listens.
pub fn start_with(config: &Path, port: u16, env: &[(&str, &str)]) -> Running {
    // Its log goes next to the config, for the failure message below.
    let log_path = config.with_extension("stderr");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdbd"))
        .args(["run", "--config"])
        .arg(config)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    // Generous: on a loaded 2-core machine (a dozen servers starting beside it) the first
    // connections to the backends can take long; a daemon that exits fails at once.
    let deadline = Instant::now() + Duration::from_secs(90);
    // The admin API too, when there is one (it binds before the client listeners).
    let admin: Option<u16> = std::fs::read_to_string(config).ok().and_then(|text| {
        let line = text.lines().find(|l| l.starts_with("admin_listen"))?;
        line.trim_end_matches('"').rsplit(':').next()?.parse().ok()
    });
    let mut waiting: Vec<u16> = std::iter::once(port).chain(admin).collect();
    while let Some(&next) = waiting.first() {
        if TcpStream::connect(("127.0.0.1", next)).is_ok() {
            waiting.remove(0);
            continue;
        }
        let exited = child.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() >= deadline {
            let _ = child.kill();
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            panic!(
                "mdbd did not start listening on {next} ({exited:?}); its log ends:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Running(child)
}

/// SIGTERM, and the exit must be clean.
pub fn stop(mut daemon: Running) {
    Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    let status = daemon.wait().unwrap();
    assert!(status.success(), "mdbd exited with {status}");
}

/// A finished command: (success, stdout + stderr, trimmed).
pub fn ran(out: std::process::Output) -> (bool, String) {
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .trim()
        .to_string(),
    )
}

/// `psql -c sql` as user `demo`: (success, stdout + stderr).
pub fn psql(port: u16, sql: &str) -> (bool, String) {
    // Bounded: a statement stuck behind a write turn nobody releases fails the test
    // instead of hanging it.
    let out = Command::new("timeout")
        .args([
            "20",
            "psql",
            "-X",
            "-A",
            "-t",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .args(["-U", "demo", "-d", "app", "-c", sql])
        .output()
        .unwrap();
    ran(out)
}

/// A tokio-postgres client of the daemon.
pub async fn client(port: u16) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=demo dbname=app"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    client
}

/// Runs the `mdbd` binary with `args`: (success, stdout + stderr).
pub fn mdbd(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mdbd"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `method path` on the admin API at `127.0.0.1:admin`: (HTTP status, JSON body).
pub fn admin(admin: u16, method: &str, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = admin_text(admin, method, path);
    (
        status,
        serde_json::from_str(body.trim()).unwrap_or(serde_json::Value::Null),
    )
}

/// An admin API request; (status, body as text).
pub fn admin_text(admin: u16, method: &str, path: &str) -> (u16, String) {
    admin_as(admin, method, path, None)
}

/// An admin API request with a bearer token; (status, body as text).
pub fn admin_as(admin: u16, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", admin)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// The state of every backend (configuration order), from the admin API.
pub fn states(admin_port: u16) -> Vec<String> {
    let (_, status) = admin(admin_port, "GET", "/v1/status");
    status["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["state"].as_str().unwrap().to_string())
        .collect()
}

/// Resident memory of process `pid`, in bytes.
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// The most memory process `pid` has held at once (VmHWM), in bytes.
pub fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// A tokio-postgres client straight to PostgreSQL server `i` of `three` (not through mdbd).
pub async fn pg_direct(three: &Three, i: usize) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(
        &three.pg_servers()[i].conninfo("postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    client
}
