//! The `Session` resource: one agent runner in a Workspace.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema;

/// Desired state of a Session.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "oqto.dev",
    version = "v1alpha1",
    kind = "Session",
    doc = "A Session is one AI coding agent running in a Workspace: the operator gives it a runner pod (or a Podman container) that mounts the workspace storage. Suspending it removes the runner and keeps files and history.",
    plural = "sessions",
    singular = "session",
    shortname = "sess",
    category = "oqto",
    namespaced,
    status = "SessionStatus",
    derive = "PartialEq",
    selectable = ".spec.workspaceRef.name",
    validation = Rule::new("!has(self.spec.parentSessionRef) || self.spec.parentSessionRef.name != self.metadata.name").message("must not name the session itself").field_path(".spec.parentSessionRef.name"),
    printcolumn = r#"{"name":"Workspace","type":"string","jsonPath":".spec.workspaceRef.name","description":"The workspace this session runs in"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase","description":"Lifecycle phase"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether the runner accepts connections"}"#,
    printcolumn = r#"{"name":"Parent","type":"string","jsonPath":".spec.parentSessionRef.name","description":"The Session that delegated to this one"}"#,
    printcolumn = r#"{"name":"Spare","type":"string","jsonPath":".metadata.labels.oqto\\.dev/spare","description":"Started ahead, not claimed yet (oqto.dev/spare)"}"#,
    printcolumn = r#"{"name":"Model","type":"string","jsonPath":".spec.model","priority":1,"description":"Model override"}"#,
    printcolumn = r#"{"name":"Pod","type":"string","jsonPath":".status.podName","priority":1,"description":"Runner pod"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.provider) || has(self.model)", "message": "model is required when provider is set", "fieldPath": ".model"},
    {"rule": "has(self.parentSessionRef) == has(oldSelf.parentSessionRef)", "message": "parentSessionRef is immutable", "fieldPath": ".parentSessionRef"},
]))]
pub struct SessionSpec {
    /// The Workspace (same namespace) whose storage and settings this session uses. Immutable.
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "workspaceRef is immutable"}]))]
    pub workspace_ref: WorkspaceReference,

    /// The agent harness that runs in the session. Immutable.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "harness is immutable"}]))]
    pub harness: Harness,

    /// LLM provider for this session, overriding the Workspace's `llm.provider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$")
    )]
    pub provider: Option<String>,

    /// Model for this session, overriding the Workspace's `llm.model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub model: Option<String>,

    /// `true` removes the runner and keeps the workspace storage and the chat history; `false`
    /// starts it again.
    #[serde(default)]
    pub suspended: bool,

    /// What people call the session (the web UI's title): set when it is renamed, or from its
    /// first prompt. Defaults to the object's name. One line of printable text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128), regex(pattern = r"^[^\x00-\x1f\x7f]*$"))]
    pub display_name: Option<String>,

    /// The Session that delegated work to this one (sub-agent). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "parentSessionRef is immutable"}]))]
    pub parent_session_ref: Option<SessionReference>,
}

impl SessionSpec {
    /// A Session of `workspace` with the Workspace's defaults.
    pub fn in_workspace(workspace: &str) -> Self {
        Self {
            workspace_ref: WorkspaceReference {
                name: workspace.to_owned(),
            },
            harness: Harness::default(),
            provider: None,
            model: None,
            suspended: false,
            display_name: None,
            parent_session_ref: None,
        }
    }
}

/// A Workspace in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct WorkspaceReference {
    /// Name of the Workspace.
    #[schemars(schema_with = "schema::object_name")]
    pub name: String,
}

/// A Session in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SessionReference {
    /// Name of the Session.
    #[schemars(schema_with = "schema::object_name")]
    pub name: String,
}

/// Agent harness of a session.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Harness {
    /// Pi, the coding agent, driven in RPC mode by pi-bridge.
    #[default]
    Pi,
}

/// Observed state of a Session, written by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatus {
    /// Summary of the conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<SessionPhase>,

    /// Latest observations (`Ready`, `PodScheduled`, `StorageReady`, `Suspended`), Kubernetes
    /// condition convention.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Name of the runner pod (or Podman container) while one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub pod_name: Option<String>,

    /// Where the gateway reaches pi-bridge, for example `ws://10.0.0.7:8080`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub endpoint: Option<String>,

    /// When the current runner became ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,

    /// Last agent activity or client connection seen by the operator (drives idle suspend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<Time>,
}

/// Lifecycle phase of a Session.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SessionPhase {
    /// Accepted, waiting for its Workspace.
    Pending,
    /// The runner is being created, scheduled or pulled.
    Starting,
    /// The runner is ready.
    Running,
    /// No runner; storage and history are kept.
    Suspended,
    /// The runner cannot start; conditions say why.
    Failed,
    /// The Session is being deleted.
    Terminating,
}
