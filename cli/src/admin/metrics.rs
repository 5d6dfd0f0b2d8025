//! `GET /metrics`: every counter an operator watches, in the Prometheus text format.

use super::{Access, Admin};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use mdbd_engine::cluster::order::HistogramSnapshot;
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub(super) async fn metrics(State(admin): State<Admin>, headers: HeaderMap) -> Response {
    if let Err(refusal) = admin.authorised(&headers, Access::Read) {
        return *refusal;
    }
    let c = admin.cluster.counters();
    let log = admin.cluster.log().stats();
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let p = admin.cluster.pool_counters();
    let metrics: [(&str, &str, &str, u64); 32] = [
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
            "mdbd_log_store_retries_total",
            "counter",
            "Requests to the log's replicated store (JetStream) retried, as while a node fails over.",
            log.storage.retried_requests,
        ),
        (
            "mdbd_log_store_failures_total",
            "counter",
            "Requests to the log's replicated store that failed after their retries.",
            log.storage.failed_requests,
        ),
        (
            "mdbd_log_store_fenced",
            "gauge",
            "1 once another mdbd took the log over: this one appends nothing more.",
            u64::from(log.storage.fenced),
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
        (
            "mdbd_detaches_refused_last_total",
            "counter",
            "Detaches refused because the backend was the last active one.",
            n(&c.detaches_refused_last),
        ),
        (
            "mdbd_health_check_failures_total",
            "counter",
            "Health checks that failed (a backend is detached after several in a row).",
            n(&c.health_failures),
        ),
        (
            "mdbd_idle_in_transaction_timeouts_total",
            "counter",
            "Client transactions ended by idle_in_transaction_timeout.",
            n(&c.idle_timeouts),
        ),
        (
            "mdbd_write_turn_timeouts_total",
            "counter",
            "Client transactions ended by write_turn_timeout.",
            n(&c.turn_hold_timeouts),
        ),
        (
            "mdbd_cancels_total",
            "counter",
            "Cancel requests carried out on the backends.",
            n(&c.cancels),
        ),
        (
            "mdbd_settings_refused_total",
            "counter",
            "Session settings refused by the server (the client's error).",
            n(&c.settings_refused),
        ),
        (
            "mdbd_pool_waits_total",
            "counter",
            "Backend connection requests that waited for a free connection.",
            n(&p.waits),
        ),
        (
            "mdbd_pool_exhausted_total",
            "counter",
            "Backend connection requests refused after pool_timeout.",
            n(&p.exhausted),
        ),
        (
            "mdbd_backend_slow_operations_total",
            "counter",
            "Backend operations past backend_timeout on a server that still answered.",
            n(&p.slow_operations),
        ),
        (
            "mdbd_backend_deadline_misses_total",
            "counter",
            "Backend operations past backend_timeout on a server that answered no probe.",
            n(&p.deadline_misses),
        ),
        (
            "mdbd_startup_refused_total",
            "counter",
            "Client connections refused before login (oversized or incomplete startup, login timeout).",
            n(&c.startup_refused),
        ),
        (
            "mdbd_logins_failed_total",
            "counter",
            "Logins refused: wrong password, unknown user, wrong database, TLS required.",
            n(&c.logins_failed),
        ),
        (
            "mdbd_clients_over_limit_total",
            "counter",
            "Client connections refused because max_client_connections were open.",
            n(&c.clients_over_limit),
        ),
        (
            "mdbd_client_connections",
            "gauge",
            "Client connections holding a max_client_connections slot now (logged in or not).",
            n(&c.client_connections),
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in metrics {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    }
    let _ = writeln!(
        out,
        "# HELP mdbd_detaches_by_cause_total Backends detached, by cause.\n# TYPE mdbd_detaches_by_cause_total counter"
    );
    for (cause, value) in c.detaches_by_cause() {
        let _ = writeln!(
            out,
            "mdbd_detaches_by_cause_total{{cause=\"{cause}\"}} {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP mdbd_backend_connections Backend connections checked out by client sessions now (idle pooled ones not counted).\n# TYPE mdbd_backend_connections gauge"
    );
    for (backend, value) in admin.cluster.pool_sizes() {
        let _ = writeln!(
            out,
            "mdbd_backend_connections{{backend=\"{backend}\"}} {value}"
        );
    }
    for (name, help, value) in [
        (
            "mdbd_lock_deadlocks_total",
            "keyed: transactions chosen as a deadlock's victim by mdbd's lock manager.",
            n(&c.lock_deadlocks),
        ),
        (
            "mdbd_lock_timeouts_total",
            "keyed: statements whose locks were not granted within lock_wait_timeout.",
            n(&c.lock_timeouts),
        ),
        (
            "mdbd_unexpected_backend_waits_total",
            "keyed: transactions rolled back because a backend waited on a lock mdbd did not foresee.",
            n(&c.unexpected_backend_waits),
        ),
        (
            "mdbd_keyed_global_statements_total",
            "keyed: statements that took the global lock for want of understanding them.",
            admin.cluster.order().global_statements(),
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    }
    let order = admin.cluster.order().stats();
    for (name, help, histogram) in [
        (
            "mdbd_write_turn_wait_seconds",
            "Time a write transaction waited for its write turn.",
            &order.turn_wait,
        ),
        (
            "mdbd_write_turn_hold_seconds",
            "Time a write transaction held its write turn.",
            &order.turn_hold,
        ),
        (
            "mdbd_write_quiesce_wait_seconds",
            "Time a join's cut or switch-over or a control record waited for the writers to be quiesced.",
            &order.quiesce_wait,
        ),
        (
            "mdbd_write_quiesce_hold_seconds",
            "Time writers were held back by one quiesce.",
            &order.quiesce_hold,
        ),
    ] {
        write_histogram(&mut out, name, help, &histogram.snapshot());
    }
    ([("content-type", "text/plain; version=0.0.4")], out).into_response()
}

/// One histogram in the Prometheus text format, from microseconds to seconds.
fn write_histogram(out: &mut String, name: &str, help: &str, h: &HistogramSnapshot) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (bound, n) in &h.cumulative {
        let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {n}", *bound as f64 / 1e6);
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum {}", h.sum_micros as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {}", h.count);
}
