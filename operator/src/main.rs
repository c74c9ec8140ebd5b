//! The Oqto operator binary: `run` reconciles Workspaces and Sessions; `crd` prints or writes the
//! CustomResourceDefinitions.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use oqto_operator::core::OperatorDefaults;
use oqto_operator::kubernetes;

#[derive(Parser)]
#[command(name = "oqto-operator", version, about = "Oqto's Kubernetes operator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Runtime {
    Kubernetes,
    Podman,
}

#[derive(Subcommand)]
enum Command {
    /// Reconcile Workspaces and Sessions until SIGTERM.
    Run {
        #[arg(long, value_enum, default_value = "kubernetes")]
        runtime: Runtime,
        /// Watch this namespace only (default: all namespaces).
        #[arg(long, env = "OQTO_NAMESPACE")]
        namespace: Option<String>,
        /// Runner image for Workspaces that name none.
        #[arg(long, env = "OQTO_RUNNER_IMAGE")]
        runner_image: Option<String>,
        /// Label of the gateway pods (KEY=VALUE, repeatable): only they may reach runners.
        #[arg(long = "gateway-label", value_parser = parse_label, default_value = "app.kubernetes.io/name=oqto-gateway")]
        gateway_labels: Vec<(String, String)>,
        /// This replica's name in Events and the leader Lease (in a cluster: the pod name).
        #[arg(long, env = "POD_NAME")]
        identity: Option<String>,
        /// Namespace of the leader Lease (in a cluster: the operator's own namespace).
        #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
        lease_namespace: String,
        /// Address of /healthz, /readyz and /metrics.
        #[arg(long, default_value = "0.0.0.0:8081")]
        http_listen: std::net::SocketAddr,
    },
    /// Print the CustomResourceDefinitions as YAML, or write one file per CRD.
    Crd {
        /// Write `<crd-name>.yaml` files into this directory instead of printing to stdout.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd { write } => crd(write),
        Command::Run {
            runtime,
            namespace,
            runner_image,
            gateway_labels,
            identity,
            lease_namespace,
            http_listen,
        } => {
            if let Runtime::Podman = runtime {
                bail!(
                    "--runtime podman: the Podman runtime is not built yet; use --runtime kubernetes"
                );
            }
            let settings = kubernetes::Settings {
                namespace,
                defaults: OperatorDefaults {
                    runner_image,
                    gateway_labels: gateway_labels.into_iter().collect::<BTreeMap<_, _>>(),
                },
                runner_port: 8080,
                activity_every: Duration::from_secs(30),
                prune_every: Duration::from_secs(60),
                identity: identity.unwrap_or_else(default_identity),
            };
            tokio::runtime::Runtime::new()?.block_on(run_kubernetes(
                settings,
                lease_namespace,
                http_listen,
            ))
        }
    }
}

/// hostname-pid: unique per process, readable in Events.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), std::process::id())
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
    let listener = tokio::net::TcpListener::bind(http_listen)
        .await
        .with_context(|| format!("binding {http_listen}"))?;
    tokio::spawn(axum::serve(listener, oqto_operator::http::router(context.clone())).into_future());
    if kubernetes::run_as_leader(context, lock, shutdown_signal()).await {
        // Lost the lease: exit so the pod restarts as a standby instead of acting stale.
        bail!("lost the leader lease");
    }
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
