//! The envelope of a client frame, `{channel, session_id, id, cmd|type}`, read without the
//! payload (a file's content, a prompt is skipped by the parser, never built into a tree),
//! and the per-channel error frame that refuses a frame. The gateway routes by the envelope
//! alone; pi-bridge reads it first to refuse frames for another session.

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{
    BrowserEvent, Channel, FilesEvent, FrameError, HstryEvent, ServerFrame, SessionName,
    SystemEvent, Tagged, TerminalEvent,
};
use crate::canonical::{Event, EventKind};

/// A client frame's routing envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub channel: Channel,
    pub session_id: SessionName,
    pub id: Option<String>,
    /// `cmd` of agent frames, `type` of the others.
    pub op: String,
}

/// Why a frame is refused, and where the answer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub channel: Option<Channel>,
    pub session_id: Option<SessionName>,
    pub id: Option<String>,
    pub op: Option<String>,
    pub error: String,
}

/// The channels a client may send on.
pub const SERVED: [Channel; 5] = [
    Channel::Agent,
    Channel::Files,
    Channel::Terminal,
    Channel::Hstry,
    Channel::Browser,
];

impl Envelope {
    /// Reads the envelope of `text`, or says what is wrong with it.
    pub fn peek(text: &str) -> Result<Self, Refusal> {
        let refuse = |error: FrameError| Refusal::from(&error);
        // A struct would also accept a JSON array (positionally): anything but an object is
        // told apart first.
        if !text.trim_start().starts_with('{') {
            return Err(match serde_json::from_str::<IgnoredAny>(text) {
                Ok(_) => refuse(FrameError::NotObject),
                Err(e) => refuse(FrameError::NotJson {
                    reason: e.to_string(),
                }),
            });
        }
        let head: Head = serde_json::from_str(text).map_err(|e| {
            refuse(FrameError::NotJson {
                reason: e.to_string(),
            })
        })?;
        let id = head.id.string();
        let Some(name) = head.channel.string() else {
            return Err(refuse(FrameError::MissingChannel { id }));
        };
        let channel = Channel::parse(&name).ok_or_else(|| {
            refuse(FrameError::UnknownChannel {
                name: shorten(&name),
                id: id.clone(),
            })
        })?;
        if !SERVED.contains(&channel) {
            return Err(refuse(FrameError::UnsupportedChannel { channel, id }));
        }
        let (tag, op) = match channel {
            Channel::Agent => ("cmd", head.cmd),
            _ => ("type", head.op),
        };
        let Some(op) = op.string() else {
            return Err(refuse(FrameError::MissingTag { channel, tag, id }));
        };
        let refusal = |error: String| Refusal {
            channel: Some(channel),
            session_id: None,
            id: id.clone(),
            op: Some(op.clone()),
            error,
        };
        let session_id = match head.session_id {
            Loose::String(session) => SessionName::parse(&session).map_err(|reason| {
                refusal(format!(
                    "Invalid {channel} frame `{op}`: field `session_id`: {reason}"
                ))
            })?,
            Loose::Other => {
                return Err(refusal(format!(
                    "Invalid {channel} frame `{op}`: field `session_id`: expected a string"
                )));
            }
            Loose::Absent => {
                return Err(refusal(format!(
                    "Invalid {channel} frame `{op}`: missing `session_id` (the session the frame is for)"
                )));
            }
        };
        Ok(Self {
            channel,
            session_id,
            id,
            op,
        })
    }

    /// The refusal of this (readable) frame for `error`.
    pub fn refuse(&self, error: impl Into<String>) -> Refusal {
        Refusal {
            channel: Some(self.channel),
            session_id: Some(self.session_id.clone()),
            id: self.id.clone(),
            op: Some(self.op.clone()),
            error: error.into(),
        }
    }
}

