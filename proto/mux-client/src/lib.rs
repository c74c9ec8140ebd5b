//! One agent turn driven over a mux WebSocket, on someone's behalf: the operator prompting a
//! Session's runner for a Schedule (with the runner's token), pi-bridge prompting a child
//! Session through the gateway for a delegation (with its Session's credential). The protocol
//! steps are `oqto_proto::canonical::Turn`'s; this crate adds the connection (dial retries,
//! the greeting, silence and deadline), passes the agent's text on as it streams, and aborts
//! the turn when it is cancelled or late, so no agent works on for nobody.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use oqto_proto::canonical::{Turn, TurnEnd};
use oqto_proto::mux::PEER_SILENCE;
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

/// Dial attempts: a listener that lags its readiness, or a gateway rollout, is not a failure.
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
/// The largest frame read: the agent's events, including its tool outputs.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// How a driven turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driven {
    /// The agent went idle; `answer` is the text of its last assistant message.
    Finished {
        answer: String,
    },
    /// A command was refused or the agent reported an error.
    Failed(String),
    /// The server refused the connection with this 4xx status (a rule, not a hiccup).
    Refused {
        status: u16,
        message: String,
    },
    /// The server could not be reached, or went away during the turn.
    Unreachable(String),
    TimedOut,
    /// The cancel switch was turned on; the turn was aborted.
    Cancelled,
}

/// Where the turn goes and what it is.
pub struct TurnSpec<'a> {
    /// The mux WebSocket (`ws://…/ws` of a runner, `…/api/ws/mux` of the gateway).
    pub url: &'a str,
    /// The `Authorization` header's value (`Bearer …`). Never logged.
    pub authorization: &'a str,
    pub session: &'a str,
    pub prompt: &'a str,
    /// Marks the prompt in the session's chat as this driver's.
    pub client_id: &'a str,
    pub timeout: Duration,
}

/// Sends the prompt and follows the turn until the agent is idle, the timeout passes or
/// `cancel` turns true; `on_delta` gets each piece of text the agent streams in the turn.
pub async fn drive(
    spec: TurnSpec<'_>,
    mut cancel: watch::Receiver<bool>,
    mut on_delta: impl FnMut(String) + Send,
) -> Driven {
    let deadline = Instant::now() + spec.timeout;
    let connecting = async {
        let mut ws = dial(spec.url, spec.authorization).await?;
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
    let mut turn = Turn::new(spec.session, spec.prompt, spec.client_id);
    if send(&mut ws, turn.start_frame()).await.is_err() {
        return Driven::Unreachable("the connection closed".into());
    }
    // Whether the prompt went out: from then on the text streamed is this turn's.
    let mut prompted = false;
    let ended = loop {
        let frame = tokio::select! {
            // Servers ping every PING_EVERY: longer silence means the peer is gone.
            frame = tokio::time::timeout(PEER_SILENCE, ws.next()) => match frame {
                Ok(frame) => frame,
                Err(_) => return Driven::Unreachable("the server stopped answering during the turn".into()),
            },
            () = tokio::time::sleep_until(deadline) => break Driven::TimedOut,
            () = cancelled(&mut cancel) => break Driven::Cancelled,
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                return Driven::Unreachable("the connection closed during the turn".into());
            }
            Some(Ok(_)) => continue,
        };
        if prompted && let Some(delta) = text_delta(text.as_str(), spec.session) {
            on_delta(delta);
        }
        let step = turn.on_frame(text.as_str());
        if let Some(frame) = step.send {
            prompted = true;
            if send(&mut ws, frame).await.is_err() {
                return Driven::Unreachable("the connection closed".into());
            }
        }
        match step.end {
            Some(TurnEnd::Finished { answer }) => {
                let _ = ws.close(None).await;
                return Driven::Finished { answer };
            }
            Some(TurnEnd::Failed(error)) => {
                let _ = ws.close(None).await;
                return Driven::Failed(error);
            }
            None => {}
        }
    };
    // Late or cancelled: the agent stops too. The abort also goes out when the prompt was sent
    // but not yet accepted: a conversation runs commands in order, so it aborts that turn.
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

/// The text of a `stream.text_delta` of `session`, if `text` is one.
fn text_delta(text: &str, session: &str) -> Option<String> {
    let frame: Value = serde_json::from_str(text).ok()?;
    let field = |key: &str| frame.get(key).and_then(Value::as_str);
    (field("channel") == Some("agent")
        && field("session_id") == Some(session)
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

async fn dial(url: &str, authorization: &str) -> Result<Socket, Driven> {
    let header = HeaderValue::from_str(authorization)
        .map_err(|_| Driven::Unreachable("the credential is not a valid header value".into()))?;
    let mut last = String::new();
    for wait in DIAL_BACKOFF {
        tokio::time::sleep(wait).await;
        let mut request = url
            .into_client_request()
            .map_err(|e| Driven::Unreachable(format!("{url:?} is not a usable address: {e}")))?;
        request
            .headers_mut()
            .insert("authorization", header.clone());
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
                return Err(Driven::Refused {
                    status: status.as_u16(),
                    message: format!("the connection was refused ({status})"),
                });
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = format!("no answer within {DIAL_TIMEOUT:?}"),
        }
    }
    Err(Driven::Unreachable(format!(
        "{url} cannot be reached: {last}"
    )))
}

/// Waits for `{"channel":"system","type":"connected"}`: the server is ready for frames.
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
        Err(Driven::Unreachable(
            "the connection closed before the greeting".into(),
        ))
    };
    tokio::time::timeout(DIAL_TIMEOUT, wait)
        .await
        .unwrap_or_else(|_| {
            Err(Driven::Unreachable(format!(
                "no greeting within {DIAL_TIMEOUT:?}"
            )))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_sessions_text_deltas_are_passed_on() {
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
