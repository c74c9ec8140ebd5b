//! The HTTP side of pi-bridge: the mux WebSocket, probes, metrics and the activity report that
//! the operator's idle detection reads.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use oqto_proto::mux::SessionName;
use oqto_proto::runner::{self, RunnerToken};
use serde_json::json;

use crate::activity::Activity;
use crate::agent::registry::Registry;
use crate::files::Workspace;
use crate::history::History;
use crate::metrics::Metrics;

/// Largest WebSocket message the socket layer reads at all; frames above the bridge's own,
/// smaller limit are answered with an error frame instead of closing the connection.
const SOCKET_MESSAGE_LIMIT: usize = 256 * 1024 * 1024;

pub struct AppState {
    /// The one Session this bridge serves.
    pub session: SessionName,
    /// This runner's id in canonical events.
    pub runner_id: String,
    pub registry: Arc<Registry>,
    pub workspace: Arc<Workspace>,
    pub workspace_path: PathBuf,
    pub shell: PathBuf,
    pub history: History,
    pub metrics: Arc<Metrics>,
    pub activity: Arc<Activity>,
    pub max_frame_bytes: usize,
    pub pi_program: PathBuf,
    /// What the gateway and the operator present.
    pub token: RunnerToken,
    /// The runner's browser (the `browser` channel); without one it answers why not.
    pub browser: Arc<crate::browser::BrowserHub>,
}

impl AppState {
    /// Whether the Session's Pi, started ahead, is still loading.
    fn pi_loading(&self) -> bool {
        self.registry.shared().standby.is_loading()
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    // Probes come from the kubelet and the operator, without a token; they tell nothing but
    // "up" and "ready".
    let probes = Router::new()
        .route(runner::HEALTH_PATH, get(healthz))
        .route(runner::READY_PATH, get(readyz))
        .route(runner::READY_WARM_PATH, get(readyz_warm));
    let guarded = Router::new()
        .route("/ws", get(websocket))
        .route("/api/ws/mux", get(websocket))
        .route("/metrics", get(metrics))
        .route("/activity", get(activity))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ));
    probes
        .merge(guarded)
        .layer(axum::middleware::from_fn(refuse_browsers))
        .with_state(state)
}

/// Only the gateway and the operator hold the runner's token: any other process that reaches
/// the port (a local one on a single node, another pod) is refused before anything runs.
async fn require_token(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.as_bytes());
    if !state.token.accepts(presented) {
        return (
            StatusCode::UNAUTHORIZED,
            "missing or wrong runner token: a runner is reached through the Oqto gateway",
        )
            .into_response();
    }
    next.run(request).await
}

/// A runner is reached through the gateway or the operator, never from a web page: a page on
/// the same host (single-node mode publishes the runner on 127.0.0.1) would otherwise open a
/// terminal in it. Browsers always send `Origin` with a WebSocket handshake and cross-origin
/// requests; the gateway and the operator send none.
pub(crate) async fn refuse_browsers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request.headers().contains_key(header::ORIGIN) {
        return (
            StatusCode::FORBIDDEN,
            "requests from web pages are refused: a runner is reached through the Oqto gateway",
        )
            .into_response();
    }
    next.run(request).await
}

async fn websocket(State(state): State<Arc<AppState>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .max_message_size(SOCKET_MESSAGE_LIMIT)
        .max_frame_size(SOCKET_MESSAGE_LIMIT)
        .on_upgrade(move |socket| crate::mux::connection::serve(socket, state))
}

/// Liveness: the process serves HTTP.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: hstry answers and Pi can be started. Pi started ahead may still be loading
/// (`piLoading`): a prompt now waits for it, which costs less than learning of readiness only
/// once Pi has loaded.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    readiness(&state, false).await
}

/// Readiness that also waits for the Pi started ahead to answer: for a warm spare, which is
/// claimed as soon as it is ready and must answer at once.
async fn readyz_warm(State(state): State<Arc<AppState>>) -> Response {
    readiness(&state, true).await
}

async fn readiness(state: &AppState, warm: bool) -> Response {
    let hstry = state.history.ping().await;
    let pi = pi_available(&state.pi_program);
    let loading = state.pi_loading();
    let ready = hstry && pi && !(warm && loading);
    let body = json!({"ready": ready, "hstry": hstry, "pi": pi, "piLoading": loading});
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Whether `program` is an executable file (a bare name is looked up on PATH).
fn pi_available(program: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 {
        return executable(program);
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| executable(&dir.join(program))))
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn activity(State(state): State<Arc<AppState>>) -> Json<crate::activity::ActivityReport> {
    Json(state.activity.report())
}
