//! The join endpoints of the admin API.
//!
//! - `POST /v1/backends/{name}/join` (query or JSON body: `donor`, `mode` = `online` |
//!   `detach`, `force_snapshot`, `compression`): 202 with the join; 404 for an unknown
//!   backend, 409 when the cluster's state refuses it (with the reason).
//! - `GET /v1/joins`, `GET /v1/joins/{id}`: phase, donor, L0, snapshot bytes / rate / ETA,
//!   replay lag per server, switch-over pauses.
//! - `DELETE /v1/joins/{id}`: cancel.

use super::{error, Access, Admin};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mdbd_engine::cluster::{DonorMode, JoinError, JoinOptions, JoinView};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The JSON form of a join.
pub fn join_json(v: &JoinView) -> Value {
    let r = &v.record;
    json!({
        "id": r.id,
        "joiner": r.joiner,
        "donor": r.donor,
        "mode": r.mode.to_string(),
        "phase": r.phase.to_string(),
        "switching": v.switching,
        "delta_only": r.delta_only,
        "l0": r.l0,
        "reason": r.reason,
        "snapshot": {
            "bytes": if r.snapshot_bytes > 0 { r.snapshot_bytes } else { v.bytes },
            "estimated_total": v.total,
            "rate_bytes_per_sec": v.rate,
            "eta_secs": v.eta.map(|d| d.as_secs_f64()),
            "attempts": r.snapshot_attempts,
            "micros": r.snapshot_micros,
            "restored_marker": r.snapshot_lsn,
        },
        "lag": v.lag,
        "pauses_micros": r.pauses_micros,
        "created_micros": r.created_micros,
        "ended_micros": r.ended_micros,
    })
}

#[derive(Default, Deserialize)]
struct Request {
    donor: Option<String>,
    mode: Option<String>,
    force_snapshot: Option<bool>,
    compression: Option<i32>,
}

fn join_error(e: JoinError) -> Response {
    let status = match e {
        JoinError::UnknownBackend(_) | JoinError::UnknownJoin(_) => StatusCode::NOT_FOUND,
        JoinError::Refused(_) | JoinError::Ended { .. } => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

pub(super) async fn start(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = admin.authorised(&headers, Access::Operate) {
        return *refusal;
    }
    let mut req: Request = if body.iter().all(u8::is_ascii_whitespace) {
        Request::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")),
        }
    };
    if let Some(d) = query.get("donor") {
        req.donor = Some(d.clone());
    }
    if let Some(m) = query.get("mode") {
        req.mode = Some(m.clone());
    }
    if let Some(f) = query.get("force_snapshot") {
        req.force_snapshot = Some(f == "true" || f == "1");
    }
    let mode = match req.mode.as_deref().map(str::parse::<DonorMode>).transpose() {
        Ok(m) => m.or(admin.default_mode),
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let options = JoinOptions {
        donor: req.donor,
        mode,
        force_snapshot: req.force_snapshot.unwrap_or(false),
        compression: req.compression,
    };
    match admin.cluster.start_join(&name, options) {
        Ok(v) => (StatusCode::ACCEPTED, Json(join_json(&v))).into_response(),
        Err(e) => join_error(e),
    }
}

pub(super) async fn list(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if let Err(refusal) = admin.authorised(&headers, Access::Read) {
        return *refusal;
    }
    let joins: Vec<Value> = admin.cluster.joins().iter().map(join_json).collect();
    Json(json!({ "joins": joins })).into_response()
}

pub(super) async fn get_one(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    if let Err(refusal) = admin.authorised(&headers, Access::Read) {
        return *refusal;
    }
    match admin.cluster.join(id) {
        Some(v) => Json(join_json(&v)).into_response(),
        None => join_error(JoinError::UnknownJoin(id)),
    }
}

pub(super) async fn cancel(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    if let Err(refusal) = admin.authorised(&headers, Access::Operate) {
        return *refusal;
    }
    match admin.cluster.cancel_join(id) {
        Ok(v) => (StatusCode::ACCEPTED, Json(join_json(&v))).into_response(),
        Err(e) => join_error(e),
    }
}
