//! The audit log (`ADMIN` only).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use um_domain::{
    model::AuditKind,
    ports::{AuditQuery, AuditRecord},
    validation::Validator,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::users::{page_href, parse_page_number};
use crate::{
    auth::CurrentUser,
    dto::{PageResponse, page_links},
    error::{ApiError, Problem},
    extract::parse_user_id,
    state::AppState,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// How many events to skip.
    #[param(value_type = Option<u64>, minimum = 0, default = 0)]
    skip: Option<String>,
    /// The page size.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100, default = 10)]
    limit: Option<String>,
    /// Events whose target or actor is this account.
    #[param(value_type = Option<Uuid>)]
    user_id: Option<String>,
    #[param(value_type = Option<crate::schema::AuditKind>)]
    kind: Option<String>,
}

/// One event as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventResponse {
    id: i64,
    at: DateTime<Utc>,
    /// Who did it; null for the command line or the system.
    actor_id: Option<Uuid>,
    target_user_id: Uuid,
    #[schema(value_type = crate::schema::AuditKind)]
    kind: &'static str,
    /// `{field: {"before": …, "after": …}}` for the values that matter; never secrets.
    #[schema(value_type = Object, example = json!({"role": {"before": "AUTHENTICATED", "after": "MANAGER"}}))]
    details: Value,
}

impl From<AuditRecord> for AuditEventResponse {
    fn from(record: AuditRecord) -> Self {
        let details: Map<String, Value> = record
            .event
            .changes
            .into_iter()
            .map(|c| (c.field, json!({"before": c.before, "after": c.after})))
            .collect();
        Self {
            id: record.id,
            at: record.at,
            actor_id: record.event.actor.map(|a| a.0),
            target_user_id: record.event.target.0,
            kind: record.event.kind.as_str(),
            details: Value::Object(details),
        }
    }
}

/// `GET /audit-events?skip&limit&user_id&kind`: newest first; `user_id` matches the target or
/// the actor.
#[utoipa::path(
    get,
    path = "/audit-events",
    operation_id = "list_audit_events",
    tag = "audit",
    summary = "The audit log",
    description = "Every role change, lock, unlock, PRO change, deletion and admin edit, newest first, paginated like `GET /users`. `ADMIN` only.",
    params(AuditParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events.", body = PageResponse<AuditEventResponse>),
        (status = 403, description = "Operation not permitted (`forbidden`): not `ADMIN`.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad query parameter (`validation_error`), each named in `errors`.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    me: CurrentUser,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let mut v = Validator::default();
    let parse_number = |field: &str, raw: Option<&str>, default: u64| match raw {
        None => Ok(default),
        Some(raw) => parse_page_number(field, raw),
    };
    let skip = v.check("skip", parse_number("skip", params.skip.as_deref(), 0));
    let limit = v.check("limit", parse_number("limit", params.limit.as_deref(), 10));
    let kind = v.check_opt("kind", params.kind.as_deref().map(AuditKind::parse));
    let user_id = match params.user_id.as_deref() {
        None => None,
        Some(raw) => match parse_user_id(raw, "user_id") {
            Ok(id) => Some(id),
            Err(_) => {
                v.error("user_id", "must be a UUID");
                None
            }
        },
    };
    v.finish()?;
    let (skip, limit) = (skip.unwrap_or(0), limit.unwrap_or(10));
    let page = state
        .users
        .list_audit_events(
            me.actor(),
            AuditQuery {
                skip,
                limit,
                user_id,
                kind,
            },
        )
        .await?;
    let mut kept: Vec<(&'static str, String)> = Vec::new();
    if let Some(id) = user_id {
        kept.push(("user_id", id.to_string()));
    }
    if let Some(kind) = kind {
        kept.push(("kind", kind.as_str().to_owned()));
    }
    let items: Vec<AuditEventResponse> = page.items.into_iter().map(Into::into).collect();
    let base = &state.urls.base;
    Ok(HttpResponse::Ok().json(PageResponse {
        size: items.len(),
        items,
        total: page.total,
        page: skip / limit.max(1) + 1,
        links: page_links(skip, limit.max(1), page.total, |s| {
            page_href(base, "/audit-events", &kept, s, limit)
        }),
    }))
}
