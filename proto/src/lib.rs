//! Oqto's wire contract (`shared/reference/oqto-protocol.md`): the canonical protocol
//! (messages, parts, events, commands), the multiplexed WebSocket frames, and the hstry gRPC API.
//! Types only, no I/O: field names and tags are the contract.
pub mod canonical;
pub mod hstry;
pub mod mux;
