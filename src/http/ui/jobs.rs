//! `/ui/jobs`: what runs, waits, failed and lately finished, each row with
//! its stream and source; failed jobs retried or dismissed one by one or
//! all at once. The page reloads itself while transfers run.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use maud::{html, Markup};

use super::page::{page, size, time};
use super::{all, see_other, SHOWN};
use crate::http::api::{self, Authorized};
use crate::http::{ApiError, AppState};
use crate::id::EventId;
use crate::queue::{Job, JobState};

/// Rows shown per section (the counts are of all read).
const ROWS: usize = 100;

/// What a row says of its job's event: the stream it is of.
type Streams = HashMap<EventId, String>;

/// The jobs page.
pub async fn show(_: Authorized, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let files = |j: &Job| j.notification.is_none();
    let jobs = state.repo.jobs(all(SHOWN), Box::new(files)).await?.items;
    let of = |st: JobState| jobs.iter().filter(move |j| j.state == st);
    let running: Vec<&Job> = of(JobState::Running).collect();
    let waiting: Vec<&Job> = of(JobState::Queued).chain(of(JobState::Retrying)).collect();
    let failed: Vec<&Job> = of(JobState::Failed).collect();
    let dismissed = of(JobState::Dismissed).count();
    let done: Vec<&Job> = of(JobState::Done).take(50).collect();
    let shown = running
        .iter()
        .chain(waiting.iter().take(ROWS))
        .chain(failed.iter().take(ROWS))
        .chain(done.iter());
    let streams = streams_of(&state, shown.copied()).await?;
    let b = html! {
        (running_jobs(&running, &streams))
        (waiting_jobs(&waiting, &streams))
        (failed_jobs(&failed, &streams))
        @if dismissed > 0 {
            p.note {
                (dismissed) " dismissed failed jobs are kept on record: "
                a href="/api/v1/jobs?state=dismissed" { "/api/v1/jobs?state=dismissed" }
            }
        }
        h2 { "Done (latest " (done.len()) ")" }
        table.jobs {
            (cols(&[14, 14, 10, 30, 10, 22]))
            tr {
                th { "Stream" } th { "Source" } th { "Job" } th { "File" } th { "Size" }
                th { "Finished" }
            }
            @for j in &done {
                tr {
                    (named(j, &streams))
                    td {
                        a href=(format!("/ui/recordings?job={}", j.id)) title="its catalog entry" {
                            (j.origin.file_name())
                        }
                    }
                    td { (size(j.bytes_done)) }
                    td { (time(&j.updated_at)) }
                }
            }
        }
    };
    // Progress without script: the page reloads while a transfer runs or
    // one is due within seconds.
    let soon = chrono::Utc::now() + chrono::TimeDelta::seconds(10);
    let moving = !running.is_empty() || waiting.iter().any(|j| j.next_attempt_at <= soon);
    Ok(page("Jobs", "Jobs", b, moving.then_some(3)))
}

/// The stream each job's event is of (an event retention pruned: none).
async fn streams_of<'a>(
    state: &AppState,
    jobs: impl Iterator<Item = &'a Job>,
) -> Result<Streams, ApiError> {
    let mut out = Streams::new();
    for j in jobs {
        if out.contains_key(&j.event_id) {
            continue;
        }
        if let Some(e) = state.repo.event(j.event_id).await? {
            let s = &e.stream;
            let name = match (&s.app, &s.name) {
                (Some(app), Some(name)) => format!("{app}/{name}"),
                (None, Some(name)) => name.clone(),
                _ => String::new(),
            };
            out.insert(j.event_id, name);
        }
    }
    Ok(out)
}

/// Column widths in percent: long names and errors wrap inside them, so
/// no table runs past the window.
fn cols(widths: &[u8]) -> Markup {
    html! {
        colgroup { @for w in widths { col style=(format!("width:{w}%")); } }
    }
}

/// The cells every row starts with: stream, source, job.
fn named(j: &Job, streams: &Streams) -> Markup {
    let stream = streams.get(&j.event_id).map_or("–", String::as_str);
    let id = j.id.to_string();
    html! {
        td.stream { (stream) }
        td { (j.source) }
        td { code title=(id) { (id.chars().take(8).collect::<String>()) "…" } }
    }
}

