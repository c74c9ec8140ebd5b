//! The multiplexed WebSocket: frames in, per-channel workers, frames out.

pub mod connection;
pub mod outbound;
