//! A minimal Chrome DevTools Protocol client: finds the browser's page target over the HTTP
//! endpoints, and speaks JSON-RPC with it over its WebSocket. Calls are bounded in time, so a
//! hung browser delays an operation by `CALL_TIMEOUT` at most, never a connection forever.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// How long one CDP call (or HTTP request to the endpoint) may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Events read ahead of the hub's event loop; the reader waits beyond (the loop never blocks).
const EVENT_QUEUE: usize = 64;
/// Largest message accepted from the browser: a screencast frame is a few hundred KiB.
const MAX_MESSAGE: usize = 32 * 1024 * 1024;

/// A protocol event: `{method, params}`.
#[derive(Debug)]
pub struct CdpEvent {
    pub method: String,
    pub params: Value,
}

type Pending = Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>;

/// One WebSocket to one target.
pub struct Cdp {
    next_id: AtomicU64,
    pending: Arc<Pending>,
    outgoing: mpsc::UnboundedSender<Message>,
    closed: CancellationToken,
}

impl Cdp {
    /// Connects to a target's `webSocketDebuggerUrl`; its events arrive on the receiver, which
    /// ends when the target goes away.
    pub async fn connect(ws_url: &str) -> Result<(Arc<Self>, mpsc::Receiver<CdpEvent>), String> {
        let mut config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
        config.max_message_size = Some(MAX_MESSAGE);
        config.max_frame_size = Some(MAX_MESSAGE);
        let connect = tokio_tungstenite::connect_async_with_config(ws_url, Some(config), true);
        let (socket, _) = tokio::time::timeout(CALL_TIMEOUT, connect)
            .await
            .map_err(|_| "the browser did not accept a DevTools connection in time".to_owned())?
            .map_err(|e| format!("the browser refused a DevTools connection: {e}"))?;
        let (mut sink, mut stream) = socket.split();
        let (outgoing, mut outgoing_rx) = mpsc::unbounded_channel::<Message>();
        let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
        let pending: Arc<Pending> = Arc::default();
        let closed = CancellationToken::new();
        tokio::spawn({
            let closed = closed.clone();
            async move {
                loop {
                    tokio::select! {
                        _ = closed.cancelled() => break,
                        message = outgoing_rx.recv() => match message {
                            Some(message) => if sink.send(message).await.is_err() { break },
                            None => break,
                        },
                    }
                }
                let _ = sink.close().await;
                closed.cancel();
            }
        });
        tokio::spawn({
            let pending = pending.clone();
            let closed = closed.clone();
            async move {
                loop {
                    let message = tokio::select! {
                        _ = closed.cancelled() => break,
                        message = stream.next() => message,
                    };
                    let text = match message {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                        Some(Ok(_)) => continue,
                    };
                    let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else {
                        continue;
                    };
                    if let Some(id) = value.get("id").and_then(Value::as_u64) {
                        let waiter = lock(&pending).remove(&id);
                        if let Some(waiter) = waiter {
                            let _ = waiter.send(response(value));
                        }
                    } else if let Some(method) = value.get("method").and_then(Value::as_str) {
                        let event = CdpEvent {
                            method: method.to_owned(),
                            params: value.get("params").cloned().unwrap_or(Value::Null),
                        };
                        if events.send(event).await.is_err() {
                            break;
                        }
                    }
                }
                closed.cancel();
                // Callers waiting for an answer learn now, not at their timeout.
                lock(&pending).clear();
            }
        });
        let cdp = Arc::new(Self {
            next_id: AtomicU64::new(1),
            pending,
            outgoing,
            closed,
        });
        Ok((cdp, events_rx))
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Calls `method` and waits (at most `CALL_TIMEOUT`) for its result.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        self.call_within(method, params, CALL_TIMEOUT)
            .await?
            .ok_or_else(|| format!("the browser did not answer {method} within {CALL_TIMEOUT:?}"))
    }

    /// Calls `method` and waits at most `within` for its result: `None` when none came in time
    /// (the call may still take effect; its late answer is discarded).
    pub async fn call_within(
        &self,
        method: &str,
        params: Value,
        within: Duration,
    ) -> Result<Option<Value>, String> {
        let (id, answer) = self.send(method, params)?;
        match tokio::time::timeout(within, answer).await {
            Ok(Ok(result)) => result.map(Some),
            Ok(Err(_)) => Err("the browser closed the page".into()),
            Err(_) => {
                lock(&self.pending).remove(&id);
                Ok(None)
            }
        }
    }

    /// Sends `method` without waiting for its result (acks, which nobody awaits).
    pub fn notify(&self, method: &str, params: Value) {
        if let Ok((id, _)) = self.send(method, params) {
            lock(&self.pending).remove(&id);
        }
    }

    fn send(
        &self,
        method: &str,
        params: Value,
    ) -> Result<(u64, oneshot::Receiver<Result<Value, String>>), String> {
        if self.is_closed() {
            return Err("the browser closed the page".into());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let text = json!({"id": id, "method": method, "params": params}).to_string();
        if self.outgoing.send(Message::Text(text.into())).is_err() {
            lock(&self.pending).remove(&id);
            return Err("the browser closed the page".into());
        }
        Ok((id, rx))
    }

    /// Closes the socket (the target itself stays).
    pub fn close(&self) {
        self.closed.cancel();
    }
}

impl Drop for Cdp {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

fn lock(
    pending: &Pending,
) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Result<Value, String>>>> {
    pending.lock().unwrap_or_else(|p| p.into_inner())
}

fn response(value: Value) -> Result<Value, String> {
    match value.get("error") {
        Some(error) => Err(error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the browser refused the call")
            .to_owned()),
        None => Ok(value.get("result").cloned().unwrap_or(Value::Null)),
    }
}

/// The browser's first page: its target id and WebSocket URL.
#[derive(Debug, Clone)]
pub struct PageTarget {
    pub id: String,
    pub ws_url: String,
}

/// The browser's first page, opening a blank one when it has none.
/// `root` is the DevTools HTTP endpoint, such as `http://127.0.0.1:9222`.
pub async fn first_page(http: &reqwest::Client, root: &str) -> Result<PageTarget, String> {
    let root = root.trim_end_matches('/');
    let unreachable = |e: reqwest::Error| format!("the browser does not answer at {root}: {e}");
    let targets: Value = http
        .get(format!("{root}/json/list"))
        .timeout(CALL_TIMEOUT)
        .send()
        .await
        .map_err(unreachable)?
        .json()
        .await
        .map_err(unreachable)?;
    let page = targets.as_array().and_then(|targets| {
        targets
            .iter()
            .find(|t| t["type"] == "page" && t["webSocketDebuggerUrl"].is_string())
            .cloned()
    });
    let page = match page {
        Some(page) => page,
        // Chrome takes only PUT here since version 111.
        None => http
            .put(format!("{root}/json/new?about:blank"))
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(unreachable)?
            .json()
            .await
            .map_err(unreachable)?,
    };
    match (page["id"].as_str(), page["webSocketDebuggerUrl"].as_str()) {
        (Some(id), Some(ws_url)) => Ok(PageTarget {
            id: id.to_owned(),
            ws_url: ws_url.to_owned(),
        }),
        _ => Err(format!("the browser at {root} lists no page to show")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_errors_are_told_apart() {
        assert_eq!(
            response(json!({"id":1,"result":{"a":1}})),
            Ok(json!({"a":1}))
        );
        assert_eq!(
            response(json!({"id":1,"error":{"code":-32000,"message":"No target"}})),
            Err("No target".into())
        );
        assert_eq!(response(json!({"id":1})), Ok(Value::Null));
    }
}
