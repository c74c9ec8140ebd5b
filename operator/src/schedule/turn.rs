//! One prompt sent to a Session's runner and its turn followed to the end, over pi-bridge's
//! WebSocket with the runner's token (`oqto_mux_client` does the driving; pi-bridge's
//! delegation uses it too).

use std::time::Duration;

use oqto_proto::runner::RunnerToken;
use tokio::sync::watch;

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
    cancel: watch::Receiver<bool>,
) -> Driven {
    let authorization = token.bearer();
    let driven = oqto_mux_client::drive(
        oqto_mux_client::TurnSpec {
            url: websocket,
            authorization: &authorization,
            session,
            prompt,
            client_id,
            timeout,
        },
        cancel,
        |_| {},
    )
    .await;
    match driven {
        oqto_mux_client::Driven::Finished { .. } => Driven::Finished,
        oqto_mux_client::Driven::Failed(why) => Driven::Failed(why),
        oqto_mux_client::Driven::Refused { message, .. } => {
            Driven::Failed(format!("the runner refused the connection: {message}"))
        }
        oqto_mux_client::Driven::Unreachable(why) => {
            Driven::Failed(format!("the runner cannot be reached: {why}"))
        }
        oqto_mux_client::Driven::TimedOut => Driven::TimedOut,
        oqto_mux_client::Driven::Cancelled => Driven::Cancelled,
    }
}
