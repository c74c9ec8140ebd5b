//! What the relay reads of a client frame (its channel, the session it names, its id and
//! operation: the rest is the runner's to validate), the error frames it answers with, and
//! the session tag it adds to runner frames that lack one.

use oqto_proto::canonical::{Event, EventKind};
use oqto_proto::mux::{
    Channel, FilesEvent, FrameError, HstryEvent, ServerFrame, SystemEvent, TerminalEvent,
};
use serde::Deserialize;
use serde_json::Value;

/// `runner_id` of the events the gateway itself emits.
pub const GATEWAY_RUNNER_ID: &str = "gateway";

/// A client frame's routing envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub channel: Channel,
    pub session: String,
    pub id: Option<String>,
    /// `cmd` of agent frames, `type` of the others.
    pub op: String,
}

/// Why a frame cannot be routed, and where the answer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub channel: Option<Channel>,
    pub session: Option<String>,
    pub id: Option<String>,
    pub op: Option<String>,
    pub error: String,
}

#[derive(Deserialize)]
struct Raw {
    channel: Option<Value>,
    session_id: Option<Value>,
    id: Option<Value>,
    cmd: Option<Value>,
    #[serde(rename = "type")]
    op: Option<Value>,
}

pub fn envelope(text: &str) -> Result<Envelope, Refusal> {
    let refuse = |error: FrameError| Refusal {
        channel: error.channel(),
        session: None,
        id: error.id().map(str::to_owned),
        op: None,
        error: error.to_string(),
    };
    // Only the envelope is read: the rest of the frame (a file's content, a prompt) is
    // skipped by the parser, never built into a tree. A struct would also accept a JSON
    // array (positionally), so anything but an object is told apart first.
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => refuse(FrameError::NotObject),
            Err(e) => refuse(FrameError::NotJson {
                reason: e.to_string(),
            }),
        });
    }
    let raw: Raw = serde_json::from_str(text).map_err(|e| {
        refuse(FrameError::NotJson {
            reason: e.to_string(),
        })
    })?;
    let id = raw.id.as_ref().and_then(Value::as_str).map(str::to_owned);
    let Some(name) = raw.channel.as_ref().and_then(Value::as_str) else {
        return Err(refuse(FrameError::MissingChannel { id }));
    };
    let channel = Channel::parse(name).ok_or_else(|| {
        refuse(FrameError::UnknownChannel {
            name: name.to_owned(),
            id: id.clone(),
        })
    })?;
    if !matches!(
        channel,
        Channel::Agent | Channel::Files | Channel::Terminal | Channel::Hstry
    ) {
        return Err(refuse(FrameError::UnsupportedChannel { channel, id }));
    }
    let (tag, op) = match channel {
        Channel::Agent => ("cmd", raw.cmd.as_ref()),
        _ => ("type", raw.op.as_ref()),
    };
    let Some(op) = op.and_then(Value::as_str).map(str::to_owned) else {
        return Err(refuse(FrameError::MissingTag { channel, tag, id }));
    };
    let refusal = |error: String| Refusal {
        channel: Some(channel),
        session: None,
        id: id.clone(),
        op: Some(op.clone()),
        error,
    };
    let session = match raw.session_id {
        Some(Value::String(session)) => session,
        Some(_) => {
            return Err(refusal(format!(
                "Invalid {channel} frame `{op}`: field `session_id`: expected a string"
            )));
        }
        None => {
            return Err(refusal(format!(
                "Invalid {channel} frame `{op}`: missing `session_id` (the session to route the frame to)"
            )));
        }
    };
    if !oqto_api::names::is_object_name(&session) {
        return Err(refusal(format!(
            "Invalid {channel} frame `{op}`: field `session_id`: {session:?} is not a session name"
        )));
    }
    Ok(Envelope {
        channel,
        session,
        id,
        op,
    })
}

impl Envelope {
    /// The refusal of this (routable) frame for `error`.
    pub fn refuse(&self, error: String) -> Refusal {
        Refusal {
            channel: Some(self.channel),
            session: Some(self.session.clone()),
            id: self.id.clone(),
            op: Some(self.op.clone()),
            error,
        }
    }
}

impl Refusal {
    /// A `system.error` (tagged with the session when there is one).
    pub fn system(session: Option<&str>, error: impl Into<String>) -> Self {
        Self {
            channel: None,
            session: session.map(str::to_owned),
            id: None,
            op: None,
            error: error.into(),
        }
    }

    /// The answer: a failed `response` for an agent command of a known session, the
    /// channel's `error` for files, terminal and hstry, `system.error` otherwise.
    pub fn to_frame(&self) -> String {
        let error = self.error.clone();
        let id = self.id.clone();
        let frame = match (self.channel, &self.session, &self.op) {
            (Some(Channel::Agent), Some(session), Some(cmd)) => ServerFrame::Agent(Event::new(
                session.clone(),
                GATEWAY_RUNNER_ID,
                EventKind::response_err(id.as_deref(), cmd, error),
            )),
            (Some(Channel::Files), ..) => ServerFrame::Files(FilesEvent::Error { id, error }),
            (Some(Channel::Terminal), ..) => ServerFrame::Terminal(TerminalEvent::Error {
                id,
                terminal_id: None,
                error,
            }),
            (Some(Channel::Hstry), ..) => ServerFrame::Hstry(HstryEvent::Error { id, error }),
            _ => ServerFrame::System(SystemEvent::Error { id, error }),
        };
        let text = frame.to_json();
        match &self.session {
            Some(session) => tag(&text, session).unwrap_or(text),
            None => text,
        }
    }
}

