//! What a PostgreSQL server sends a connection on its own, beside the answers to its
//! requests: notices (NoticeResponse: `RAISE NOTICE`, "... does not exist, skipping") and
//! notifications (NotificationResponse, for a session that ran `LISTEN`). The connection's
//! I/O task ([`drive`]) queues them here; its session takes them
//! (`Session::take_notices`, `Session::take_notifications`).

use super::convert;
use mdbd_engine::backend::{DbError, Notification};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Notices beyond this many, untaken, push out the oldest.
const NOTICES_KEPT: usize = 100;

/// Notifications beyond this many, untaken (a listening client in a long transaction),
/// push out the oldest, with a warning.
const NOTIFICATIONS_KEPT: usize = 10_000;

/// A connection's queue of notices and notifications, shared with its I/O task.
#[derive(Clone, Default)]
pub struct Inbox(Arc<Mutex<Queues>>);

#[derive(Default)]
struct Queues {
    notices: VecDeque<DbError>,
    notifications: VecDeque<Notification>,
    wake: Option<Arc<Notify>>,
}

impl Inbox {
    fn queues(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every notice not yet taken, oldest first.
    pub fn take_notices(&self) -> Vec<DbError> {
        self.queues().notices.drain(..).collect()
    }

    /// Every notification not yet taken, oldest first.
    pub fn take_notifications(&self) -> Vec<Notification> {
        self.queues().notifications.drain(..).collect()
    }

    /// Wakes `wake` for each notification from now on (`None`: nobody).
    pub fn wake_on_notification(&self, wake: Option<Arc<Notify>>) {
        self.queues().wake = wake;
    }

    fn notice(&self, notice: DbError) {
        let mut queues = self.queues();
        if queues.notices.len() == NOTICES_KEPT {
            queues.notices.pop_front();
        }
        queues.notices.push_back(notice);
    }

    fn notification(&self, backend: &str, notification: Notification) {
        let mut queues = self.queues();
        if queues.notifications.len() == NOTIFICATIONS_KEPT {
            tracing::warn!(
                backend,
                "{NOTIFICATIONS_KEPT} notifications not taken; the oldest is dropped"
            );
            queues.notifications.pop_front();
        }
        queues.notifications.push_back(notification);
        if let Some(wake) = &queues.wake {
            wake.notify_one();
        }
    }
}

/// Runs a connection's I/O until it ends. A notice arrives before the response of the
/// request that caused it, so it is queued by the time that request returns.
pub async fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    backend: String,
    inbox: Inbox,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(tokio_postgres::AsyncMessage::Notice(notice))) => {
                inbox.notice(convert::notice(&notice));
            }
            Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                let notification = Notification {
                    process_id: n.process_id(),
                    channel: n.channel().to_string(),
                    payload: n.payload().to_string(),
                };
                inbox.notification(&backend, notification);
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::debug!(backend = %backend, error = %e, "postgres connection ended");
                break;
            }
            None => break,
        }
    }
    // A session listening here must listen elsewhere now.
    if let Some(wake) = &inbox.queues().wake {
        wake.notify_one();
    }
}
