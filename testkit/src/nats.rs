//! Throwaway NATS servers with JetStream: one node, or a cluster of several on loopback.

use crate::process::{stop, wait_until};
use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn nats_server() -> &'static str {
    if Path::new("/usr/sbin/nats-server").exists() {
        "/usr/sbin/nats-server"
    } else {
        "nats-server"
    }
}

/// One `nats-server` process of a [`NatsCluster`] (or alone).
struct Node {
    child: Option<Child>,
    port: u16,
    config: PathBuf,
    log: PathBuf,
}

impl Node {
    fn spawn(&mut self) -> io::Result<()> {
        let log = std::fs::File::create(&self.log)?;
        let child = Command::new(nats_server())
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("starting nats-server: {e}")))?;
        self.child = Some(child);
        Ok(())
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let port = self.port;
        let ready = wait_until(Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !ready {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            self.stop("TERM");
            return Err(io::Error::other(format!(
                "nats-server on port {port} did not start:\n{log}"
            )));
        }
        Ok(())
    }

    fn stop(&mut self, signal: &str) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child, signal);
        }
    }
}

/// NATS servers with JetStream in a temporary directory, each on a free loopback port
/// (never 4222); stopped and removed on drop. A cluster's nodes route to each other, so
/// streams with up to as many replicas as nodes can be created once its meta leader is
/// elected (clients retry until then).
pub struct NatsCluster {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl NatsCluster {
    /// One node with JetStream.
    pub fn single() -> io::Result<Self> {
        Self::start(1)
    }

    /// `n` nodes routed to each other as one JetStream cluster (`n` = 1: a lone server).
    pub fn start(n: usize) -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("mdbd-nats-").tempdir()?;
        let mut ports = Vec::with_capacity(n);
        while ports.len() < 2 * n {
            let p = crate::free_port()?;
            if p != 4222 && p != 6222 && !ports.contains(&p) {
                ports.push(p);
            }
        }
        let (client_ports, route_ports) = ports.split_at(n);
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let store = dir.path().join(format!("n{i}"));
            std::fs::create_dir(&store)?;
            let mut config = format!(
                "server_name: n{i}\nlisten: 127.0.0.1:{}\njetstream {{\n  store_dir: \"{}\"\n}}\n",
                client_ports[i],
                store.display()
            );
            if n > 1 {
                let routes: Vec<String> = route_ports
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, p)| format!("\"nats-route://127.0.0.1:{p}\""))
                    .collect();
                config.push_str(&format!(
                    "cluster {{\n  name: mdbd-test\n  listen: 127.0.0.1:{}\n  routes: [{}]\n}}\n",
                    route_ports[i],
                    routes.join(", ")
                ));
            }
            let path = dir.path().join(format!("n{i}.conf"));
            std::fs::write(&path, config)?;
            nodes.push(Node {
                child: None,
                port: client_ports[i],
                config: path,
                log: dir.path().join(format!("n{i}.log")),
            });
        }
        for node in &mut nodes {
            node.spawn()?;
        }
        for node in &mut nodes {
            node.wait_ready()?;
        }
        Ok(NatsCluster { nodes, _dir: dir })
    }

    /// The client URL of every node, `nats://127.0.0.1:PORT`.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.port))
            .collect()
    }

    /// Kills node `i` at once (SIGKILL), as a crash would.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].stop("KILL");
    }

    /// Starts node `i` again on its own store and port, after [`kill`](Self::kill).
    pub fn restart(&mut self, i: usize) -> io::Result<()> {
        self.nodes[i].spawn()?;
        self.nodes[i].wait_ready()
    }

    /// What node `i` logged so far (for a failing test's message).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop("TERM");
        }
    }
}
