//! What every API handler needs before it looks at anything: the caller is
//! allowed ([`Authorized`]), and for listings, which page and which filter
//! ([`Listing`]).

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::http::{ApiError, AppState};
use crate::state::PageRequest;

/// Items per page unless `limit` says otherwise, and the most it may say.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// Proof that the caller may use the API: see [`crate::http::access`].
pub struct Authorized;

/// True for a request a page of another site made the browser send (a
/// form posted cross-site): its `Origin` names another host, or the
/// browser says so (`Sec-Fetch-Site`). Such a request carries the
/// browser's cookie, and comes from this machine when the browser does.
pub fn cross_site(req: &HttpRequest) -> bool {
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    match header("sec-fetch-site") {
        Some("cross-site" | "same-site") => return true,
        // The browser vouches for it (behind a proxy, Host may differ).
        Some("same-origin" | "none") => return false,
        _ => {}
    }
    let Some(origin) = header("origin") else {
        return false; // not a browser's cross-origin request: curl, the CLI
    };
    if origin == "null" {
        return true;
    }
    let (scheme, authority) = origin.split_once("://").unwrap_or(("", origin));
    let bare = |a: &str| -> String {
        let a = a.to_ascii_lowercase();
        match (scheme, a.rsplit_once(':')) {
            ("http", Some((h, "80"))) | ("https", Some((h, "443"))) => h.to_owned(),
            _ => a,
        }
    };
    let origin = bare(authority);
    // A page cannot set these: the host the browser asked for, as a proxy
    // in front passes it on, or as it arrived.
    !["x-forwarded-host", "host"]
        .iter()
        .filter_map(|h| header(h))
        .any(|h| bare(h) == origin)
}

fn authorize(req: &HttpRequest) -> Result<Authorized, ApiError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no_state",
            "no app state",
        )
    })?;
    let reads = matches!(
        *req.method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    );
    if !reads && cross_site(req) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site",
            "a change asked for by another site's page is refused",
        ));
    }
    state.access.check(req)?;
    Ok(Authorized)
}

impl FromRequest for Authorized {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    /// A browser not signed in asking for a UI page is sent to sign in;
    /// everyone else hears why not as JSON.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authorize(req).map_err(|e| {
            let page = req.path().starts_with("/ui/") && e.status == StatusCode::UNAUTHORIZED;
            match page.then(|| crate::http::access::to_sign_in(req)).flatten() {
                Some(r) => actix_web::error::InternalError::from_response(e, r).into(),
                None => e.into(),
            }
        }))
    }
}

/// A listing's query: the page (`limit`, `cursor`) and the filter `F`, whose
/// unknown parameters are refused (a typo must not widen the answer).
pub struct Listing<F> {
    pub page: PageRequest,
    pub filter: F,
}

fn listing<F: DeserializeOwned>(query: &str) -> Result<Listing<F>, ApiError> {
    let bad = |m: String| ApiError::bad_request("bad_query", m);
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|e| bad(e.to_string()))?;
    let (paging, rest): (Vec<_>, Vec<_>) = pairs
        .into_iter()
        .partition(|(k, _)| k == "limit" || k == "cursor");
    let mut limit = DEFAULT_LIMIT;
    let mut cursor = None;
    for (k, v) in paging {
        if k == "limit" {
            limit = v
                .parse()
                .map_err(|_| bad(format!("limit={v:?} is not a number")))?;
        } else {
            cursor = Some(v);
        }
    }
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let page = PageRequest::new(limit, cursor.as_deref())
        .ok_or_else(|| bad("cursor is not one this API gave out".to_owned()))?;
    let rest = serde_urlencoded::to_string(&rest).map_err(|e| bad(e.to_string()))?;
    let filter = serde_urlencoded::from_str(&rest).map_err(|e| bad(e.to_string()))?;
    Ok(Listing { page, filter })
}

impl<F: DeserializeOwned> FromRequest for Listing<F> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(listing(req.query_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Filter {
        stream: Option<String>,
    }

    #[test]
    fn paging_is_read_beside_the_filter() {
        let l: Listing<Filter> = listing("stream=s1&limit=5").unwrap();
        assert_eq!(l.page.limit, 5);
        assert_eq!(l.filter.stream.as_deref(), Some("s1"));
        let l: Listing<Filter> = listing("").unwrap();
        assert_eq!(l.page.limit, DEFAULT_LIMIT);
        assert!(l.filter.stream.is_none());
    }

    #[test]
    fn bad_pages_and_unknown_filters_are_refused() {
        for q in [
            "limit=0",
            "limit=lots",
            "limit=1001",
            "cursor=zz",
            "strem=typo",
        ] {
            let e = listing::<Filter>(q).err().expect(q);
            assert_eq!(e.code, "bad_query", "{q}");
        }
    }
}