impl Refusal {
    /// A `system.error`, tagged with the session when there is one.
    pub fn system(session_id: Option<SessionName>, error: impl Into<String>) -> Self {
        Self {
            channel: None,
            session_id,
            id: None,
            op: None,
            error: error.into(),
        }
    }

    /// The answer: a failed `response` for an agent command of a known session (from
    /// `runner_id`), the channel's `error` for files, terminal, hstry and browser, `system.error`
    /// otherwise.
    pub fn to_frame(&self, runner_id: &str) -> ServerFrame {
        let error = self.error.clone();
        let id = self.id.clone();
        let session_id = self.session_id.clone();
        match (self.channel, &self.session_id, &self.op) {
            (Some(Channel::Agent), Some(session), Some(cmd)) => ServerFrame::Agent(Event::new(
                session.as_str(),
                runner_id,
                EventKind::response_err(id.as_deref(), cmd, error),
            )),
            (Some(Channel::Files), ..) => {
                ServerFrame::Files(Tagged::new(session_id, FilesEvent::Error { id, error }))
            }
            (Some(Channel::Terminal), ..) => ServerFrame::Terminal(Tagged::new(
                session_id,
                TerminalEvent::Error {
                    id,
                    terminal_id: None,
                    error,
                },
            )),
            (Some(Channel::Hstry), ..) => {
                ServerFrame::Hstry(Tagged::new(session_id, HstryEvent::Error { id, error }))
            }
            (Some(Channel::Browser), ..) => {
                ServerFrame::Browser(Tagged::new(session_id, BrowserEvent::Error { id, error }))
            }
            _ => ServerFrame::System(SystemEvent::Error {
                session_id,
                id,
                error,
            }),
        }
    }
}

impl From<&FrameError> for Refusal {
    fn from(error: &FrameError) -> Self {
        Self {
            channel: error.channel(),
            session_id: None,
            id: error.id().map(str::to_owned),
            op: None,
            error: error.to_string(),
        }
    }
}

/// A server frame's head: enough to check whose it is and to drop the runner's own pings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHead {
    pub channel: Option<String>,
    pub session_id: Option<String>,
    /// `type` of non-agent frames (`ping`, `connected`, `error`, ...).
    pub op: Option<String>,
}

impl ServerHead {
    /// Reads the head of a server frame; None when it is not a JSON object.
    pub fn peek(text: &str) -> Option<Self> {
        if !text.trim_start().starts_with('{') {
            return None;
        }
        let head: Head = serde_json::from_str(text).ok()?;
        Some(Self {
            channel: head.channel.string(),
            session_id: head.session_id.string(),
            op: head.op.string(),
        })
    }
}

/// Error messages quote at most 64 characters of a bad value.
pub(super) fn shorten(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// The envelope fields of any frame; everything else is skipped unparsed.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    channel: Loose,
    #[serde(default)]
    session_id: Loose,
    #[serde(default)]
    id: Loose,
    #[serde(default)]
    cmd: Loose,
    #[serde(default, rename = "type")]
    op: Loose,
}

/// A field that should be a string. Anything else is skipped without building it, so a huge
/// `"id": [0, 0, ...]` costs a scan, not a tree.
#[derive(Default)]
enum Loose {
    #[default]
    Absent,
    String(String),
    Other,
}

impl Loose {
    fn string(self) -> Option<String> {
        match self {
            Self::String(text) => Some(text),
            Self::Absent | Self::Other => None,
        }
    }
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LooseVisitor;

