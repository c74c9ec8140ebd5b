//! Oqto's wire contract (`shared/reference/oqto-protocol.md`): the canonical protocol
//! (messages, parts, events, commands), the multiplexed WebSocket frames, and the hstry gRPC API.
//! Types only (field names and tags are the contract), the one rule for object names, the runner's environment contract
//! (`runner`), and how to dial hstry (`hstry::client`), so clients need not link the service.
pub mod canonical;
pub mod delegation;
pub mod hstry;
pub mod llm;
pub mod mux;
pub mod names;
pub mod runner;
mod runner_token;
