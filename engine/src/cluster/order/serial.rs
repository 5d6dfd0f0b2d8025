//! `serial`: one write transaction at a time across the cluster.
//!
//! The turn is one fair async mutex: tokio's mutex queues its waiters first come, first
//! served, so a quiesce asked for while writers wait is granted after the writers ahead of
//! it and before every writer behind it. A turn and a quiesce are the same exclusive grant:
//! with one writer at a time, holding the turn is already holding every writer back.

use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The one exclusive grant of `serial` mode.
pub(super) type Grant = OwnedMutexGuard<()>;

#[derive(Default)]
pub(super) struct Serial {
    turn: Arc<Mutex<()>>,
}

impl Serial {
    /// Waits for the exclusive grant.
    pub(super) async fn exclusive(&self) -> Grant {
        Arc::clone(&self.turn).lock_owned().await
    }
}
