//! Cancelling a session's work from another task: a client's cancel request, or its
//! hang-up. Holds the cancel handles of the backend connections the session has checked
//! out, so it works while the session itself is busy running the statement.

use super::{Cluster, Conn};
use crate::backend::{Canceller, Session};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// How long a cancel request may take to reach one server.
const CANCEL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Cancels the statements a session is running, from another task (a client's cancel
/// request). Holds the cancel handles of the connections the session has checked out.
#[derive(Clone, Default)]
pub struct SessionCanceller {
    handles: Arc<Mutex<HashMap<String, Arc<dyn Canceller>>>>,
    /// A client request is running: only then is there anything to cancel. A cancel
    /// request sent to an idle backend connection can arrive after its next statement
    /// started (another request of this session, or another session's once the
    /// connection is back in the pool) and cancel that one instead.
    running: Arc<std::sync::atomic::AtomicBool>,
    /// Held while cancel requests are on their way; the session's next request waits for
    /// them (see [`settled`](Self::settled)).
    in_flight: Arc<tokio::sync::Mutex<()>>,
    cancels: Option<Arc<Cluster>>,
    /// The client went away: nothing more of this session may run.
    gone: Arc<std::sync::atomic::AtomicBool>,
}

impl SessionCanceller {
    pub(super) fn new(cluster: Arc<Cluster>) -> Self {
        SessionCanceller {
            handles: Arc::default(),
            running: Arc::default(),
            in_flight: Arc::default(),
            cancels: Some(cluster),
            gone: Arc::default(),
        }
    }

    /// The client disconnected: its running statement is cancelled on every backend and
    /// nothing it queued (a write waiting for the turn) runs later.
    pub async fn client_gone(&self) {
        self.gone.store(true, Ordering::Relaxed);
        self.cancel().await;
    }

    /// True once [`client_gone`](Self::client_gone) was called.
    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }

    /// Asks every backend connection of the session to stop its current statement;
    /// returns how many were asked (none when no request of the session is running).
    pub async fn cancel(&self) -> usize {
        let _in_flight = self.in_flight.lock().await;
        if !self.running.load(Ordering::SeqCst) {
            return 0;
        }
        let handles: Vec<(String, Arc<dyn Canceller>)> = self
            .handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(n, h)| (n.clone(), h.clone()))
            .collect();
        let asked = futures_util::future::join_all(handles.iter().map(|(name, h)| async move {
            // Bounded: the session's next request waits for this (a server that does not
            // answer is the health check's to detach, not a reason to hold the client).
            match tokio::time::timeout(CANCEL_DEADLINE, h.cancel()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(backend = %name, error = %e, "cancel request failed"),
                Err(_) => tracing::warn!(backend = %name, "cancel request got no answer in time"),
            }
        }))
        .await
        .len();
        if let Some(cluster) = &self.cancels {
            cluster.counters().cancels.fetch_add(1, Ordering::Relaxed);
        }
        tracing::info!(backends = asked, "statement cancelled by the client");
        asked
    }

    /// A client request starts (`true`) or has ended (`false`).
    pub(super) fn running(&self, running: bool) {
        self.running.store(running, Ordering::SeqCst);
    }

    /// Waits until cancel requests already on their way have reached the servers, so the
    /// session's next request cannot meet one of them.
    pub(super) async fn settled(&self) {
        drop(self.in_flight.lock().await);
    }

    pub(super) fn set(&self, conns: &HashMap<String, Conn>) {
        let mut handles = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        handles.clear();
        for (name, conn) in conns {
            if let Some(h) = conn.canceller() {
                handles.insert(name.clone(), h);
            }
        }
    }
}
