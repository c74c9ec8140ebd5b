//! The `WorkspaceClass` resource: what an admin decides for a kind of Workspace (the runner's
//! image, resources and Secrets, the LLM's endpoint and credentials, egress, the storage class,
//! size and timeout bounds) and which users may choose it. A Workspace names a class and sets
//! only what a user may; the operator builds its runners from the two together
//! ([`with_class`]), and the gateway and the admission policy refuse a class a user may not
//! use.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::duration::BoundedDuration;
use crate::rules::{FieldError, Rules, quantity};
use crate::schema;
use crate::workspace::{EgressPolicy, LlmSpec, NetworkSpec, RunnerSpec, WorkspaceSpec};

/// Desired settings of a class of Workspaces. Admins write it; users only name it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "oqto.dev",
    version = "v1alpha1",
    kind = "WorkspaceClass",
    doc = "A WorkspaceClass is an admin's template for Workspaces: the runner, its Secrets, the LLM endpoint, egress and the bounds a user's Workspace must keep. Workspaces name it in spec.workspaceClassName.",
    plural = "workspaceclasses",
    singular = "workspaceclass",
    shortname = "wsc",
    category = "oqto",
    namespaced,
    derive = "PartialEq",
    printcolumn = r#"{"name":"Egress","type":"string","jsonPath":".spec.network.egress","description":"Egress policy of the runners"}"#,
    printcolumn = r#"{"name":"Users","type":"string","jsonPath":".spec.users","description":"Who may use the class (empty: everyone)"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceClassSpec {
    /// Name shown in the UI; defaults to the object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub display_name: Option<String>,

    /// One line for the UI: what the class is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub description: Option<String>,

    /// Users who may create Workspaces of this class: Oqto login names through the gateway,
    /// Kubernetes user names for `kubectl`. Empty: every user. Admins always may.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024), inner(length(min = 1, max = 253)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub users: Vec<String>,

    /// The runner of the class's Workspaces (a Workspace's own runner settings, which only
    /// admins may write, win field by field).
    #[serde(default)]
    pub runner: RunnerSpec,

    /// The LLM of the class: provider, endpoint and credentials. A Workspace may pick the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmSpec>,

    /// Models a Workspace or Session of this class may choose (at the class's provider).
    /// Empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 253)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub models: Vec<String>,

    /// Egress of the class's runners.
    #[serde(default)]
    pub network: NetworkSpec,

    /// Storage of the class's Workspaces.
    #[serde(default)]
    pub storage: ClassStorageSpec,

    /// Bounds of the class's timeouts.
    #[serde(default)]
    pub lifecycle: ClassLifecycleSpec,
}

/// Storage a class gives and allows.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassStorageSpec {
    /// StorageClass of the Workspaces' claims; the cluster default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub storage_class_name: Option<String>,

    /// The largest `spec.storage.size` a Workspace of this class may ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::positive_quantity")]
    pub max_size: Option<Quantity>,
}

/// Timeout bounds of a class.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassLifecycleSpec {
    /// The longest `spec.lifecycle.idleTimeout` a Workspace may set (`0s`, never suspend, is
    /// then refused too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::duration")]
    pub max_idle_timeout: Option<BoundedDuration>,

    /// The longest a runner of the class lives, busy or not; a Workspace may ask for less.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::duration")]
    pub max_lifetime: Option<BoundedDuration>,
}

impl WorkspaceClassSpec {
    /// Whether `user` may create Workspaces of this class (admins are not asked).
    pub fn admits(&self, user: &str) -> bool {
        self.users.is_empty() || self.users.iter().any(|u| u == user)
    }

    /// Refuses a model the class does not offer, naming `field`.
    pub fn check_model(&self, field: &'static str, model: &str) -> Result<(), FieldError> {
        if self.models.is_empty() || self.models.iter().any(|m| m == model) {
            return Ok(());
        }
        Err(FieldError {
            field,
            message: format!(
                "{model:?}: the workspace class offers {}",
                self.models.join(", ")
            ),
        })
    }
}

/// The class a Workspace belongs to: the one it names, else the platform's default (if any).
pub fn class_name<'a>(spec: &'a WorkspaceSpec, default: Option<&'a str>) -> Option<&'a str> {
    spec.workspace_class_name.as_deref().or(default)
}

