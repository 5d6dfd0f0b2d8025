//! The driver matrix's runner: the programs in `drivers/` (Python, Node, Java), each run
//! against a target (a server directly, or mdbd) and read back as one result per cell.
//!
//! Drivers install into the target directory (a Python virtual environment from PyPI,
//! `npm ci` from the lock file); Java drivers are Debian's jars. A driver whose registry
//! or package is unreachable is skipped with the reason printed, never silently.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The repository's `drivers/` directory.
pub fn drivers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../drivers")
}

fn tmp() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// How one driver's program is started.
#[derive(Clone, Debug)]
pub enum Runtime {
    /// A Python with the drivers installed, and the script.
    Python { python: PathBuf, script: PathBuf },
    /// `node`, the script and the folder holding `node_modules`.
    Node { script: PathBuf, modules: PathBuf },
    /// `java` single-file source launch with the driver's jar.
    Java { jar: PathBuf, source: PathBuf },
}

/// One driver of the matrix, ready to run.
#[derive(Clone, Debug)]
pub struct Driver {
    /// The name the program takes with `--driver` and prints in each cell.
    pub name: &'static str,
    pub runtime: Runtime,
}

/// Where a driver connects.
#[derive(Clone, Debug)]
pub struct Target {
    pub port: u16,
    pub user: String,
    pub password: String,
    pub dbname: String,
    /// `postgres`, `sqlite` (mdbd on SQLite behind its PostgreSQL front end) or `mysql`.
    pub dialect: &'static str,
}

/// One cell's result: `ok`, `fail` or `n/a`, and the program's detail.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub status: String,
    pub detail: String,
}

/// Runs `install` unless `stamp` holds the bytes of `source` (what the last install was
/// made from), then records them. False, with the reason printed, when anything fails:
/// a driver is skipped with its reason, never silently.
fn install_once(
    what: &str,
    source: &Path,
    stamp: &Path,
    install: impl FnOnce() -> Result<(), String>,
) -> bool {
    let done = std::fs::read(source)
        .map_err(|e| format!("cannot read {}: {e}", source.display()))
        .and_then(|wanted| {
            if std::fs::read(stamp).ok().as_ref() == Some(&wanted) {
                return Ok(());
            }
            install()?;
            std::fs::write(stamp, &wanted)
                .map_err(|e| format!("cannot write {}: {e}", stamp.display()))
        });
    if let Err(why) = &done {
        eprintln!("SKIPPED {what}: {why}");
    }
    done.is_ok()
}

/// Runs `command`; its failure (it did not start, or ended badly) with its stderr.
fn succeeds(command: &mut Command, hint: &str) -> Result<(), String> {
    match command.output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{command:?} failed ({hint}): {}",
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Err(format!("{command:?} did not start ({hint}): {e}")),
    }
}

/// The Python of a virtual environment with `drivers/python/requirements.txt`, made once
/// per test binary; `None` with the reason printed when it cannot be made.
pub fn python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let requirements = drivers_dir().join("python/requirements.txt");
            let venv = tmp().join("venv-drivers");
            let python = venv.join("bin/python");
            let stamp = venv.join("installed-requirements.txt");
            let installed = install_once("Python drivers", &requirements, &stamp, || {
                succeeds(
                    Command::new("python3").args(["-m", "venv"]).arg(&venv),
                    "is python3-venv installed?",
                )?;
                succeeds(
                    Command::new(&python)
                        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
                        .arg("-r")
                        .arg(&requirements),
                    "is PyPI reachable?",
                )
            });
            installed.then_some(python)
        })
        .clone()
}

