//! The Oqto operator: a pure core that builds the desired runner of a Session, and the runtimes
//! that carry it out (Kubernetes today; Podman in single-node mode).

pub mod core;
pub mod http;
pub mod kubernetes;
pub mod metrics;
pub mod podman;
