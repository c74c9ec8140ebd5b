//! The `Workspace` resource: one user's storage, runner defaults, LLM access and lifecycle rules,
//! shared by all of its Sessions.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvFromSource, EnvVar, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::browser::BrowserSpec;
use crate::duration::BoundedDuration;
use crate::schema;

/// Desired state of a Workspace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "oqto.dev",
    version = "v1alpha1",
    kind = "Workspace",
    doc = "A Workspace is a user's persistent place to run AI coding agents: its storage outlives every runner pod, and its settings are the defaults for the Sessions that reference it.",
    plural = "workspaces",
    singular = "workspace",
    shortname = "ws",
    category = "oqto",
    namespaced,
    status = "WorkspaceStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Owner","type":"string","jsonPath":".spec.owner","description":"The user who owns the workspace"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase","description":"Lifecycle phase"}"#,
    printcolumn = r#"{"name":"Size","type":"string","jsonPath":".spec.storage.size","description":"Requested storage"}"#,
    printcolumn = r#"{"name":"Egress","type":"string","jsonPath":".spec.network.egress","priority":1,"description":"Egress policy of the runners"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.workspaceClassName) == has(oldSelf.workspaceClassName)", "message": "workspaceClassName is immutable", "fieldPath": ".workspaceClassName"},
]))]
pub struct WorkspaceSpec {
    /// The WorkspaceClass (same namespace) whose runner, LLM, egress and bounds this workspace
    /// takes; the platform's default class when unset. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "!format.dns1123Subdomain().validate(self).hasValue()", "message": "must be an object name: lowercase letters, digits, '-' and '.'"},
        {"rule": "self == oldSelf", "message": "workspaceClassName is immutable"},
    ]))]
    pub workspace_class_name: Option<String>,

    /// The user who owns this workspace, as known to the Oqto gateway (login name). Immutable.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "owner is immutable"}]))]
    pub owner: String,

    /// Human-friendly name shown in the UI; defaults to the object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub display_name: Option<String>,

    /// Persistent storage for the workspace files and the chat history.
    #[serde(default)]
    pub storage: StorageSpec,

    /// How runner pods of this workspace are built.
    #[serde(default)]
    pub runner: RunnerSpec,

    /// The LLM provider and model Sessions use unless they override them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmSpec>,

    /// When runners are suspended or given up on.
    #[serde(default)]
    pub lifecycle: LifecycleSpec,

    /// Network policy of the runner pods.
    #[serde(default)]
    pub network: NetworkSpec,
}

/// Persistent storage of a workspace: one PersistentVolumeClaim shared by its Sessions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "quantity(self.size).compareTo(quantity(oldSelf.size)) >= 0", "message": "size may grow but not shrink", "fieldPath": ".size"},
    {"rule": "has(self.storageClassName) == has(oldSelf.storageClassName)", "message": "storageClassName is immutable", "fieldPath": ".storageClassName"},
]))]
pub struct StorageSpec {
    /// Requested capacity, a Kubernetes quantity such as `10Gi`. May grow, never shrink.
    #[serde(default = "default_storage_size")]
    #[schemars(schema_with = "schema::positive_quantity")]
    pub size: Quantity,

    /// StorageClass of the claim; the cluster default when unset. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "storageClassName is immutable"}]))]
    pub storage_class_name: Option<String>,

    /// Access modes of the claim. With `ReadWriteOnce` all Sessions of the workspace are placed on
    /// one node so that they can share the volume. Immutable.
    #[serde(default = "default_access_modes")]
    #[schemars(length(min = 1, max = 3))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "accessModes is immutable"}]))]
    pub access_modes: Vec<AccessMode>,

    /// What happens to the storage when the Workspace is deleted: `Retain` keeps the claim (and
    /// with it the files and history), `Delete` removes it.
    #[serde(default)]
    pub reclaim_policy: ReclaimPolicy,
}

fn default_storage_size() -> Quantity {
    Quantity("10Gi".to_owned())
}

fn default_access_modes() -> Vec<AccessMode> {
    vec![AccessMode::ReadWriteOnce]
}

impl Default for StorageSpec {
    fn default() -> Self {
        Self {
            size: default_storage_size(),
            storage_class_name: None,
            access_modes: default_access_modes(),
            reclaim_policy: ReclaimPolicy::default(),
        }
    }
}

/// A PersistentVolume access mode.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AccessMode {
    ReadWriteOnce,
    ReadWriteOncePod,
    ReadWriteMany,
}

/// What happens to a workspace's storage when the Workspace is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ReclaimPolicy {
    /// Keep the PersistentVolumeClaim; an admin removes it by hand.
    #[default]
    Retain,
    /// Delete the PersistentVolumeClaim with the Workspace.
    Delete,
}

