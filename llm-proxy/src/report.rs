//! Usage for people, on the proxy's admin listener (`--metrics-listen`), only to the platform's
//! bearer token (`--admin-token`, shared with the gateway, which asks on a user's or an admin's
//! behalf): a user's usage this day or month by Session, with the budgets that apply and what
//! is left of them; and every user's sums for admins.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use oqto_proto::runner::RunnerToken;
use serde::{Deserialize, Serialize};

use crate::budget::{BudgetScope, Period, period_bounds};
use crate::grants::Grants;
use crate::ledger::{Scope, UsageLine, UserTotal};
use crate::relay::Proxy;

#[derive(Deserialize)]
pub struct UsageQuery {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default = "month")]
    pub period: Period,
}

fn month() -> Period {
    Period::Month
}

/// A budget that applies to the user, and how much of it is spent.
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BudgetState {
    pub scope: &'static str,
    pub period: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    pub spent_tokens: u64,
    pub spent_cost: f64,
    /// RFC 3339, UTC.
    pub resets: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserUsage {
    pub user: String,
    pub period: &'static str,
    /// RFC 3339, UTC.
    pub since: String,
    pub lines: Vec<UsageLine>,
    pub budgets: Vec<BudgetState>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllUsers {
    pub period: &'static str,
    pub since: String,
    pub users: Vec<UserTotal>,
    /// What the providers' rate-limit headers said last (this proxy since it started).
    pub rate_limits: Vec<crate::metrics::RateLimit>,
}

fn period_name(period: Period) -> &'static str {
    match period {
        Period::Day => "day",
        Period::Month => "month",
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({"error": message}))).into_response()
}

/// The admin token, checked in constant time (the same check as a runner token's).
pub struct AdminToken(pub RunnerToken);

fn allowed(token: &AdminToken, headers: &HeaderMap) -> bool {
    token
        .0
        .accepts(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
}

/// The ledger, for a request that presents the admin token.
fn admitted<G: Grants>(
    proxy: &Proxy<G>,
    token: &AdminToken,
    headers: &HeaderMap,
) -> Result<Arc<crate::ledger::Ledger>, (StatusCode, &'static str)> {
    if !allowed(token, headers) {
        return Err((
            StatusCode::UNAUTHORIZED,
            "the platform's admin token is required",
        ));
    }
    proxy
        .ledger
        .clone()
        .ok_or((StatusCode::SERVICE_UNAVAILABLE, "no usage ledger"))
}

/// `GET /usage?user=U&period=day|month`.
pub async fn user_usage<G: Grants>(
    State((proxy, token)): State<(Arc<Proxy<G>>, Arc<AdminToken>)>,
    headers: HeaderMap,
    Query(query): Query<UsageQuery>,
) -> Response {
    let ledger = match admitted(&proxy, &token, &headers) {
        Ok(ledger) => ledger,
        Err((status, why)) => return refuse(status, why),
    };
    let Some(user) = query.user.filter(|u| !u.is_empty() && u.len() <= 253) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "user: the user whose usage to report",
        );
    };
    let budgets: Vec<_> = proxy
        .catalogue
        .budgets()
        .iter()
        .filter(|b| b.scope == BudgetScope::User && b.name.as_ref().is_none_or(|n| *n == user))
        .cloned()
        .collect();
    let period = query.period;
    let answer = async move {
        let now = jiff::Timestamp::now();
        let (since, _) = period_bounds(period, now)?;
        let lines = ledger.usage_of(user.clone(), since.as_second()).await?;
        let mut states = Vec::new();
        for budget in budgets {
            let (start, resets) = period_bounds(budget.period, now)?;
            let spent = ledger
                .spent(Scope::User(user.clone()), start.as_second())
                .await?;
            states.push(BudgetState {
                scope: "user",
                period: period_name(budget.period),
                tokens: budget.tokens,
                cost_usd: budget.cost_usd,
                spent_tokens: spent.tokens,
                spent_cost: spent.cost,
                resets: resets.to_string(),
            });
        }
        Ok::<_, String>(UserUsage {
            user,
            period: period_name(period),
            since: since.to_string(),
            lines,
            budgets: states,
        })
    }
    .await;
    reply(answer)
}

/// `GET /usage/users?period=day|month`.
pub async fn all_users<G: Grants>(
    State((proxy, token)): State<(Arc<Proxy<G>>, Arc<AdminToken>)>,
    headers: HeaderMap,
    Query(query): Query<UsageQuery>,
) -> Response {
    let ledger = match admitted(&proxy, &token, &headers) {
        Ok(ledger) => ledger,
        Err((status, why)) => return refuse(status, why),
    };
    let period = query.period;
    let rate_limits = proxy.metrics.rate_limit_readings();
    let answer = async move {
        let (since, _) = period_bounds(period, jiff::Timestamp::now())?;
        Ok::<_, String>(AllUsers {
            period: period_name(period),
            since: since.to_string(),
            users: ledger.totals_by_user(since.as_second()).await?,
            rate_limits,
        })
    }
    .await;
    reply(answer)
}

/// A report, or why the ledger could not give it.
fn reply<T: Serialize>(answer: Result<T, String>) -> Response {
    match answer {
        Ok(report) => Json(report).into_response(),
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, &e),
    }
}
