//! A throwaway MariaDB server.

use crate::process::{run, stop, wait_until};
use std::io;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running MariaDB server in a temporary directory; stopped and removed on drop.
pub struct MariaDb {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

fn mariadbd() -> &'static str {
    if Path::new("/usr/sbin/mariadbd").exists() {
        "/usr/sbin/mariadbd"
    } else {
        "mariadbd"
    }
}

impl MariaDb {
    /// Initialises and starts a server with root (empty password, normal authentication)
    /// and an empty database `app`.
    pub fn start() -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("mdbd-maria-").tempdir()?;
        let (data, tmp) = (dir.path().join("data"), dir.path().join("tmp"));
        std::fs::create_dir(&data)?;
        std::fs::create_dir(&tmp)?;
        run(Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", data.display()))
            // Its bootstrap server needs a private tmpdir too: instances installing at
            // once in a shared /tmp remove each other's temporary tables.
            .arg(format!("--tmpdir={}", tmp.display()))
            .env("TMPDIR", &tmp))?;
        let port = crate::free_port()?;
        let child = spawn(dir.path(), port)?;
        let mut server = MariaDb { child, port, dir };
        server.wait_ready()?;
        server.client(None, "CREATE DATABASE app")?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let ready = wait_until(Duration::from_secs(60), || {
            self.client(None, "SELECT 1").is_ok() || matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !ready || matches!(self.child.try_wait(), Ok(Some(_))) {
            let log =
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            stop(&mut self.child, "TERM");
            return Err(io::Error::other(format!(
                "MariaDB on port {} did not start:\n{log}",
                self.port
            )));
        }
        Ok(())
    }

    /// Starts the server again on the same data directory and port, after [`kill`](Self::kill).
    pub fn restart(&mut self) -> io::Result<()> {
        self.child = spawn(self.dir.path(), self.port)?;
        self.wait_ready()
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A `mysql://` URL for `database`.
    pub fn url(&self, database: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs SQL through the `mariadb` client (batch mode, no column names).
    pub fn client(&self, database: Option<&str>, sql: &str) -> io::Result<String> {
        let mut cmd = Command::new("mariadb");
        cmd.args([
            "--no-defaults",
            "-h",
            "127.0.0.1",
            "-P",
            &self.port.to_string(),
            "-u",
            "root",
            "-N",
            "-B",
            "-e",
            sql,
        ]);
        if let Some(db) = database {
            cmd.arg(db);
        }
        let out = run(&mut cmd)?;
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// Stops the server cleanly (it writes everything it committed down first).
    pub fn stop(&mut self) {
        stop(&mut self.child, "TERM");
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        stop(&mut self.child, "TERM");
    }
}

fn spawn(dir: &Path, port: u16) -> io::Result<Child> {
    let (data, tmp) = (dir.join("data"), dir.join("tmp"));
    let log = std::fs::File::create(dir.join("server.log"))?;
    let child = Command::new(mariadbd())
        .args(["--no-defaults", "--user=root"])
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
        .arg(format!("--port={port}"))
        .args([
            "--bind-address=127.0.0.1",
            "--skip-log-bin",
            "--innodb-flush-log-at-trx-commit=0",
            "--max-connections=300",
            // What Debian's packaged configuration sets; --no-defaults leaves latin1.
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
        ])
        .arg(format!("--tmpdir={}", tmp.display()))
        .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    Ok(child)
}
