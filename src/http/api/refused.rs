//! `GET /api/v1/refused`: callbacks refused before they were read (401,
//! 403, 404), counted over the last 24 hours, and the latest of them.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::Authorized;
use crate::http::AppState;

/// This instance's refusals: `last_24h` counts, `recent` the newest first.
pub async fn list(_: Authorized, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "last_24h": state.refused.last_24h(chrono::Utc::now()),
        "recent": state.refused.recent(),
    }))
}
