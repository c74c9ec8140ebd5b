//! The gateway's side of the mux envelope (`oqto_proto::mux`): its error frames, the events it
//! emits itself, and which runner frames reach the client.

use oqto_proto::canonical::{Event, EventKind};
use oqto_proto::mux::{Refusal, ServerFrame, ServerHead, SessionName};

/// `runner_id` of the events the gateway itself emits.
pub const GATEWAY_RUNNER_ID: &str = "gateway";

/// The text of a refusal as the gateway sends it.
pub fn refusal(refusal: &Refusal) -> String {
    refusal.to_frame(GATEWAY_RUNNER_ID).to_json()
}

/// An event the gateway emits on a session's agent channel.
pub fn agent_event(session: &SessionName, kind: EventKind) -> String {
    ServerFrame::Agent(Event::new(session.as_str(), GATEWAY_RUNNER_ID, kind)).to_json()
}

/// Whether a frame of `session`'s runner goes to the client: only frames that name that
/// session do (a runner speaks for its own Session only, whatever its agent prints). The
/// runner's greeting and pings stay here: the gateway greets and pings by itself.
pub fn from_runner(text: &str, session: &SessionName) -> bool {
    let Some(head) = ServerHead::peek(text) else {
        tracing::warn!(%session, "the runner sent a frame that is not a JSON object; dropped");
        return false;
    };
    if head.session_id.as_deref() == Some(session.as_str()) {
        return true;
    }
    let own_liveness = head.channel.as_deref() == Some("system")
        && matches!(head.op.as_deref(), Some("ping" | "connected"));
    if !own_liveness {
        tracing::warn!(
            %session,
            named = ?head.session_id,
            channel = ?head.channel,
            "the runner sent a frame for another session, or for none; dropped"
        );
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_frames_of_the_linked_session_reach_the_client() {
        let s1 = SessionName::parse("s1").unwrap();
        assert!(from_runner(
            r#"{"channel":"agent","session_id":"s1","event":"agent.idle"}"#,
            &s1
        ));
        assert!(from_runner(
            r#"{"channel":"files","session_id":"s1","type":"read_result","path":"a"}"#,
            &s1
        ));
        // The browser channel's screencast frames are relayed like any other frame.
        assert!(from_runner(
            r#"{"channel":"browser","session_id":"s1","type":"frame","seq":1,"mime":"image/jpeg","data_base64":"/9j/","width":1280,"height":800}"#,
            &s1
        ));
        assert!(!from_runner(r#"{"channel":"system","type":"ping"}"#, &s1));
        assert!(!from_runner(
            r#"{"channel":"system","type":"connected"}"#,
            &s1
        ));
        // A runner cannot speak for another session, nor for none.
        assert!(!from_runner(
            r#"{"channel":"agent","session_id":"s2","event":"agent.idle"}"#,
            &s1
        ));
        assert!(!from_runner(
            r#"{"channel":"files","type":"read_result","path":"a"}"#,
            &s1
        ));
        assert!(!from_runner("not json", &s1));
    }
}
