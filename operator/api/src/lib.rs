//! Oqto's Kubernetes API (`oqto.dev/v1alpha1`): the `Workspace`, `Session`, `WorkspaceClass`
//! and `Schedule` custom resources.
//!
//! Types only: no client, no I/O. The CRD manifests in `crds/` are generated from these types
//! (`oqto-operator crd`), and a test fails when they drift.

pub mod browser;
pub mod cadence;
pub mod duration;
pub mod names;
pub mod rules;
pub mod schedule;
pub mod schema;
pub mod session;
pub mod spare;
pub mod tenancy;
pub mod workspace;
pub mod workspace_class;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use browser::BrowserSpec;
pub use cadence::Cadence;
pub use duration::BoundedDuration;
pub use schedule::{
    ConcurrencyPolicy, RunOutcome, Schedule, ScheduleRun, ScheduleSpec, ScheduleStatus,
    ScheduleTarget,
};
pub use session::{Harness, Session, SessionPhase, SessionSpec, SessionStatus};
pub use workspace::{
    LlmSpec, SecretReference, Workspace, WorkspacePhase, WorkspaceSpec, WorkspaceStatus,
};
pub use workspace_class::{WorkspaceClass, WorkspaceClassSpec};

/// The API group of every Oqto resource.
pub const GROUP: &str = "oqto.dev";

/// Every CRD of the product, in install order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        polish(Workspace::crd()),
        polish(Session::crd()),
        polish(WorkspaceClass::crd()),
        polish(Schedule::crd()),
    ]
}

/// Reflows the doc-comment descriptions for `kubectl explain`.
fn polish(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let Ok(mut value) = serde_json::to_value(&crd) else {
        return crd;
    };
    schema::unwrap_descriptions(&mut value);
    serde_json::from_value(value).unwrap_or(crd)
}

/// The file name a CRD is stored under in `crds/`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// A CRD as the YAML document stored in `crds/`, with a header that says where it comes from.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    let body = serde_yaml::to_string(crd)?;
    Ok(format!(
        "# Generated from the Rust types in operator/api by `oqto-operator crd --write crds`.\n\
         # Do not edit by hand: a test fails when this file and the types drift.\n{body}"
    ))
}
