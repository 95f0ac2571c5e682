//! `/ui/login`: a browser presents the `[api] token` once, and carries it
//! in a cookie from then on (HttpOnly, SameSite=Lax).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::page::page;
use super::urlencode;
use crate::http::{AppState, TOKEN_COOKIE};

pub async fn form() -> HttpResponse {
    page(
        "Sign in",
        "",
        "<form method=post action=/ui/login><label>API token \
         <input type=password name=token autofocus></label> <button>Sign in</button></form>\
         <p>The <code>[api] token</code> of this daemon, kept in a cookie for this site.</p>",
        None,
    )
}

#[derive(Deserialize)]
pub struct Login {
    token: String,
}

pub async fn sign_in(
    req: actix_web::HttpRequest,
    form: web::Form<Login>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let token = &state.config.api.token;
    if token.is_empty() || !crate::auth::same_secret(form.token.trim(), token.expose()) {
        return HttpResponse::Unauthorized()
            .content_type("text/html; charset=utf-8")
            .body("<p>Wrong token. <a href=/ui/login>Again</a></p>");
    }
    // Lax: a link from elsewhere opens a page signed in; changes are
    // guarded by the cross-site check. Secure once served over HTTPS.
    let https = req.connection_info().scheme() == "https"
        || req
            .headers()
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    HttpResponse::SeeOther()
        .insert_header(("location", "/ui/"))
        .insert_header((
            "set-cookie",
            format!(
                "{TOKEN_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax{}",
                urlencode(form.token.trim()),
                if https { "; Secure" } else { "" }
            ),
        ))
        .finish()
}
