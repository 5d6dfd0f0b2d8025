//! A throwaway PostgreSQL server.

use crate::process::{is_root, run, stop, user_ids, wait_until};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// SIGINT is PostgreSQL's "fast" shutdown: it disconnects clients instead of waiting for
/// them (SIGTERM's "smart" shutdown would wait for test connections nobody polls).
const FAST_SHUTDOWN: &str = "INT";

/// A running PostgreSQL server in a temporary directory; stopped and removed on drop.
pub struct PgServer {
    child: Child,
    port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
    max_connections: u32,
}

/// The newest installed PostgreSQL's bin directory.
pub fn pg_bin() -> io::Result<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p): &(u32, PathBuf)| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, p)| p).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "no PostgreSQL under /usr/lib/postgresql",
        )
    })
}

impl PgServer {
    /// Initialises and starts a server (about a second), with `fsync=off`: data is
    /// throwaway.
    pub fn start() -> io::Result<Self> {
        let bin = pg_bin()?;
        let dir = tempfile::Builder::new().prefix("mdbd-pg-").tempdir()?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data)?;
        let ids = if is_root() {
            Some(user_ids("postgres")?)
        } else {
            None
        };
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
            std::os::unix::fs::chown(&data, Some(uid), Some(gid))?;
        }
        let as_owner = |cmd: &mut Command| {
            if let Some((uid, gid)) = ids {
                cmd.uid(uid).gid(gid);
            }
        };
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args([
                "--no-sync",
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "-D",
            ])
            .arg(&data);
        as_owner(&mut initdb);
        run(&mut initdb)?;
        let port = crate::free_port()?;
        let child = spawn(&bin, dir.path(), port, ids, DEFAULT_MAX_CONNECTIONS)?;
        let mut server = PgServer {
            child,
            port,
            bin,
            dir,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let ready = wait_until(Duration::from_secs(30), || {
            Command::new(self.bin.join("pg_isready"))
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                ])
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
                || matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !ready || matches!(self.child.try_wait(), Ok(Some(_))) {
            let log =
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            stop(&mut self.child, FAST_SHUTDOWN);
            return Err(io::Error::other(format!(
                "PostgreSQL on port {} did not start:\n{log}",
                self.port
            )));
        }
        Ok(())
    }

    /// Stops the server and starts it again allowing `n` connections.
    pub fn restart_with_max_connections(&mut self, n: u32) -> io::Result<()> {
        self.stop();
        self.max_connections = n;
        self.restart()
    }

    /// Starts the server again on the same data directory and port, after [`kill`](Self::kill).
    pub fn restart(&mut self) -> io::Result<()> {
        let ids = if is_root() {
            Some(user_ids("postgres")?)
        } else {
            None
        };
        self.child = spawn(
            &self.bin,
            self.dir.path(),
            self.port,
            ids,
            self.max_connections,
        )?;
        self.wait_ready()
    }

    /// Restarts the server with TLS on, serving `cert_pem` / `key_pem`, and refusing
    /// every TCP connection that is not TLS (`hostnossl ... reject`).
    pub fn require_tls(&mut self, cert_pem: &str, key_pem: &str) -> io::Result<()> {
        let data = self.dir.path().join("data");
        std::fs::write(data.join("server.crt"), cert_pem)?;
        std::fs::write(data.join("server.key"), key_pem)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )?;
        if is_root() {
            let (uid, gid) = user_ids("postgres")?;
            for f in ["server.crt", "server.key"] {
                std::os::unix::fs::chown(data.join(f), Some(uid), Some(gid))?;
            }
        }
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))?;
        use std::io::Write;
        writeln!(
            conf,
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'"
        )?;
        let hba = std::fs::read_to_string(data.join("pg_hba.conf"))?;
        std::fs::write(
            data.join("pg_hba.conf"),
            format!("local all all trust\nhostnossl all all all reject\n{hba}"),
        )?;
        self.stop();
        self.restart()
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A libpq/tokio-postgres connection string for `database`.
    pub fn conninfo(&self, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={database}",
            self.port
        )
    }

    /// The directory holding `psql`, `pg_dump`, `pg_restore`.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Runs SQL through `psql` and returns its unaligned, tuples-only output.
    pub fn psql(&self, database: &str, sql: &str) -> io::Result<String> {
        let out = run(Command::new(self.bin.join("psql")).args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            sql,
        ]))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// Stops the server cleanly (it writes everything it committed down first).
    pub fn stop(&mut self) {
        stop(&mut self.child, FAST_SHUTDOWN);
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Freezes the whole server, postmaster and every backend process (SIGSTOP), as a
    /// hung machine would: connections stay open and nothing answers.
    pub fn pause(&self) {
        self.signal_all("-STOP");
    }

    /// Thaws a [`pause`](Self::pause)d server (SIGCONT).
    pub fn resume(&self) {
        self.signal_all("-CONT");
    }

    fn signal_all(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let children = Command::new("pgrep")
            .args(["-P", &pid])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let mut pids: Vec<&str> = vec![&pid];
        pids.extend(children.split_whitespace());
        let _ = Command::new("kill").arg(signal).args(&pids).status();
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        stop(&mut self.child, FAST_SHUTDOWN);
    }
}

/// The servers' connection limit unless a test sets another.
const DEFAULT_MAX_CONNECTIONS: u32 = 200;

fn spawn(
    bin: &Path,
    dir: &Path,
    port: u16,
    ids: Option<(u32, u32)>,
    max_connections: u32,
) -> io::Result<Child> {
    let data = dir.join("data");
    let as_owner = |cmd: &mut Command| {
        if let Some((uid, gid)) = ids {
            cmd.uid(uid).gid(gid);
        }
    };
    let log = std::fs::File::create(dir.join("server.log"))?;
    let mut postgres = Command::new(bin.join("postgres"));
    postgres
        .arg("-D")
        .arg(&data)
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
        ])
        .arg(format!("unix_socket_directories={}", dir.display()))
        .args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
        ])
        .arg(format!("max_connections={max_connections}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    as_owner(&mut postgres);
    postgres.spawn()
}
