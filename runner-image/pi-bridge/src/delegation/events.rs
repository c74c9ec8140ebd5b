//! The canonical `delegate.*` events a delegation shows on its parent's agent stream, built
//! from the typed protocol so their shape is the protocol's.

use std::sync::Arc;

use oqto_proto::canonical::{
    DelegateErrorCode, DelegateMode, EventKind, Message, Part, Role, Sender, SenderType,
    StopReason, now_ms,
};

/// Where events go: the parent conversation's subscribers (see `Registry::broadcast`).
pub type Emit = Arc<dyn Fn(EventKind) + Send + Sync>;

/// The child was created and its turn starts. Always `async`: the parent's agent keeps its
/// turn and its tool waits for the answer.
pub fn start(request_id: &str, child: &str) -> EventKind {
    EventKind::DelegateStart {
        request_id: request_id.to_owned(),
        target_session_id: child.to_owned(),
        // A child Session has a runner of its own, named like the Session.
        target_runner_id: child.to_owned(),
        mode: DelegateMode::Async,
    }
}

pub fn delta(request_id: &str, delta: String) -> EventKind {
    EventKind::DelegateDelta {
        request_id: request_id.to_owned(),
        delta,
    }
}

/// The child's answer, as one assistant message written by the child.
pub fn end(request_id: &str, child: &str, answer: String, duration_ms: u64) -> EventKind {
    let responder = Sender {
        sender_type: SenderType::Agent,
        id: child.to_owned(),
        name: child.to_owned(),
        runner_id: Some(child.to_owned()),
        session_id: Some(child.to_owned()),
    };
    let response = Message {
        id: format!("{request_id}:answer"),
        idx: 0,
        role: Role::Assistant,
        client_id: None,
        sender: Some(responder.clone()),
        parts: vec![Part::Text {
            id: Part::new_id(),
            text: answer,
            format: None,
        }],
        created_at: now_ms(),
        model: None,
        provider: None,
        stop_reason: Some(StopReason::Stop),
        usage: None,
        tool_call_id: None,
        tool_name: None,
        is_error: None,
        metadata: None,
    };
    EventKind::DelegateEnd {
        request_id: request_id.to_owned(),
        response: Box::new(response),
        responder,
        duration_ms: Some(duration_ms),
    }
}

pub fn error(request_id: &str, error: String, code: DelegateErrorCode) -> EventKind {
    EventKind::DelegateError {
        request_id: request_id.to_owned(),
        error,
        code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oqto_proto::canonical::Event;
    use serde_json::json;

    fn wire(kind: EventKind) -> serde_json::Value {
        serde_json::to_value(Event::new("parent", "runner", kind)).unwrap()
    }

    #[test]
    fn the_events_have_the_protocols_shape() {
        let started = wire(start("d1", "child-1"));
        assert_eq!(started["event"], "delegate.start");
        assert_eq!(started["target_session_id"], "child-1");
        assert_eq!(started["mode"], "async");
        assert_eq!(wire(delta("d1", "hi".into()))["delta"], "hi");
        let ended = wire(end("d1", "child-1", "42".into(), 1500));
        assert_eq!(ended["event"], "delegate.end");
        assert_eq!(ended["response"]["id"], "d1:answer");
        assert_eq!(ended["response"]["role"], "assistant");
        assert_eq!(ended["response"]["parts"][0]["type"], "text");
        assert_eq!(ended["response"]["parts"][0]["text"], "42");
        assert_eq!(
            ended["responder"],
            json!({"type":"agent","id":"child-1","name":"child-1","runner_id":"child-1",
                "session_id":"child-1"})
        );
        assert_eq!(ended["duration_ms"], 1500);
        let failed = wire(error(
            "d1",
            "too many".into(),
            DelegateErrorCode::PermissionDenied,
        ));
        assert_eq!(
            (failed["event"].as_str(), failed["code"].as_str()),
            (Some("delegate.error"), Some("permission_denied"))
        );
    }
}
