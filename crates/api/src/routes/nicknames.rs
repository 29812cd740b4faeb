//! Nickname suggestions and availability, and public profiles. No token needed.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use um_domain::model::Nickname;

use crate::{dto::PublicProfile, error::ApiError, startup::AppState};

#[derive(Debug, Deserialize)]
pub struct SuggestionParams {
    count: Option<usize>,
}

#[derive(Debug, Serialize)]
struct Suggestions {
    suggestions: Vec<String>,
}

/// `GET /nicknames/suggestions?count=5`: generated nicknames that are free now.
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

#[derive(Debug, Serialize)]
struct Availability {
    nickname: String,
    available: bool,
}

/// `GET /nicknames/{nickname}`: whether it is free; 422 when it breaks the rules.
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
