//! The whole bridge from its configuration: workspace, history, Pi settings, the HTTP and
//! WebSocket server. The binary calls [`run`]; tests that need a bridge in their own process
//! call it too.

use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use tracing::info;

use crate::activity::Activity;
use crate::agent::conversation::Shared;
use crate::agent::registry::Registry;
use crate::config::Config;
use crate::files::Workspace;
use crate::history::History;
use crate::metrics::Metrics;
use crate::pi::launch::PiSettings;
use crate::server::{AppState, router};

/// Serves on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let workspace = Workspace::open(&config.workspace)
        .with_context(|| format!("opening the workspace {}", config.workspace.display()))?;
    let history = History::connect(&config.hstry, config.workspace.display().to_string())?;
    let metrics = Arc::new(Metrics::new());
    let activity = Arc::new(Activity::new());
    let mut pi = PiSettings {
        program: config.pi.clone(),
        agent_dir: config.agent_dir(),
        session_dir: config.session_dir(),
        provider: config.provider.clone(),
        model: config.model.clone(),
        extensions: config.pi_extensions.clone(),
    };
    // A missing file is a broken image or a typo: said once at start, not by every Pi.
    for extension in &pi.extensions {
        anyhow::ensure!(
            extension.is_file(),
            "--pi-extension {}: no such file",
            extension.display()
        );
    }
    if let Some(base_url) = &config.llm_base_url {
        let (Some(provider), Some(model)) = (&config.provider, &config.model) else {
            anyhow::bail!("--llm-base-url (OQTO_LLM_BASE_URL) needs --provider and --model");
        };
        if crate::models::ensure(&pi.agent_dir, provider, model, base_url)
            .with_context(|| format!("writing models.json into {}", pi.agent_dir.display()))?
        {
            info!(%provider, %model, "wrote Pi's models.json for the configured endpoint");
        }
    }
    if let Some(proxy) = &config.llm_proxy_url {
        let models = crate::models::fetch_catalogue(proxy).await?;
        let written = crate::models::ensure_file(
            &pi.agent_dir,
            &crate::models::from_catalogue(proxy, &models),
        )
        .with_context(|| format!("writing models.json into {}", pi.agent_dir.display()))?;
        // New conversations use the configured model under the proxy's provider for its API,
        // or the catalogue's first model.
        let chosen = match &pi.model {
            Some(id) => models.iter().find(|(m, _)| &m.id == id),
            None => models.first(),
        };
        if let Some((model, api)) = chosen {
            pi.provider = Some(crate::models::proxy_provider(*api).into());
            pi.model = Some(model.id.clone());
        }
        info!(
            models = models.len(),
            written, "Pi's models come from the LLM proxy"
        );
    }
    std::fs::create_dir_all(&pi.session_dir).with_context(|| {
        format!(
            "creating Pi's session directory {}",
            pi.session_dir.display()
        )
    })?;
    let shared = Arc::new(Shared {
        runner_id: config.runner_id.clone(),
        workspace: config.workspace.clone(),
        pi,
        stall_timeout: config.stall_timeout,
        history: history.clone(),
        metrics: metrics.clone(),
        activity: activity.clone(),
    });
    let state = Arc::new(AppState {
        session: config.session.clone(),
        runner_id: config.runner_id.clone(),
        registry: Registry::new(shared),
        workspace: Arc::new(workspace),
        workspace_path: config.workspace.clone(),
        shell: config.shell.clone(),
        history,
        metrics,
        activity,
        max_frame_bytes: config.max_frame_bytes,
        token: config.token.clone(),
        pi_program: config.pi.clone(),
    });
    let local = listener.local_addr()?;
    // Stream deltas are small frames sent one by one: without TCP_NODELAY, Nagle's algorithm
    // and delayed ACKs hold some of them back for ~40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    info!(%local, session = %config.session, workspace = %config.workspace.display(), "pi-bridge serving");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
