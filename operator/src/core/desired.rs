//! The desired runner of a Session, independent of where it runs: image, environment (LLM keys
//! only by reference to the Workspace's Secret), storage, ports and resources. Both runtimes
//! render this plan; nothing here talks to an API.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvFromSource, EnvVar, ResourceRequirements, SecretEnvSource};
use oqto_api::workspace::{AccessMode, EgressPolicy, ImagePullPolicy, ReclaimPolicy};
use oqto_api::{Session, Workspace};

use super::browser::BrowserPlan;
use super::error::CoreError;
use oqto_api::names;
use oqto_proto::runner;
use oqto_proto::runner::{RunnerKey, RunnerToken};

/// Settings of the operator itself (flags), not of any one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorDefaults {
    /// Runner image when the Workspace names none.
    pub runner_image: Option<String>,
    /// Browser sidecar image when the Workspace and its class name none
    /// (`browser::DEFAULT_IMAGE` unless configured).
    pub browser_image: String,
    /// The WorkspaceClass of Workspaces that name none.
    pub workspace_class: Option<String>,
    /// The pods allowed to reach a runner's port (Kubernetes).
    pub peers: RunnerPeers,
    /// The LLM of Workspaces that set no `spec.llm` (a stack-wide provider, or the demo one).
    pub llm: Option<oqto_api::LlmSpec>,
    /// Derives each runner's token (shared with the gateway).
    pub runner_key: RunnerKey,
    /// The platform's LLM proxy: runners get its URL and their Session's virtual key instead
    /// of any provider's endpoint or credentials.
    pub llm_proxy: Option<LlmProxy>,
    /// The gateway's root URL as runners reach it: set, each runner gets it and its Session's
    /// credential, and may start children of its Session (delegation).
    pub gateway_url: Option<String>,
    /// Keep a warm spare Session in every Workspace with a Session in use
    /// (`oqto_api::spare`).
    pub warm_spares: bool,
}

/// Where runners reach models when the platform runs the LLM proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmProxy {
    /// The proxy's root URL as runners reach it.
    pub url: String,
    /// Mints each Session's virtual key (the proxy holds the same signer).
    pub signer: oqto_proto::llm::VirtualKeySigner,
    /// The proxy's pods (Kubernetes), in the platform's namespace: the one private peer a
    /// Restricted runner may reach, on the URL's port (its Service must not remap it).
    pub labels: BTreeMap<String, String>,
}

impl LlmProxy {
    /// The port of the proxy's URL (the scheme's default when it names none).
    pub fn port(&self) -> i32 {
        reqwest::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.port_or_known_default())
            .map_or(80, i32::from)
    }
}

/// A value a runner needs that must not be in its Pod spec or any status: Kubernetes hands it
/// over in the runner's Secret (owned by the Session), Podman in the container's environment.
#[derive(Clone, PartialEq)]
pub struct SecretEnv {
    /// The variable in the runner.
    pub name: &'static str,
    /// The key in the runner's Secret.
    pub key: &'static str,
    pub value: String,
}

impl std::fmt::Debug for SecretEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretEnv({}=..)", self.name)
    }
}

impl OperatorDefaults {
    /// No default image or LLM; the chart's gateway and operator as peers, in any namespace.
    pub fn new(runner_key: RunnerKey) -> Self {
        Self {
            runner_image: None,
            browser_image: super::browser::DEFAULT_IMAGE.into(),
            workspace_class: None,
            peers: RunnerPeers::default(),
            llm: None,
            runner_key,
            llm_proxy: None,
            gateway_url: None,
            warm_spares: false,
        }
    }
}

/// Who reaches a runner's port on Kubernetes (its NetworkPolicy): the gateway (the relay) and
/// the operator (activity), by their pods' labels, in the platform's namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerPeers {
    /// Where the gateway and the operator run; `None` admits those labels in any namespace
    /// (only for a platform outside the cluster, as in tests).
    pub namespace: Option<String>,
    pub gateway_labels: BTreeMap<String, String>,
    pub operator_labels: BTreeMap<String, String>,
}

