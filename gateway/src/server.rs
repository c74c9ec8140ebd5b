//! Wiring: settings → accounts, token secret, first admin, resources and the route table of
//! the chosen runtime → the HTTP server.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;

use crate::accounts::{Accounts, AccountsError, Role, keys};
use crate::auth::Auth;
use crate::auth::jwt::Tokens;
use crate::auth::rate_limit::LoginLimiter;
use crate::config::{RuntimeKind, Settings};
use crate::metrics::Metrics;
use crate::resources::{Backend, FIELD_MANAGER, Resources};
use crate::routing::{Addressing, RouteTable};
use crate::state::{AppState, RuntimeSettings};
use oqto_store::{KubeStore, LocalStore};

/// Builds everything and serves until `shutdown` resolves.
pub async fn run(
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "creating the data directory {}",
            settings.data_dir.display()
        )
    })?;
    let accounts = match &settings.database_url {
        Some(url) => Accounts::connect_postgres(url, settings.database_ca_file.as_deref())
            .await
            .context("connecting to the accounts database (--database-url)")?,
        None => Accounts::open(&settings.data_dir.join("accounts.db"))
            .context("opening the accounts database")?,
    };
    let secret = token_secret(&settings, &accounts).await?;
    let bootstrap = first_admin(&settings, &accounts).await?;

    let (resources, routes, runner_key) = match settings.runtime {
        RuntimeKind::Kubernetes => {
            let client = kube::Client::try_default()
                .await
                .context("connecting to Kubernetes (in-cluster, or $KUBECONFIG)")?;
            let routes = Arc::new(RouteTable::new(Addressing::PodIp {
                port: settings.runner_port,
            }));
            let feeding = crate::routing::watch_kubernetes(
                client.clone(),
                settings.namespace.clone(),
                routes.clone(),
            );
            tokio::spawn(feeding);
            let store = KubeStore::new(client, FIELD_MANAGER, None);
            (
                Resources::new(&settings.namespace, Backend::Kubernetes(store)),
                routes,
                oqto_store::runner_key(settings.runner_key.as_deref(), None)?,
            )
        }
        RuntimeKind::Local => {
            let local = Arc::new(
                LocalStore::open(&settings.state_dir)
                    .map_err(|e| anyhow::anyhow!("opening the local store: {e}"))?,
            );
            let routes = Arc::new(RouteTable::new(Addressing::StatusEndpoint));
            tokio::spawn(crate::routing::poll_local(
                local.clone(),
                settings.namespace.clone(),
                routes.clone(),
                Duration::from_millis(settings.poll_ms.max(10)),
            ));
            let runner_key = oqto_store::runner_key(settings.runner_key.as_deref(), Some(&local))?;
            (
                Resources::new(&settings.namespace, Backend::Local(local)),
                routes,
                runner_key,
            )
        }
    };

    let usage = match settings
        .llm_proxy_admin_url
        .as_deref()
        .filter(|u| !u.is_empty())
    {
        Some(url) => {
            let local = match settings.runtime {
                RuntimeKind::Local => Some(
                    LocalStore::open(&settings.state_dir)
                        .map_err(|e| anyhow::anyhow!("opening the local store: {e}"))?,
                ),
                RuntimeKind::Kubernetes => None,
            };
            Some(crate::api::usage::UsageSource {
                url: url.to_owned(),
                token: oqto_store::llm_proxy_admin_token(
                    settings.llm_proxy_admin_token.as_deref(),
                    local.as_ref(),
                )?,
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()?,
            })
        }
        None => None,
    };
    let state = Arc::new(AppState {
        auth: Auth {
            limiter: LoginLimiter::new(settings.login_rate, &accounts),
            accounts,
            tokens: Tokens::new(&secret, Duration::from_secs(settings.token_hours * 3600))
                .map_err(|e| anyhow::anyhow!("the token secret: {e}"))?,
            trusted_proxies: settings.trusted_proxies.clone(),
            secure_cookies: !settings.insecure_cookies,
        },
        resources,
        routes: routes.clone(),
        settings: RuntimeSettings {
            allowed_origins: settings.allowed_origins.clone(),
            max_frame_bytes: settings.max_frame_bytes,
            default_workspace_class: settings
                .default_workspace_class
                .clone()
                .filter(|c| !c.is_empty()),
        },
        metrics: Metrics::new(),
        budgets: crate::mux::budget::Budgets::new(crate::mux::budget::Limits {
            connections: settings.max_connections_per_user,
            sessions: settings.max_sessions_per_user,
            queued_bytes: settings.max_queued_bytes,
        }),
        runner_key,
        bootstrap: Mutex::new(bootstrap),
        usage,
    });
    let forget = state.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            forget.auth.limiter.forget_idle().await;
        }
    });

    if let Some(address) = settings.runner_listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("binding the runners' listener {address}"))?;
        tracing::info!(local = %listener.local_addr()?, "serving runners (delegation)");
        let runners = crate::api::runner_router(state.clone());
        tokio::spawn(
            axum::serve(
                listener,
                runners.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .into_future(),
        );
    }
    let app = crate::api::router(state, &settings.ui_dir);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let local = listener.local_addr()?;
    // Stream deltas are small frames: no Nagle delays on client connections.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    // Tests and scripts read this line to learn the port.
    println!("oqto-gateway listening on http://{local}");
    tracing::info!(%local, runtime = ?settings.runtime, namespace = %settings.namespace, "gateway serving");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// The configured secret; else the one all replicas share in the shared accounts store; else
/// the one kept in the data directory. The last two are made at first start.
async fn token_secret(settings: &Settings, accounts: &Accounts) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &settings.jwt_secret {
        anyhow::ensure!(
            secret.len() >= 32,
            "OQTO_JWT_SECRET must be at least 32 characters"
        );
        return Ok(secret.as_bytes().to_vec());
    }
    let candidate = random_secret()?;
    if let Some(shared) = accounts
        .shared_token_secret(&candidate)
        .await
        .context("reading the shared token secret")?
    {
        return Ok(shared.into_bytes());
    }
    let path = settings.data_dir.join("jwt-secret");
    match std::fs::read(&path) {
        Ok(secret) if secret.len() >= 32 => return Ok(secret),
        Ok(_) => anyhow::bail!("{} is shorter than 32 bytes", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let secret = candidate.into_bytes();
    write_private(&path, &secret)?;
    Ok(secret)
}

/// 32 random bytes, hex-encoded.
fn random_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(bytes))
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// With no users yet: the configured admin, or a one-time bootstrap token (its digest is
/// returned; the token itself is printed once, to standard output).
async fn first_admin(settings: &Settings, accounts: &Accounts) -> anyhow::Result<Option<String>> {
    if accounts.user_count().await? > 0 {
        return Ok(None);
    }
    if let Some(username) = &settings.admin_user {
        let password = std::env::var("OQTO_ADMIN_PASSWORD")
            .context("--admin-user needs the password in $OQTO_ADMIN_PASSWORD")?;
        match accounts.create_user(username, &password, Role::Admin).await {
            Ok(_) => tracing::info!(%username, "created the first admin from the configuration"),
            // Another replica sharing the store made it a moment ago.
            Err(AccountsError::UserExists(_)) => {}
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("creating the first admin {username:?}"));
            }
        }
        return Ok(None);
    }
    let token = keys::generate().map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "oqto-gateway: no users yet. Create the first admin within this run with\n  \
         POST /api/auth/bootstrap {{\"token\":\"{token}\",\"username\":\"admin\",\"password\":\"…\"}}"
    );
    Ok(Some(keys::digest(&token)))
}
