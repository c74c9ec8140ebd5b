//! LLM usage, as the LLM proxy records it: a user's own (`GET /api/usage`: this month or day,
//! by Session, with the budgets that apply and what is left of them), and every user's sums
//! for admins (`GET /api/admin/usage`). The gateway asks the proxy's admin listener with the
//! platform's admin token, on the caller's behalf: a user only ever gets their own.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::Value;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// Where the gateway reads usage: the LLM proxy's admin listener.
pub struct UsageSource {
    pub url: String,
    pub token: oqto_proto::runner::RunnerToken,
    pub http: reqwest::Client,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct PeriodQuery {
    /// `month` (default) or `day`, in UTC.
    #[serde(default)]
    pub period: Option<String>,
}

fn period(query: &PeriodQuery) -> Result<&str, ApiError> {
    match query.period.as_deref().unwrap_or("month") {
        p @ ("month" | "day") => Ok(p),
        other => Err(ApiError::Invalid {
            message: format!("period: `month` or `day`, not {other:?}"),
            details: None,
        }),
    }
}

async fn ask(state: &AppState, path: &str, query: &[(&str, &str)]) -> Result<Value, ApiError> {
    let Some(source) = &state.usage else {
        return Err(ApiError::NotFound(
            "no LLM proxy is configured: usage is recorded by the LLM proxy".into(),
        ));
    };
    let answer = source
        .http
        .get(format!("{}{path}", source.url.trim_end_matches('/')))
        .header("authorization", source.token.bearer())
        .query(query)
        .send()
        .await
        .map_err(|e| ApiError::Unavailable(format!("the LLM proxy: {}", e.without_url())))?;
    if !answer.status().is_success() {
        return Err(ApiError::Unavailable(format!(
            "the LLM proxy answered {}",
            answer.status()
        )));
    }
    answer
        .json()
        .await
        .map_err(|e| ApiError::Unavailable(format!("the LLM proxy's answer: {e}")))
}

#[utoipa::path(get, path = "/api/usage", tag = "usage", params(PeriodQuery),
    responses((status = 200, description = "The caller's LLM usage by Session, and their budgets"),
        (status = 401), (status = 404, description = "No LLM proxy is configured")))]
pub async fn mine(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Query(query): Query<PeriodQuery>,
) -> Result<Json<Value>, ApiError> {
    let period = period(&query)?;
    let user = principal.user().username.clone();
    ask(&state, "/usage", &[("user", &user), ("period", period)])
        .await
        .map(Json)
}

#[utoipa::path(get, path = "/api/admin/usage", tag = "usage", params(PeriodQuery),
    responses((status = 200, description = "Every user's LLM usage"), (status = 401), (status = 403)))]
pub async fn all(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Query(query): Query<PeriodQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    let period = period(&query)?;
    ask(&state, "/usage/users", &[("period", period)])
        .await
        .map(Json)
}
