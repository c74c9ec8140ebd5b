//! pi-bridge: runs Pi in RPC mode, translates its events into Oqto's canonical protocol, and
//! serves agent, files, terminal and history over one WebSocket.

pub mod activity;
pub mod files;
pub mod metrics;
pub mod pi;
pub mod terminal;
