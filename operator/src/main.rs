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
            };
            tokio::runtime::Runtime::new()?.block_on(run_kubernetes(settings))
        }
    }
}

async fn run_kubernetes(settings: kubernetes::Settings) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes (in-cluster config or KUBECONFIG)")?;
    tracing::info!(namespace = ?settings.namespace, "oqto-operator reconciling");
    let context = Arc::new(kubernetes::Context::new(client, settings));
    kubernetes::run(context, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
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