/// How runner pods are built. Unset fields take the operator's defaults.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunnerSpec {
    /// Runner image (pi-bridge, Pi and hstry); the operator's default image when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,

    /// When the kubelet pulls the runner image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,

    /// CPU and memory requests and limits of the agent container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Extra environment variables for the agent. Names that Oqto sets itself are refused by the
    /// operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub env: Vec<EnvVar>,

    /// RuntimeClass of the runner pods (gVisor or Kata where the cluster has them); the
    /// cluster's default runtime when unset. Kubernetes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::object_name")]
    pub runtime_class_name: Option<String>,

    /// Extra environment from ConfigMaps or Secrets of the namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub env_from: Vec<EnvFromSource>,

    /// Node labels the runner pods must match: a node pool of their own (say, nodes with
    /// gVisor). Kubernetes only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 16))]
    pub node_selector: BTreeMap<String, String>,

    /// Taints of those nodes the runner pods tolerate. Kubernetes only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub tolerations: Vec<Toleration>,

    /// A headless browser beside the agent (a sidecar container `browser` sharing the runner's
    /// network, with its own user and no access to the workspace files). Off when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<BrowserSpec>,
}

/// Kubernetes image pull policy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ImagePullPolicy {
    Always,
    IfNotPresent,
    Never,
}

/// LLM access of the workspace's agents.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmSpec {
    /// Provider name as Pi knows it, for example `anthropic`, `openai` or a custom provider.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$")
    )]
    pub provider: String,

    /// Model identifier at that provider, for example `claude-sonnet-4-5`.
    #[schemars(length(min = 1, max = 253))]
    pub model: String,

    /// Base URL of an OpenAI-compatible endpoint, for providers that are not built into Pi.
    /// Unused where the operator runs with the LLM proxy (the chart's default): runners reach
    /// the providers the proxy lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), regex(pattern = r"^https?://[^\s]+$"))]
    pub base_url: Option<String>,

    /// Secret in the workspace's namespace whose keys become environment variables of the agent
    /// (for example `ANTHROPIC_API_KEY`). The operator passes them by reference; their values
    /// never appear in status, events or logs. Unused where the operator runs with the LLM proxy
    /// (the chart's default): provider keys stay in the proxy and runners get virtual keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretReference>,
}

/// A Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretReference {
    /// Name of the Secret.
    #[schemars(schema_with = "schema::object_name")]
    pub name: String,
}

/// Timeouts of the workspace's runners.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleSpec {
    /// Suspend a Session after this long with no agent activity and no connected client
    /// (Kubernetes duration such as `30m`; `0s` never suspends for idleness).
    #[serde(default = "default_idle_timeout")]
    #[schemars(schema_with = "schema::duration")]
    pub idle_timeout: BoundedDuration,

    /// Suspend a Session this long after its runner started, busy or not. Unset: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::duration")]
    pub max_lifetime: Option<BoundedDuration>,

    /// Mark a Session `Failed` when its runner is not ready this long after it was created,
    /// with a reason that names what was stuck (image pull, scheduling, volume mount, crash).
    #[serde(default = "default_start_timeout")]
    #[schemars(schema_with = "schema::duration")]
    pub start_timeout: BoundedDuration,
}

fn default_idle_timeout() -> BoundedDuration {
    BoundedDuration::from_secs(30 * 60)
}

fn default_start_timeout() -> BoundedDuration {
    BoundedDuration::from_secs(5 * 60)
}

impl Default for LifecycleSpec {
    fn default() -> Self {
        Self {
            idle_timeout: default_idle_timeout(),
            max_lifetime: None,
            start_timeout: default_start_timeout(),
        }
    }
}

/// Network isolation of the runners.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// Outbound traffic of the runners.
    #[serde(default)]
    pub egress: EgressPolicy,
}

/// Outbound traffic allowed to runner pods.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum EgressPolicy {
    /// Any destination.
    Open,
    /// The internet and cluster DNS only: cluster, private and cloud metadata ranges are blocked.
    #[default]
    Restricted,
}

/// Observed state of a Workspace, written by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceStatus {
    /// Summary of the conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<WorkspacePhase>,

    /// Latest observations (`StorageReady`, `Ready`), Kubernetes condition convention.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Lifecycle phase of a Workspace.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum WorkspacePhase {
    /// Storage and network are being prepared.
    Pending,
    /// Sessions can start.
    Ready,
    /// The spec cannot be realised; conditions say why.
    Failed,
    /// The Workspace is being deleted.
    Terminating,
}
