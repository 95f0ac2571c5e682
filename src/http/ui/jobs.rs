//! `/ui/jobs`: what runs, waits, failed and lately finished; the page
//! reloads itself while transfers run.

use actix_web::{web, HttpResponse};
use maud::{html, Markup};

use super::page::{page, size, time};
use super::{all, see_other, SHOWN};
use crate::http::api::{self, Authorized};
use crate::http::{ApiError, AppState};
use crate::queue::{Job, JobState};

/// The jobs page.
pub async fn show(_: Authorized, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let files = |j: &Job| j.notification.is_none();
    let jobs = state.repo.jobs(all(SHOWN), Box::new(files)).await?.items;
    let of = |st: JobState| jobs.iter().filter(move |j| j.state == st);
    let running: Vec<&Job> = of(JobState::Running).collect();
    let waiting: Vec<&Job> = of(JobState::Queued).chain(of(JobState::Retrying)).collect();
    let failed: Vec<&Job> = of(JobState::Failed).collect();
    let done: Vec<&Job> = of(JobState::Done).take(50).collect();
    let b = html! {
        (running_jobs(&running))
        (waiting_jobs(&waiting))
        (failed_jobs(&failed))
        h2 { "Done (latest " (done.len()) ")" }
        table {
            tr { th { "Job" } th { "File" } th { "Size" } th { "Finished" } }
            @for j in &done {
                tr {
                    td { code { (j.id) } }
                    td { (j.origin.file_name()) }
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

fn running_jobs(running: &[&Job]) -> Markup {
    html! {
        h2 { "Running (" (running.len()) ")" }
        table {
            tr { th { "Job" } th { "File" } th { "Progress" } th { "Started" } }
            @for j in running {
                tr {
                    td { code { (j.id) } }
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

fn waiting_jobs(waiting: &[&Job]) -> Markup {
    html! {
        h2 { "Queued and retrying (" (waiting.len()) ")" }
        table {
            tr {
                th { "Job" } th { "File" } th { "State" } th { "Next attempt" }
                th { "Attempts" } th { "Last error" }
            }
            @for j in waiting {
                tr {
                    td { code { (j.id) } }
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

fn failed_jobs(failed: &[&Job]) -> Markup {
    html! {
        h2 { "Failed (" (failed.len()) ")" }
        table {
            tr { th { "Job" } th { "File" } th { "Attempts" } th { "Last error" } th {} }
            @for j in failed {
                tr {
                    td { code { (j.id) } }
                    td { (j.origin.file_name()) }
                    td { (j.attempts) }
                    td.err { (j.last_error.as_deref().unwrap_or("")) }
                    td {
                        form.inline method="post" action=(format!("/ui/jobs/{}/retry", j.id)) {
                            button { "Retry" }
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
