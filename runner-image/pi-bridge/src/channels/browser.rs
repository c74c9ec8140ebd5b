//! The `browser` channel of one connection: its requests, in order, to the bridge's browser
//! hub. A worker of its own, so that input never waits behind a terminal or a history query
//! (and a slow browser, bounded by the hub's call timeout, holds up only this channel).

use std::sync::Arc;

use oqto_proto::mux::BrowserRequest;
use tokio::sync::mpsc;

use crate::browser::BrowserHub;
use crate::mux::outbound::Outbound;

pub async fn worker(
    hub: Arc<BrowserHub>,
    connection: u64,
    mut rx: mpsc::Receiver<BrowserRequest>,
    out: Outbound,
) {
    while let Some(request) = rx.recv().await {
        hub.handle(connection, &out, request).await;
    }
}
