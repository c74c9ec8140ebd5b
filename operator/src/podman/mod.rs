//! Single-node mode: the same desired state as Podman volumes and containers, with Workspaces and
//! Sessions kept in a local store of the same schema.

pub mod render;
pub mod runtime;
pub mod store;

pub use runtime::PodmanRuntime;
pub use store::{Store, StoreError};
