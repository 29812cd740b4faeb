//! Liveness and readiness.

use actix_web::{HttpResponse, http::header, web};
use serde_json::json;

use crate::startup::AppState;

/// `GET /healthz`: 200 while the process runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when the database answers, else 503 naming what is down.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.repo.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready", "checks": {"database": "ok"}})),
        Err(e) => {
            tracing::warn!(error = ?e, "readiness check failed: database");
            HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, "5"))
                .content_type("application/problem+json")
                .json(json!({
                    "type": "about:blank",
                    "title": "Service Unavailable",
                    "status": 503,
                    "code": "service_unavailable",
                    "detail": "database is unavailable",
                    "checks": {"database": "unavailable"},
                }))
        }
    }
}
