//! Liveness and readiness.

use actix_web::{HttpResponse, http::header, web};
use serde_json::json;

use crate::startup::AppState;

/// `GET /healthz`: 200 while the process runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when the database and the object store answer, else 503 naming what is
/// down. Both are asked at once.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (database, store) = tokio::join!(state.repo.ping(), state.store.ping());
    if let Err(e) = &database {
        tracing::warn!(error = ?e, "readiness check failed: database");
    }
    if let Err(e) = &store {
        tracing::warn!(error = ?e, "readiness check failed: object store");
    }
    let status = |ok: bool| if ok { "ok" } else { "unavailable" };
    let checks =
        json!({"database": status(database.is_ok()), "object_store": status(store.is_ok())});
    let down: Vec<&str> = [
        ("database", database.is_ok()),
        ("object store", store.is_ok()),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(name, _)| name)
    .collect();
    match down.as_slice() {
        [] => HttpResponse::Ok().json(json!({"status": "ready", "checks": checks})),
        _ => HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "5"))
            .content_type("application/problem+json")
            .json(json!({
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "code": "service_unavailable",
                "detail": format!("unavailable: {}", down.join(", ")),
                "checks": checks,
            })),
    }
}
