//! Command line and environment of the `oqto-operator` binary, and what they become: the
//! defaults for Workspaces that name none, and the Kubernetes controllers' settings. Flags
//! whose values obey a CRD's rules are checked here, before anything starts, so a typo fails
//! the start with the flag's name instead of every runner.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Parser, Subcommand, ValueEnum};
use oqto_store::LocalStore;

use crate::core::{OperatorDefaults, RunnerPeers};
use crate::kubernetes;

#[derive(Parser)]
#[command(
    name = "oqto-operator",
    version,
    about = "Oqto's operator: reconciles Workspaces and Sessions into Kubernetes or Podman"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Runtime {
    Kubernetes,
    Podman,
}

// Parsed once at start: the size of the `run` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Reconcile Workspaces and Sessions until SIGTERM.
    Run(RunArgs),
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

pub fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// `run`: reconcile until SIGTERM.
#[derive(Args)]
pub struct RunArgs {
    #[arg(long, value_enum, default_value = "kubernetes")]
    pub runtime: Runtime,
    /// Watch this namespace only (default: all namespaces).
    #[arg(long, env = "OQTO_NAMESPACE")]
    pub namespace: Option<String>,
    /// Runner image for Workspaces that name none.
    #[arg(long, env = "OQTO_RUNNER_IMAGE")]
    pub runner_image: Option<String>,
    /// Browser sidecar image for Workspaces whose runner enables a browser and names no image
    /// (`spec.runner.browser`).
    #[arg(long, env = "OQTO_BROWSER_IMAGE", default_value = crate::core::browser::DEFAULT_IMAGE)]
    pub browser_image: String,
    /// WorkspaceClass of Workspaces that name none (`spec.workspaceClassName`); shared with
    /// the gateway. Unset: such Workspaces get this operator's defaults alone.
    #[arg(long, env = "OQTO_DEFAULT_WORKSPACE_CLASS")]
    pub default_workspace_class: Option<String>,
    /// LLM provider (as Pi names it) of Workspaces that set no `spec.llm`.
    #[arg(
        long,
        env = "OQTO_DEFAULT_LLM_PROVIDER",
        requires = "default_llm_model"
    )]
    pub default_llm_provider: Option<String>,
    /// Model of that provider.
    #[arg(
        long,
        env = "OQTO_DEFAULT_LLM_MODEL",
        requires = "default_llm_provider"
    )]
    pub default_llm_model: Option<String>,
    /// OpenAI-compatible base URL of that provider (for providers Pi does not know).
    #[arg(
        long,
        env = "OQTO_DEFAULT_LLM_BASE_URL",
        requires = "default_llm_provider"
    )]
    pub default_llm_base_url: Option<String>,
    /// Secret (in the Session's namespace) with that provider's keys, e.g. OPENAI_API_KEY.
    #[arg(
        long,
        env = "OQTO_DEFAULT_LLM_SECRET",
        requires = "default_llm_provider"
    )]
    pub default_llm_secret: Option<String>,
    /// Label of the gateway pods (KEY=VALUE, repeatable): only they and the operator's pods may
    /// reach runners.
    #[arg(long = "gateway-label", value_parser = parse_label, default_value = "app.kubernetes.io/name=oqto-gateway")]
    pub gateway_labels: Vec<(String, String)>,
    /// Label of the operator's own pods (KEY=VALUE, repeatable): it asks runners for activity.
    #[arg(long = "operator-label", value_parser = parse_label, default_value = "app.kubernetes.io/name=oqto-operator")]
    pub operator_labels: Vec<(String, String)>,
    /// Namespace of the gateway and operator pods: runners admit the labels above only there.
    /// Unset: in any namespace (a platform running outside the cluster).
    #[arg(long, env = "OQTO_PLATFORM_NAMESPACE")]
    pub platform_namespace: Option<String>,
    /// The key runner tokens are derived from, shared with the gateway (at least 32
    /// characters). Podman mode: default, the one in the state directory.
    #[arg(long, env = "OQTO_RUNNER_KEY", hide_env_values = true)]
    pub runner_key: Option<String>,
    /// The platform's LLM proxy as runners reach it (its root URL). Set: runners get this URL
    /// and their Session's virtual key, and no provider endpoint or credentials.
    #[arg(long, env = oqto_proto::llm::ENV_PROXY_URL)]
    pub llm_proxy_url: Option<String>,
    /// The signer of virtual LLM keys, shared with the proxy (at least 32 characters).
    /// Podman mode: default, the one in the state directory.
    #[arg(long, env = "OQTO_LLM_KEY_SIGNER", hide_env_values = true)]
    pub llm_key_signer: Option<String>,
    /// Labels of the LLM proxy's pods (key=value, repeatable), which Restricted runners may
    /// reach in `--platform-namespace` on the URL's port.
    #[arg(long = "llm-proxy-label", value_parser = parse_label, default_value = "app.kubernetes.io/name=oqto-llm-proxy")]
    pub llm_proxy_labels: Vec<(String, String)>,
    /// The gateway's root URL as runners reach it. Set: each runner gets it and its Session's
    /// credential and may start children of its Session (delegation); Restricted runners may
    /// reach the gateway's pods (`--gateway-label`). Unset: no delegation.
    #[arg(long, env = "OQTO_RUNNER_GATEWAY_URL")]
    pub runner_gateway_url: Option<String>,
    /// Keep one Session started ahead in every Workspace that has a Session in use: a new
    /// Session created without a name claims it and answers at once. Costs one idle runner per
    /// active Workspace.
    #[arg(long, env = "OQTO_WARM_SPARES", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub warm_spares: bool,
    /// This replica's name in Events and the leader Lease (in a cluster: the pod name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Namespace of the leader Lease (in a cluster: the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// Port of the runners' HTTP server (pi-bridge), where the operator asks for activity.
    #[arg(long, default_value_t = oqto_proto::runner::PORT)]
    pub runner_port: u16,
    /// How often a running Session's activity is checked (idle suspend), e.g. 30s.
    #[arg(long, default_value = "30s")]
    pub activity_every: oqto_api::BoundedDuration,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:8081")]
    pub http_listen: std::net::SocketAddr,
    /// Podman mode: where Workspaces and Sessions are kept.
    #[arg(long, env = "OQTO_STATE_DIR", default_value_os_t = LocalStore::default_dir())]
    pub state_dir: PathBuf,
    /// Podman mode: Podman's API socket (`podman system service`).
    #[arg(
        long,
        env = "OQTO_PODMAN_SOCKET",
        default_value = "unix:///run/podman/podman.sock"
    )]
    pub podman_socket: String,
    /// Podman mode: the network of runners with `network.egress: Restricted`, whose host
    /// firewall rules `hack/podman/egress.sh` installs. Such runners do not start without it.
    #[arg(
        long,
        env = "OQTO_RESTRICTED_NETWORK",
        default_value = crate::podman::render::RESTRICTED_NETWORK
    )]
    pub restricted_network: String,
    /// Podman mode: give each new Workspace a user namespace of its own (a range of 65536 host
    /// uids from 2^31 up; needs `containers:2147483647:2147483648` in /etc/subuid and
    /// /etc/subgid, which `hack/podman/setup.sh` writes). Rootful Podman only. Off by default:
    /// on Podman 4.3, API services creating `--userns=auto` containers side by side hung for
    /// minutes in one CI run (as containers/podman#16062 reports for 4.2).
    #[arg(
        long,
        env = "OQTO_RUNNER_USER_NAMESPACES",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub runner_user_namespaces: bool,
}

