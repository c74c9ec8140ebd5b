//! What every handler shares.

use crate::auth::Auth;
use crate::metrics::Metrics;
use crate::resources::Resources;
use crate::routing::RouteTable;

/// The settings handlers read at run time.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    pub allowed_origins: Vec<String>,
    pub max_frame_bytes: usize,
    /// The WorkspaceClass of Workspaces that name none (shared with the operator).
    pub default_workspace_class: Option<String>,
}

pub struct AppState {
    pub auth: Auth,
    pub resources: Resources,
    pub routes: std::sync::Arc<RouteTable>,
    pub settings: RuntimeSettings,
    pub metrics: Metrics,
    /// What each user may hold in the relay: connections, sessions, queued bytes.
    pub budgets: std::sync::Arc<crate::mux::budget::Budgets>,
    /// Derives the token each runner demands (shared with the operator).
    pub runner_key: oqto_proto::runner::RunnerKey,
    /// The digest of the one-time token that creates the first admin, while there is none.
    pub bootstrap: std::sync::Mutex<Option<String>>,
    /// The LLM proxy's usage reports, when it runs.
    pub usage: Option<crate::api::usage::UsageSource>,
}
