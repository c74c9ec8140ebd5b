//! The liveness timings of a mux connection, the same on every hop (browser ↔ gateway ↔
//! pi-bridge): each server pings every `PING_EVERY`, and a peer that has sent nothing for
//! `PEER_SILENCE` (three pings and some slack) is gone although its socket may look open.

use std::time::Duration;

/// How often a server sends `{"channel":"system","type":"ping"}` (§2.1).
pub const PING_EVERY: Duration = Duration::from_secs(10);

/// Silence after which the other end is taken for gone.
pub const PEER_SILENCE: Duration = Duration::from_secs(35);
