use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use super::field_locator::locate_bad_field;
use super::{
    Addressed, BrowserEvent, BrowserRequest, Channel, FilesEvent, FilesOp, FilesRequest,
    FrameError, HstryEvent, HstryRequest, SessionName, SystemEvent, Tagged, TerminalEvent,
    TerminalRequest,
};
use crate::canonical::{Command, CommandKind, Event};

/// What a client may send to this endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum ClientFrame {
    /// The canonical command carries `session_id` itself (§1.4).
    Agent(Command),
    Files(Addressed<FilesRequest>),
    Terminal(Addressed<TerminalRequest>),
    Hstry(Addressed<HstryRequest>),
    Browser(Addressed<BrowserRequest>),
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The canonical event carries `session_id` itself (§1.3).
    Agent(Event),
    Files(Tagged<FilesEvent>),
    Terminal(Tagged<TerminalEvent>),
    Hstry(Tagged<HstryEvent>),
    Browser(Tagged<BrowserEvent>),
    System(SystemEvent),
}

impl ServerFrame {
    pub fn files(session: &SessionName, event: FilesEvent) -> Self {
        Self::Files(Tagged::new(Some(session.clone()), event))
    }

    pub fn terminal(session: &SessionName, event: TerminalEvent) -> Self {
        Self::Terminal(Tagged::new(Some(session.clone()), event))
    }

    pub fn hstry(session: &SessionName, event: HstryEvent) -> Self {
        Self::Hstry(Tagged::new(Some(session.clone()), event))
    }

    pub fn browser(session: &SessionName, event: BrowserEvent) -> Self {
        Self::Browser(Tagged::new(Some(session.clone()), event))
    }

    /// The frame's channel.
    pub fn channel(&self) -> Channel {
        match self {
            Self::Agent(_) => Channel::Agent,
            Self::Files(_) => Channel::Files,
            Self::Terminal(_) => Channel::Terminal,
            Self::Hstry(_) => Channel::Hstry,
            Self::Browser(_) => Channel::Browser,
            Self::System(_) => Channel::System,
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: every map key is a string.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"channel":"system","type":"error","id":null,"error":"serialising a frame failed: {e}"}}"#)
        })
    }
}

impl ClientFrame {
    /// The session the frame is for.
    pub fn session(&self) -> &str {
        match self {
            Self::Agent(command) => &command.session_id,
            Self::Files(frame) => frame.session_id.as_str(),
            Self::Terminal(frame) => frame.session_id.as_str(),
            Self::Hstry(frame) => frame.session_id.as_str(),
            Self::Browser(frame) => frame.session_id.as_str(),
        }
    }

    /// Parses a client frame step by step, so the error says exactly what is wrong: not JSON,
    /// no or unknown channel, no or unknown command/type, or which field of it is bad.
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        let value: Value = serde_json::from_str(text).map_err(|e| FrameError::NotJson {
            reason: e.to_string(),
        })?;
        let Value::Object(object) = value else {
            return Err(FrameError::NotObject);
        };
        let id = object.get("id").and_then(Value::as_str).map(str::to_owned);
        let Some(name) = object.get("channel").and_then(Value::as_str) else {
            return Err(FrameError::MissingChannel { id });
        };
        let channel = Channel::parse(name).ok_or_else(|| FrameError::UnknownChannel {
            name: name.to_owned(),
            id: id.clone(),
        })?;
        let (tag, known, build): (&'static str, &[&str], Build) = match channel {
            Channel::Agent => ("cmd", &CommandKind::NAMES, |frame, context| {
                // The envelope first, then the payload with the (valid) envelope left alone:
                // `Command` checks its own missing fields before its flattened payload, so
                // removing `session_id` would look like the fix for any bad payload field.
                typed::<CommandEnvelope>(frame, &["cmd"], context)?;
                let envelope = ["cmd", "id", "session_id", "runner_id"];
                typed(frame, &envelope, context).map(Self::Agent)
            }),
            // As for agent frames: the session first, then the payload.
            Channel::Files => ("type", &FilesOp::TYPES, |frame, context| {
                typed::<SessionEnvelope>(frame, &["type"], context)?;
                typed(frame, &ENVELOPE, context).map(Self::Files)
            }),
            Channel::Terminal => ("type", &TerminalRequest::TYPES, |frame, context| {
                typed::<SessionEnvelope>(frame, &["type"], context)?;
                typed(frame, &ENVELOPE, context).map(Self::Terminal)
            }),
            Channel::Hstry => ("type", &HstryRequest::TYPES, |frame, context| {
                typed::<SessionEnvelope>(frame, &["type"], context)?;
                typed(frame, &ENVELOPE, context).map(Self::Hstry)
            }),
            Channel::Browser => ("type", &BrowserRequest::TYPES, |frame, context| {
                typed::<SessionEnvelope>(frame, &["type"], context)?;
                typed(frame, &ENVELOPE, context).map(Self::Browser)
            }),
            Channel::Trx | Channel::Session | Channel::System | Channel::Bus => {
                return Err(FrameError::UnsupportedChannel { channel, id });
            }
        };
        let op = operation(&object, channel, tag, known, &id)?;
        let mut object = object;
        object.remove("channel");
        let context = Context {
            probe: text.len() <= MAX_PROBED_FRAME,
            channel,
            operation: &op,
            id: &id,
        };
        build(&Value::Object(object), &context)
    }
}

