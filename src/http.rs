//! The actix-web application: routes, errors as JSON, the server itself.

mod access;
mod api;
mod callbacks;
mod limits;
mod ops;
pub mod refused;
mod ui;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, Service};
use futures_util::future::Either;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, HttpServer, ResponseError};
use serde_json::json;

use crate::config::Config;
use crate::state::{Repo, StateError};

/// Shared by every handler.
pub struct AppState {
    pub config: Arc<Config>,
    pub repo: Repo,
    /// Wakes the workers when a callback queues a job.
    pub wake: Arc<tokio::sync::Notify>,
    /// The archive store, for readiness checks.
    pub store: Arc<crate::store::Store>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Per-source callback rate limits.
    pub limits: limits::Limits,
    /// Per-source cap on rejected requests kept.
    pub rejected_quota: limits::RejectedQuota,
    /// The readiness probes' last answers.
    pub readiness: ops::Readiness,
    /// Where stream events are told of (`[[notify]]`).
    pub notifier: Arc<crate::notify::Notifier>,
    /// Who may use the API and the UI.
    pub access: access::Access,
    /// Callbacks refused before they were read (401, 403, 404).
    pub refused: refused::Refused,
    /// The job counts over time (the overview's chart).
    pub backlog: Arc<crate::backlog::Backlog>,
}

/// An error answered as `{"code": ..., "message": ...}` with its HTTP status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra members for the JSON body.
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            extra: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = serde_json::Map::new();
        body.insert("code".into(), json!(self.code));
        body.insert("message".into(), json!(self.message));
        if let Some(extra) = &self.extra {
            body.extend(extra.clone());
        }
        let mut response = HttpResponse::build(self.status);
        // A 429's wait, where clients and proxies look for it too.
        if let Some(secs) = body.get("retry_after_secs").and_then(|v| v.as_u64()) {
            response.insert_header(("retry-after", secs.to_string()));
        }
        response.json(body)
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        tracing::error!(error = %e, "state store failure");
        // 503, so that a platform retries the callback later.
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "state_unavailable",
            format!("the state store cannot take this now ({e}); retry later"),
        )
    }
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| ApiError::bad_request("bad_query", e.to_string()).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|e, _| ApiError::bad_request("bad_path", e.to_string()).into()),
    )
    .route("/", web::get().to(to_ui))
    .service(
        web::resource("/callbacks/{source}")
            .route(web::post().to(callbacks::receive))
            .route(web::get().to(callbacks::receive)),
    )
    .configure(ops::routes)
    .service(web::scope("/api/v1").configure(api::routes))
    .route("/ui", web::get().to(to_ui))
    .service(web::scope("/ui").configure(ui::routes))
    .default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::not_found(
            "no_route",
            "no such route; see the README for the API",
        ))
    }));
}

/// `/` and `/ui` lead to the web UI.
async fn to_ui() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("location", "/ui/"))
        .finish()
}

/// What the HTTP server serves from.
pub struct App {
    pub config: Arc<Config>,
    pub repo: Repo,
    /// Rejected requests kept per source, at start.
    pub kept: std::collections::HashMap<String, u64>,
    pub wake: Arc<tokio::sync::Notify>,
    pub store: Arc<crate::store::Store>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub notifier: Arc<crate::notify::Notifier>,
    /// The job counts over time (the overview's chart).
    pub backlog: Arc<crate::backlog::Backlog>,
}