impl RunArgs {
    /// How Podman runners are isolated.
    pub fn podman(&self) -> crate::podman::Settings {
        crate::podman::Settings {
            restricted_network: self.restricted_network.clone(),
            user_namespaces: self.runner_user_namespaces,
        }
    }

    /// What Workspaces that name no image or LLM get.
    pub fn defaults(&self) -> anyhow::Result<OperatorDefaults> {
        let single_node = match self.runtime {
            Runtime::Podman => Some(LocalStore::open(&self.state_dir)?),
            Runtime::Kubernetes => None,
        };
        let runner_key = oqto_store::runner_key(self.runner_key.as_deref(), single_node.as_ref())?;
        let llm_proxy = match self.llm_proxy_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => {
                let parsed = reqwest::Url::parse(url)
                    .map_err(|e| anyhow::anyhow!("--llm-proxy-url {url:?}: {e}"))?;
                anyhow::ensure!(
                    matches!(parsed.scheme(), "http" | "https"),
                    "--llm-proxy-url {url:?}: an http(s) URL"
                );
                Some(crate::core::LlmProxy {
                    url: url.trim_end_matches('/').to_owned(),
                    signer: oqto_store::llm_key_signer(
                        self.llm_key_signer.as_deref(),
                        single_node.as_ref(),
                    )?,
                    labels: self.llm_proxy_labels.iter().cloned().collect(),
                })
            }
            None => None,
        };
        let gateway_url = match self.runner_gateway_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => {
                let parsed = reqwest::Url::parse(url)
                    .map_err(|e| anyhow::anyhow!("--runner-gateway-url {url:?}: {e}"))?;
                anyhow::ensure!(
                    matches!(parsed.scheme(), "http" | "https"),
                    "--runner-gateway-url {url:?}: an http(s) URL"
                );
                Some(url.trim_end_matches('/').to_owned())
            }
            None => None,
        };
        anyhow::ensure!(
            !self.browser_image.trim().is_empty(),
            "--browser-image (OQTO_BROWSER_IMAGE): an image name, not empty"
        );
        Ok(OperatorDefaults {
            gateway_url,
            warm_spares: self.warm_spares,
            runner_image: self.runner_image.clone(),
            browser_image: self.browser_image.clone(),
            workspace_class: self
                .default_workspace_class
                .clone()
                .filter(|c| !c.is_empty()),
            peers: RunnerPeers {
                namespace: self.platform_namespace.clone().filter(|ns| !ns.is_empty()),
                gateway_labels: self.gateway_labels.iter().cloned().collect(),
                operator_labels: self.operator_labels.iter().cloned().collect(),
            },
            runner_key,
            llm_proxy,
            llm: default_llm(
                self.default_llm_provider.clone(),
                self.default_llm_model.clone(),
                self.default_llm_base_url.clone(),
                self.default_llm_secret.clone(),
            )?,
        })
    }

    /// The Kubernetes controllers' settings.
    pub fn kubernetes(&self, defaults: OperatorDefaults) -> kubernetes::Settings {
        kubernetes::Settings {
            namespace: self.namespace.clone(),
            defaults,
            runner_port: self.runner_port,
            activity_every: self.activity_every.as_duration(),
            prune_every: Duration::from_secs(60),
            identity: self.identity.clone().unwrap_or_else(default_identity),
        }
    }
}

