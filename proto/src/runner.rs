//! The runner's environment contract: the variables the operator sets on a runner and
//! pi-bridge reads, and the port pi-bridge serves on. Written once, here, for both sides.

/// pi-bridge's HTTP and WebSocket port in a runner.
pub const PORT: u16 = 8080;

/// The name of pi-bridge's container in a runner Pod: the operator and the gateway read its
/// state (a sidecar's says nothing of pi-bridge).
pub const CONTAINER: &str = "runner";

/// The name of the optional browser sidecar's container (a runner Pod's second container; on
/// Podman the suffix of the runner container's name): a headless Chromium whose DevTools
/// protocol pi-bridge reaches on the runner's loopback.
pub const BROWSER_CONTAINER: &str = "browser";
/// Where the browser serves CDP: the loopback of the network namespace it shares with the
/// runner (its command line binds 127.0.0.1:9222, runner-image/browser/Containerfile).
pub const BROWSER_CDP_URL: &str = "http://127.0.0.1:9222";
/// The browser's uid (not the runner's 1000: it gets none of the runner's files).
pub const BROWSER_UID: i64 = 1001;
/// Set on the runner only when it has a browser: pi-bridge and the Pi extension read the CDP
/// address from it, and without it there is no browser.
pub const ENV_BROWSER_CDP: &str = "OQTO_BROWSER_CDP";

/// pi-bridge's probes (no token): up; ready (hstry answers, Pi can start; the Pi started ahead
/// may still load); ready and that Pi loaded (a warm spare's start ends there).
pub const HEALTH_PATH: &str = "/healthz";
pub const READY_PATH: &str = "/readyz";
pub const READY_WARM_PATH: &str = "/readyz/warm";

/// `ADDRESS:PORT` pi-bridge listens on.
pub const ENV_LISTEN: &str = "PI_BRIDGE_LISTEN";
/// The workspace directory (Pi's working directory, the files channel's root).
pub const ENV_WORKSPACE: &str = "PI_BRIDGE_WORKSPACE";
/// The runner's id in canonical events (the Session's name).
pub const ENV_RUNNER_ID: &str = "PI_BRIDGE_RUNNER_ID";
/// The Session this runner serves: pi-bridge refuses frames for any other.
pub const ENV_SESSION: &str = "PI_BRIDGE_SESSION";
/// The default LLM provider of new conversations.
pub const ENV_PROVIDER: &str = "PI_BRIDGE_PROVIDER";
/// The default model of new conversations.
pub const ENV_MODEL: &str = "PI_BRIDGE_MODEL";
/// An OpenAI-compatible endpoint for that provider.
pub const ENV_LLM_BASE_URL: &str = "OQTO_LLM_BASE_URL";
/// The key Pi presents to the LLM endpoint (the Session's virtual key behind the LLM proxy).
pub const ENV_LLM_API_KEY: &str = "OQTO_LLM_API_KEY";
/// The runner's token ([`RunnerKey::token`]): pi-bridge serves only requests that present it.
pub const ENV_TOKEN: &str = "PI_BRIDGE_TOKEN";

/// The gateway's root URL as runners reach it (delegation: children of the runner's Session).
pub const ENV_GATEWAY_URL: &str = "OQTO_GATEWAY_URL";
/// The runner's credential towards the gateway ([`RunnerKey::session_credential`]).
pub const ENV_SESSION_CREDENTIAL: &str = "OQTO_SESSION_CREDENTIAL";

/// What the operator sets and a Workspace's `spec.runner.env` may therefore not.
pub const OPERATOR_SET: [&str; 13] = [
    ENV_LISTEN,
    ENV_WORKSPACE,
    ENV_RUNNER_ID,
    ENV_SESSION,
    ENV_PROVIDER,
    ENV_MODEL,
    ENV_LLM_BASE_URL,
    ENV_LLM_API_KEY,
    crate::llm::ENV_PROXY_URL,
    ENV_TOKEN,
    ENV_GATEWAY_URL,
    ENV_SESSION_CREDENTIAL,
    ENV_BROWSER_CDP,
];

pub use crate::runner_token::{
    RunnerKey, RunnerToken, SESSION_CREDENTIAL_PREFIX, SessionCredential,
};

/// pi-bridge's WebSocket for a Session's `status.endpoint`: `http://host:port` →
/// `ws://host:port/ws` (`https` → `wss`). `None` for any other scheme.
pub fn websocket_url(endpoint: &str) -> Option<String> {
    let (scheme, rest) = endpoint
        .strip_prefix("http://")
        .map(|r| ("ws://", r))
        .or_else(|| endpoint.strip_prefix("https://").map(|r| ("wss://", r)))?;
    Some(format!("{scheme}{}/ws", rest.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    #[test]
    fn endpoints_become_websocket_urls() {
        assert_eq!(
            super::websocket_url("http://10.0.0.7:8080").as_deref(),
            Some("ws://10.0.0.7:8080/ws")
        );
        assert_eq!(
            super::websocket_url("https://r.example/").as_deref(),
            Some("wss://r.example/ws")
        );
        assert_eq!(super::websocket_url("ftp://x"), None);
    }
}