/// The folder whose `node_modules` holds `drivers/node`'s locked packages, installed with
/// `npm ci` once per test binary; `None` with the reason printed.
fn node_modules() -> Option<PathBuf> {
    static MODULES: OnceLock<Option<PathBuf>> = OnceLock::new();
    MODULES
        .get_or_init(|| {
            let dir = tmp().join("node-drivers");
            let lock = drivers_dir().join("node/package-lock.json");
            let stamp = dir.join("installed-lock.json");
            let installed = install_once("Node drivers", &lock, &stamp, || {
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                for f in ["package.json", "package-lock.json"] {
                    std::fs::copy(drivers_dir().join("node").join(f), dir.join(f))
                        .map_err(|e| format!("cannot copy {f}: {e}"))?;
                }
                succeeds(
                    Command::new("npm")
                        .args(["ci", "--no-audit", "--no-fund", "--silent"])
                        .current_dir(&dir),
                    "is npm installed, the registry reachable?",
                )
            });
            installed.then_some(dir)
        })
        .clone()
}

fn java_jar(jar: &str) -> Option<PathBuf> {
    let path = PathBuf::from("/usr/share/java").join(jar);
    let java = Command::new("java").arg("-version").output();
    if !java.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED Java drivers: no `java`");
        return None;
    }
    if !path.exists() {
        eprintln!("SKIPPED Java driver {jar}: not installed (Debian: libpostgresql-jdbc-java, libmariadb-java)");
        return None;
    }
    Some(path)
}

/// The PostgreSQL drivers available here, in the matrix's order.
pub fn postgres_drivers() -> Vec<Driver> {
    let mut out = Vec::new();
    if let Some(python) = python() {
        let script = drivers_dir().join("python/pg_matrix.py");
        for name in ["psycopg", "psycopg2", "asyncpg", "sqlalchemy"] {
            let runtime = Runtime::Python {
                python: python.clone(),
                script: script.clone(),
            };
            out.push(Driver { name, runtime });
        }
    }
    if let Some(modules) = node_modules() {
        let script = drivers_dir().join("node/pg_matrix.js");
        out.push(Driver {
            name: "pg",
            runtime: Runtime::Node { script, modules },
        });
    }
    if let Some(jar) = java_jar("postgresql.jar") {
        let source = drivers_dir().join("java/PgMatrix.java");
        out.push(Driver {
            name: "pgjdbc",
            runtime: Runtime::Java { jar, source },
        });
    }
    out
}

/// The MySQL drivers available here, in the matrix's order.
pub fn mysql_drivers() -> Vec<Driver> {
    let mut out = Vec::new();
    if let Some(python) = python() {
        let script = drivers_dir().join("python/mysql_matrix.py");
        for name in ["pymysql", "mysql-connector"] {
            let runtime = Runtime::Python {
                python: python.clone(),
                script: script.clone(),
            };
            out.push(Driver { name, runtime });
        }
    }
    if let Some(modules) = node_modules() {
        let script = drivers_dir().join("node/mysql_matrix.js");
        out.push(Driver {
            name: "mysql2",
            runtime: Runtime::Node { script, modules },
        });
    }
    if let Some(jar) = java_jar("mariadb-java-client.jar") {
        let source = drivers_dir().join("java/MysqlMatrix.java");
        out.push(Driver {
            name: "connector-j",
            runtime: Runtime::Java { jar, source },
        });
    }
    out
}

/// Runs `driver` against `target`: every cell's result by name. Panics when the program
/// does not run to its end (its exit status says so) within ten minutes.
pub fn run(driver: &Driver, target: &Target) -> BTreeMap<String, Cell> {
    let mut command = match &driver.runtime {
        Runtime::Python { python, script } => {
            let mut c = Command::new(python);
            c.arg(script);
            c
        }
        Runtime::Node { script, modules } => {
            let mut c = Command::new("node");
            c.arg(script).env("NODE_PATH", modules.join("node_modules"));
            c
        }
        Runtime::Java { jar, source } => {
            let mut c = Command::new("java");
            c.arg("-cp").arg(jar).arg(source);
            c
        }
    };
    command
        .args(["--driver", driver.name, "--host", "127.0.0.1", "--port"])
        .arg(target.port.to_string())
        .args(["--user", &target.user, "--password", &target.password])
        .args(["--dbname", &target.dbname]);
    if target.dialect != "mysql" {
        command.args(["--dialect", target.dialect]);
    }
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: cannot start: {e}", driver.name));
    let out = wait_with_deadline(child, Duration::from_secs(600), driver.name);
    assert!(
        out.status.success(),
        "{} did not run to its end ({}): {}",
        driver.name,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cells = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{}: not a cell ({e}): {line}", driver.name));
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        cells.insert(
            text("cell"),
            Cell {
                status: text("status"),
                detail: text("detail"),
            },
        );
    }
    cells
}

