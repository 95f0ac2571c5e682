//! The CLI's side of the API: find the daemon and its token, fetch every
//! page, print readable tables.

mod listings;
mod table;
mod target;

use serde_json::Value;

pub use listings::{
    app_stream, bytes, catalog_table, jobs_table, notifications_table, refused_table,
    rejected_table, session_table, size, streams_table,
};
pub use table::{terminal_width, Column, Fit};
pub use target::{token_from_env, Target, TOKEN_VARS};

/// Runs one API call to completion on a small runtime of its own.
fn block_on<T>(f: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(f)
}

/// One request; the JSON answer, or the API's message as the error.
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    api: &str,
    path: &str,
    query: &[(&str, String)],
    token: Option<&str>,
) -> Result<Value, String> {
    let url = format!("{}{path}", api.trim_end_matches('/'));
    let mut req = http.request(method, &url).query(query);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("{url}: {}", crate::retry::Failure::from(e)))?;
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .map_err(|e| format!("{url}: not JSON: {e}"))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!(
            "{url}: HTTP {status}: {}",
            body["message"].as_str().unwrap_or("")
        ))
    }
}

/// GETs one API path.
fn get_one(api: &str, path: &str, token: Option<&str>) -> Result<Value, String> {
    let http = reqwest::Client::new();
    block_on(call(&http, reqwest::Method::GET, api, path, &[], token))
}

/// POSTs to an API path with query parameters.
fn post_query(
    api: &str,
    path: &str,
    query: &[(&str, String)],
    token: Option<&str>,
) -> Result<Value, String> {
    block_on(call(
        &reqwest::Client::new(),
        reqwest::Method::POST,
        api,
        path,
        query,
        token,
    ))
}

/// Fetches a listing page by page, handing each page's items to `take`
/// until it says it has enough or the pages run out.
fn get_pages(
    api: &str,
    path: &str,
    query: &[(&str, String)],
    token: Option<&str>,
    take: &mut dyn FnMut(Vec<Value>) -> bool,
) -> Result<(), String> {
    block_on(async {
        let http = reqwest::Client::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = query.to_vec();
            if let Some(c) = &cursor {
                q.push(("cursor", c.clone()));
            }
            let page = call(&http, reqwest::Method::GET, api, path, &q, token).await?;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if !take(items) {
                return Ok(());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(()),
            }
        }
    })
}