/// Turns a frame of a served channel, its operation already checked, into a `ClientFrame`.
type Build = fn(&Value, &Context<'_>) -> Result<ClientFrame, FrameError>;

/// The frame's operation name (`cmd` or `type`), checked against the known ones.
fn operation(
    object: &Map<String, Value>,
    channel: Channel,
    tag: &'static str,
    known: &[&str],
    id: &Option<String>,
) -> Result<String, FrameError> {
    let Some(name) = object.get(tag).and_then(Value::as_str) else {
        return Err(FrameError::MissingTag {
            channel,
            tag,
            id: id.clone(),
        });
    };
    if !known.contains(&name) {
        return Err(FrameError::UnknownOperation {
            channel,
            tag,
            name: name.to_owned(),
            id: id.clone(),
        });
    }
    Ok(name.to_owned())
}

/// The envelope fields of an agent frame, checked on their own (see `ClientFrame::parse`).
#[derive(Deserialize)]
#[allow(dead_code)] // Only its errors matter.
struct CommandEnvelope {
    #[serde(default)]
    id: Option<String>,
    session_id: SessionName,
    #[serde(default)]
    runner_id: Option<String>,
}

/// The envelope of a files, terminal, hstry or browser frame, checked on its own.
#[derive(Deserialize)]
#[allow(dead_code)] // Only its errors matter.
struct SessionEnvelope {
    session_id: SessionName,
}

/// Fields of a files, terminal or hstry frame never blamed for a payload error (the tag, and
/// the session already checked).
const ENVELOPE: [&str; 2] = ["type", "session_id"];

/// What an error about a frame's fields must say besides serde's message.
struct Context<'a> {
    channel: Channel,
    operation: &'a str,
    id: &'a Option<String>,
    /// Whether to look for the bad field (each probe parses the frame again; large frames
    /// are not probed, so a bad frame cannot cost more than a few small parses).
    probe: bool,
}

/// Frames up to this size get the bad field named; larger ones only serde's message.
const MAX_PROBED_FRAME: usize = 64 * 1024;

/// Deserialises the frame (already without its `channel`) as `T`; on failure names the bad
/// field, never one of `never_blamed`.
fn typed<T: DeserializeOwned>(
    frame: &Value,
    never_blamed: &[&str],
    context: &Context<'_>,
) -> Result<T, FrameError> {
    T::deserialize(frame).map_err(|error| FrameError::InvalidField {
        channel: context.channel,
        operation: context.operation.to_owned(),
        field: context
            .probe
            .then(|| {
                locate_bad_field(frame, never_blamed, |candidate| {
                    T::deserialize(candidate).err().map(|e| e.to_string())
                })
            })
            .flatten(),
        reason: error.to_string(),
        id: context.id.clone(),
    })
}
