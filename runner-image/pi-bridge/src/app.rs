//! The whole bridge from its configuration: workspace, history, Pi settings, the HTTP and
//! WebSocket server. The binary calls [`run`]; tests that need a bridge in their own process
//! call it too.

use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::activity::Activity;
use crate::agent::conversation::Shared;
use crate::agent::registry::Registry;
use crate::browser::BrowserHub;
use crate::config::Config;
use crate::delegation::Delegations;
use crate::delegation::gateway::Gateway;
use crate::files::Workspace;
use crate::history::History;
use crate::metrics::Metrics;
use crate::pi::launch::PiSettings;
use crate::server::{AppState, router};

/// Serves on `listener` until `shutdown` resolves; binds the delegate API itself.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let delegate_listener = bind_delegate_api(&config).await?;
    run_with(config, listener, delegate_listener, shutdown).await
}

/// Serves on `listener`, and the delegate API on `delegate_listener` (see
/// [`bind_delegate_api`]), until `shutdown` resolves.
pub async fn run_with(
    config: Config,
    listener: tokio::net::TcpListener,
    delegate_listener: Option<tokio::net::TcpListener>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let workspace = Workspace::open(&config.workspace)
        .with_context(|| format!("opening the workspace {}", config.workspace.display()))?;
    let history = History::connect(&config.hstry, config.workspace.display().to_string())?;
    let metrics = Arc::new(Metrics::new());
    let activity = Arc::new(Activity::new());
    let gateway = delegation_gateway(&config)?;
    let delegate_token = crate::config::delegate_token(
        std::env::var(crate::config::ENV_DELEGATE_TOKEN)
            .ok()
            .as_deref(),
    )?
    .unwrap_or_else(crate::delegation::api::random_token);
    let mut pi = PiSettings {
        program: config.pi.clone(),
        agent_dir: config.agent_dir(),
        session_dir: config.session_dir(),
        provider: config.provider.clone(),
        model: config.model.clone(),
        extensions: config.pi_extensions.clone(),
        delegate_listen: match &delegate_listener {
            Some(listener) => Some(listener.local_addr()?),
            None => None,
        },
        delegate_token: delegate_token.clone(),
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
    let (aborts, _) = tokio::sync::watch::channel(0);
    let shared = Arc::new(Shared {
        runner_id: config.runner_id.clone(),
        workspace: config.workspace.clone(),
        pi,
        stall_timeout: config.stall_timeout,
        history: history.clone(),
        metrics: metrics.clone(),
        activity: activity.clone(),
        aborts,
        standby: Default::default(),
    });
    if config.pi_standby {
        shared.standby.expect();
        tokio::spawn(start_ahead(
            shared.clone(),
            config.session.as_str().to_owned(),
        ));
    }
    let registry = Registry::new(shared.clone());
    let delegations = {
        let registry = registry.clone();
        let parent = config.session.as_str().to_owned();
        let emit = Arc::new(move |kind| {
            // Nobody watches a conversation that is not open: the event has no audience.
            registry.broadcast(&parent, kind);
        });
        Delegations::new(gateway, config.session.as_str().to_owned(), emit)
    };
    delegations.follow_aborts(shared.aborts.subscribe());
    let browser = BrowserHub::new(config.browser_cdp.clone(), config.browser_fps);
    let state = Arc::new(AppState {
        session: config.session.clone(),
        runner_id: config.runner_id.clone(),
        registry,
        workspace: Arc::new(workspace),
        workspace_path: config.workspace.clone(),
        shell: config.shell.clone(),
        history,
        metrics,
        activity,
        max_frame_bytes: config.max_frame_bytes,
        token: config.token.clone(),
        pi_program: config.pi.clone(),
        browser: browser.clone(),
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
    // One shutdown for both servers; the delegate API also ends when the main server does.
    let stop = CancellationToken::new();
    let _stop_guard = stop.clone().drop_guard();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown.await;
            stop.cancel();
        }
    });
    if let Some(delegate_listener) = delegate_listener {
        let address = delegate_listener.local_addr()?;
        let api = crate::delegation::api::router(delegations, browser, &delegate_token);
        let stopped = stop.clone().cancelled_owned();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(delegate_listener, api)
                .with_graceful_shutdown(stopped)
                .await
            {
                warn!(error = %e, "the delegate API stopped");
            }
        });
        info!(%address, "delegate API serving");
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(stop.cancelled_owned())
        .await?;
    Ok(())
}

