//! The operator's pure core: from a Workspace and a Session, validate and build the desired
//! runner, render it as Kubernetes objects, and read a runner's observed state back into a
//! phase and conditions. No I/O here: the runtimes (Kubernetes, Podman) carry the result out.

pub mod browser;
pub mod class;
pub mod conditions;
pub mod desired;
pub mod error;
pub mod idle;
pub mod kube_objects;
pub mod lifecycle;
pub mod observe;
pub mod owners;
pub mod restart;
pub mod schedule;
pub mod spare;
pub mod written;

pub use desired::{LlmProxy, OperatorDefaults, RunnerPeers, RunnerPlan, SecretEnv, StoragePlan};

/// pi-bridge's port in a runner, as Kubernetes types want it (`oqto_proto::runner::PORT`).
pub const RUNNER_PORT: i32 = oqto_proto::runner::PORT as i32;
pub use error::CoreError;
