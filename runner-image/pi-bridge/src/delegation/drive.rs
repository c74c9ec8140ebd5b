//! One turn of a child Session, driven over the gateway's mux WebSocket with this runner's
//! session credential (`oqto_mux_client` does the driving; the operator's Schedules use it
//! too). Here its ends become delegation's error codes.

use std::time::Duration;

use oqto_proto::canonical::DelegateErrorCode;
use reqwest::StatusCode;
use tokio::sync::watch;

use super::gateway::{Gateway, code_of};

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
    cancel: watch::Receiver<bool>,
    on_delta: impl FnMut(String) + Send,
) -> Driven {
    let url = gateway.mux_url();
    let authorization = gateway
        .authorization()
        .to_str()
        .unwrap_or_default()
        .to_owned();
    let driven = oqto_mux_client::drive(
        oqto_mux_client::TurnSpec {
            url: &url,
            authorization: &authorization,
            session: spec.child,
            prompt: spec.prompt,
            client_id: spec.client_id,
            timeout: spec.timeout,
        },
        cancel,
        on_delta,
    )
    .await;
    match driven {
        oqto_mux_client::Driven::Finished { answer } => Driven::Finished { answer },
        oqto_mux_client::Driven::Failed(error) => Driven::Failed {
            error,
            code: DelegateErrorCode::TargetError,
        },
        oqto_mux_client::Driven::Refused { status, message } => Driven::Failed {
            error: format!("the gateway refused the mux connection: {message}"),
            code: StatusCode::from_u16(status)
                .map(code_of)
                .unwrap_or(DelegateErrorCode::PermissionDenied),
        },
        oqto_mux_client::Driven::Unreachable(why) => Driven::Failed {
            error: format!("the gateway's mux: {why}"),
            code: DelegateErrorCode::RunnerUnreachable,
        },
        oqto_mux_client::Driven::TimedOut => Driven::TimedOut,
        oqto_mux_client::Driven::Cancelled => Driven::Cancelled,
    }
}
