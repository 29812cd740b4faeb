//! Liveness and readiness.

use actix_web::{HttpResponse, http::header, web};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::{error::Problem, state::AppState};

/// The answer of `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
}

/// The answer of `GET /readyz` when everything answers.
#[derive(Debug, Serialize, ToSchema)]
struct Readiness {
    #[schema(value_type = String, example = "ready")]
    status: &'static str,
    checks: Checks,
}

/// Each backing service: `ok` or `unavailable`.
#[derive(Debug, Serialize, ToSchema)]
struct Checks {
    #[schema(value_type = CheckState)]
    database: &'static str,
    #[schema(value_type = CheckState)]
    object_store: &'static str,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[expect(dead_code, reason = "only a schema")]
enum CheckState {
    Ok,
    Unavailable,
}

/// `GET /healthz`: 200 while the process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    summary = "Liveness",
    responses(
        (status = 200, description = "The process runs.", body = Health),
    )
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// `GET /readyz`: 200 when the database and the object store answer, else 503 naming what is
/// down. Both are asked at once.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    summary = "Readiness",
    description = "Asks the database and the object store at once.",
    responses(
        (status = 200, description = "Both answer.", body = Readiness),
        (status = 503, description = "Something is down (`service_unavailable`): `detail` names it and `checks` (as in the 200) says which; carries `Retry-After`.", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = String))),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let readiness = state.users.readiness().await;
    let (database, store) = (&readiness.database, &readiness.object_store);
    if let Err(e) = database {
        tracing::warn!(error = ?e, "readiness check failed: database");
    }
    if let Err(e) = store {
        tracing::warn!(error = ?e, "readiness check failed: object store");
    }
    let status = |ok: bool| if ok { "ok" } else { "unavailable" };
    let checks = Checks {
        database: status(database.is_ok()),
        object_store: status(store.is_ok()),
    };
    let down: Vec<&str> = [
        ("database", database.is_ok()),
        ("object store", store.is_ok()),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(name, _)| name)
    .collect();
    match down.as_slice() {
        [] => HttpResponse::Ok().json(Readiness {
            status: "ready",
            checks,
        }),
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
