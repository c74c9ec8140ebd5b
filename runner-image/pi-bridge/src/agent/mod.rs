//! The agent channel: conversations with Pi.

pub mod conversation;
pub mod convert;
pub mod pi_commands;
pub mod registry;
pub mod translate;
