//! `/api/v1`: events, jobs, the catalog, rejected requests and streams as
//! JSON pages. Reads of the state store run on the blocking pool: a scan
//! may walk many records, and the reactor must keep answering callbacks.

mod download;
mod enqueue;
mod extract;
mod failed;
mod media;
mod notifications;
mod refused;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiError, AppState};
use crate::event::EventKind;
use crate::id::{EntryId, JobId, RejectedId};
use crate::queue::JobState;
use crate::state::StateError;

pub use extract::{cross_site, Authorized, Listing};
pub(crate) use failed::{dismiss as dismiss_job, dismiss_all, retry_all};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/events", web::get().to(events))
        .route("/jobs", web::get().to(jobs))
        .route("/jobs/retry-failed", web::post().to(failed::retry_all))
        .route("/jobs/dismiss-failed", web::post().to(failed::dismiss_all))
        .route("/jobs/{id}", web::get().to(job))
        .route("/jobs/{id}/retry", web::post().to(retry_job))
        .route("/jobs/{id}/dismiss", web::post().to(failed::dismiss))
        .route("/notifications", web::get().to(notifications::list))
        .route(
            "/notifications/{id}/retry",
            web::post().to(notifications::retry),
        )
        .route("/catalog", web::get().to(catalog))
        .route("/catalog/{id}", web::get().to(catalog_entry))
        .route("/catalog/{id}/download", web::get().to(download::download))
        .route("/refused", web::get().to(refused::list))
        .route(
            "/catalog/{id}/playlist.m3u8",
            web::get().to(media::playlist),
        )
        .route("/catalog/{id}/parts/{n}", web::get().to(media::part))
        .route("/catalog/{id}/content", web::get().to(media::content))
        .route("/rejected", web::get().to(rejected))
        .route("/rejected/{id}/replay", web::post().to(replay))
        .route("/streams", web::get().to(streams))
        .route("/enqueue", web::post().to(enqueue::enqueue));
}

/// An id from the path, or the 404 a wrong one deserves.
fn id_or_404<T>(
    parse: fn(&str) -> Option<T>,
    s: &str,
    code: &'static str,
    what: &str,
) -> Result<T, ApiError> {
    parse(s).ok_or_else(|| ApiError::not_found(code, format!("no {what} {s:?}")))
}

fn found<T>(
    v: Result<Option<T>, StateError>,
    code: &'static str,
    what: String,
) -> Result<T, ApiError> {
    v?.ok_or_else(|| ApiError::not_found(code, what))
}

fn matches(want: &Option<String>, have: &Option<String>) -> bool {
    want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsFilter {
    source: Option<String>,
    domain: Option<String>,
    app: Option<String>,
    stream: Option<String>,
    kind: Option<EventKind>,
}

async fn events(
    _: Authorized,
    q: Listing<EventsFilter>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let f = q.filter;
    let keep = move |e: &crate::event::Event| {
        f.source.as_ref().is_none_or(|w| *w == e.source)
            && matches(&f.domain, &e.stream.domain)
            && matches(&f.app, &e.stream.app)
            && matches(&f.stream, &e.stream.name)
            && f.kind.is_none_or(|k| k == e.kind)
    };
    let page = state.repo.events(q.page, Box::new(keep)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobsFilter {
    state: Option<JobState>,
    source: Option<String>,
}

async fn jobs(
    _: Authorized,
    q: Listing<JobsFilter>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    list_jobs(&state, q, false).await
}

/// File jobs, or (`notifications`) notification jobs, as filtered.
async fn list_jobs(
    state: &web::Data<AppState>,
    q: Listing<JobsFilter>,
    notifications: bool,
) -> Result<HttpResponse, ApiError> {
    let f = q.filter;
    let keep = move |j: &crate::queue::Job| {
        j.notification.is_some() == notifications
            && f.state.is_none_or(|w| w == j.state)
            && f.source.as_ref().is_none_or(|w| *w == j.source)
    };
    let page = state.repo.jobs(q.page, Box::new(keep)).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for job in &page.items {
        items.push(with_stream(state, job).await?);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "items": items,
        "next_cursor": page.next_cursor,
    })))
}

/// A job as JSON with its stream (`domain`, `app`, `stream`, from the event
/// that made it; absent once retention pruned that event): a job names its
/// event, and who reads a job wants to know whose recording it is.
async fn with_stream(state: &AppState, job: &crate::queue::Job) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(job).unwrap_or_default();
    if let (Some(e), Some(o)) = (state.repo.event(job.event_id).await?, v.as_object_mut()) {
        let s = e.stream;
        for (k, x) in [("domain", s.domain), ("app", s.app), ("stream", s.name)] {
            o.entry(k).or_insert(x.map_or(Value::Null, Value::String));
        }
    }
    Ok(v)
}

async fn job(
    _: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id_or_404(JobId::parse, &id, "no_such_job", "job")?;
    let job = found(
        state.repo.job(id).await,
        "no_such_job",
        format!("no job {:?}", id.to_string()),
    )?;
    Ok(HttpResponse::Ok().json(with_stream(&state, &job).await?))
}

