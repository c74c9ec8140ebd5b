//! The Oqto gateway: the only door. It authenticates users (local accounts, JWTs, API keys),
//! serves the REST API over Workspaces and Sessions (Kubernetes custom resources, or the
//! operator's local store in single-node mode), relays the multiplexed WebSocket to the
//! runner of the session each frame names (waking suspended sessions), and serves the UI.
//!
//! Layers: [`accounts`] and [`auth`] (who), [`resources`] and [`routing`] (what and where),
//! [`api`] and [`mux`] (the HTTP surface), [`server`] (wiring).

pub mod accounts;
pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod metrics;
pub mod mux;
pub mod resources;
pub mod routing;
pub mod server;
pub mod state;
