//! `LogStorage` is synchronous (the log's writer is a thread of its own, and sled's calls
//! block on the disk the same way); the NATS client is asynchronous. The bridge runs the
//! client on a small runtime of its own and blocks the caller on a channel until the
//! request is answered or its timeout passes. Callers may be threads of any runtime: the
//! future never runs on theirs, so a caller on a single-threaded loop cannot deadlock it.

use mdbd_engine::log::StorageError;
use std::future::Future;
use std::time::Duration;

pub(crate) struct Bridge {
    runtime: Option<tokio::runtime::Runtime>,
    timeout: Duration,
}

/// A request's failure, as the store reports it.
pub(crate) fn remote(reason: impl std::fmt::Display) -> StorageError {
    StorageError::Remote {
        store: "jetstream",
        reason: reason.to_string(),
    }
}

impl Bridge {
    pub fn new(timeout: Duration) -> Result<Self, StorageError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mdbd-jetstream")
            .enable_all()
            .build()
            .map_err(|e| remote(format!("starting the client's runtime: {e}")))?;
        Ok(Bridge {
            runtime: Some(runtime),
            timeout,
        })
    }

    /// Runs `f` on the bridge's runtime and waits for it, at most the request timeout.
    pub fn run<T, F>(&self, what: &str, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StorageError>> + Send + 'static,
    {
        self.run_for(what, self.timeout, f)
    }

    /// [`run`](Self::run) with a limit of its own (opening, reading the whole stream).
    pub fn run_for<T, F>(&self, what: &str, limit: Duration, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StorageError>> + Send + 'static,
    {
        let Some(runtime) = &self.runtime else {
            return Err(remote("the store is closed"));
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let result = match tokio::time::timeout(limit, f).await {
                Ok(r) => r,
                Err(_) => Err(remote(format!("no answer within {limit:?}"))),
            };
            let _ = tx.send(result);
        });
        match rx.recv() {
            Ok(result) => result.map_err(|e| match e {
                StorageError::Remote { store, reason } => StorageError::Remote {
                    store,
                    reason: format!("{what}: {reason}"),
                },
                other => other,
            }),
            Err(_) => Err(remote(format!("{what}: the client's runtime stopped"))),
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // The store may be dropped inside another runtime (a test's, the daemon's), where
        // a blocking shutdown would panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
