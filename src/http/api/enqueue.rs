//! `POST /api/v1/enqueue?source=&file=[&stream=&app=]`: a local file queued
//! by hand or by a hook that runs commands (MediaMTX's
//! `runOnRecordSegmentComplete`), through the daemon, so that its queue and
//! its durability stay in one place.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::Authorized;
use crate::config::{Config, OriginConfig, SourceConfig};
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
        .map_err(|m| ApiError::bad_request("bad_file", with_roots(&state.config, source, m)))?;
    let callback = state.notifier.callback(vec![event], now);
    let recorded = state.repo.record_callback(callback).await?;
    Ok(crate::http::recorded_answer(&state, &recorded))
}

/// A refusal of a file origin's source, with the roots it looked under and
/// the key that sets them, so the person who typed the path sees where it
/// must be (a source without a file origin is refused for that alone).
fn with_roots(config: &Config, source: &SourceConfig, refusal: String) -> String {
    let Some(OriginConfig::File { roots, .. }) = &source.origin else {
        return refusal;
    };
    let i = config
        .sources
        .iter()
        .position(|s| s.name == source.name)
        .unwrap_or_default();
    let roots: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    format!(
        "{refusal}: {} (sources[{i}].origin.roots of the daemon's config; a relative \
         path is looked up under each root)",
        roots.join(", ")
    )
}
