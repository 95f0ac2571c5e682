//! A source with no credential at all (no token, no signature) is allowed
//! only on a loopback listener, for this machine's own programs. A browser on
//! this machine and a reverse proxy in front of it are reachable by anyone,
//! so their marks are refused: a web page's `<img>` or `text/plain` POST, or a
//! stranger through the proxy, must not be taken for a local program.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;

use crate::config::{AuthMode, SourceConfig};
use crate::http::ApiError;

/// Headers only a proxy (or a client pretending to be behind one) sends.
const PROXY_HEADERS: &[&str] = &[
    "forwarded",
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-client-ip",
];

/// True when `source` takes callbacks with no credential.
pub(super) fn is_open(source: &SourceConfig) -> bool {
    source.auth_mode() == AuthMode::Token && source.accepted_tokens().next().is_none()
}

/// Refuses (403) a request to an open source that carries a proxy's or a
/// browser's marks, before anything is read or kept.
pub(super) fn check_local_caller(req: &HttpRequest, source: &SourceConfig) -> Result<(), ApiError> {
    if !is_open(source) {
        return Ok(());
    }
    let port = req.app_config().local_addr().port();
    let header = |name: &str| req.headers().get(name).map(|v| v.to_str().unwrap_or("?"));
    let why = refusal(
        req.headers().keys().map(|k| k.as_str()),
        header("sec-fetch-site"),
        header("origin"),
        port,
    )
    .or_else(|| foreign_host(header("host")));
    match why {
        None => Ok(()),
        Some(why) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "source {:?} has no token, so it takes callbacks only from programs on this \
                 machine, and this request {why}; give the source a token (sources.token)",
                source.name
            ),
        )),
    }
}

/// Why a request with these header names, `Sec-Fetch-Site` and `Origin`
/// does not come straight from a program on this machine (`None`: it does).
fn refusal<'a>(
    mut names: impl Iterator<Item = &'a str>,
    fetch_site: Option<&str>,
    origin: Option<&str>,
    port: u16,
) -> Option<String> {
    if let Some(h) = names.find(|n| {
        let n = n.to_ascii_lowercase();
        n.starts_with("x-forwarded-") || PROXY_HEADERS.contains(&n.as_str())
    }) {
        return Some(format!("came through a proxy (it carries {h})"));
    }
    if let Some(site) = fetch_site {
        if !matches!(site.trim(), "none" | "same-origin") {
            return Some(format!("came from a web page (Sec-Fetch-Site: {site})"));
        }
    }
    match origin {
        Some(o) if !is_own_origin(o, port) => Some(format!("came from a web page (Origin: {o})")),
        _ => None,
    }
}

/// A browser led here by a rebound DNS name sends that name as `Host`, and
/// for a GET neither `Origin` nor a cross-site `Sec-Fetch-Site`: only
/// loopback names and addresses are this machine's own.
fn foreign_host(host: Option<&str>) -> Option<String> {
    let host = host?.trim();
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let local = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!local).then(|| format!("names another host (Host: {host})"))
}

/// The daemon's own origin: `http://` a loopback name or address, on the
/// port the request arrived on (a loopback listener is the only kind an
/// open source may have).
fn is_own_origin(origin: &str, port: u16) -> bool {
    let Some(rest) = origin.trim().strip_prefix("http://") else {
        return false;
    };
    let (host, p) = match rest.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, p.parse::<u16>().ok()),
        _ => (rest, Some(80)),
    };
    if p != Some(port) {
        return false;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(names: &[&str], site: Option<&str>, origin: Option<&str>) -> Option<String> {
        refusal(names.iter().copied(), site, origin, 8080)
    }

    #[test]
    fn proxy_marks_are_refused_by_name() {
        for h in [
            "Forwarded",
            "X-Forwarded-For",
            "x-forwarded-host",
            "X-Real-IP",
            "True-Client-IP",
            "CF-Connecting-IP",
            "X-Client-IP",
        ] {
            assert!(why(&["content-type", h], None, None).is_some(), "{h}");
        }
        assert_eq!(why(&["content-type", "user-agent"], None, None), None);
    }

    #[test]
    fn only_loopback_hosts_are_this_machines_own() {
        for own in [
            "127.0.0.1:8080",
            "localhost",
            "LOCALHOST:1",
            "[::1]:8080",
            "127.0.0.2",
        ] {
            assert_eq!(foreign_host(Some(own)), None, "{own}");
        }
        for other in [
            "evil.example",
            "evil.example:8080",
            "10.0.0.1:8080",
            "[2001:db8::1]:80",
        ] {
            assert!(foreign_host(Some(other)).is_some(), "{other}");
        }
        assert_eq!(foreign_host(None), None);
    }

    #[test]
    fn only_requests_no_page_made_or_the_daemons_own_pass() {
        for ok in ["none", "same-origin"] {
            assert_eq!(why(&[], Some(ok), None), None);
        }
        for bad in ["cross-site", "same-site", ""] {
            assert!(why(&[], Some(bad), None).is_some(), "{bad}");
        }
        for own in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert_eq!(why(&[], None, Some(own)), None, "{own}");
        }
        for other in [
            "https://evil.example",
            "null",
            "http://127.0.0.1:9090",
            "https://127.0.0.1:8080",
            "http://evil.example:8080",
            "http://127.0.0.1",
        ] {
            assert!(why(&[], None, Some(other)).is_some(), "{other}");
        }
    }
}
