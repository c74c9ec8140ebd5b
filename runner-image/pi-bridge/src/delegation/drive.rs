//! One turn of a child Session, driven over the gateway's mux WebSocket with this runner's
//! session credential. The protocol steps are `oqto_proto::canonical::Turn`'s; this file adds
//! the connection (dial retries, the greeting, silence and deadline), passes the child's text
//! on as it streams, and aborts the child's turn when the delegation is stopped. The operator's
//! Schedules drive turns the same way (operator/src/schedule/turn.rs).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use oqto_proto::canonical::{DelegateErrorCode, Turn, TurnEnd};
use oqto_proto::mux::PEER_SILENCE;
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use super::gateway::{Gateway, code_of};

/// Dial attempts: a moment of gateway unavailability (a rollout) should not fail a delegation.
const DIAL_BACKOFF: [Duration; 5] = [
    Duration::ZERO,
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
];
/// How long one dial, and then the greeting, may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an aborted turn gets to say it stopped.
const ABORT_GRACE: Duration = Duration::from_secs(5);
/// The largest frame read: the child's events, including its tool outputs.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// How a driven turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driven {
    /// The child went idle; `answer` is the text of its last assistant message.
    Finished {
        answer: String,
    },
    Failed {
        error: String,
        code: DelegateErrorCode,
    },
    TimedOut,
    /// The cancel switch was turned on; the child's turn was aborted.
    Cancelled,
}

impl Driven {
    fn unreachable(error: impl Into<String>) -> Self {
        Self::Failed {
            error: error.into(),
            code: DelegateErrorCode::RunnerUnreachable,
        }
    }
}

/// What one turn is: the child, the prompt, and who sends it.
pub struct TurnSpec<'a> {
    pub child: &'a str,
    pub prompt: &'a str,
    /// Marks the prompt in the child's chat as the delegation's.
    pub client_id: &'a str,
    pub timeout: Duration,
}

/// Sends the prompt to the child and follows its turn until the child is idle, the timeout
/// passes or `cancel` turns true; `on_delta` gets each piece of text the child streams.
pub async fn drive(
    gateway: &Gateway,
    spec: TurnSpec<'_>,
    mut cancel: watch::Receiver<bool>,
    mut on_delta: impl FnMut(String) + Send,
) -> Driven {
    let deadline = Instant::now() + spec.timeout;
    let connecting = async {
        let mut ws = dial(gateway).await?;
        greeting(&mut ws).await?;
        Ok::<_, Driven>(ws)
    };
    let mut ws = tokio::select! {
        ws = connecting => match ws {
            Ok(ws) => ws,
            Err(failed) => return failed,
        },
        () = tokio::time::sleep_until(deadline) => return Driven::TimedOut,
        () = cancelled(&mut cancel) => return Driven::Cancelled,
    };
    let mut turn = Turn::new(spec.child, spec.prompt, spec.client_id);
    if send(&mut ws, turn.start_frame()).await.is_err() {
        return Driven::unreachable("the gateway closed the connection");
    }
    // Whether the prompt went out: from then on the child may be working, and the text it
    // streams is this turn's.
    let mut prompted = false;
    let ended = loop {
        let frame = tokio::select! {
            // The gateway pings every PING_EVERY: longer silence means it is gone.
            frame = tokio::time::timeout(PEER_SILENCE, ws.next()) => match frame {
                Ok(frame) => frame,
                Err(_) => return Driven::unreachable("the gateway stopped answering during the turn"),
            },
            () = tokio::time::sleep_until(deadline) => break Driven::TimedOut,
            () = cancelled(&mut cancel) => break Driven::Cancelled,
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                return Driven::unreachable("the gateway closed the connection during the turn");
            }
            Some(Ok(_)) => continue,
        };
        if prompted && let Some(delta) = text_delta(text.as_str(), spec.child) {
            on_delta(delta);
        }
        let step = turn.on_frame(text.as_str());
        if let Some(frame) = step.send {
            prompted = true;
            if send(&mut ws, frame).await.is_err() {
                return Driven::unreachable("the gateway closed the connection");
            }
        }
        match step.end {
            Some(TurnEnd::Finished { answer }) => {
                let _ = ws.close(None).await;
                return Driven::Finished { answer };
            }
            Some(TurnEnd::Failed(error)) => {
                let _ = ws.close(None).await;
                return Driven::Failed {
                    error,
                    code: DelegateErrorCode::TargetError,
                };
            }
            None => {}
        }
    };
    // Timed out or stopped: the child stops too rather than work for nobody. The abort also
    // goes out when the prompt was sent but not yet accepted: the child's conversation runs
    // commands in order, so it aborts the turn that prompt starts.
    if prompted && send(&mut ws, turn.abort_frame()).await.is_ok() {
        let _ = tokio::time::timeout(ABORT_GRACE, async {
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message
                    && turn.on_frame(text.as_str()).end.is_some()
                {
                    break;
                }
            }
        })
        .await;
    }
    let _ = ws.close(None).await;
    ended
}