impl Default for RunnerPeers {
    fn default() -> Self {
        let name =
            |value: &str| BTreeMap::from([("app.kubernetes.io/name".to_owned(), value.to_owned())]);
        Self {
            namespace: None,
            gateway_labels: name("oqto-gateway"),
            operator_labels: name("oqto-operator"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoragePlan {
    /// The claim's (Kubernetes) or the volumes' base (Podman) name: bound to the Workspace's
    /// uid, see `names::claim`.
    pub claim_name: String,
    pub size: String,
    pub storage_class_name: Option<String>,
    pub access_modes: Vec<AccessMode>,
    pub reclaim_policy: ReclaimPolicy,
}

impl StoragePlan {
    pub fn for_workspace(workspace: &Workspace, name: &str) -> Self {
        let storage = &workspace.spec.storage;
        let uid = workspace.metadata.uid.as_deref().unwrap_or_default();
        Self {
            claim_name: names::claim(name, uid),
            size: storage.size.0.clone(),
            storage_class_name: storage.storage_class_name.clone(),
            access_modes: storage.access_modes.clone(),
            reclaim_policy: storage.reclaim_policy,
        }
    }

    /// A volume only one node can mount: every runner of the workspace must share that node.
    pub fn single_node(&self) -> bool {
        !self.access_modes.contains(&AccessMode::ReadWriteMany)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunnerPlan {
    pub namespace: String,
    pub workspace: String,
    pub session: String,
    /// Pod / container / service name.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub image: String,
    pub image_pull_policy: Option<ImagePullPolicy>,
    /// Plain settings; never a secret value.
    pub env: Vec<EnvVar>,
    /// What pi-bridge demands of every request but probes; derived from the Session's uid.
    /// Kubernetes hands it over in a Secret owned by the Session, Podman in the environment.
    pub token: RunnerToken,
    /// The Session's virtual LLM key, when the platform runs the LLM proxy.
    pub llm_key: Option<oqto_proto::llm::VirtualKey>,
    /// The Session's credential towards the gateway, when runners may delegate.
    pub session_credential: Option<oqto_proto::runner::SessionCredential>,
    /// Secrets and ConfigMaps by reference (the LLM credentials among them).
    pub env_from: Vec<EnvFromSource>,
    pub resources: Option<ResourceRequirements>,
    /// RuntimeClass of the Pod (Kubernetes; Podman runs its own runtime).
    pub runtime_class_name: Option<String>,
    /// Where the Pod may run (Kubernetes; Podman runs on its one host).
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<k8s_openapi::api::core::v1::Toleration>,
    pub storage: StoragePlan,
    pub egress: EgressPolicy,
    pub service_account: String,
    /// Seconds a start may take before it counts as failed.
    pub start_timeout_seconds: u64,
    /// The start ends only when the runner's Pi has loaded (`oqto_proto::runner::READY_WARM_PATH`), not when the
    /// bridge is up: a warm spare, which is claimed as soon as it is Running and must answer
    /// at once. Other runners report ready earlier and load Pi while that news travels.
    pub ready_when_warm: bool,
    /// The browser sidecar, when the Workspace (or its class) enables one.
    pub browser: Option<BrowserPlan>,
}

impl RunnerPlan {
    /// The runner's secret values (its token, its virtual LLM key), for the runtime to hand
    /// over out of the spec.
    pub fn secret_env(&self) -> Vec<SecretEnv> {
        let mut out = vec![SecretEnv {
            name: runner::ENV_TOKEN,
            key: "token",
            value: self.token.expose().to_owned(),
        }];
        if let Some(key) = &self.llm_key {
            out.push(SecretEnv {
                name: runner::ENV_LLM_API_KEY,
                key: "llm-key",
                value: key.expose().to_owned(),
            });
        }
        if let Some(credential) = &self.session_credential {
            out.push(SecretEnv {
                name: runner::ENV_SESSION_CREDENTIAL,
                key: "session-credential",
                value: credential.expose().to_owned(),
            });
        }
        out
    }
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// Variables the operator sets; a Workspace may not override them.
const RESERVED_ENV: [&str; runner::OPERATOR_SET.len()] = runner::OPERATOR_SET;

impl RunnerPlan {
    /// Validates the pair and builds the plan.
    pub fn build(
        workspace: &Workspace,
        session: &Session,
        defaults: &OperatorDefaults,
    ) -> Result<Self, CoreError> {
        let workspace_name = workspace.metadata.name.clone().unwrap_or_default();
        let session_name = session.metadata.name.clone().unwrap_or_default();
        let namespace = session.metadata.namespace.clone().unwrap_or_default();
        if session.spec.workspace_ref.name != workspace_name {
            return Err(CoreError::WrongWorkspace {
                wanted: session.spec.workspace_ref.name.clone(),
                given: workspace_name,
            });
        }
        if workspace.metadata.deletion_timestamp.is_some() {
            return Err(CoreError::WorkspaceTerminating {
                workspace: workspace_name,
            });
        }
        // Stores always give one; without it every such runner would share one token.
        let session_uid = session
            .metadata
            .uid
            .clone()
            .filter(|uid| !uid.is_empty())
            .ok_or_else(|| CoreError::InvalidField {
                field: "metadata.uid",
                reason: "the Session has no uid yet".into(),
            })?;
        let runner = &workspace.spec.runner;
        let image = runner
            .image
            .clone()
            .or_else(|| defaults.runner_image.clone())
            .ok_or(CoreError::NoRunnerImage)?;
        if let Some(bad) = runner
            .env
            .iter()
            .find(|e| RESERVED_ENV.contains(&e.name.as_str()))
        {
            return Err(CoreError::InvalidField {
                field: "spec.runner.env",
                reason: format!("{} is set by the operator", bad.name),
            });
        }

        let llm = workspace.spec.llm.as_ref().or(defaults.llm.as_ref());
        // A Session's override wins; the schema makes a provider override carry a model.
        let provider = session
            .spec
            .provider
            .clone()
            .or_else(|| llm.map(|l| l.provider.clone()));
        let model = session
            .spec
            .model
            .clone()
            .or_else(|| llm.map(|l| l.model.clone()));

        let mut vars = vec![
            env(
                runner::ENV_LISTEN,
                format!("0.0.0.0:{}", crate::core::RUNNER_PORT),
            ),
            env(runner::ENV_WORKSPACE, "/workspace"),
            env(runner::ENV_RUNNER_ID, session_name.clone()),
            env(runner::ENV_SESSION, session_name.clone()),
        ];
        if let Some(provider) = provider {
            vars.push(env(runner::ENV_PROVIDER, provider));
        }
        if let Some(model) = model {
            vars.push(env(runner::ENV_MODEL, model));
        }
        // Through the proxy, a runner gets its URL and the Session's own key; without it, the
        // Workspace's endpoint and credentials.
        let llm_key = defaults.llm_proxy.as_ref().map(|proxy| {
            proxy.signer.mint(&oqto_proto::llm::KeyClaims {
                namespace: namespace.clone(),
                session: session_name.clone(),
                session_uid: session_uid.clone(),
            })
        });
        if let Some(proxy) = &defaults.llm_proxy {
            vars.push(env(oqto_proto::llm::ENV_PROXY_URL, proxy.url.clone()));
        } else if let Some(base_url) = llm.and_then(|l| l.base_url.clone()) {
            vars.push(env(runner::ENV_LLM_BASE_URL, base_url));
        }
        if let Some(url) = &defaults.gateway_url {
            vars.push(env(runner::ENV_GATEWAY_URL, url.clone()));
        }
        let browser = BrowserPlan::for_runner(runner, defaults);
        if browser.is_some() {
            vars.push(env(runner::ENV_BROWSER_CDP, runner::BROWSER_CDP_URL));
        }
        vars.extend(runner.env.iter().cloned());

        let mut env_from = runner.env_from.clone();
        if defaults.llm_proxy.is_some() {
            // Provider keys stay in the proxy.
        } else if let Some(secret) = llm.and_then(|l| l.credentials_secret_ref.as_ref()) {
            // By reference: the keys become variables in the runner, the values never pass
            // through the operator, its logs or any status.
            env_from.push(EnvFromSource {
                secret_ref: Some(SecretEnvSource {
                    name: secret.name.clone(),
                    optional: Some(false),
                }),
                ..Default::default()
            });
        }

        Ok(Self {
            namespace,
            name: names::runner(&session_name),
            labels: names::runner_labels(&workspace_name, &session_name),
            storage: StoragePlan::for_workspace(workspace, &workspace_name),
            service_account: names::service_account(&workspace_name),
            egress: workspace.spec.network.egress,
            start_timeout_seconds: std::time::Duration::from(
                &workspace.spec.lifecycle.start_timeout,
            )
            .as_secs(),
            ready_when_warm: oqto_api::spare::is_spare(session),
            browser,
            image,
            image_pull_policy: runner.image_pull_policy,
            env: vars,
            token: defaults.runner_key.token(&session_uid),
            session_credential: defaults.gateway_url.as_ref().map(|_| {
                defaults
                    .runner_key
                    .session_credential(&session_name, &session_uid)
            }),
            llm_key,
            env_from,
            resources: runner.resources.clone(),
            runtime_class_name: runner.runtime_class_name.clone(),
            node_selector: runner.node_selector.clone(),
            tolerations: runner.tolerations.clone(),
            workspace: workspace_name,
            session: session_name,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn workspace(spec: serde_json::Value) -> Workspace {
        serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Workspace",
            "metadata":{"name":"alice-dev","namespace":"team","uid":"w-uid"},"spec":spec}))
        .unwrap()
    }

    pub fn session(spec: serde_json::Value) -> Session {
        serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session",
            "metadata":{"name":"fix-bug","namespace":"team","uid":"s-uid"},"spec":spec}))
        .unwrap()
    }

    fn defaults() -> OperatorDefaults {
        OperatorDefaults {
            runner_image: Some("localhost/oqto-runner:dev".into()),
            ..OperatorDefaults::new(RunnerKey::new(vec![7; 32]).unwrap())
        }
    }

    fn var<'a>(plan: &'a RunnerPlan, name: &str) -> Option<&'a str> {
        plan.env
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.as_deref())
    }

    #[test]
    fn a_session_inherits_the_workspace_llm_and_may_override_it() {
        let ws = workspace(
            json!({"owner":"alice","llm":{"provider":"anthropic","model":"claude",
            "credentialsSecretRef":{"name":"alice-llm"}}}),
        );
        let plan = RunnerPlan::build(
            &ws,
            &session(json!({"workspaceRef":{"name":"alice-dev"}})),
            &defaults(),
        )
        .unwrap();
        assert_eq!(var(&plan, "PI_BRIDGE_PROVIDER"), Some("anthropic"));
        assert_eq!(var(&plan, "PI_BRIDGE_MODEL"), Some("claude"));
        assert_eq!(var(&plan, "PI_BRIDGE_RUNNER_ID"), Some("fix-bug"));
        assert_eq!(
            plan.env_from[0].secret_ref.as_ref().unwrap().name,
            "alice-llm"
        );
        assert!(
            plan.env.iter().all(|e| e.value_from.is_none()),
            "no secret values in plain env"
        );
        let over = RunnerPlan::build(
            &ws,
            &session(json!({"workspaceRef":{"name":"alice-dev"},
            "provider":"openai","model":"gpt"})),
            &defaults(),
        )
        .unwrap();
        assert_eq!(var(&over, "PI_BRIDGE_PROVIDER"), Some("openai"));
        assert_eq!(var(&over, "PI_BRIDGE_MODEL"), Some("gpt"));
        assert_eq!(
            plan.storage.claim_name,
            oqto_api::names::claim("alice-dev", "w-uid")
        );
        assert_eq!(plan.start_timeout_seconds, 300);
    }

    #[test]
    fn behind_the_llm_proxy_a_runner_gets_its_sessions_key_and_no_provider_credentials() {
        let signer = oqto_proto::llm::VirtualKeySigner::new(vec![9; 32]).unwrap();
        let proxied = OperatorDefaults {
            llm_proxy: Some(LlmProxy {
                url: "http://oqto-llm-proxy.oqto:8091".into(),
                signer: signer.clone(),
                labels: BTreeMap::new(),
            }),
            ..defaults()
        };
        let ws = workspace(
            json!({"owner":"alice","llm":{"provider":"openai","model":"gpt",
            "baseUrl":"http://llm.example/v1","credentialsSecretRef":{"name":"team-llm"}}}),
        );
        let plan = RunnerPlan::build(
            &ws,
            &session(json!({"workspaceRef":{"name":"alice-dev"}})),
            &proxied,
        )
        .unwrap();
        assert_eq!(
            var(&plan, "OQTO_LLM_PROXY_URL"),
            Some("http://oqto-llm-proxy.oqto:8091")
        );
        assert_eq!(
            var(&plan, "OQTO_LLM_BASE_URL"),
            None,
            "no provider endpoint"
        );
        assert!(plan.env_from.is_empty(), "no provider credentials");
        assert_eq!(
            var(&plan, "PI_BRIDGE_MODEL"),
            Some("gpt"),
            "the model still"
        );
        let secrets = plan.secret_env();
        let key = secrets
            .iter()
            .find(|s| s.name == "OQTO_LLM_API_KEY")
            .expect("the virtual key");
        assert_eq!(
            signer.verify(&key.value),
            Some(oqto_proto::llm::KeyClaims {
                namespace: "team".into(),
                session: "fix-bug".into(),
                session_uid: "s-uid".into(),
            })
        );
        assert!(
            !format!("{secrets:?}").contains(&key.value),
            "never printed"
        );
        let without = RunnerPlan::build(
            &ws,
            &session(json!({"workspaceRef":{"name":"alice-dev"}})),
            &defaults(),
        )
        .unwrap();
        assert_eq!(without.secret_env().len(), 1, "the token alone");
        assert_eq!(without.env_from.len(), 1, "the Workspace's credentials");
    }

    #[test]
    fn runners_that_may_delegate_get_the_gateway_and_their_sessions_credential_as_a_secret() {
        let ws = workspace(json!({"owner":"alice"}));
        let mut delegating = defaults();
        delegating.gateway_url = Some("http://oqto-gateway.oqto.svc:80".into());
        let plan = RunnerPlan::build(
            &ws,
            &session(json!({"workspaceRef":{"name":"alice-dev"}})),
            &delegating,
        )
        .unwrap();
        assert_eq!(
            var(&plan, "OQTO_GATEWAY_URL"),
            Some("http://oqto-gateway.oqto.svc:80")
        );
        let secrets = plan.secret_env();
        let credential = secrets
            .iter()
            .find(|s| s.name == "OQTO_SESSION_CREDENTIAL")
            .expect("the session credential");
        assert_eq!(
            credential.value,
            delegating
                .runner_key
                .session_credential("fix-bug", "s-uid")
                .expose()
        );
        assert_eq!(
            var(&plan, "OQTO_SESSION_CREDENTIAL"),
            None,
            "not in plain env"
        );
        let without = RunnerPlan::build(
            &ws,
            &session(json!({"workspaceRef":{"name":"alice-dev"}})),
            &defaults(),
        )
        .unwrap();
        assert!(var(&without, "OQTO_GATEWAY_URL").is_none());
        assert!(
            without.session_credential.is_none(),
            "no gateway, no credential"
        );
    }

    #[test]
    fn a_workspace_without_llm_gets_the_operators_default_and_its_own_llm_wins() {
        let with_default = OperatorDefaults {
            llm: Some(oqto_api::LlmSpec {
                provider: "oqto-demo".into(),
                model: "demo".into(),
                base_url: Some("http://host.containers.internal:8090/v1".into()),
                credentials_secret_ref: Some(oqto_api::SecretReference {
                    name: "oqto-llm".into(),
                }),
            }),
            ..defaults()
        };
        let session = session(json!({"workspaceRef":{"name":"alice-dev"}}));
        let plain = RunnerPlan::build(
            &workspace(json!({"owner":"alice"})),
            &session,
            &with_default,
        )
        .unwrap();
        assert_eq!(var(&plain, "PI_BRIDGE_PROVIDER"), Some("oqto-demo"));
        assert_eq!(
            var(&plain, "OQTO_LLM_BASE_URL"),
            Some("http://host.containers.internal:8090/v1")
        );
        assert_eq!(
            plain.env_from[0].secret_ref.as_ref().unwrap().name,
            "oqto-llm"
        );
        let own = RunnerPlan::build(
            &workspace(json!({"owner":"alice","llm":{"provider":"anthropic","model":"claude"}})),
            &session,
            &with_default,
        )
        .unwrap();
        assert_eq!(var(&own, "PI_BRIDGE_PROVIDER"), Some("anthropic"));
        assert_eq!(var(&own, "OQTO_LLM_BASE_URL"), None);
        assert!(
            own.env_from.is_empty(),
            "the default's Secret stays with the default"
        );
    }

    #[test]
    fn user_errors_name_the_field_and_have_stable_reasons() {
        let ws = workspace(json!({"owner":"alice"}));
        let wrong = RunnerPlan::build(
            &ws,
            &session(json!({"workspaceRef":{"name":"bob-dev"}})),
            &defaults(),
        )
        .unwrap_err();
        assert_eq!(wrong.reason(), "WorkspaceMismatch");
        assert!(wrong.to_string().contains("spec.workspaceRef.name"));
        let no_image = OperatorDefaults {
            runner_image: None,
            ..defaults()
        };
        let err = RunnerPlan::build(
            &ws,
            &session(json!({"workspaceRef":{"name":"alice-dev"}})),
            &no_image,
        )
        .unwrap_err();
        assert_eq!(err.reason(), "NoRunnerImage");
        let sneaky = workspace(
            json!({"owner":"alice","runner":{"env":[{"name":"PI_BRIDGE_LISTEN","value":"0.0.0.0:1"}]}}),
        );
        let err = RunnerPlan::build(
            &sneaky,
            &session(json!({"workspaceRef":{"name":"alice-dev"}})),
            &defaults(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("spec.runner.env: PI_BRIDGE_LISTEN"),
            "{err}"
        );
    }
}
