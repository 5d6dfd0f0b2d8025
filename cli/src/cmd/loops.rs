//! The client event loops of `mdbd run`: `[server] client_threads` threads, each running a
//! single-threaded tokio runtime, over which accepted client connections are spread in
//! turn.
//!
//! Why not the one multi-threaded runtime the rest of the daemon runs on: a client's
//! statement is a chain of hand-offs between tasks (the client's session, then the I/O
//! task of each backend connection it uses, and back). On a work-stealing runtime each
//! hand-off may wake a parked worker on another thread, and the profile of a read-only
//! load (`benches/proxy_cpu.sh`) was most of all the kernel switching and waking threads.
//! On a loop of its own a session and the backend connections it opens share one thread:
//! a hand-off is a push onto that thread's run queue. The pools prefer to give a session a
//! connection whose I/O task lives on the session's thread (see
//! `mdbd_engine::cluster::pool`). Health checks, joins, replay and the admin API stay on
//! the multi-threaded runtime.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The loops; dropping this stops them (after the connections on them were drained).
pub struct ClientLoops {
    loops: Vec<Loop>,
    next: AtomicUsize,
}

struct Loop {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ClientLoops {
    /// Starts `threads` loops (at least one).
    pub fn start(threads: usize) -> std::io::Result<ClientLoops> {
        let mut loops = Vec::new();
        for i in 0..threads.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("mdbd-client-{i}"))
                .spawn(move || {
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                    // Dropping the runtime here ends what is left on it (idle backend
                    // connections' I/O tasks): the daemon is stopping.
                    drop(runtime);
                })?;
            loops.push(Loop {
                handle,
                stop: Some(stop),
                thread: Some(thread),
            });
        }
        Ok(ClientLoops {
            loops,
            next: AtomicUsize::new(0),
        })
    }

    /// How many loops there are.
    pub fn len(&self) -> usize {
        self.loops.len()
    }

    /// The loop the next client connection goes to, in turn.
    fn next(&self) -> &Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.loops.len();
        &self.loops[i].handle
    }

    /// Spawns `task` on the next loop, into `set`.
    pub fn spawn<F>(&self, set: &mut tokio::task::JoinSet<()>, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        set.spawn_on(task, self.next());
    }

    /// Serves a client accepted on another runtime on the next loop, into `set`: its
    /// socket is registered with that loop's own I/O driver first, then handed to `serve`.
    /// A socket's readiness events come from the driver it was registered with: left on
    /// the acceptor's, every request of the client would wake that runtime first and then
    /// cross to the loop.
    pub fn serve<F, S>(
        &self,
        set: &mut tokio::task::JoinSet<()>,
        socket: TcpStream,
        peer: SocketAddr,
        serve: F,
    ) where
        F: FnOnce(TcpStream) -> S + Send + 'static,
        S: Future<Output = ()> + Send + 'static,
    {
        self.spawn(set, async move {
            match socket.into_std().and_then(TcpStream::from_std) {
                Ok(socket) => serve(socket).await,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "client socket not taken over by its thread; closed");
                }
            }
        });
    }
}

impl Drop for ClientLoops {
    fn drop(&mut self) {
        for l in &mut self.loops {
            if let Some(stop) = l.stop.take() {
                let _ = stop.send(());
            }
        }
        for l in &mut self.loops {
            if let Some(thread) = l.thread.take() {
                if thread.join().is_err() {
                    tracing::error!("a client event loop panicked");
                }
            }
        }
    }
}

/// The default number of loops: one. A single loop serves a pooler's load on one core
/// (`benches/proxy_cpu.sh`: with two on this 2-core machine, which also runs the servers,
/// each transaction cost more CPU, not less); a daemon with cores of its own whose one
/// client thread is busy takes more (`[server] client_threads`).
pub const DEFAULT_THREADS: usize = 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_spread_over_every_loop_in_turn() {
        let loops = ClientLoops::start(3).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let names = runtime.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            for _ in 0..6 {
                let tx = tx.clone();
                loops.spawn(&mut set, async move {
                    let name = std::thread::current().name().map(str::to_string);
                    let _ = tx.send(name);
                });
            }
            while set.join_next().await.is_some() {}
            drop(tx);
            let mut names = Vec::new();
            while let Some(n) = rx.recv().await {
                names.push(n.unwrap_or_default());
            }
            names.sort();
            names
        });
        assert_eq!(
            names,
            [
                "mdbd-client-0",
                "mdbd-client-0",
                "mdbd-client-1",
                "mdbd-client-1",
                "mdbd-client-2",
                "mdbd-client-2"
            ]
        );
        drop(loops);
    }
}
