//! The admin HTTP API (JSON), served next to the client front end.
//!
//! - `GET /v1/status`: backends (state, reason, applied LSN), the delta log, sessions.
//! - `POST /v1/backends/{name}/detach`: take a backend out of service.
//! - `POST /v1/backends/{name}/join`, `GET /v1/joins`, `GET /v1/joins/{id}`,
//!   `DELETE /v1/joins/{id}`: online joins (see [`joins`]).
//! - `POST /v1/reload`: re-read the config file; backends added to it are registered
//!   detached, ready to be joined.
//! - `GET /metrics`: Prometheus text format.
//!
//! With tokens configured, every request needs `Authorization: Bearer <token>`: the
//! operator token (`admin_token`) for everything, the read token (`admin_read_token`)
//! for status, joins and metrics only (403 otherwise). A non-loopback `admin_listen`
//! needs an operator token (the configuration checks); `admin_tls` serves it over TLS.

pub mod client;
mod joins;
mod metrics;
pub mod serve;

pub use joins::join_json;

use crate::config::AdminTokens;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mdbd_engine::cluster::DonorMode;
use mdbd_engine::cluster::{Cluster, MemberState};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Re-reads the configuration; returns the backends it registered.
pub type Reload = Arc<dyn Fn() -> anyhow::Result<Vec<String>> + Send + Sync>;

#[derive(Clone)]
pub(crate) struct Admin {
    cluster: Arc<Cluster>,
    tokens: AdminTokens,
    default_mode: Option<DonorMode>,
    reload: Option<Reload>,
}

/// What a request does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Status, joins, metrics.
    Read,
    /// Detach, join, cancel, reload.
    Operate,
}

impl Admin {
    /// Checks the request's bearer token: with no token configured everything is open
    /// (only on loopback: the configuration checks); the operator token may do
    /// everything, the read token only [`Access::Read`]. Refusals are 401 (no or an
    /// unknown token) or 403 (a read token asking to operate).
    fn authorised(&self, headers: &HeaderMap, access: Access) -> Result<(), Box<Response>> {
        let AdminTokens { operator, read } = &self.tokens;
        if operator.is_none() && read.is_none() {
            return Ok(());
        }
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let is = |token: &Option<String>| matches!((token, given), (Some(t), Some(g)) if mdbd::auth::scram::constant_time_eq(t.as_bytes(), g.as_bytes()));
        if is(operator) {
            return Ok(());
        }
        if is(read) {
            return match access {
                Access::Read => Ok(()),
                Access::Operate => Err(Box::new(
                    (
                        StatusCode::FORBIDDEN,
                        Json(json!({"error": "a read-only token cannot change the cluster"})),
                    )
                        .into_response(),
                )),
            };
        }
        Err(Box::new(unauthorised()))
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

pub(crate) fn unauthorised() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "missing or wrong bearer token"})),
    )
        .into_response()
}

/// The router of the admin API. `default_mode` is the configured donor mode of joins;
/// `reload` re-reads the configuration file.
pub fn router(
    cluster: Arc<Cluster>,
    tokens: AdminTokens,
    default_mode: Option<DonorMode>,
    reloader: Option<Reload>,
) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/backends/{name}/detach", post(detach))
        .route("/v1/backends/{name}/join", post(joins::start))
        .route("/v1/joins", get(joins::list))
        .route("/v1/joins/{id}", get(joins::get_one).delete(joins::cancel))
        .route("/v1/reload", post(reload))
        .route("/metrics", get(metrics::metrics))
        .with_state(Admin {
            cluster,
            tokens,
            default_mode,
            reload: reloader,
        })
}

async fn reload(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if let Err(refusal) = admin.authorised(&headers, Access::Operate) {
        return *refusal;
    }
    let Some(reload) = admin.reload.clone() else {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "no configuration file to reload".into(),
        );
    };
    match tokio::task::spawn_blocking(move || reload()).await {
        Ok(Ok(added)) => Json(json!({ "added": added })).into_response(),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// How long the status page waits for one backend's marker.
const STATUS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

async fn status(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if let Err(refusal) = admin.authorised(&headers, Access::Read) {
        return *refusal;
    }
    let mut backends = Vec::new();
    for member in admin.cluster.status() {
        let (state, reason) = match &member.state {
            MemberState::Active => ("active", Value::Null),
            MemberState::Detached { reason } => ("detached", Value::String(reason.to_string())),
            MemberState::Joining { join, role } => (
                "joining",
                Value::String(format!("{role:?} of join {join}").to_lowercase()),
            ),
        };
        // Never wait on a backend without a deadline: a hung server must not hang status.
        let applied = match admin.cluster.backend(&member.name) {
            Some(b) => match tokio::time::timeout(STATUS_TIMEOUT, b.applied_lsn()).await {
                Ok(Ok(lsn)) => json!(lsn.get()),
                Ok(Err(e)) => json!({"error": e.to_string()}),
                Err(_) => json!({"error": format!("no answer within {STATUS_TIMEOUT:?}")}),
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
    let joins: Vec<Value> = admin
        .cluster
        .joins()
        .iter()
        .filter(|j| !j.record.phase.is_terminal())
        .map(join_json)
        .collect();
    Json(json!({
        "backends": backends,
        "joins": joins,
        "log": {"first_lsn": log.first.get(), "end_lsn": end, "frames": log.frames, "stored_bytes": log.stored_bytes, "raw_bytes": log.raw_bytes, "refusing_appends": log.refusal, "damage": admin.cluster.log_damage()},
        "sessions": admin.cluster.counters().open_sessions.load(Ordering::Relaxed),
    }))
    .into_response()
}

async fn detach(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if let Err(refusal) = admin.authorised(&headers, Access::Operate) {
        return *refusal;
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
    let reason = mdbd_engine::cluster::DetachReason::new(
        mdbd_engine::cluster::DetachCause::Operator,
        mdbd_engine::cluster::join::OPERATOR_DETACH,
    );
    match admin.cluster.detach(&name, reason) {
        Ok(true) => Json(json!({"detached": name})).into_response(),
        Ok(false) => (
            StatusCode::CONFLICT,
            Json(json!({"error": format!("{name} is not active, or is the last active backend")})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}