/// An event the gateway emits on a session's agent channel.
pub fn agent_event(session: &str, kind: EventKind) -> String {
    ServerFrame::Agent(Event::new(session, GATEWAY_RUNNER_ID, kind)).to_json()
}

/// A runner frame as the client gets it: tagged with `session_id` when it has none, or None
/// for the runner's own greeting and pings (the gateway greets and pings by itself).
pub fn tag(text: &str, session: &str) -> Option<String> {
    const PING: &str = r#"{"channel":"system","type":"ping"}"#;
    const CONNECTED: &str = r#"{"channel":"system","type":"connected"}"#;
    // Agent events carry their session already (the runner writes the channel first).
    if text.starts_with(r#"{"channel":"agent","#) {
        return Some(text.to_owned());
    }
    if text == PING || text == CONNECTED {
        return None;
    }
    // Only whether the frame has a top-level `session_id` is read; the tag goes in as text.
    #[derive(Deserialize)]
    struct Top {
        session_id: Option<serde::de::IgnoredAny>,
    }
    let Ok(top) = serde_json::from_str::<Top>(text) else {
        tracing::warn!(
            session,
            "the runner sent a frame that is not a JSON object; dropped"
        );
        return None;
    };
    let body = text.trim_start().strip_prefix('{')?;
    if top.session_id.is_some() {
        return Some(text.to_owned());
    }
    let session = Value::String(session.to_owned());
    let comma = if body.trim_start().starts_with('}') {
        ""
    } else {
        ","
    };
    Some(format!("{{\"session_id\":{session}{comma}{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routable_frames_name_channel_session_id_and_operation() {
        let e = envelope(
            r#"{"channel":"agent","session_id":"s1","id":"r1","cmd":"prompt","message":"hi"}"#,
        )
        .unwrap();
        assert_eq!(
            (
                e.channel,
                e.session.as_str(),
                e.id.as_deref(),
                e.op.as_str()
            ),
            (Channel::Agent, "s1", Some("r1"), "prompt")
        );
        let e =
            envelope(r#"{"channel":"files","session_id":"s1","type":"tree","path":""}"#).unwrap();
        assert_eq!(
            (e.channel, e.op.as_str(), e.id),
            (Channel::Files, "tree", None)
        );
    }

    #[test]
    fn unroutable_frames_say_why_on_the_right_channel() {
        let refusal = envelope("nope").unwrap_err();
        assert!(
            refusal.error.starts_with("Invalid frame: not JSON"),
            "{refusal:?}"
        );
        assert_eq!(refusal.channel, None);
        let refusal = envelope(r#"{"channel":"bus","id":"7","type":"publish"}"#).unwrap_err();
        assert_eq!(
            (refusal.channel, refusal.id.as_deref()),
            (Some(Channel::Bus), Some("7"))
        );
        let refusal =
            envelope(r#"{"channel":"files","id":"7","type":"read","path":"a"}"#).unwrap_err();
        assert!(
            refusal.error.contains("missing `session_id`"),
            "{refusal:?}"
        );
        let frame: Value = serde_json::from_str(&refusal.to_frame()).unwrap();
        assert_eq!(frame["channel"], "files");
        assert_eq!(frame["type"], "error");
        assert_eq!(frame["id"], "7");
        let refusal = envelope(
            r#"{"channel":"terminal","session_id":"../x","type":"open","cols":1,"rows":1}"#,
        )
        .unwrap_err();
        assert!(refusal.error.contains("field `session_id`"), "{refusal:?}");
        let refusal = envelope(r#"{"channel":"agent","session_id":"s1"}"#).unwrap_err();
        assert!(refusal.error.contains("missing `cmd`"), "{refusal:?}");
        assert_eq!(
            envelope("[1]").unwrap_err().error,
            "Invalid frame: expected a JSON object"
        );
    }

    #[test]
    fn agent_refusals_are_failed_responses_of_the_session() {
        let e =
            envelope(r#"{"channel":"agent","session_id":"s1","id":"r1","cmd":"prompt"}"#).unwrap();
        let frame: Value = serde_json::from_str(&e.refuse("no".into()).to_frame()).unwrap();
        assert_eq!(frame["event"], "response");
        assert_eq!(frame["success"], false);
        assert_eq!(frame["session_id"], "s1");
        assert_eq!(frame["cmd"], "prompt");
        assert_eq!(frame["error"], "no");
    }

    #[test]
    fn runner_frames_are_tagged_and_greetings_dropped() {
        assert_eq!(tag(r#"{"channel":"system","type":"ping"}"#, "s"), None);
        assert_eq!(tag(r#"{"channel":"system","type":"connected"}"#, "s"), None);
        let agent = r#"{"channel":"agent","session_id":"s","event":"agent.idle"}"#;
        assert_eq!(tag(agent, "s").as_deref(), Some(agent));
        let files: Value = serde_json::from_str(
            &tag(
                r#"{"channel":"files","type":"read_result","path":"a"}"#,
                "s1",
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            files,
            json!({"channel":"files","type":"read_result","path":"a","session_id":"s1"})
        );
    }
}
