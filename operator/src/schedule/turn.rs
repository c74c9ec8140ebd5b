//! One prompt sent to a Session's runner and its turn followed to the end, over pi-bridge's
//! WebSocket with the runner's token (the protocol steps are `oqto_proto::canonical::Turn`'s).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use oqto_proto::canonical::{Turn, TurnEnd};
use oqto_proto::mux::PEER_SILENCE;
use oqto_proto::runner::RunnerToken;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Dial attempts: a runner's listener may lag its readiness by a moment.
const DIAL_BACKOFF: [Duration; 5] = [
    Duration::ZERO,
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
];
/// How long one dial may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an aborted turn gets to say it stopped.
const ABORT_GRACE: Duration = Duration::from_secs(5);
/// The largest frame read: a scheduled run only needs events, not file contents.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// How a driven turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driven {
    Finished,
    Failed(String),
    TimedOut,
    /// `cancel` fired; the turn was aborted.
    Cancelled,
}

/// Sends `prompt` to `session` at `websocket` and follows the turn until the agent is idle,
/// `timeout` passes or `cancel` turns true (then it aborts the turn).
pub async fn drive(
    websocket: &str,
    token: &RunnerToken,
    session: &str,
    prompt: &str,
    client_id: &str,
    timeout: Duration,
    mut cancel: watch::Receiver<bool>,
) -> Driven {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut ws = match dial(websocket, token).await {
        Ok(ws) => ws,
        Err(why) => return Driven::Failed(why),
    };
    let mut turn = Turn::new(session, prompt, client_id);
    if ws
        .send(Message::Text(turn.start_frame().into()))
        .await
        .is_err()
    {
        return Driven::Failed("the runner closed the connection".into());
    }
    let ended = loop {
        let frame = tokio::select! {
            // pi-bridge pings every PING_EVERY: longer silence means the runner is gone.
            frame = tokio::time::timeout(PEER_SILENCE, ws.next()) => match frame {
                Ok(frame) => frame,
                Err(_) => return Driven::Failed("the runner stopped answering during the run".into()),
            },
            () = tokio::time::sleep_until(deadline) => break Driven::TimedOut,
            _ = cancel.wait_for(|c| *c) => break Driven::Cancelled,
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                return Driven::Failed("the runner closed the connection during the run".into());
            }
            Some(Ok(_)) => continue,
        };
        let step = turn.on_frame(text.as_str());
        if let Some(send) = step.send
            && ws.send(Message::Text(send.into())).await.is_err()
        {
            return Driven::Failed("the runner closed the connection".into());
        }
        match step.end {
            Some(TurnEnd::Finished { .. }) => return Driven::Finished,
            Some(TurnEnd::Failed(why)) => return Driven::Failed(why),
            None => {}
        }
    };
    // Timed out or cancelled: stop the agent rather than leave it working for nobody.
    if turn.running()
        && ws
            .send(Message::Text(turn.abort_frame().into()))
            .await
            .is_ok()
    {
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

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn dial(websocket: &str, token: &RunnerToken) -> Result<Socket, String> {
    let mut last = String::new();
    for wait in DIAL_BACKOFF {
        tokio::time::sleep(wait).await;
        let mut request = websocket
            .into_client_request()
            .map_err(|e| format!("the runner's address {websocket:?} is not usable: {e}"))?;
        let bearer = token
            .bearer()
            .parse()
            .map_err(|_| "the runner token is not a valid header".to_owned())?;
        request.headers_mut().insert("authorization", bearer);
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
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = format!("no answer within {DIAL_TIMEOUT:?}"),
        }
    }
    Err(format!("the runner cannot be reached: {last}"))
}
