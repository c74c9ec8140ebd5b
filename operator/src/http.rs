//! The operator's own HTTP endpoints: `/healthz`, `/readyz` (with whether this replica leads)
//! and Prometheus `/metrics`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;

use crate::kubernetes::Context;

pub fn router(context: Arc<Context>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(ctx): State<Arc<Context>>| async move {
                Json(json!({"ready": true, "leading": ctx.is_leading()}))
            }),
        )
        .route("/metrics", get(metrics))
        .with_state(context)
}

async fn metrics(State(ctx): State<Arc<Context>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        ctx.metrics.render(),
    )
        .into_response()
}
