//! `/ui/rejected`: callbacks kept because they could not be understood,
//! each with a Replay button.

use actix_web::{web, HttpResponse};
use maud::html;

use super::page::{page, time};
use super::{all, see_other};
use crate::http::api::{self, Authorized};
use crate::http::{ApiError, AppState};
use crate::rejected;

pub async fn show(_: Authorized, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let kept = state.repo.rejected_list(all(100), Box::new(|_| true));
    let kept = kept.await?.items;
    let b = html! {
        table {
            tr { th { "Received" } th { "Source" } th { "Reason" } th { "Body" } th {} }
            @for r in kept.into_iter().map(rejected::RejectedRequest::shown) {
                tr {
                    td { (time(&r.received_at)) }
                    td { (r.source) }
                    td.err { code { (r.error_code) } " " (r.error) }
                    td { pre { (shown_body(&r)) } }
                    td {
                        @match &r.replayed_as {
                            Some(events) => { "replayed as " (events.len()) " event(s)" }
                            None => {
                                form.inline method="post"
                                    action=(format!("/ui/rejected/{}/replay", r.id)) {
                                    button { "Replay" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page("Rejected callbacks", "Rejected callbacks", b, None))
}

pub async fn replay(
    a: Authorized,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    api::replay(a, id, state).await?;
    Ok(see_other("/ui/rejected"))
}

/// A kept body as text, cut to 4 KiB of characters; binary as hex.
fn shown_body(r: &rejected::RejectedRequest) -> String {
    let body = r
        .body
        .clone()
        .unwrap_or_else(|| format!("(binary) {}", r.body_hex.clone().unwrap_or_default()));
    body.chars().take(4096).collect()
}