/// The Workspace as its runners are built: the class's settings under the Workspace's own
/// (which, past the user's fields, only admins write), checked against the class's bounds.
/// Each refusal names the Workspace's field.
pub fn with_class(
    spec: &WorkspaceSpec,
    class: &WorkspaceClassSpec,
) -> Result<WorkspaceSpec, FieldError> {
    let mut out = spec.clone();
    let (runner, base) = (&mut out.runner, &class.runner);
    runner.image = runner.image.take().or_else(|| base.image.clone());
    runner.image_pull_policy = runner.image_pull_policy.or(base.image_pull_policy);
    runner.resources = runner.resources.take().or_else(|| base.resources.clone());
    runner.runtime_class_name = runner
        .runtime_class_name
        .take()
        .or_else(|| base.runtime_class_name.clone());
    runner.browser = crate::BrowserSpec::over(spec.runner.browser.as_ref(), base.browser.as_ref());
    runner.env = base.env.iter().chain(&spec.runner.env).cloned().collect();
    runner.env_from = base
        .env_from
        .iter()
        .chain(&spec.runner.env_from)
        .cloned()
        .collect();
    // The class's node pool, narrowed (never widened past its keys) by the Workspace's own.
    runner.node_selector = base
        .node_selector
        .iter()
        .chain(&spec.runner.node_selector)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    runner.tolerations = base
        .tolerations
        .iter()
        .chain(&spec.runner.tolerations)
        .cloned()
        .collect();

    // Open when either says so: the Workspace's egress is an admin's too, and its default
    // (Restricted) must not close what the class opens.
    if class.network.egress == EgressPolicy::Open {
        out.network.egress = EgressPolicy::Open;
    }

    out.llm = match (&class.llm, &spec.llm) {
        (None, own) => own.clone(),
        (Some(base), None) => Some(base.clone()),
        (Some(base), Some(own)) => {
            if own.provider != base.provider {
                return Err(FieldError {
                    field: "spec.llm.provider",
                    message: format!(
                        "{:?}: the workspace class uses provider {:?}",
                        own.provider, base.provider
                    ),
                });
            }
            Some(LlmSpec {
                provider: own.provider.clone(),
                model: own.model.clone(),
                base_url: own.base_url.clone().or_else(|| base.base_url.clone()),
                credentials_secret_ref: own
                    .credentials_secret_ref
                    .clone()
                    .or_else(|| base.credentials_secret_ref.clone()),
            })
        }
    };
    if let Some(llm) = &out.llm
        && spec.llm.is_some()
    {
        class.check_model("spec.llm.model", &llm.model)?;
    }

    out.storage.storage_class_name = out
        .storage
        .storage_class_name
        .take()
        .or_else(|| class.storage.storage_class_name.clone());
    if let Some(max) = &class.storage.max_size
        && quantity(&spec.storage.size.0) > quantity(&max.0)
    {
        return Err(FieldError {
            field: "spec.storage.size",
            message: format!(
                "{}: the workspace class allows at most {}",
                spec.storage.size.0, max.0
            ),
        });
    }

    if let Some(max) = &class.lifecycle.max_idle_timeout {
        let idle = spec.lifecycle.idle_timeout.as_duration();
        if idle.is_zero() || idle > max.as_duration() {
            return Err(FieldError {
                field: "spec.lifecycle.idleTimeout",
                message: format!(
                    "{}: the workspace class allows at most {max} (and not 0s, never)",
                    spec.lifecycle.idle_timeout
                ),
            });
        }
    }
    if let Some(max) = &class.lifecycle.max_lifetime {
        match &spec.lifecycle.max_lifetime {
            Some(own) if own.as_duration() > max.as_duration() => {
                return Err(FieldError {
                    field: "spec.lifecycle.maxLifetime",
                    message: format!("{own}: the workspace class allows at most {max}"),
                });
            }
            Some(_) => {}
            None => out.lifecycle.max_lifetime = Some(max.clone()),
        }
    }
    Ok(out)
}

impl Rules for WorkspaceClass {
    fn validate(&self) -> Result<(), FieldError> {
        if let Some(max) = &self.spec.storage.max_size
            && !quantity(&max.0).is_some_and(|q| q > 0.0)
        {
            return Err(FieldError {
                field: "spec.storage.maxSize",
                message: "must be a positive quantity such as 10Gi or 500Mi".into(),
            });
        }
        if let Some(bad) = self
            .spec
            .users
            .iter()
            .find(|u| u.is_empty() || u.len() > 253)
        {
            return Err(FieldError {
                field: "spec.users",
                message: format!("{bad:?}: a user name has 1 to 253 characters"),
            });
        }
        Ok(())
    }

