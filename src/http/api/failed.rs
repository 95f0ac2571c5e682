//! What an operator does with failed jobs besides retrying one: dismiss one
//! (it stays on record as `dismissed`, no longer counted or listed as
//! failed), and retry or dismiss every failed file job at once (of one
//! `source`, if given). A job whose source is no longer configured can only
//! fail again: dismissing is its way out of the failed list.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{found, id_or_404, Authorized};
use crate::http::{ApiError, AppState};
use crate::id::JobId;
use crate::queue::{Job, JobState};
use crate::state::PageRequest;

/// `POST /api/v1/jobs/{id}/dismiss`: the job, now `dismissed`; 409 unless it was failed.
pub async fn dismiss(
    _: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id_or_404(JobId::parse, &id, "no_such_job", "job")?;
    if let Some(job) = state.repo.dismiss_failed(id, chrono::Utc::now()).await? {
        state.repo.durable().await?;
        return Ok(HttpResponse::Ok().json(job));
    }
    Err(not_failed(&state, id, "dismissed").await)
}

/// Which failed jobs a bulk action takes.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Which {
    /// Only this source's.
    source: Option<String>,
}

/// The failed file jobs (of `source`, if given), every page of them.
async fn failed_jobs(state: &AppState, source: Option<String>) -> Result<Vec<JobId>, ApiError> {
    let mut ids = Vec::new();
    let mut page = PageRequest {
        limit: 1000,
        after: None,
    };
    loop {
        let source = source.clone();
        let keep = move |j: &Job| {
            j.state == JobState::Failed
                && j.notification.is_none()
                && source.as_ref().is_none_or(|s| *s == j.source)
        };
        let got = state.repo.jobs(page.clone(), Box::new(keep)).await?;
        ids.extend(got.items.iter().map(|j| j.id));
        match got
            .next_cursor
            .and_then(|c| PageRequest::new(1000, Some(&c)))
        {
            Some(next) => page = next,
            None => return Ok(ids),
        }
    }
}

/// Applies `act` to every failed file job; how many it took.
async fn each_failed(
    state: &AppState,
    which: Which,
    retry: bool,
) -> Result<HttpResponse, ApiError> {
    let now = chrono::Utc::now();
    let mut n = 0u64;
    for id in failed_jobs(state, which.source).await? {
        // One that moved on meanwhile (retried elsewhere) is not counted.
        let moved = if retry {
            state.repo.retry_failed(id, now).await?
        } else {
            state.repo.dismiss_failed(id, now).await?
        };
        n += u64::from(moved.is_some());
    }
    if n > 0 {
        state.repo.durable().await?;
        if retry {
            state.wake.notify_waiters();
        }
    }
    let key = if retry { "retried" } else { "dismissed" };
    Ok(HttpResponse::Ok().json(json!({ "code": 0, key: n })))
}

/// `POST /api/v1/jobs/retry-failed`: every failed file job queued again.
pub async fn retry_all(
    _: Authorized,
    q: web::Query<Which>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    each_failed(&state, q.into_inner(), true).await
}

/// `POST /api/v1/jobs/dismiss-failed`: every failed file job dismissed.
pub async fn dismiss_all(
    _: Authorized,
    q: web::Query<Which>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    each_failed(&state, q.into_inner(), false).await
}

/// Why a job that is not failed cannot be `done` (retried, dismissed):
/// 409 naming its state, or 404 when there is no such job.
pub async fn not_failed(state: &AppState, id: JobId, done: &str) -> ApiError {
    let job = found(
        state.repo.job(id).await,
        "no_such_job",
        format!("no job {:?}", id.to_string()),
    );
    match job {
        Ok(job) => ApiError::new(
            StatusCode::CONFLICT,
            "not_failed",
            format!(
                "job {} is {}; only failed jobs are {done}",
                job.id,
                job.state.as_str()
            ),
        ),
        Err(e) => e,
    }
}
