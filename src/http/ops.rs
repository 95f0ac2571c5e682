//! Operational endpoints.

use actix_web::{web, HttpResponse};
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// Prometheus text format.
async fn metrics(state: web::Data<super::AppState>) -> Result<HttpResponse, super::ApiError> {
    let queue = state.queue.clone();
    let q = web::block(move || queue.gauges(chrono::Utc::now()))
        .await
        .map_err(|e| {
            super::ApiError::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                e.to_string(),
            )
        })??;
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

/// Readiness: the state store reads and the archive store answers
/// (S3: HeadBucket), else 503 saying which is wrong.
async fn readyz(state: web::Data<super::AppState>) -> HttpResponse {
    let mut problems = Vec::new();
    if let Err(e) = state.queue.next_due() {
        problems.push(format!("state store: {e}"));
    }
    if let Err(e) = state.store.check().await {
        problems.push(format!("store: {e}"));
    }
    if problems.is_empty() {
        HttpResponse::Ok().json(json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({
            "status": "not_ready",
            "code": "not_ready",
            "message": problems.join("; "),
        }))
    }
}

/// Liveness: the process answers HTTP.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}
