//! Operational endpoints.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// Prometheus text format, for callers the API admits (401 or 429 for
/// others): it names sources, streams' counts and failures.
async fn metrics(
    req: HttpRequest,
    state: web::Data<super::AppState>,
) -> Result<HttpResponse, super::ApiError> {
    state.access.check(&req)?;
    let q = state.repo.gauges(chrono::Utc::now()).await?;
    state
        .metrics
        .store_paused(state.store.health().down().is_some());
    let gauges = crate::metrics::QueueGauges {
        jobs_by_state: q.by_state.iter().map(|(s, n)| (s.as_str(), *n)).collect(),
        due_now: q.due_now,
        oldest_due_age_s: q.oldest_due_age_s,
    };
    // "text/plain; version=0.0.4; charset=utf-8": the classic Prometheus text
    // format, which every Prometheus scrapes without negotiation (and which
    // the body is); OpenMetrics would need `application/openmetrics-text`.
    Ok(HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(state.metrics.render(&gauges)))
}

/// How long a probe's answer is reused: a load balancer polling every
/// second costs the stores one probe each this often.
const PROBE_TTL: Duration = Duration::from_secs(3);

/// A probe write slower than this counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The last answers of the readiness probes.
#[derive(Default)]
pub struct Readiness {
    state: Mutex<Option<(Instant, Result<(), String>)>>,
    store: Mutex<Option<(Instant, Result<(), String>)>>,
}

/// `probe`'s answer, or the one cached in `slot` if younger than [`PROBE_TTL`].
async fn cached<F>(
    slot: &Mutex<Option<(Instant, Result<(), String>)>>,
    probe: F,
) -> Result<(), String>
where
    F: std::future::Future<Output = Result<(), String>>,
{
    if let Some((at, r)) = slot.lock().ok().and_then(|s| s.clone()) {
        if at.elapsed() < PROBE_TTL {
            return r;
        }
    }
    let r = probe.await;
    if let Ok(mut s) = slot.lock() {
        *s = Some((Instant::now(), r.clone()));
    }
    r
}

/// Whether the state store takes durable writes, and the archive store's
/// condition as `{"ok": ..., "reason": ...}`: the readiness probe's answers,
/// cached for a moment (the UI's overview shows them too).
pub async fn health(state: &super::AppState) -> (Result<(), String>, serde_json::Value) {
    let repo = state.repo.clone();
    let writable = cached(&state.readiness.state, async move {
        if let Some(e) = repo.write_failure() {
            return Err(e.to_string());
        }
        // A real write, flushed and synced as a callback's would be.
        let write = repo.probe_write();
        match tokio::time::timeout(PROBE_TIMEOUT, write).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!("a write took over {PROBE_TIMEOUT:?}")),
        }
    })
    .await;
    let probed = cached(&state.readiness.store, state.store.check()).await;
    state.metrics.archive_store_up(probed.is_ok());
    // What the transfers found outranks the probe: a bucket that answers
    // HeadBucket may still refuse writes.
    let store = match (state.store.health().down(), &probed) {
        (Some(d), _) => json!({
            "ok": false,
            "reason": d.reason,
            "since": crate::time::rfc3339(&d.since),
            "transfers": "paused",
        }),
        (None, Ok(())) => json!({"ok": true}),
        (None, Err(reason)) => json!({"ok": false, "reason": reason}),
    };
    (writable, store)
}

/// Readiness means "callbacks are safe here": 200 while the state store
/// takes durable writes, whatever the archive store does (the queue rides
/// out an S3 outage, and nginx-rtmp and SRS never retry a hook). The archive
/// store's condition is in the body (`store.ok`, `store.reason`) and in
/// `archive_store_up`. A state store that cannot write answers 503. The
/// body is for callers the API admits; anyone else (a load balancer) gets
/// the status code alone.
async fn readyz(req: HttpRequest, state: web::Data<super::AppState>) -> HttpResponse {
    let (writable, store) = health(&state).await;
    if state.access.check(&req).is_err() {
        return match writable {
            Ok(()) => HttpResponse::Ok().finish(),
            Err(_) => HttpResponse::ServiceUnavailable().finish(),
        };
    }
    match writable {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready", "store": store})),
        Err(e) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "not_ready",
            "code": "state_unwritable",
            "message": format!("the state store cannot write: {e}"),
            "store": store,
        })),
    }
}

/// Liveness: the process answers HTTP.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}