/// Binds the listener and builds the server. It serves once awaited, until
/// its handle stops it (the daemon does, on SIGTERM/SIGINT), and resolves
/// once the in-flight requests have finished.
pub fn bind(app: App) -> std::io::Result<Server> {
    let config = Arc::clone(&app.config);
    let addr: SocketAddr = config
        .listen_addr()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let max_kept = config.state.max_rejected_per_source;
    let state = web::Data::new(AppState {
        limits: limits::Limits::new(&config.sources),
        rejected_quota: limits::RejectedQuota::new(app.kept, max_kept),
        readiness: ops::Readiness::default(),
        access: access::Access::new(&config.api),
        refused: refused::Refused::default(),
        config: app.config,
        repo: app.repo,
        wake: app.wake,
        store: app.store,
        metrics: app.metrics,
        notifier: app.notifier,
        backlog: app.backlog,
    });
    let workers = match config.server.http_workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let (max_header_bytes, max_headers) =
        (config.server.max_header_bytes, config.server.max_headers);
    let server = HttpServer::new(move || {
        actix_web::App::new()
            .wrap_fn(move |req, srv| {
                match header_limits(req.headers(), max_header_bytes, max_headers) {
                    Ok(()) => Either::Left(srv.call(req)),
                    Err(e) => Either::Right(std::future::ready(Ok(
                        req.into_response(e.error_response())
                    ))),
                }
            })
            .app_data(state.clone())
            .configure(routes)
    })
    .workers(workers)
    .backlog(4096)
    .client_request_timeout(Duration::from_secs(config.server.request_timeout_secs))
    .keep_alive(Duration::from_secs(config.server.keep_alive_secs))
    // The daemon handles SIGTERM/SIGINT, to tell systemd we are stopping.
    .disable_signals()
    .bind(addr)
    .map_err(|e| cannot_listen(addr, e))?;
    crate::net::note_own_listeners(&server.addrs());
    for a in server.addrs() {
        tracing::info!(address = %a, "listening");
    }
    Ok(server.run())
}

/// Why the daemon cannot listen on `addr`, naming `server.listen` and what to do.
fn cannot_listen(addr: std::net::SocketAddr, e: std::io::Error) -> std::io::Error {
    let why = match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "another process listens there (another daemon?): stop it, or set server.listen \
             to a free address"
                .to_owned()
        }
        std::io::ErrorKind::PermissionDenied => {
            "a port below 1024 needs root or CAP_NET_BIND_SERVICE: set server.listen to a \
             port above 1023"
                .to_owned()
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "no interface of this machine has that address: check server.listen".to_owned()
        }
        _ => format!("{e}: check server.listen"),
    };
    std::io::Error::new(
        e.kind(),
        format!("cannot listen on {addr} (server.listen): {why}"),
    )
}

/// Refuses, with 431, a request whose headers exceed the configured size or count.
fn header_limits(
    headers: &actix_web::http::header::HeaderMap,
    max_bytes: usize,
    max_count: usize,
) -> Result<(), ApiError> {
    let count = headers.len();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if count > max_count || bytes > max_bytes {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "{count} headers, {bytes} bytes: at most {max_count} headers and {max_bytes} bytes \
                 (server.max_headers, server.max_header_bytes)"
            ),
        ));
    }
    Ok(())
}

/// The answer once events are recorded (a callback, a replay, an
/// enqueue), the workers woken if they brought work: `code` 0, the events,
/// their jobs, and whether a file was already known.
pub(crate) fn recorded_answer(
    state: &AppState,
    recorded: &[crate::state::Recorded],
) -> HttpResponse {
    if recorded.iter().any(|r| r.queued_work()) {
        state.wake.notify_waiters();
    }
    let duplicate = recorded.iter().any(|r| r.event.duplicate);
    HttpResponse::Ok().json(json!({
        "code": 0,
        "message": if duplicate { "ok (already queued)" } else { "ok" },
        "events": recorded.iter().map(|r| r.event.id).collect::<Vec<_>>(),
        "jobs": recorded.iter().filter_map(|r| r.event.job_id).collect::<Vec<_>>(),
        "duplicate": duplicate,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_store_failure_is_503_so_the_platform_retries() {
        let e: ApiError = StateError::Transaction("disk full".to_owned()).into();
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code, "state_unavailable");
        let body = actix_web::body::to_bytes(e.error_response().into_body());
        let body = futures_util::FutureExt::now_or_never(body)
            .unwrap()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "state_unavailable");
        assert!(v["message"].as_str().unwrap().contains("retry"));
    }
}