/// hostname-pid: unique per process, readable in Events.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), std::process::id())
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

    #[test]
    fn run_flags_become_the_reconcilers_settings() {
        let Command::Run(args) = Cli::try_parse_from([
            "oqto-operator",
            "run",
            "--namespace",
            "team",
            "--runner-image",
            "registry.example/runner:1",
            "--activity-every",
            "45s",
            "--runner-key",
            "a-runner-key-of-at-least-32-characters",
        ])
        .unwrap()
        .command
        else {
            panic!("run")
        };
        assert!(matches!(args.runtime, Runtime::Kubernetes));
        assert_eq!(args.runner_port, oqto_proto::runner::PORT);
        let defaults = args.defaults().unwrap();
        assert_eq!(
            defaults.runner_image.as_deref(),
            Some("registry.example/runner:1")
        );
        assert_eq!(defaults.peers, RunnerPeers::default());
        assert_eq!(defaults.browser_image, "localhost/oqto-browser:dev");
        let Command::Run(keyless) = Cli::try_parse_from(["oqto-operator", "run"])
            .unwrap()
            .command
        else {
            panic!("run")
        };
        let error = keyless.defaults().unwrap_err().to_string();
        assert!(error.contains("OQTO_RUNNER_KEY"), "{error}");
        let settings = args.kubernetes(defaults);
        assert_eq!(settings.namespace.as_deref(), Some("team"));
        assert_eq!(settings.activity_every, Duration::from_secs(45));
        assert!(!settings.identity.is_empty());
    }

    #[test]
    fn bad_run_flags_fail_the_start_with_the_flags_name() {
        for (flag, value) in [
            ("--activity-every", "99999999999999h"),
            ("--gateway-label", "no-equals-sign"),
            ("--runtime", "docker"),
        ] {
            let error = Cli::try_parse_from(["oqto-operator", "run", flag, value])
                .err()
                .unwrap_or_else(|| panic!("{flag} {value} accepted"))
                .to_string();
            assert!(error.contains(flag), "{error}");
        }
    }
}