        impl<'de> Visitor<'de> for LooseVisitor {
            type Value = Loose;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Loose, E> {
                Ok(Loose::String(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Loose, E> {
                Ok(Loose::String(v))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Loose, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Loose::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Loose::Other)
            }
        }

        deserializer.deserialize_any(LooseVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn json_of(frame: &ServerFrame) -> Value {
        serde_json::from_str(&frame.to_json()).unwrap()
    }

    #[test]
    fn routable_frames_name_channel_session_id_and_operation() {
        let e = Envelope::peek(
            r#"{"channel":"agent","session_id":"s1","id":"r1","cmd":"prompt","message":"hi"}"#,
        )
        .unwrap();
        assert_eq!(
            (
                e.channel,
                e.session_id.as_str(),
                e.id.as_deref(),
                e.op.as_str()
            ),
            (Channel::Agent, "s1", Some("r1"), "prompt")
        );
        let e = Envelope::peek(r#"{"channel":"files","session_id":"s1","type":"tree","path":""}"#)
            .unwrap();
        assert_eq!(
            (e.channel, e.op.as_str(), e.id),
            (Channel::Files, "tree", None)
        );
    }

    #[test]
    fn unroutable_frames_say_why_on_the_right_channel() {
        let refusal = Envelope::peek("nope").unwrap_err();
        assert!(
            refusal.error.starts_with("Invalid frame: not JSON"),
            "{refusal:?}"
        );
        assert_eq!(refusal.channel, None);
        let refusal = Envelope::peek(r#"{"channel":"bus","id":"7","type":"publish"}"#).unwrap_err();
        assert_eq!(
            (refusal.channel, refusal.id.as_deref()),
            (Some(Channel::Bus), Some("7"))
        );
        let refusal =
            Envelope::peek(r#"{"channel":"files","id":"7","type":"read","path":"a"}"#).unwrap_err();
        assert!(
            refusal.error.contains("missing `session_id`"),
            "{refusal:?}"
        );
        let frame = json_of(&refusal.to_frame("r"));
        assert_eq!(
            frame,
            json!({"channel":"files","type":"error","id":"7","error":refusal.error})
        );
        let refusal = Envelope::peek(
            r#"{"channel":"terminal","session_id":"../x","type":"open","cols":1,"rows":1}"#,
        )
        .unwrap_err();
        assert!(refusal.error.contains("field `session_id`"), "{refusal:?}");
        let refusal = Envelope::peek(r#"{"channel":"agent","session_id":"s1"}"#).unwrap_err();
        assert!(refusal.error.contains("missing `cmd`"), "{refusal:?}");
        assert_eq!(
            Envelope::peek("[1]").unwrap_err().error,
            "Invalid frame: expected a JSON object"
        );
    }

    #[test]
    fn a_huge_non_string_id_is_skipped_not_built() {
        let big = format!(
            r#"{{"channel":"files","session_id":"s","type":"read","id":[{}0]}}"#,
            "0,".repeat(100_000)
        );
        let e = Envelope::peek(&big).unwrap();
        assert_eq!(e.id, None);
    }

    #[test]
    fn refusals_answer_on_the_frames_channel_with_its_session() {
        let e = Envelope::peek(r#"{"channel":"agent","session_id":"s1","id":"r1","cmd":"prompt"}"#)
            .unwrap();
        let frame = json_of(&e.refuse("no").to_frame("gateway"));
        assert_eq!(frame["event"], "response");
        assert_eq!(frame["success"], false);
        assert_eq!(frame["session_id"], "s1");
        assert_eq!(frame["runner_id"], "gateway");
        assert_eq!(frame["cmd"], "prompt");
        assert_eq!(frame["error"], "no");
        let e = Envelope::peek(r#"{"channel":"hstry","session_id":"s1","id":"h","type":"query"}"#)
            .unwrap();
        assert_eq!(
            json_of(&e.refuse("no").to_frame("r")),
            json!({"channel":"hstry","session_id":"s1","type":"error","id":"h","error":"no"})
        );
    }

    #[test]
    fn server_heads_name_their_session() {
        let head = ServerHead::peek(
            r#"{"channel":"files","session_id":"s","type":"read_result","content":"AAAA"}"#,
        )
        .unwrap();
        assert_eq!(head.session_id.as_deref(), Some("s"));
        assert_eq!(head.op.as_deref(), Some("read_result"));
        assert_eq!(ServerHead::peek("[]"), None);
    }
}
