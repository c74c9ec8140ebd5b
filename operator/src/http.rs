//! The operator's own HTTP endpoints, the same in both runtimes: `/healthz`, `/readyz` (whether
//! this replica leads, and whether its runtime answers) and Prometheus `/metrics`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;

use crate::metrics::Metrics;

/// What `/readyz` reports.
#[derive(Default)]
pub struct Health {
    leading: AtomicBool,
    /// Why the runtime (the Kubernetes API, the Podman socket) cannot be reached, while it
    /// cannot.
    unreachable: Mutex<Option<String>>,
}

impl Health {
    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }

    pub fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::Relaxed);
    }

    /// `Some(why)` while the runtime is away, `None` once it answers again.
    pub fn set_unreachable(&self, why: Option<String>) {
        if let Ok(mut slot) = self.unreachable.lock() {
            *slot = why;
        }
    }

    pub fn unreachable(&self) -> Option<String> {
        self.unreachable.lock().ok().and_then(|s| s.clone())
    }
}

pub fn router(health: Arc<Health>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz).with_state(health))
        .route("/metrics", get(render).with_state(metrics))
}

async fn readyz(State(health): State<Arc<Health>>) -> Response {
    match health.unreachable() {
        None => Json(json!({"ready": true, "leading": health.is_leading()})).into_response(),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "leading": health.is_leading(), "reason": "RuntimeUnreachable", "message": why})),
        )
            .into_response(),
    }
}

async fn render(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}
