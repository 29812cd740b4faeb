//! Nickname suggestions and availability, and public profiles. No token needed.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use um_domain::model::Nickname;
use utoipa::{IntoParams, ToSchema};

use crate::{
    dto::PublicProfile,
    error::{ApiError, Problem},
    state::AppState,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestionParams {
    /// How many suggestions.
    #[param(minimum = 1, maximum = 20, default = 5)]
    count: Option<usize>,
}

/// Generated nicknames that are free now.
#[derive(Debug, Serialize, ToSchema)]
struct Suggestions {
    #[schema(example = json!(["brave_otter_4821"]))]
    suggestions: Vec<String>,
}

/// `GET /nicknames/suggestions?count=5`: generated nicknames that are free now.
#[utoipa::path(
    get,
    path = "/nicknames/suggestions",
    operation_id = "nickname_suggestions",
    tag = "nicknames",
    summary = "Suggest free nicknames",
    description = "Generated as `adjective_animal_number` from ~690 million combinations; each is free at the time of the answer.",
    params(SuggestionParams),
    responses(
        (status = 200, description = "Suggestions.", body = Suggestions),
        (status = 422, description = "`count` outside 1–20 or not a number (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn suggestions(
    state: web::Data<AppState>,
    params: web::Query<SuggestionParams>,
) -> Result<HttpResponse, ApiError> {
    let free = state
        .users
        .suggest_nicknames(params.count.unwrap_or(5))
        .await?;
    Ok(HttpResponse::Ok().json(Suggestions {
        suggestions: free.into_iter().map(|n| n.to_string()).collect(),
    }))
}

/// Whether a nickname is free.
#[derive(Debug, Serialize, ToSchema)]
struct Availability {
    nickname: String,
    available: bool,
}

/// `GET /nicknames/{nickname}`: whether it is free; 422 when it breaks the rules.
#[utoipa::path(
    get,
    path = "/nicknames/{nickname}",
    operation_id = "nickname_availability",
    tag = "nicknames",
    summary = "Is a nickname free?",
    description = "Compared without regard to case. Reserved words (`admin`, `root`, `me`, `system`, `support`, `api`, `staff`, …) break the rules.",
    params(("nickname" = String, Path, description = "3–30 characters of `A–Z a–z 0–9 _ -`.")),
    responses(
        (status = 200, description = "Whether it is free.", body = Availability),
        (status = 422, description = "The nickname breaks the rules (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn availability(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let nickname = parse_nickname(&path)?;
    let available = state.users.nickname_available(&nickname).await?;
    Ok(HttpResponse::Ok().json(Availability {
        nickname: nickname.to_string(),
        available,
    }))
}

/// `GET /profiles/{nickname}`: the public profile, found without regard to case. No email,
/// no role.
#[utoipa::path(
    get,
    path = "/profiles/{nickname}",
    operation_id = "public_profile",
    tag = "nicknames",
    summary = "Public profile",
    description = "Found without regard to case, whatever the account's verification state; never shows email, role or id.",
    params(("nickname" = String, Path, description = "3–30 characters of `A–Z a–z 0–9 _ -`.")),
    responses(
        (status = 200, description = "The public profile.", body = PublicProfile),
        (status = 404, description = "User not found (`user_not_found`).", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The nickname breaks the rules (`validation_error`).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn profile(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let nickname = parse_nickname(&path)?;
    let user = state.users.profile(&nickname).await?;
    Ok(HttpResponse::Ok().json(PublicProfile::new(user, &state.urls)))
}

fn parse_nickname(raw: &str) -> Result<Nickname, ApiError> {
    Nickname::parse(raw).map_err(|e| ApiError::invalid("nickname", e.to_string()))
}