pub(crate) async fn retry_job(
    _: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id_or_404(JobId::parse, &id, "no_such_job", "job")?;
    match state.repo.retry_failed(id, chrono::Utc::now()).await? {
        Some(job) => {
            state.repo.durable().await?;
            state.wake.notify_waiters();
            Ok(HttpResponse::Ok().json(job))
        }
        None => Err(failed::not_failed(&state, id, "retried by hand").await),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFilter {
    source: Option<String>,
    domain: Option<String>,
    app: Option<String>,
    stream: Option<String>,
    kind: Option<crate::queue::FileKind>,
    since: Option<String>,
    until: Option<String>,
    /// One publish session's recordings.
    session: Option<String>,
    /// `1`: each entry with its `download_url`.
    links: Option<u8>,
}

/// `?links=1` on one catalog entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinksQuery {
    links: Option<u8>,
}

/// `since`/`until`: an RFC 3339 time, or a day (YYYY-MM-DD) meaning its
/// first instant in UTC.
fn time_param(name: &str, v: &Option<String>) -> Result<Option<crate::time::Timestamp>, ApiError> {
    let day = |s: &str| {
        let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
        Some(d.and_hms_opt(0, 0, 0)?.and_utc())
    };
    v.as_deref()
        .map(|s| {
            crate::time::parse_rfc3339(s)
                .or_else(|| day(s))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "bad_query",
                        format!(
                            "{name}={s:?} is neither an RFC 3339 time (2024-05-01T00:00:00Z) \
                         nor a day (2024-05-01)"
                        ),
                    )
                })
        })
        .transpose()
}

async fn catalog(
    _: Authorized,
    q: Listing<CatalogFilter>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let f = q.filter;
    let since = time_param("since", &f.since)?;
    let until = time_param("until", &f.until)?;
    let links = f.links == Some(1);
    let stream = f.stream.clone();
    let keep = move |e: &crate::catalog::CatalogEntry| {
        let at = e.filed_at();
        f.source.as_ref().is_none_or(|w| *w == e.source)
            && matches(&f.domain, &e.stream.domain)
            && matches(&f.app, &e.stream.app)
            && f.kind.is_none_or(|k| k == e.kind)
            && since.is_none_or(|t| at >= t)
            && until.is_none_or(|t| at < t)
            && f.session
                .as_ref()
                .is_none_or(|w| e.session.as_ref() == Some(w))
    };
    let page = state.repo.entries(stream, q.page, Box::new(keep)).await?;
    linked(&state, page, links).await
}

async fn catalog_entry(
    _: Authorized,
    id: web::Path<String>,
    q: web::Query<LinksQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id_or_404(EntryId::parse, &id, "no_such_entry", "catalog entry")?;
    let entry = found(
        state.repo.entry(id).await,
        "no_such_entry",
        format!("no catalog entry {:?}", id.to_string()),
    )?;
    linked(&state, entry, q.links == Some(1)).await
}

/// `value` as JSON, with download links when asked.
async fn linked<T: Serialize>(
    state: &AppState,
    value: T,
    links: bool,
) -> Result<HttpResponse, ApiError> {
    let mut v = serde_json::to_value(value).unwrap_or_default();
    if links {
        v = download::with_links(state, v).await?;
    }
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectedFilter {
    source: Option<String>,
}

async fn rejected(
    _: Authorized,
    q: Listing<RejectedFilter>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let f = q.filter;
    let keep = move |r: &crate::rejected::RejectedRequest| {
        f.source.as_ref().is_none_or(|w| *w == r.source)
    };
    let mut page = state.repo.rejected_list(q.page, Box::new(keep)).await?;
    page.items = page.items.into_iter().map(|r| r.shown()).collect();
    Ok(HttpResponse::Ok().json(page))
}

/// Re-parses a kept request with today's parsers and records what it says:
/// the way back for a callback an older version could not read.
pub(crate) async fn replay(
    _: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rid = id_or_404(RejectedId::parse, &id, "no_such_request", "kept request")?;
    let r = found(
        state.repo.rejected(rid).await,
        "no_such_request",
        format!("no kept request {:?}", id.as_str()),
    )?;
    if let Some(events) = &r.replayed_as {
        let events: Vec<String> = events.iter().map(ToString::to_string).collect();
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_replayed",
            format!(
                "request {} was already replayed as events {}",
                r.id,
                events.join(", ")
            ),
        ));
    }
    let source = state.config.source(&r.source).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "unknown_source",
            format!("source {:?} is no longer configured", r.source),
        )
    })?;
    let body = r.body_bytes();
    let arrived = super::callbacks::Arrived {
        is_get: r.method == "GET",
        content_type: r.headers.get("content-type").map(String::as_str),
        platform_query: &r.query,
        body: &body,
    };
    let events = arrived
        .events(source, arrived.decode(), r.received_at)
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                e.code,
                format!("still not readable: {}", e.message),
            )
        })?;
    let callback = state.notifier.callback(events, chrono::Utc::now());
    let recorded = state.repo.record_callback(callback).await?;
    let ids: Vec<_> = recorded.iter().map(|r| r.event.id).collect();
    state.repo.mark_replayed(r.id, ids).await?;
    Ok(super::recorded_answer(&state, &recorded))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamsFilter {
    source: Option<String>,
    live: Option<bool>,
}

async fn streams(
    _: Authorized,
    q: Listing<StreamsFilter>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let f = q.filter;
    let keep = move |st: &crate::stream::StreamState| {
        f.source.as_ref().is_none_or(|w| *w == st.source) && f.live.is_none_or(|l| l == st.live)
    };
    let page = state.repo.streams(q.page, Box::new(keep)).await?;
    Ok(HttpResponse::Ok().json(page))
}
