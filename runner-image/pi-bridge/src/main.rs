use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use clap::Parser;
use oqto_pi_bridge::activity::Activity;
use oqto_pi_bridge::agent::conversation::Shared;
use oqto_pi_bridge::agent::registry::Registry;
use oqto_pi_bridge::config::Config;
use oqto_pi_bridge::files::Workspace;
use oqto_pi_bridge::history::History;
use oqto_pi_bridge::metrics::Metrics;
use oqto_pi_bridge::pi::launch::PiSettings;
use oqto_pi_bridge::server::{AppState, router};
use tracing::info;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::parse();
    let workspace = Workspace::open(&config.workspace)
        .with_context(|| format!("opening the workspace {}", config.workspace.display()))?;
    let history = History::connect(&config.hstry, config.workspace.display().to_string())?;
    let metrics = Arc::new(Metrics::new());
    let activity = Arc::new(Activity::new());
    let pi = PiSettings {
        program: config.pi.clone(),
        agent_dir: config.agent_dir(),
        session_dir: config.session_dir(),
        provider: config.provider.clone(),
        model: config.model.clone(),
    };
    if let Some(base_url) = &config.llm_base_url {
        let (Some(provider), Some(model)) = (&config.provider, &config.model) else {
            anyhow::bail!("--llm-base-url (OQTO_LLM_BASE_URL) needs --provider and --model");
        };
        if oqto_pi_bridge::models::ensure(&pi.agent_dir, provider, model, base_url)
            .with_context(|| format!("writing models.json into {}", pi.agent_dir.display()))?
        {
            info!(%provider, %model, "wrote Pi's models.json for the configured endpoint");
        }
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
        registry: Registry::new(shared),
        workspace: Arc::new(workspace),
        workspace_path: config.workspace.clone(),
        shell: config.shell.clone(),
        history,
        metrics,
        activity,
        max_frame_bytes: config.max_frame_bytes,
        pi_program: config.pi.clone(),
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let local = listener.local_addr()?;
    // Stream deltas are small frames sent one by one: without TCP_NODELAY, Nagle's algorithm
    // and delayed ACKs hold some of them back for ~40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    // Tests and the runner script read this line to learn the port.
    println!("pi-bridge listening on http://{local}");
    info!(%local, workspace = %config.workspace.display(), "pi-bridge serving");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
