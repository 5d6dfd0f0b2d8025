//! The admin HTTP API (JSON), served next to the client front end.
//!
//! - `GET /v1/status`: backends (state, reason, applied LSN), the delta log, sessions.
//! - `POST /v1/backends/{name}/detach`: take a backend out of service.
//! - `GET /metrics`: Prometheus text format.
//!
//! With `admin_token` configured, every request needs `Authorization: Bearer <token>`.

pub mod client;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mdbd_engine::cluster::{Cluster, MemberState};
use serde_json::{json, Value};
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Clone)]
struct Admin {
    cluster: Arc<Cluster>,
    token: Option<String>,
}

impl Admin {
    /// True when no token is configured or the request carries it.
    fn authorised(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        given == Some(token.as_str())
    }
}

fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "missing or wrong bearer token"})),
    )
        .into_response()
}

/// The router of the admin API.
pub fn router(cluster: Arc<Cluster>, token: Option<String>) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/backends/{name}/detach", post(detach))
        .route("/metrics", get(metrics))
        .with_state(Admin { cluster, token })
}

async fn status(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if !admin.authorised(&headers) {
        return unauthorised();
    }
    let mut backends = Vec::new();
    for member in admin.cluster.status() {
        let (state, reason) = match &member.state {
            MemberState::Active => ("active", Value::Null),
            MemberState::Detached { reason } => ("detached", Value::String(reason.clone())),
        };
        let applied = match admin.cluster.backend(&member.name) {
            Some(b) => match b.applied_lsn().await {
                Ok(lsn) => json!(lsn.get()),
                Err(e) => json!({"error": e.to_string()}),
            },
            None => Value::Null,
        };
        backends.push(
            json!({"name": member.name, "state": state, "reason": reason, "applied_lsn": applied}),
        );
    }
    let log = admin.cluster.log().stats();
    let end = log.end.get();
    for b in &mut backends {
        if let Some(applied) = b["applied_lsn"].as_u64() {
            b["lag"] = json!(end.saturating_sub(1).saturating_sub(applied));
        }
    }
    Json(json!({
        "backends": backends,
        "log": {"first_lsn": log.first.get(), "end_lsn": end, "frames": log.frames, "stored_bytes": log.stored_bytes, "raw_bytes": log.raw_bytes, "refusing_appends": log.refusal},
        "sessions": admin.cluster.counters().open_sessions.load(Ordering::Relaxed),
    }))
    .into_response()
}

async fn detach(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if !admin.authorised(&headers) {
        return unauthorised();
    }
    if admin.cluster.backend(&name).is_none() {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no backend named {name:?}")})),
        )
            .into_response();
    }
    if admin.cluster.active().iter().all(|b| b.name() == name) {
        return (StatusCode::CONFLICT, Json(json!({"error": format!("{name} is the last active backend; detaching it would stop the cluster")}))).into_response();
    }
    match admin.cluster.detach(&name, "detached by the operator") {
        Ok(()) => Json(json!({"detached": name})).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn metrics(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if !admin.authorised(&headers) {
        return unauthorised();
    }
    let c = admin.cluster.counters();
    let log = admin.cluster.log().stats();
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, value: u64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
        );
    };
    counter(
        "mdbd_statements_read_total",
        "Statements answered by one backend.",
        c.reads.load(Ordering::Relaxed),
    );
    counter(
        "mdbd_statements_write_total",
        "Statements run on every active backend.",
        c.writes.load(Ordering::Relaxed),
    );
    counter(
        "mdbd_commits_total",
        "Write transactions logged and committed.",
        c.commits.load(Ordering::Relaxed),
    );
    counter(
        "mdbd_detaches_total",
        "Backends detached.",
        c.detaches.load(Ordering::Relaxed),
    );
    counter(
        "mdbd_write_turn_wait_microseconds_total",
        "Time spent waiting for the write turn.",
        c.turn_wait_micros.load(Ordering::Relaxed),
    );
    let mut gauge = |name: &str, help: &str, value: u64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        );
    };
    gauge(
        "mdbd_log_end_lsn",
        "Next LSN the delta log assigns.",
        log.end.get(),
    );
    gauge(
        "mdbd_log_stored_bytes",
        "Bytes of the delta log on disk.",
        log.stored_bytes,
    );
    gauge(
        "mdbd_sessions",
        "Client sessions open.",
        c.open_sessions.load(Ordering::Relaxed),
    );
    let active = admin.cluster.active().len() as u64;
    gauge("mdbd_backends_active", "Backends in service.", active);
    ([("content-type", "text/plain; version=0.0.4")], out).into_response()
}
