//! pi-bridge: runs Pi in RPC mode, translates its events into Oqto's canonical protocol, and
//! serves agent, files, terminal, history and the runner's browser over one WebSocket.

pub mod activity;
pub mod agent;
pub mod app;
pub mod browser;
pub mod channels;
pub mod config;
pub mod delegation;
pub mod files;
pub mod history;
pub mod metrics;
pub mod models;
pub mod mux;
pub mod pi;
pub mod server;
pub mod terminal;
