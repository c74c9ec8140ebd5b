//! The agent channel: conversations with Pi.

pub mod conversation;
pub mod convert;
pub mod pi_commands;
pub mod questions;
pub mod registry;
pub mod running_turn;
pub mod translate;