/// The text of a `stream.text_delta` of `child`, if `text` is one.
fn text_delta(text: &str, child: &str) -> Option<String> {
    let frame: Value = serde_json::from_str(text).ok()?;
    let field = |key: &str| frame.get(key).and_then(Value::as_str);
    (field("channel") == Some("agent")
        && field("session_id") == Some(child)
        && field("event") == Some("stream.text_delta"))
    .then(|| field("delta").map(str::to_owned))
    .flatten()
    .filter(|delta| !delta.is_empty())
}

/// Resolves when the switch turns true; never when its sender is gone (nobody can cancel).
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|on| *on).await.is_err() {
        std::future::pending::<()>().await;
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(ws: &mut Socket, frame: String) -> Result<(), tungstenite::Error> {
    ws.send(Message::Text(frame.into())).await
}

async fn dial(gateway: &Gateway) -> Result<Socket, Driven> {
    let url = gateway.mux_url();
    let mut last = String::new();
    for wait in DIAL_BACKOFF {
        tokio::time::sleep(wait).await;
        let mut request = url.as_str().into_client_request().map_err(|e| {
            Driven::unreachable(format!("the gateway's mux {url:?} is not usable: {e}"))
        })?;
        request
            .headers_mut()
            .insert("authorization", gateway.authorization().clone());
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME))
            .max_frame_size(Some(MAX_FRAME));
        match tokio::time::timeout(
            DIAL_TIMEOUT,
            tokio_tungstenite::connect_async_with_config(request, Some(config), false),
        )
        .await
        {
            Ok(Ok((ws, _))) => return Ok(ws),
            // A refusal by the rules does not change on retry.
            Ok(Err(tungstenite::Error::Http(response))) if response.status().is_client_error() => {
                let status = response.status();
                return Err(Driven::Failed {
                    error: format!("the gateway refused the mux connection ({status})"),
                    code: code_of(status),
                });
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = format!("no answer within {DIAL_TIMEOUT:?}"),
        }
    }
    Err(Driven::unreachable(format!(
        "the gateway's mux cannot be reached: {last}"
    )))
}

/// Waits for `{"channel":"system","type":"connected"}`: the gateway is ready for frames.
async fn greeting(ws: &mut Socket) -> Result<(), Driven> {
    let wait = async {
        while let Some(message) = ws.next().await {
            let Ok(Message::Text(text)) = message else {
                if message.is_err() {
                    break;
                }
                continue;
            };
            let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            let field = |key: &str| frame.get(key).and_then(Value::as_str);
            if field("channel") == Some("system") && field("type") == Some("connected") {
                return Ok(());
            }
        }
        Err(Driven::unreachable(
            "the gateway closed the mux connection before greeting",
        ))
    };
    tokio::time::timeout(DIAL_TIMEOUT, wait)
        .await
        .unwrap_or_else(|_| {
            Err(Driven::unreachable(format!(
                "the gateway's mux did not greet within {DIAL_TIMEOUT:?}"
            )))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_childs_text_deltas_are_passed_on() {
        let delta = |session: &str, event: &str, delta: &str| {
            json!({"channel":"agent","session_id":session,"event":event,"message_id":"m",
                "delta":delta,"content_index":0})
            .to_string()
        };
        assert_eq!(
            text_delta(&delta("c1", "stream.text_delta", "hi"), "c1"),
            Some("hi".into())
        );
        assert_eq!(
            text_delta(&delta("c2", "stream.text_delta", "hi"), "c1"),
            None
        );
        assert_eq!(
            text_delta(&delta("c1", "stream.thinking_delta", "hm"), "c1"),
            None
        );
        assert_eq!(
            text_delta(&delta("c1", "stream.text_delta", ""), "c1"),
            None
        );
        assert_eq!(text_delta("not json", "c1"), None);
    }
}
