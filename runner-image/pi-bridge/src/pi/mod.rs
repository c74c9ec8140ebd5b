//! Pi, the agent harness, in RPC mode: starting it and speaking its JSONL protocol.

pub mod launch;
pub mod process;
pub mod standby;
