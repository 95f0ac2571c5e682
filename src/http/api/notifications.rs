//! `/api/v1/notifications`: deliveries to the `[[notify]]` endpoints, and
//! sending one that gave up again.

use actix_web::{web, HttpResponse};

use super::{id_or_404, retry_job, Authorized, JobsFilter, Listing};
use crate::http::{ApiError, AppState};
use crate::id::JobId;

/// Notification deliveries (jobs of kind `notification`), newest first;
/// `state=failed` lists those that gave up.
pub async fn list(
    _: Authorized,
    q: Listing<JobsFilter>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    super::list_jobs(&state, q, true).await
}

/// `retry_job` for a notification job only.
pub async fn retry(
    a: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let job = id_or_404(JobId::parse, &id, "no_such_notification", "notification")?;
    let is_one = state
        .repo
        .job(job)
        .await?
        .is_some_and(|j| j.notification.is_some());
    if !is_one {
        return Err(ApiError::not_found(
            "no_such_notification",
            format!("no notification {:?}", id.as_str()),
        ));
    }
    retry_job(a, id, state).await
}
