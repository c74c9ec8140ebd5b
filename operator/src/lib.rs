//! The Oqto operator: a pure core that decides a Session's lifecycle, one reconciler that
//! carries it out, and the runtimes it acts through (Kubernetes; Podman in single-node mode).

pub mod clock;
pub mod config;
pub mod core;
mod error;
pub mod http;
pub mod kubernetes;
pub mod metrics;
pub mod podman;
pub mod reconcile;
pub mod runtime;
pub mod schedule;

pub use error::Error;
