//! Where a browser that is not signed in is sent: the sign-in page, which
//! brings it back to what it asked for (`next`), only ever a page of this
//! UI (no open redirect).

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};

/// The longest `next` kept: a page's path and query, not a payload.
const MAX_NEXT: usize = 2048;

/// `next` when it is a page of this UI on this site: a path under `/ui/`
/// (not `//host`, no backslash a browser might read as `/`, no control
/// characters), else `None`.
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with("/ui/")
        && next.len() <= MAX_NEXT
        && !next.contains('\\')
        && !next.starts_with("/ui/login")
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    ok.then_some(next)
}

/// The redirect to the sign-in page for a browser asking for a UI page
/// unsigned (a GET that accepts HTML); `None` for anyone else, who gets
/// the API's JSON 401 (scripts, curl, the CLI).
pub fn to_sign_in(req: &HttpRequest) -> Option<HttpResponse> {
    let page = matches!(*req.method(), Method::GET | Method::HEAD);
    let html = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let target = match req.uri().query() {
        Some(q) if !q.is_empty() => format!("{}?{q}", req.path()),
        _ => req.path().to_owned(),
    };
    if !(page && html) {
        return None;
    }
    let mut location = "/ui/login".to_owned();
    if let Some(next) = safe_next(&target) {
        let next = percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC);
        location = format!("/ui/login?next={next}");
    }
    Some(
        HttpResponse::SeeOther()
            .insert_header(("location", location))
            .insert_header(("cache-control", "no-store"))
            .finish(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_only_ever_a_page_of_this_ui() {
        for good in [
            "/ui/jobs",
            "/ui/recordings?stream=a&from=2026-01-01",
            "/ui/",
        ] {
            assert_eq!(safe_next(good), Some(good));
        }
        for bad in [
            "https://evil.example/ui/",
            "//evil.example/ui/",
            "/\\evil.example",
            "/ui/\\..\\",
            "/api/v1/jobs",
            "/ui/login?next=//evil",
            "/ui/jobs\r\nSet-Cookie: a=1",
            "ui/jobs",
            "",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_a_browser_asking_for_a_page_is_sent_to_sign_in() {
        let browser = actix_web::test::TestRequest::get()
            .uri("/ui/jobs?state=failed")
            .insert_header(("accept", "text/html,application/xhtml+xml,*/*;q=0.8"))
            .to_http_request();
        let r = to_sign_in(&browser).unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(
            r.headers().get("location").unwrap(),
            "/ui/login?next=%2Fui%2Fjobs%3Fstate%3Dfailed"
        );
        let script = actix_web::test::TestRequest::get()
            .uri("/ui/jobs")
            .insert_header(("accept", "*/*"))
            .to_http_request();
        assert!(to_sign_in(&script).is_none());
        let post = actix_web::test::TestRequest::post()
            .uri("/ui/jobs/x/retry")
            .insert_header(("accept", "text/html"))
            .to_http_request();
        assert!(to_sign_in(&post).is_none());
    }
}
