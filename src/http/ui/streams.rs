//! `/ui/streams`: every stream seen, whether it is live, and its recordings.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use maud::html;

use super::page::{page, time};
use super::{all, urlencode, SHOWN};
use crate::http::api::Authorized;
use crate::http::{ApiError, AppState};
use crate::stream;

pub async fn show(_: Authorized, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let streams = state.repo.streams(all(SHOWN), Box::new(|_| true)).await?;
    let entries = state
        .repo
        .entries(None, all(10 * SHOWN), Box::new(|_| true));
    let mut counts: HashMap<(String, String), usize> = HashMap::new();
    for e in entries.await?.items {
        let key = (e.source.clone(), e.stream.name.clone().unwrap_or_default());
        *counts.entry(key).or_default() += 1;
    }
    let streams = streams.items;
    let count = |s: &stream::StreamState| {
        counts
            .get(&(s.source.clone(), s.stream.clone()))
            .copied()
            .unwrap_or(0)
    };
    let b = html! {
        table {
            tr { th { "Stream" } th { "Source" } th { "State" } th { "Last seen" } th { "Recordings" } }
            @for s in &streams {
                tr {
                    td { (s.domain) "/" (s.app) "/" b { (s.stream) } }
                    td { (s.source) }
                    @if s.live { td.live { "live" } } @else { td.offline { "offline" } }
                    td { (time(&s.last_event_at)) }
                    td {
                        a href=(format!("/ui/recordings?source={}&stream={}",
                            urlencode(&s.source), urlencode(&s.stream))) { (count(s)) }
                    }
                }
            }
        }
        @if streams.is_empty() { p { "No stream seen yet." } }
    };
    Ok(page("Streams", "Streams", b, None))
}
