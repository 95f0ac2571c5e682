//! `POST /api/v1/enqueue?source=&file=[&stream=&app=]`: a local file queued
//! by hand or by a hook that runs commands (MediaMTX's
//! `runOnRecordSegmentComplete`), through the daemon, so that its queue and
//! its durability stay in one place.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::Authorized;
use crate::http::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnqueueQuery {
    source: String,
    file: String,
    stream: Option<String>,
    app: Option<String>,
}

pub async fn enqueue(
    _: Authorized,
    q: web::Query<EnqueueQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let source = state.config.source(&q.source).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_source",
            format!("no source named {:?}", q.source),
        )
    })?;
    let now = chrono::Utc::now();
    let event = crate::local::enqueued(source, &q.file, q.stream, q.app, now)
        .map_err(|m| ApiError::bad_request("bad_file", m))?;
    let callback = state.notifier.callback(vec![event], now);
    let recorded = state.repo.record_callback(callback).await?;
    Ok(crate::http::recorded_answer(&state, &recorded))
}
