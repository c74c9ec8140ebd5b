//! The Oqto LLM proxy. Runners call model providers only through it: Pi is given the proxy's
//! URL and its Session's virtual key (`oqto_proto::llm`), never a provider's key. The proxy
//! checks the key, looks its Session up (a deleted Session's key is dead), checks the model
//! against the Workspace's class, and relays the request to the provider with the provider's
//! key, streaming the answer back as it comes.
//!
//! Routes: `POST /v1/chat/completions` (OpenAI-compatible), `POST /v1/messages`
//! (Anthropic-compatible), `GET /v1/models` (the catalogue the key may use), `GET /healthz`.

pub mod budget;
pub mod catalogue;
pub mod config;
pub mod error;
pub mod grants;
pub mod ledger;
pub mod ledger_pg;
mod metered;
pub mod metrics;
pub mod relay;
pub mod report;
pub mod streams;
pub mod usage;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use catalogue::Catalogue;
pub use error::ProxyError;
pub use grants::{Grant, Grants, StoreGrants};
pub use relay::Proxy;

/// Requests one Session may have in flight at once, by default.
pub const DEFAULT_STREAMS_PER_SESSION: usize = 8;

/// Largest request body: a long conversation with a few images, base64-encoded.
pub const MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;

pub fn router<G: Grants>(proxy: Arc<Proxy<G>>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(relay::chat_completions::<G>))
        .route("/v1/messages", post(relay::messages::<G>))
        .route("/v1/models", get(relay::models::<G>))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(proxy)
}

/// The admin listener's routes: `/metrics` to anyone who reaches it, usage reports only to the
/// platform's admin token.
pub fn admin_router<G: Grants>(
    proxy: Arc<Proxy<G>>,
    token: oqto_proto::runner::RunnerToken,
) -> Router {
    let metrics = proxy.metrics.clone();
    Router::new()
        .route("/usage", get(report::user_usage::<G>))
        .route("/usage/users", get(report::all_users::<G>))
        .with_state((proxy, Arc::new(report::AdminToken(token))))
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { metrics.encode() }
            }),
        )
}

/// Serves the proxy until `shutdown` resolves. Every chunk goes out as it comes (no Nagle: a
/// small SSE chunk would otherwise wait for the client's delayed ACK, up to 40 ms).
pub async fn serve<G: Grants>(
    listener: tokio::net::TcpListener,
    proxy: Arc<Proxy<G>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(proxy))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The client the proxy calls providers with: pooled connections, a bounded connect, and no
/// overall timeout (an answer streams as long as the model writes).
pub fn upstream_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .read_timeout(std::time::Duration::from_secs(300))
        .tcp_nodelay(true)
        .build()
}
