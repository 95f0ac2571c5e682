//! Who may use the API, the UI and the details of `/metrics` and `/readyz`:
//! a caller presenting the `[api] token` (`Authorization: Bearer`), a
//! browser signed in at `/ui/login` (a session, never the token itself),
//! or, only with `[api] loopback_without_token`, a caller on this machine.
//! Wrong tokens are counted per client address and slowed down.

mod failures;
mod sessions;
mod sign_in;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::HttpRequest;

use super::ApiError;
use crate::config::{ApiConfig, Secret};
use failures::Failures;
use sessions::Sessions;
pub use sign_in::{safe_next, to_sign_in};

/// The cookie a browser signed in at `/ui/login` carries its session id in.
pub const SESSION_COOKIE: &str = "recording_archiver_session";

/// The cookie that held the raw token before sessions: cleared at sign-in.
const OLD_TOKEN_COOKIE: &str = "recording_archiver_token";

/// The API's gate: the token, the UI's sessions, the failures counted.
pub struct Access {
    token: Secret,
    loopback_without_token: bool,
    sessions: Sessions,
    failures: Failures,
}

impl Access {
    /// The gate `[api]` describes; its token is set by now (configured or
    /// generated at start).
    pub fn new(api: &ApiConfig) -> Self {
        Access {
            token: api.token.clone(),
            loopback_without_token: api.loopback_without_token,
            sessions: Sessions::new(Duration::from_secs(api.ui_session_secs)),
            failures: Failures::default(),
        }
    }

    /// Admits the caller, or says why not: 401 (no credential, a wrong
    /// token, an ended session) or 429 (too many wrong tokens from its
    /// address: the token presented is not even compared).
    pub fn check(&self, req: &HttpRequest) -> Result<(), ApiError> {
        if self.loopback_without_token && local_caller(req) {
            return Ok(());
        }
        let session = cookie(req, SESSION_COOKIE);
        if let Some(id) = &session {
            if self.sessions.valid(id, Instant::now()) {
                return Ok(());
            }
        }
        match bearer(req) {
            Some(presented) => self.try_token(req, &presented),
            None if session.is_some() => Err(ApiError::unauthorized(
                "this sign-in has expired or ended: sign in again at /ui/login",
            )),
            None => Err(ApiError::unauthorized(
                "this API needs Authorization: Bearer <token>: [api] token, or when none is \
                 set, the one the daemon keeps in <[state] dir>/api-token (a browser: sign in \
                 at /ui/login)",
            )),
        }
    }

    /// Compares a presented token, unless its address has failed too often.
    fn try_token(&self, req: &HttpRequest, presented: &str) -> Result<(), ApiError> {
        let peer = peer_ip(req);
        let now = Instant::now();
        if let Some(wait) = self.failures.wait(peer, now) {
            let secs = wait.as_secs() + 1;
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_failures",
                format!("too many wrong tokens from {peer}: the next one is looked at in {secs} s"),
            );
            e.extra = Some(serde_json::Map::from_iter([(
                "retry_after_secs".to_owned(),
                serde_json::json!(secs),
            )]));
            return Err(e);
        }
        // The daemon always sets one; an empty one must never match "".
        if !self.token.is_empty() && crate::auth::same_secret(presented.trim(), self.token.expose())
        {
            return Ok(());
        }
        self.failures.record(peer, now);
        // The route and the address; never what was presented.
        tracing::warn!(route = %req.path(), peer = %peer, "authentication failed: wrong API token");
        Err(ApiError::unauthorized(
            "wrong token: [api] token, or when none is set, the one in <[state] dir>/api-token",
        ))
    }

    /// Signs a browser in with the token it presents; the `Set-Cookie`
    /// values that start its session (and clear an older cookie).
    pub fn sign_in(&self, req: &HttpRequest, presented: &str) -> Result<[String; 2], ApiError> {
        self.try_token(req, presented)?;
        let id = self.sessions.start(Instant::now()).map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_randomness",
                format!("cannot draw a session id: {e}"),
            )
        })?;
        let secure = if https(req) { "; Secure" } else { "" };
        // Lax: a link from elsewhere opens a page signed in; changes are
        // guarded by the cross-site check. Secure once served over HTTPS.
        Ok([
            format!(
                "{SESSION_COOKIE}={id}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
                self.sessions.lasting().as_secs()
            ),
            format!("{OLD_TOKEN_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"),
        ])
    }

    /// Ends the session the request's cookie names; the `Set-Cookie` value
    /// that makes the browser forget it.
    pub fn sign_out(&self, req: &HttpRequest) -> String {
        if let Some(id) = cookie(req, SESSION_COOKIE) {
            self.sessions.end(&id);
        }
        let secure = if https(req) { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}")
    }
}

/// Whether the browser reached us over HTTPS (here, or at the proxy in front).
fn https(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
        || req
            .headers()
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// The address failures are counted under: the TCP peer, which no header
/// can change (behind a reverse proxy, the proxy's: all its clients share
/// one allowance).
fn peer_ip(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip())
}

/// The token of `Authorization: Bearer <token>`, if the request has one.
fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The value of the cookie `name`, percent-decoded.
fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all("cookie")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .filter(|v| !v.is_empty())
}

/// Headers a reverse proxy adds: a request that carries one came from
/// elsewhere, whatever its peer address says.
const FORWARDING_HEADERS: [&str; 6] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "via",
];

/// True when the caller looks like it is on this machine: a loopback
/// peer, that no reverse proxy says it forwarded, asking for a loopback
/// host. A heuristic a proxy that adds none of these headers, or any TCP
/// forwarder, defeats: consulted only with `[api] loopback_without_token`,
/// which a listener other machines reach may not set.
fn local_caller(req: &HttpRequest) -> bool {
    let headers = req.headers();
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let loopback_host = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    req.peer_addr().is_some_and(|a| a.ip().is_loopback())
        && loopback_host
        && !FORWARDING_HEADERS.iter().any(|h| headers.contains_key(*h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn access(token: &str) -> Access {
        Access::new(&ApiConfig {
            token: Secret::new(token),
            ..ApiConfig::default()
        })
    }

    fn request(authorization: Option<&str>) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr("127.0.0.1:40000".parse().unwrap());
        if let Some(h) = authorization {
            r = r.insert_header(("authorization", h));
        }
        r.to_http_request()
    }

    #[test]
    fn an_unset_token_matches_nothing_not_even_an_empty_one() {
        let a = access("");
        assert!(a.sign_in(&request(None), "").is_err());
        assert!(a.check(&request(Some("Bearer "))).is_err());
        assert!(a.check(&request(None)).is_err());
    }

    #[test]
    fn the_bearer_scheme_is_read_whatever_its_case_and_nothing_else_opens() {
        let a = access("right-token-0123456789");
        for h in [
            "Bearer right-token-0123456789",
            "bearer right-token-0123456789",
            "BEARER  right-token-0123456789 ",
        ] {
            assert!(a.check(&request(Some(h))).is_ok(), "{h}");
        }
        for h in ["Basic right-token-0123456789", "right-token-0123456789"] {
            assert!(a.check(&request(Some(h))).is_err(), "{h}");
        }
        // Without the opt-in, a loopback peer asking for a loopback host
        // is nobody in particular.
        let local = TestRequest::default()
            .peer_addr("127.0.0.1:40000".parse().unwrap())
            .insert_header(("host", "127.0.0.1:8080"))
            .to_http_request();
        assert!(a.check(&local).is_err());
    }
}