    fn validate_update(&self, _old: &Self) -> Result<(), FieldError> {
        self.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> WorkspaceSpec {
        let mut value = value;
        value["owner"] = json!("alice");
        serde_json::from_value(value).unwrap()
    }

    fn class(value: serde_json::Value) -> WorkspaceClassSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_class_fills_in_what_the_workspace_leaves_open() {
        let class = class(json!({
            "runner": {"image": "team/runner:2", "runtimeClassName": "gvisor",
                       "envFrom": [{"secretRef": {"name": "team-tools"}}],
                       "nodeSelector": {"pool": "sandbox", "zone": "a"},
                       "tolerations": [{"key": "sandbox", "operator": "Exists", "effect": "NoSchedule"}],
                       "browser": {"enabled": true, "image": "team/browser:1"}},
            "llm": {"provider": "openai", "model": "small", "baseUrl": "http://llm",
                    "credentialsSecretRef": {"name": "team-llm"}},
            "models": ["small", "large"],
            "network": {"egress": "Open"},
            "storage": {"storageClassName": "fast", "maxSize": "20Gi"},
            "lifecycle": {"maxLifetime": "8h"},
        }));
        let out = with_class(
            &spec(json!({"llm": {"provider": "openai", "model": "large"},
                         "runner": {"browser": {"image": "own/browser:2"}}})),
            &class,
        )
        .unwrap();
        assert_eq!(out.runner.image.as_deref(), Some("team/runner:2"));
        // The browser merges field by field: the class's switch, the Workspace's image.
        let browser = out.runner.browser.as_ref().unwrap();
        assert!(browser.is_enabled());
        assert_eq!(browser.image.as_deref(), Some("own/browser:2"));
        assert_eq!(out.runner.runtime_class_name.as_deref(), Some("gvisor"));
        assert_eq!(out.runner.env_from.len(), 1);
        assert_eq!(
            out.runner.node_selector,
            [
                ("pool".to_owned(), "sandbox".to_owned()),
                ("zone".to_owned(), "a".to_owned())
            ]
            .into()
        );
        assert_eq!(out.runner.tolerations[0].key.as_deref(), Some("sandbox"));
        let llm = out.llm.unwrap();
        assert_eq!(llm.model, "large");
        assert_eq!(llm.base_url.as_deref(), Some("http://llm"));
        assert_eq!(llm.credentials_secret_ref.unwrap().name, "team-llm");
        assert_eq!(out.network.egress, EgressPolicy::Open);
        assert_eq!(out.storage.storage_class_name.as_deref(), Some("fast"));
        assert_eq!(out.lifecycle.max_lifetime.unwrap().to_string(), "8h");
    }

    #[test]
    fn a_restricted_class_keeps_the_default_restricted() {
        let out = with_class(&spec(json!({})), &class(json!({}))).unwrap();
        assert_eq!(out.network.egress, EgressPolicy::Restricted);
        assert_eq!(out.runner.image, None);
    }

    #[test]
    fn bounds_are_refused_with_the_workspace_field() {
        let class = class(json!({
            "llm": {"provider": "openai", "model": "small"},
            "models": ["small"],
            "storage": {"maxSize": "20Gi"},
            "lifecycle": {"maxIdleTimeout": "1h", "maxLifetime": "8h"},
        }));
        for (workspace, field) in [
            (json!({"storage": {"size": "21Gi"}}), "spec.storage.size"),
            (
                json!({"lifecycle": {"idleTimeout": "2h"}}),
                "spec.lifecycle.idleTimeout",
            ),
            (
                json!({"lifecycle": {"idleTimeout": "0s"}}),
                "spec.lifecycle.idleTimeout",
            ),
            (
                json!({"lifecycle": {"maxLifetime": "9h"}}),
                "spec.lifecycle.maxLifetime",
            ),
            (
                json!({"llm": {"provider": "openai", "model": "huge"}}),
                "spec.llm.model",
            ),
            (
                json!({"llm": {"provider": "other", "model": "small"}}),
                "spec.llm.provider",
            ),
        ] {
            let error = with_class(&spec(workspace.clone()), &class).unwrap_err();
            assert_eq!(error.field, field, "{workspace}: {error}");
        }
        assert!(with_class(&spec(json!({"storage": {"size": "20Gi"}})), &class).is_ok());
    }

    #[test]
    fn users_and_defaults() {
        let open = class(json!({}));
        assert!(open.admits("anyone"));
        let closed = class(json!({"users": ["bob"]}));
        assert!(closed.admits("bob") && !closed.admits("alice"));
        let named = spec(json!({"workspaceClassName": "gpu"}));
        assert_eq!(class_name(&named, Some("standard")), Some("gpu"));
        assert_eq!(
            class_name(&spec(json!({})), Some("standard")),
            Some("standard")
        );
        assert_eq!(class_name(&spec(json!({})), None), None);
    }
}
