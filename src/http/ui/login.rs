//! `/ui/login` and `/ui/logout`: a browser presents the API token once and
//! gets a session (a random id in an HttpOnly, SameSite=Lax cookie, with an
//! expiry); the token itself never becomes the cookie. A browser sent here
//! from a page goes back to it (`next`, a page of this UI only).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::page::page;
use crate::http::AppState;

/// Where the sign-in page was asked to lead back to.
#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

/// The page to go to once signed in: `next` if it is one of this UI's.
fn after_sign_in(next: &Option<String>) -> &str {
    next.as_deref()
        .and_then(crate::http::access::safe_next)
        .unwrap_or("/ui/")
}

/// The sign-in form.
pub async fn form(q: web::Query<Next>) -> HttpResponse {
    let next = after_sign_in(&q.next);
    let body = html! {
        form method="post" action="/ui/login" {
            input type="hidden" name="next" value=(next);
            label { "API token " input type="password" name="token" autofocus; }
            " "
            button { "Sign in" }
        }
        p {
            "The " code { "[api] token" } " of this daemon or, when none is set, the one it keeps in "
            code { "<[state] dir>/api-token" } ". Signing in lasts "
            code { "[api] ui_session_secs" } " (12 hours unless set), or until the daemon restarts."
        }
    };
    page("Sign in", "", body, None)
}

#[derive(Deserialize)]
pub struct Login {
    token: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn sign_in(
    req: HttpRequest,
    form: web::Form<Login>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match state.access.sign_in(&req, &form.token) {
        Ok(cookies) => {
            let mut r = HttpResponse::SeeOther();
            r.insert_header(("location", after_sign_in(&form.next)));
            for c in cookies {
                r.append_header(("set-cookie", c));
            }
            r.finish()
        }
        Err(e) => {
            let text = if e.status == StatusCode::TOO_MANY_REQUESTS {
                "Too many wrong tokens from this address: wait a few seconds."
            } else {
                "Wrong token."
            };
            let mut r = HttpResponse::build(e.status);
            let wait = e.extra.as_ref().and_then(|x| x.get("retry_after_secs"));
            if let Some(secs) = wait.and_then(|v| v.as_u64()) {
                r.insert_header(("retry-after", secs.to_string()));
            }
            let again = format!(
                "/ui/login?next={}",
                super::urlencode(after_sign_in(&form.next))
            );
            let body = html! { p { (text) " " a href=(again) { "Again" } } };
            r.content_type("text/html; charset=utf-8")
                .body(body.into_string())
        }
    }
}

/// Ends the browser's session; refused when another site's page asks.
pub async fn sign_out(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if crate::http::api::cross_site(&req) {
        return HttpResponse::Forbidden()
            .content_type("text/html; charset=utf-8")
            .body("<p>A sign-out asked for by another site's page is refused.</p>");
    }
    HttpResponse::SeeOther()
        .insert_header(("location", "/ui/login"))
        .insert_header(("set-cookie", state.access.sign_out(&req)))
        .finish()
}
