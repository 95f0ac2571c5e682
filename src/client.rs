//! The CLI's side of the API: find the daemon and its token, fetch every
//! page, print readable tables.

mod target;

use serde_json::Value;

pub use target::Target;

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

/// Fetches every page of a listing.
fn get_all(
    api: &str,
    path: &str,
    query: &[(&str, String)],
    token: Option<&str>,
) -> Result<Vec<Value>, String> {
    block_on(async {
        let http = reqwest::Client::new();
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = query.to_vec();
            if let Some(c) = &cursor {
                q.push(("cursor", c.clone()));
            }
            let page = call(&http, reqwest::Method::GET, api, path, &q, token).await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(items),
            }
        }
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Pads columns to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r.clone()));
    }
    out
}

/// Human-readable byte counts.
pub fn size(v: &Value) -> String {
    v.as_u64().map_or_else(|| "-".to_owned(), bytes)
}

/// `n` bytes in the largest unit that keeps them above 1.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = n as f64;
    let mut u = 0;
    while x >= 1024.0 && u < UNITS.len() - 1 {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", UNITS[u])
    }
}

/// One session's entries as a table, in the order they were recorded.
pub fn session_table(items: &[Value]) -> String {
    let mut items = items.to_vec();
    let when = |e: &Value| {
        let t = e["started_at"].as_str().or(e["ended_at"].as_str());
        t.unwrap_or("").to_owned()
    };
    items.sort_by_key(when);
    catalog_table(&items)
}

/// The catalog as a table.
pub fn catalog_table(items: &[Value]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|e| {
            let at = match e["store"]["type"].as_str() {
                Some("s3") => format!(
                    "s3://{}/{}",
                    text(&e["store"]["bucket"]),
                    text(&e["store"]["key"])
                ),
                _ => text(&e["store"]["path"]),
            };
            vec![
                text(&e["started_at"]),
                text(&e["kind"]),
                text(&e["source"]),
                format!("{}/{}", text(&e["app"]), text(&e["stream"])),
                size(&e["size"]),
                text(&e["sha256"]).chars().take(12).collect(),
                at,
            ]
        })
        .collect();
    let mut out = table(
        &[
            "STARTED",
            "KIND",
            "SOURCE",
            "APP/STREAM",
            "SIZE",
            "SHA256",
            "STORED AT",
        ],
        &rows,
    );
    out.push_str(&format!(
        "{} entr{}\n",
        items.len(),
        if items.len() == 1 { "y" } else { "ies" }
    ));
    out
}

/// Jobs as a table.
pub fn jobs_table(items: &[Value]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|j| {
            let progress = match (j["bytes_done"].as_u64(), j["bytes_total"].as_u64()) {
                (Some(d), Some(t)) if t > 0 => format!("{}%", d * 100 / t),
                _ => "-".to_owned(),
            };
            vec![
                text(&j["id"]),
                text(&j["state"]),
                text(&j["attempts"]),
                progress,
                text(&j["next_attempt_at"]),
                text(&j["origin"]["value"]),
                text(&j["last_error"]),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "STATE",
            "ATTEMPTS",
            "DONE",
            "NEXT ATTEMPT",
            "ORIGIN",
            "LAST ERROR",
        ],
        &rows,
    )
}

/// Streams as a table.
pub fn streams_table(items: &[Value]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|s| {
            vec![
                text(&s["source"]),
                text(&s["domain"]),
                format!("{}/{}", text(&s["app"]), text(&s["stream"])),
                if s["live"] == Value::Bool(true) {
                    "live".to_owned()
                } else {
                    "-".to_owned()
                },
                text(&s["last_started_at"]),
                text(&s["last_stopped_at"]),
            ]
        })
        .collect();
    table(
        &[
            "SOURCE",
            "DOMAIN",
            "APP/STREAM",
            "LIVE",
            "STARTED",
            "STOPPED",
        ],
        &rows,
    )
}

/// Rejected requests as a table.
pub fn rejected_table(items: &[Value]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|r| {
            vec![
                text(&r["id"]),
                text(&r["received_at"]),
                text(&r["source"]),
                text(&r["error_code"]),
                if r["replayed_as"].is_array() {
                    "replayed".to_owned()
                } else {
                    "-".to_owned()
                },
                text(&r["error"]),
            ]
        })
        .collect();
    table(
        &["ID", "RECEIVED", "SOURCE", "CODE", "REPLAYED", "ERROR"],
        &rows,
    )
}
