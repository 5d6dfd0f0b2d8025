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
//! With `admin_token` configured, every request needs `Authorization: Bearer <token>`.

pub mod client;
mod joins;

pub use joins::join_json;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mdbd_engine::cluster::DonorMode;
use mdbd_engine::cluster::{Cluster, MemberState};
use serde_json::{json, Value};
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Re-reads the configuration; returns the backends it registered.
pub type Reload = Arc<dyn Fn() -> anyhow::Result<Vec<String>> + Send + Sync>;

#[derive(Clone)]
struct Admin {
    cluster: Arc<Cluster>,
    token: Option<String>,
    default_mode: Option<DonorMode>,
    reload: Option<Reload>,
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

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn unauthorised() -> Response {
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
    token: Option<String>,
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
        .route("/metrics", get(metrics))
        .with_state(Admin {
            cluster,
            token,
            default_mode,
            reload: reloader,
        })
}

async fn reload(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if !admin.authorised(&headers) {
        return unauthorised();
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

async fn status(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if !admin.authorised(&headers) {
        return unauthorised();
    }
    let mut backends = Vec::new();
    for member in admin.cluster.status() {
        let (state, reason) = match &member.state {
            MemberState::Active => ("active", Value::Null),
            MemberState::Detached { reason } => ("detached", Value::String(reason.clone())),
            MemberState::Joining { join, role } => (
                "joining",
                Value::String(format!("{role:?} of join {join}").to_lowercase()),
            ),
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
    match admin
        .cluster
        .detach(&name, mdbd_engine::cluster::join::OPERATOR_DETACH)
    {
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
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let metrics: [(&str, &str, &str, u64); 15] = [
        (
            "mdbd_statements_read_total",
            "counter",
            "Statements answered by one backend.",
            n(&c.reads),
        ),
        (
            "mdbd_statements_write_total",
            "counter",
            "Statements run on every active backend.",
            n(&c.writes),
        ),
        (
            "mdbd_commits_total",
            "counter",
            "Write transactions logged and committed.",
            n(&c.commits),
        ),
        (
            "mdbd_detaches_total",
            "counter",
            "Backends detached.",
            n(&c.detaches),
        ),
        (
            "mdbd_switchovers_total",
            "counter",
            "Servers made active by a join's switch-over.",
            n(&c.switchovers),
        ),
        (
            "mdbd_switchover_pause_microseconds_total",
            "counter",
            "Time writers were held by switch-overs.",
            n(&c.switch_pause_micros),
        ),
        (
            "mdbd_joins_finished_total",
            "counter",
            "Joins that finished.",
            n(&c.joins_finished),
        ),
        (
            "mdbd_joins_aborted_total",
            "counter",
            "Joins that were cancelled or failed.",
            n(&c.joins_aborted),
        ),
        (
            "mdbd_write_turn_wait_microseconds_total",
            "counter",
            "Time spent waiting for the write turn.",
            n(&c.turn_wait_micros),
        ),
        (
            "mdbd_log_end_lsn",
            "gauge",
            "Next LSN the delta log assigns.",
            log.end.get(),
        ),
        (
            "mdbd_log_stored_bytes",
            "gauge",
            "Bytes of the delta log on disk.",
            log.stored_bytes,
        ),
        (
            "mdbd_switchover_pause_max_microseconds",
            "gauge",
            "Longest time writers were held by one switch-over.",
            n(&c.switch_pause_max_micros),
        ),
        (
            "mdbd_sessions",
            "gauge",
            "Client sessions open.",
            n(&c.open_sessions),
        ),
        (
            "mdbd_backends_active",
            "gauge",
            "Backends in service.",
            admin.cluster.active().len() as u64,
        ),
        (
            "mdbd_copy_bytes_total",
            "counter",
            "Bytes of COPY FROM STDIN data received.",
            n(&c.copy_bytes),
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in metrics {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    }
    ([("content-type", "text/plain; version=0.0.4")], out).into_response()
}
