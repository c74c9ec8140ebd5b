//! hstry: the runner's chat-history service. Conversations and their messages live in one
//! SQLite file on the workspace's storage (so history outlives the pod) and are served over
//! gRPC (`oqto_proto::hstry`) on a Unix socket or loopback TCP.
//!
//! - [`store`]: the SQLite store (schema migrations, idempotent writes, reads, FTS5 search);
//! - [`service`]: the gRPC services on top of it;
//! - [`server`] / [`client`]: binding, serving with health and a bounded graceful shutdown,
//!   dialling (eagerly, or lazily for a client that starts before hstry);
//! - [`validate`], [`fts_query`], [`listen`]: input checks without I/O.

mod closable_io;
pub mod fts_query;
pub mod server;
pub mod service;
pub mod store;
pub mod validate;

/// Where hstry listens and how to dial it live in the wire contract (`oqto_proto::hstry`), so
/// clients need not link the service.
pub use oqto_proto::hstry::{client, listen};
