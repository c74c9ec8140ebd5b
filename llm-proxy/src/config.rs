//! Command line and environment of the LLM proxy.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Where Sessions are read from, named as the operator's `--runtime` names its modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// The cluster's apiserver (the proxy's ServiceAccount reads Sessions, Workspaces and
    /// WorkspaceClasses).
    Kubernetes,
    /// Single-node mode: the operator's local store in `--state-dir`.
    #[value(name = "podman", alias = "local")]
    Local,
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "oqto-llm-proxy",
    version,
    about = "The Oqto LLM proxy: runners reach model providers only through it, with per-Session virtual keys"
)]
pub struct Settings {
    #[arg(long, env = "OQTO_LLM_PROXY_LISTEN", default_value = "0.0.0.0:8091")]
    pub listen: SocketAddr,

    /// Prometheus metrics (`/metrics`), apart from the port runners reach.
    #[arg(
        long,
        env = "OQTO_LLM_PROXY_METRICS_LISTEN",
        default_value = "0.0.0.0:9091"
    )]
    pub metrics_listen: SocketAddr,

    /// The usage ledger (SQLite). Default: `llm-usage.db` in `--state-dir`.
    #[arg(long, env = "OQTO_LLM_USAGE_DB")]
    pub usage_db: Option<PathBuf>,

    /// The usage ledger in PostgreSQL instead (e.g. the gateway's database server): a libpq
    /// URL; it may hold a password.
    #[arg(long, env = "OQTO_LLM_USAGE_DATABASE_URL", hide_env_values = true)]
    pub usage_database_url: Option<String>,

    /// A PEM CA bundle for that database's certificate (a private CA).
    #[arg(long, env = "OQTO_LLM_USAGE_DATABASE_CA_FILE")]
    pub usage_database_ca_file: Option<PathBuf>,

    /// The providers and the model catalogue (YAML; see the README's "The LLM proxy").
    #[arg(long, env = "OQTO_LLM_PROXY_CONFIG")]
    pub config: PathBuf,

    #[arg(long, env = "OQTO_RUNTIME", value_enum, default_value = "kubernetes")]
    pub runtime: StoreKind,

    /// The operator's state directory (single-node mode).
    #[arg(long, env = "OQTO_STATE_DIR", default_value_os_t = oqto_store::LocalStore::default_dir())]
    pub state_dir: PathBuf,

    /// The signer of virtual keys, shared with the operator (at least 32 characters).
    /// Single-node mode: default, the one in the state directory.
    #[arg(long, env = "OQTO_LLM_KEY_SIGNER", hide_env_values = true)]
    pub llm_key_signer: Option<String>,

    /// The bearer token of the usage reports on the admin listener, shared with the gateway
    /// (at least 32 characters). Single-node mode: default, the one in the state directory.
    #[arg(long, env = "OQTO_LLM_PROXY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Requests one Session may have in flight at once; more get a 429.
    #[arg(long, env = "OQTO_LLM_PROXY_STREAMS_PER_SESSION", default_value_t = oqto_llm_proxy_default_streams())]
    pub streams_per_session: usize,

    /// The class of Workspaces that name none (as the operator's and the gateway's).
    #[arg(long, env = "OQTO_DEFAULT_WORKSPACE_CLASS")]
    pub default_workspace_class: Option<String>,
}

fn oqto_llm_proxy_default_streams() -> usize {
    crate::DEFAULT_STREAMS_PER_SESSION
}