/// "N" or "the first ROWS of N".
fn counted(n: usize) -> String {
    if n > ROWS {
        format!("{n}, the first {ROWS} shown")
    } else {
        n.to_string()
    }
}

fn running_jobs(running: &[&Job], streams: &Streams) -> Markup {
    html! {
        h2 { "Running (" (running.len()) ")" }
        table.jobs {
            (cols(&[14, 14, 10, 24, 22, 16]))
            tr {
                th { "Stream" } th { "Source" } th { "Job" } th { "File" } th { "Progress" }
                th { "Started" }
            }
            @for j in running {
                tr {
                    (named(j, streams))
                    td { (j.origin.file_name()) }
                    td {
                        @match j.bytes_total {
                            Some(t) if t > 0 => {
                                progress value=(j.bytes_done) max=(t) {}
                                " " (size(j.bytes_done)) " of " (size(t))
                            }
                            _ => { progress {} " " (size(j.bytes_done)) }
                        }
                    }
                    td { (time(&j.updated_at)) }
                }
            }
        }
    }
}

fn waiting_jobs(waiting: &[&Job], streams: &Streams) -> Markup {
    html! {
        h2 { "Queued and retrying (" (counted(waiting.len())) ")" }
        table.jobs {
            (cols(&[12, 9, 9, 16, 8, 14, 8, 24]))
            tr {
                th { "Stream" } th { "Source" } th { "Job" } th { "File" } th { "State" }
                th { "Next attempt" } th { "Attempts" } th { "Last error" }
            }
            @for j in waiting.iter().take(ROWS) {
                tr {
                    (named(j, streams))
                    td { (j.origin.file_name()) }
                    td { (j.state.as_str()) }
                    td { (time(&j.next_attempt_at)) }
                    td { (j.attempts) }
                    td.err { (j.last_error.as_deref().unwrap_or("")) }
                }
            }
        }
    }
}

fn failed_jobs(failed: &[&Job], streams: &Streams) -> Markup {
    html! {
        h2 { "Failed (" (counted(failed.len())) ")" }
        @if !failed.is_empty() {
            div.bulk {
                form.inline method="post" action="/ui/jobs/retry-failed" {
                    button { "Retry all failed" }
                }
                " "
                form.inline method="post" action="/ui/jobs/dismiss-failed" {
                    button { "Dismiss all failed" }
                }
            }
        }
        table.jobs.failed {
            (cols(&[11, 8, 8, 15, 11, 8, 24, 15]))
            tr {
                th { "Stream" } th { "Source" } th { "Job" } th { "File" } th { "Failed" }
                th { "Attempts" } th { "Last error" } th {}
            }
            @for j in failed.iter().take(ROWS) {
                tr {
                    (named(j, streams))
                    td { (j.origin.file_name()) }
                    td { (time(&j.updated_at)) }
                    td { (j.attempts) }
                    td.err { (j.last_error.as_deref().unwrap_or("")) }
                    td.actions {
                        form.inline method="post" action=(format!("/ui/jobs/{}/retry", j.id)) {
                            button { "Retry" }
                        }
                        " "
                        form.inline method="post" action=(format!("/ui/jobs/{}/dismiss", j.id)) {
                            button { "Dismiss" }
                        }
                    }
                }
            }
        }
    }
}

/// Retry, from the Failed list; back to the jobs page.
pub async fn retry(
    a: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    api::retry_job(a, id, state).await?;
    Ok(see_other("/ui/jobs"))
}

/// Dismiss, from the Failed list; back to the jobs page.
pub async fn dismiss(
    a: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    api::dismiss_job(a, id, state).await?;
    Ok(see_other("/ui/jobs"))
}

/// Retry all failed; back to the jobs page.
pub async fn retry_all(
    a: Authorized,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    api::retry_all(a, web::Query(Default::default()), state).await?;
    Ok(see_other("/ui/jobs"))
}

/// Dismiss all failed; back to the jobs page.
pub async fn dismiss_all(
    a: Authorized,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    api::dismiss_all(a, web::Query(Default::default()), state).await?;
    Ok(see_other("/ui/jobs"))
}