/// The gateway client, or why delegation is off (the delegate API answers with it).
fn delegation_gateway(config: &Config) -> anyhow::Result<Result<Gateway, String>> {
    use oqto_proto::runner::{ENV_GATEWAY_URL, ENV_SESSION_CREDENTIAL};
    match (&config.gateway_url, &config.session_credential) {
        (Some(url), Some(credential)) => Ok(Ok(Gateway::new(url.clone(), credential)?)),
        (url, credential) => {
            let missing = [
                (url.is_none(), ENV_GATEWAY_URL),
                (credential.is_none(), ENV_SESSION_CREDENTIAL),
            ]
            .iter()
            .filter(|(missing, _)| *missing)
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(" and ");
            // Only one of the two is a broken deployment rather than a runner without it.
            if url.is_some() || credential.is_some() {
                warn!(
                    missing,
                    "delegation is off: it needs a gateway URL and a session credential"
                );
            }
            Ok(Err(format!(
                "delegation is off in this runner: pi-bridge has no {missing}, so it cannot \
                 start sub-agents"
            )))
        }
    }
}

/// Binds the delegate API (`--delegate-listen`). Without delegation a taken port only costs
/// the clear "off" answer (in-process test bridges share the default port), so it is not fatal
/// then: `None`.
pub async fn bind_delegate_api(config: &Config) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    let delegation_on = config.gateway_url.is_some() && config.session_credential.is_some();
    match tokio::net::TcpListener::bind(config.delegate_listen).await {
        Ok(listener) => Ok(Some(listener)),
        Err(e) if !delegation_on => {
            info!(address = %config.delegate_listen, error = %e, "delegation is off and its API is not served");
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "binding the delegate API on {} (--delegate-listen)",
                config.delegate_listen
            )
        }),
    }
}

/// How long the bridge waits for hstry at start to learn whether its Session has a Pi session
/// file to resume (hstry starts beside the bridge and may not be listening yet).
const HSTRY_AT_START: std::time::Duration = std::time::Duration::from_secs(5);

/// How soon hstry is asked again while it is not listening yet, at first and at most.
const HSTRY_RETRY: std::time::Duration = std::time::Duration::from_millis(5);
const HSTRY_RETRY_MAX: std::time::Duration = std::time::Duration::from_millis(100);

/// How long a Pi started ahead may take to answer before the runner is ready without it.
const PI_LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Starts the Session's Pi ahead of its first command, resuming its session file when hstry
/// knows one (a woken Session), exactly as its conversation would.
async fn start_ahead(shared: Arc<Shared>, session: String) {
    let deadline = tokio::time::Instant::now() + HSTRY_AT_START;
    let mut wait = HSTRY_RETRY;
    let stored = loop {
        match shared.history.load(&session).await {
            Ok(stored) => break stored,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                warn!(error = %e, "hstry did not answer at start; Pi starts with the first command");
                shared.standby.close_if_loading();
                return;
            }
            // hstry binds its socket a few milliseconds after the bridge starts: every
            // millisecond waited here is one more before Pi is loaded. Doubling, so an hstry
            // that answers with errors is not asked a thousand times.
            Err(_) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(HSTRY_RETRY_MAX);
            }
        }
    };
    let resume = stored
        .and_then(|stored| stored.meta.pi_session_file)
        .filter(|file| file.is_file());
    let launch = shared
        .pi
        .launch(&shared.workspace, None, None, resume.as_deref());
    if let Err(e) = shared.standby.start(launch, PI_LOAD_TIMEOUT).await {
        warn!(error = %e, "starting Pi ahead failed; it starts with the first command");
    }
}