fn wait_with_deadline(
    mut child: std::process::Child,
    limit: Duration,
    name: &str,
) -> std::process::Output {
    let deadline = std::time::Instant::now() + limit;
    // Read both pipes on threads so a chatty program cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut b).ok();
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut b).ok();
        b
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{name}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// A cell that fails through mdbd though it works directly, for a reason written down: the
/// matrix reports it, and fails once it works (so the list only shrinks).
pub struct Known {
    pub driver: &'static str,
    pub cell: &'static str,
    pub why: &'static str,
}

/// Compares the runs through mdbd with the direct ones, cell by cell, prints the table
/// (driver x cell) and panics on any cell that works directly but not through mdbd and is
/// not `known`, and on any `known` cell that now works.
pub fn compare(
    title: &str,
    drivers: &[Driver],
    direct: &[BTreeMap<String, Cell>],
    through: &[BTreeMap<String, Cell>],
    known: &[Known],
) {
    let mut problems = Vec::new();
    let mut cells: Vec<&String> = Vec::new();
    for run in direct.iter().chain(through) {
        for name in run.keys() {
            if !cells.contains(&name) {
                cells.push(name);
            }
        }
    }
    let mut table = format!("{title}\n\n| cell |");
    for d in drivers {
        table.push_str(&format!(" {} |", d.name));
    }
    table.push_str("\n|---|");
    table.push_str(&"---|".repeat(drivers.len()));
    table.push('\n');
    for cell in &cells {
        table.push_str(&format!("| {cell} |"));
        for (i, d) in drivers.iter().enumerate() {
            let want = direct[i].get(*cell);
            let got = through[i].get(*cell);
            let status = |c: Option<&Cell>| c.map_or("missing", |c| c.status.as_str()).to_string();
            let listed = known
                .iter()
                .find(|k| k.driver == d.name && k.cell == cell.as_str());
            let mark = match (status(want).as_str(), status(got).as_str()) {
                ("ok", "ok") => {
                    if let Some(k) = listed {
                        problems.push(format!(
                            "{}/{cell} works now: remove it from the known gaps ({})",
                            d.name, k.why
                        ));
                    }
                    "yes"
                }
                ("ok", _) => {
                    if listed.is_none() {
                        problems.push(format!(
                            "{}/{cell}: ok directly, {} through mdbd: {}",
                            d.name,
                            status(got),
                            got.map_or("", |c| c.detail.as_str())
                        ));
                    }
                    "**no**"
                }
                // "missing" on both sides: a cell this driver's program does not have.
                ("n/a", _) | ("missing", "missing") => "n/a",
                (w, _) => {
                    problems.push(format!(
                        "{}/{cell} is {w} directly (a script or server problem): {}",
                        d.name,
                        want.map_or("", |c| c.detail.as_str())
                    ));
                    "?"
                }
            };
            table.push_str(&format!(" {mark} |"));
        }
        table.push('\n');
    }
    println!("{table}");
    let file = tmp().join(format!(
        "driver-matrix-{}.md",
        title.split_whitespace().last().unwrap_or("out")
    ));
    let _ = std::fs::write(&file, &table);
    assert!(problems.is_empty(), "{title}:\n{}", problems.join("\n"));
}
