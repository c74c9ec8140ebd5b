//! The Oqto operator binary: `run` reconciles Workspaces and Sessions; `crd` prints or writes the
//! CustomResourceDefinitions; `apply` and `delete` edit the local store. Its flags are in
//! `oqto_operator::config`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use oqto_operator::config::{Cli, Command, Runtime};
use oqto_operator::core::OperatorDefaults;
use oqto_operator::kubernetes;
use oqto_operator::podman::PodmanRuntime;
use oqto_store::LocalStore;

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd { write } => crd(write),
        Command::Apply { file, state_dir } => apply(&file, &state_dir),
        Command::Delete {
            kind,
            name,
            namespace,
            state_dir,
        } => delete(&kind, &name, &namespace, &state_dir),
        Command::Run(args) => {
            let defaults = args.defaults()?;
            if let Runtime::Podman = args.runtime {
                return tokio::runtime::Runtime::new()?.block_on(run_podman(
                    defaults,
                    args.state_dir.clone(),
                    args.podman_socket.clone(),
                    args.podman(),
                    args.http_listen,
                ));
            }
            let settings = args.kubernetes(defaults);
            tokio::runtime::Runtime::new()?.block_on(run_kubernetes(
                settings,
                args.lease_namespace,
                args.http_listen,
            ))
        }
    }
}

/// SIGTERM (how Kubernetes stops a pod) or Ctrl-C.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn run_kubernetes(
    settings: kubernetes::Settings,
    lease_namespace: String,
    http_listen: std::net::SocketAddr,
) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes (in-cluster config or KUBECONFIG)")?;
    tracing::info!(namespace = ?settings.namespace, identity = %settings.identity, "oqto-operator starting");
    let lock = kubernetes::lease::LeaseLock::new(
        kube::Api::namespaced(client.clone(), &lease_namespace),
        "oqto-operator",
        &settings.identity,
        Duration::from_secs(15),
    );
    let context = Arc::new(kubernetes::Context::new(client, settings));
    serve_http(http_listen, context.health(), context.metrics()).await?;
    if kubernetes::run_as_leader(context, lock, shutdown_signal()).await {
        // Lost the lease: exit so the pod restarts as a standby instead of acting stale.
        bail!("lost the leader lease");
    }
    Ok(())
}

/// `/healthz`, `/readyz` and `/metrics`, in the background.
async fn serve_http(
    listen: std::net::SocketAddr,
    health: Arc<oqto_operator::http::Health>,
    metrics: Arc<oqto_operator::metrics::Metrics>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tokio::spawn(axum::serve(listener, oqto_operator::http::router(health, metrics)).into_future());
    Ok(())
}

async fn run_podman(
    defaults: OperatorDefaults,
    state_dir: PathBuf,
    socket: String,
    podman: oqto_operator::podman::Settings,
    http_listen: std::net::SocketAddr,
) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let store = Arc::new(LocalStore::open(&state_dir)?);
    let docker = PodmanRuntime::connect(&socket).with_context(|| {
        format!("connecting to Podman at {socket} (start it with `podman system service`)")
    })?;
    tracing::info!(store = %state_dir.display(), %socket, "oqto-operator reconciling into Podman");
    let reconciler = oqto_operator::podman::reconciler(store, docker, defaults, podman);
    serve_http(
        http_listen,
        reconciler.health.clone(),
        reconciler.metrics.clone(),
    )
    .await?;
    oqto_operator::podman::run(reconciler, Duration::from_secs(2), shutdown_signal()).await;
    Ok(())
}

fn apply(file: &std::path::Path, state_dir: &std::path::Path) -> anyhow::Result<()> {
    use serde::Deserialize;
    let store = LocalStore::open(state_dir)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    for (n, document) in serde_yaml::Deserializer::from_str(&text).enumerate() {
        let value = serde_json::Value::deserialize(document)
            .with_context(|| format!("{}: document {}", file.display(), n + 1))?;
        if value.is_null() {
            continue;
        }
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_owned();
        let applied = match kind.as_str() {
            "Workspace" => {
                let object: oqto_api::Workspace = serde_json::from_value(value)
                    .with_context(|| format!("document {}: not a valid Workspace", n + 1))?;
                store.apply(object)?.metadata
            }
            "Session" => {
                let object: oqto_api::Session = serde_json::from_value(value)
                    .with_context(|| format!("document {}: not a valid Session", n + 1))?;
                store.apply(object)?.metadata
            }
            "WorkspaceClass" => {
                let object: oqto_api::WorkspaceClass = serde_json::from_value(value)
                    .with_context(|| format!("document {}: not a valid WorkspaceClass", n + 1))?;
                store.apply(object)?.metadata
            }
            other => bail!(
                "document {}: kind {other:?} is not served here (Workspace, Session or WorkspaceClass)",
                n + 1
            ),
        };
        println!(
            "{}/{} applied (namespace {}, generation {})",
            kind.to_lowercase(),
            applied.name.unwrap_or_default(),
            applied.namespace.unwrap_or_default(),
            applied.generation.unwrap_or_default()
        );
    }
    Ok(())
}

fn delete(
    kind: &str,
    name: &str,
    namespace: &str,
    state_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let store = LocalStore::open(state_dir)?;
    let deleted = match kind.to_lowercase().as_str() {
        "workspace" | "workspaces" | "ws" => {
            store.delete::<oqto_api::Workspace>(namespace, name)?
        }
        "session" | "sessions" | "sess" => store.delete::<oqto_api::Session>(namespace, name)?,
        "workspaceclass" | "workspaceclasses" | "wsc" => {
            store.delete::<oqto_api::WorkspaceClass>(namespace, name)?
        }
        other => bail!("kind {other:?}: use workspace, session or workspaceclass"),
    };
    if !deleted {
        bail!("{kind} {namespace}/{name} does not exist");
    }
    println!("{kind}/{name} deleted");
    Ok(())
}

fn crd(write: Option<PathBuf>) -> anyhow::Result<()> {
    for crd in oqto_api::crds() {
        let yaml = oqto_api::crd_yaml(&crd)?;
        match &write {
            Some(dir) => {
                let path = dir.join(oqto_api::crd_file_name(&crd));
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
            None => print!("---\n{yaml}"),
        }
    }
    Ok(())
}
