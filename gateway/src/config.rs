//! Command line and environment of the gateway.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    /// Workspaces and Sessions are custom resources in the cluster (the gateway's namespace).
    Kubernetes,
    /// Single-node mode (the operator's `--runtime podman`): the operator's local store in
    /// `--state-dir`. `local` is the older name of the same.
    #[value(name = "podman", alias = "local")]
    Local,
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "oqto-gateway",
    version,
    about = "The Oqto gateway: accounts, the REST API and the mux WebSocket relay to the runners"
)]
pub struct Settings {
    /// Address of the HTTP server (REST API, WebSocket, UI).
    #[arg(long, env = "OQTO_GATEWAY_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// A second address that serves runners only (delegation: a Session's credential starts
    /// and drives its children), for single-node stacks whose main address is the host's
    /// loopback, which runner containers cannot reach.
    #[arg(long, env = "OQTO_GATEWAY_RUNNER_LISTEN")]
    pub runner_listen: Option<SocketAddr>,

    /// Where the accounts database and the generated token secret live (without
    /// `--database-url`).
    #[arg(
        long,
        env = "OQTO_GATEWAY_DATA_DIR",
        default_value = "/var/lib/oqto-gateway"
    )]
    pub data_dir: PathBuf,

    /// A PostgreSQL database for accounts, API keys, revoked tokens, login limits and the
    /// token secret, shared by every gateway replica (`postgres://user:password@host/db`,
    /// `?sslmode=require` to insist on TLS). Default: SQLite in the data directory, for one
    /// gateway.
    #[arg(long, env = "OQTO_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// A PEM file of CA certificates that signed the database server's (besides the web's).
    #[arg(long, env = "OQTO_DATABASE_CA_FILE")]
    pub database_ca_file: Option<PathBuf>,

    /// Where Workspaces and Sessions live.
    #[arg(long, env = "OQTO_RUNTIME", value_enum, default_value = "kubernetes")]
    pub runtime: RuntimeKind,

    /// The namespace of the Workspaces and Sessions the gateway serves.
    #[arg(long, env = "OQTO_NAMESPACE", default_value = "default")]
    pub namespace: String,

    /// The operator's state directory (single-node mode); the same default as the operator's.
    #[arg(long, env = "OQTO_STATE_DIR", default_value_os_t = oqto_store::LocalStore::default_dir())]
    pub state_dir: PathBuf,

    /// Port of pi-bridge in the runner pods (Kubernetes mode dials the pod IP on it).
    #[arg(long, env = "OQTO_RUNNER_PORT", default_value_t = oqto_proto::runner::PORT)]
    pub runner_port: u16,

    /// WorkspaceClass of Workspaces that name none (`spec.workspaceClassName`); the same as
    /// the operator's.
    #[arg(long, env = "OQTO_DEFAULT_WORKSPACE_CLASS")]
    pub default_workspace_class: Option<String>,

    /// Origins allowed to open the WebSocket (comma-separated; `*` for any). Empty: the
    /// gateway's own origin only.
    #[arg(long, env = "OQTO_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Create this admin at start when there are no users yet; the password comes from
    /// $OQTO_ADMIN_PASSWORD (never a flag: flags show in `ps`). Without it, the gateway
    /// prints a one-time bootstrap token for `POST /api/auth/bootstrap`.
    #[arg(long, env = "OQTO_ADMIN_USER")]
    pub admin_user: Option<String>,

    /// The secret that signs session tokens. Default: one generated at first start and kept
    /// in the data directory.
    #[arg(long, env = "OQTO_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// The key runner tokens are derived from, shared with the operator (at least 32
    /// characters). Single-node mode: default, the one in the state directory.
    #[arg(long, env = "OQTO_RUNNER_KEY", hide_env_values = true)]
    pub runner_key: Option<String>,

    /// How long a login lasts, in hours.
    #[arg(long, env = "OQTO_TOKEN_HOURS", default_value_t = 24)]
    pub token_hours: u64,

    /// Send the session cookie without `Secure` (plain-HTTP development only).
    #[arg(long, env = "OQTO_INSECURE_COOKIES")]
    pub insecure_cookies: bool,

    /// Login attempts per minute, per client address and per username.
    #[arg(long, env = "OQTO_LOGIN_RATE", default_value = "10")]
    pub login_rate: NonZeroU32,

    /// Proxies (CIDRs, comma-separated) whose `X-Forwarded-For` names the client for the login
    /// limits: the ingress controller's pods. Empty: the connection's address counts.
    #[arg(long, env = "OQTO_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Largest mux frame accepted from a client, in bytes.
    #[arg(long, env = "OQTO_MAX_FRAME", default_value_t = 16 * 1024 * 1024)]
    pub max_frame_bytes: usize,

    /// Open mux WebSockets per user (each browser tab holds one); more are refused with 429.
    #[arg(long, env = "OQTO_MAX_CONNECTIONS_PER_USER", default_value_t = 32)]
    pub max_connections_per_user: usize,

    /// Sessions a user's mux connections talk to at once, all together; a frame for one more
    /// is refused.
    #[arg(long, env = "OQTO_MAX_SESSIONS_PER_USER", default_value_t = 64)]
    pub max_sessions_per_user: usize,

    /// Bytes of a user's frames waiting for their runners (all connections together; beyond,
    /// frames are refused "busy"), and of runner frames waiting for one slow client (beyond,
    /// its runners are read no further until it catches up). A single larger frame passes
    /// alone.
    #[arg(long, env = "OQTO_MAX_QUEUED_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_queued_bytes: usize,

    /// The built web UI (served with SPA fallback when the directory exists).
    #[arg(long, env = "OQTO_UI_DIR", default_value = "frontend/dist")]
    pub ui_dir: PathBuf,

    /// The LLM proxy's admin listener (`http://…:9091`), for the usage reports.
    #[arg(long, env = "OQTO_LLM_PROXY_ADMIN_URL")]
    pub llm_proxy_admin_url: Option<String>,

    /// The token of the proxy's usage reports (at least 32 characters). Single-node mode:
    /// default, the one in the state directory.
    #[arg(long, env = "OQTO_LLM_PROXY_ADMIN_TOKEN", hide_env_values = true)]
    pub llm_proxy_admin_token: Option<String>,

    /// How often single-node mode re-reads the local store, in milliseconds.
    #[arg(long, default_value_t = 250)]
    pub poll_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kubernetes_in_default() {
        let s = Settings::try_parse_from(["oqto-gateway"]).unwrap();
        assert_eq!(s.runtime, RuntimeKind::Kubernetes);
        assert_eq!(s.namespace, "default");
        assert_eq!(s.token_hours, 24);
        assert!(s.allowed_origins.is_empty());
        let s = Settings::try_parse_from([
            "oqto-gateway",
            "--runtime",
            "podman",
            "--allowed-origins",
            "https://a.example,https://b.example",
        ])
        .unwrap();
        assert_eq!(s.runtime, RuntimeKind::Local);
        assert_eq!(s.allowed_origins.len(), 2);
        assert!(Settings::try_parse_from(["oqto-gateway", "--login-rate", "0"]).is_err());
    }
}
