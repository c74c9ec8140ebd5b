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
use oqto_operator::podman::PodmanRuntime;
use oqto_store::LocalStore;

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

// Parsed once at start: the size of the `run` variant costs nothing.
#[allow(clippy::large_enum_variant)]
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
        /// LLM provider (as Pi names it) of Workspaces that set no `spec.llm`.
        #[arg(
            long,
            env = "OQTO_DEFAULT_LLM_PROVIDER",
            requires = "default_llm_model"
        )]
        default_llm_provider: Option<String>,
        /// Model of that provider.
        #[arg(
            long,
            env = "OQTO_DEFAULT_LLM_MODEL",
            requires = "default_llm_provider"
        )]
        default_llm_model: Option<String>,
        /// OpenAI-compatible base URL of that provider (for providers Pi does not know).
        #[arg(
            long,
            env = "OQTO_DEFAULT_LLM_BASE_URL",
            requires = "default_llm_provider"
        )]
        default_llm_base_url: Option<String>,
        /// Secret (in the Session's namespace) with that provider's keys, e.g. OPENAI_API_KEY.
        #[arg(
            long,
            env = "OQTO_DEFAULT_LLM_SECRET",
            requires = "default_llm_provider"
        )]
        default_llm_secret: Option<String>,
        /// Label of the gateway pods (KEY=VALUE, repeatable): only they may reach runners.
        #[arg(long = "gateway-label", value_parser = parse_label, default_value = "app.kubernetes.io/name=oqto-gateway")]
        gateway_labels: Vec<(String, String)>,
        /// This replica's name in Events and the leader Lease (in a cluster: the pod name).
        #[arg(long, env = "POD_NAME")]
        identity: Option<String>,
        /// Namespace of the leader Lease (in a cluster: the operator's own namespace).
        #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
        lease_namespace: String,
        /// Port of the runners' HTTP server (pi-bridge), where the operator asks for activity.
        #[arg(long, default_value_t = oqto_proto::runner::PORT)]
        runner_port: u16,
        /// How often a running Session's activity is checked (idle suspend), e.g. 30s.
        #[arg(long, default_value = "30s")]
        activity_every: oqto_api::BoundedDuration,
        /// Address of /healthz, /readyz and /metrics.
        #[arg(long, default_value = "0.0.0.0:8081")]
        http_listen: std::net::SocketAddr,
        /// Podman mode: where Workspaces and Sessions are kept.
        #[arg(long, env = "OQTO_STATE_DIR", default_value_os_t = LocalStore::default_dir())]
        state_dir: PathBuf,
        /// Podman mode: Podman's API socket (`podman system service`).
        #[arg(
            long,
            env = "OQTO_PODMAN_SOCKET",
            default_value = "unix:///run/podman/podman.sock"
        )]
        podman_socket: String,
    },
    /// Podman mode: create or update Workspaces and Sessions from YAML (as `kubectl apply -f`).
    Apply {
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        #[arg(long, env = "OQTO_STATE_DIR", default_value_os_t = LocalStore::default_dir())]
        state_dir: PathBuf,
    },
    /// Podman mode: delete a Workspace or Session.
    Delete {
        /// `workspace` or `session`.
        kind: String,
        name: String,
        #[arg(short, long, default_value = "default")]
        namespace: String,
        #[arg(long, env = "OQTO_STATE_DIR", default_value_os_t = LocalStore::default_dir())]
        state_dir: PathBuf,
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
        Command::Apply { file, state_dir } => apply(&file, &state_dir),
        Command::Delete {
            kind,
            name,
            namespace,
            state_dir,
        } => delete(&kind, &name, &namespace, &state_dir),
        Command::Run {
            runtime,
            namespace,
            runner_image,
            default_llm_provider,
            default_llm_model,
            default_llm_base_url,
            default_llm_secret,
            gateway_labels,
            identity,
            lease_namespace,
            http_listen,
            runner_port,
            activity_every,
            state_dir,
            podman_socket,
        } => {
            let llm = default_llm(
                default_llm_provider,
                default_llm_model,
                default_llm_base_url,
                default_llm_secret,
            )?;
            let defaults = OperatorDefaults {
                runner_image,
                gateway_labels: gateway_labels.into_iter().collect::<BTreeMap<_, _>>(),
                llm,
            };
            if let Runtime::Podman = runtime {
                return tokio::runtime::Runtime::new()?.block_on(run_podman(
                    defaults,
                    state_dir,
                    podman_socket,
                    http_listen,
                ));
            }
            let settings = kubernetes::Settings {
                namespace,
                defaults,
                runner_port,
                activity_every: activity_every.as_duration(),
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

/// The default LLM from its flags, which obey the rules `spec.llm` has in the CRD: checked
/// before anything starts, so a typo fails the start with the flag's name instead of every
/// runner. An empty value counts as unset (compose passes unset variables as empty).
fn default_llm(
    provider: Option<String>,
    model: Option<String>,
    base_url: Option<String>,
    secret: Option<String>,
) -> anyhow::Result<Option<oqto_api::LlmSpec>> {
    let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let (provider, model, base_url, secret) =
        (set(provider), set(model), set(base_url), set(secret));
    let Some(provider) = provider else {
        if model.is_some() || base_url.is_some() || secret.is_some() {
            bail!(
                "--default-llm-model, --default-llm-base-url and --default-llm-secret need --default-llm-provider"
            );
        }
        return Ok(None);
    };
    let name_ok = provider.len() <= 63
        && provider
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && provider.starts_with(|c: char| c.is_ascii_alphanumeric())
        && provider.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !name_ok {
        bail!(
            "--default-llm-provider {provider:?}: must be a lowercase name like openai or anthropic"
        );
    }
    let Some(model) = model else {
        bail!("--default-llm-provider needs --default-llm-model");
    };
    if let Some(url) = &base_url {
        let ok = (url.starts_with("http://") || url.starts_with("https://"))
            && !url.chars().any(char::is_whitespace);
        if !ok {
            bail!("--default-llm-base-url: must be an http:// or https:// URL");
        }
    }
    if let Some(secret) = &secret
        && !oqto_api::names::is_object_name(secret)
    {
        bail!("--default-llm-secret {secret:?}: must be a DNS-1123 object name");
    }
    Ok(Some(oqto_api::LlmSpec {
        provider,
        model,
        base_url,
        credentials_secret_ref: secret.map(|name| oqto_api::SecretReference { name }),
    }))
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
    let reconciler = oqto_operator::podman::reconciler(store, docker, defaults);
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
            other => bail!(
                "document {}: kind {other:?} is not served here (Workspace or Session)",
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
        other => bail!("kind {other:?}: use workspace or session"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn some(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn the_default_llm_treats_empty_as_unset_and_names_the_bad_flag() {
        assert_eq!(
            default_llm(some(""), some(""), some(""), some("")).unwrap(),
            None
        );
        let llm = default_llm(some("oqto-demo"), some("demo"), some(""), some("oqto-llm"))
            .unwrap()
            .unwrap();
        assert_eq!((llm.provider.as_str(), llm.base_url), ("oqto-demo", None));
        assert_eq!(llm.credentials_secret_ref.unwrap().name, "oqto-llm");
        for (args, flag) in [
            (
                (some("Open AI"), some("m"), None, None),
                "--default-llm-provider",
            ),
            ((some("openai"), None, None, None), "--default-llm-model"),
            (
                (some("openai"), some("m"), some("ftp://x"), None),
                "--default-llm-base-url",
            ),
            (
                (some("openai"), some("m"), None, some("Bad_Name")),
                "--default-llm-secret",
            ),
            ((None, some("m"), None, None), "--default-llm-provider"),
        ] {
            let err = default_llm(args.0, args.1, args.2, args.3)
                .unwrap_err()
                .to_string();
            assert!(err.contains(flag), "{err}");
        }
    }
}
