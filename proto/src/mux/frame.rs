use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    Channel, FilesEvent, FilesOp, FilesRequest, FrameError, HstryEvent, HstryRequest, SystemEvent,
    TerminalEvent, TerminalRequest,
};
use crate::canonical::{Command, CommandKind, Event};

/// What a client may send to this endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum ClientFrame {
    Agent(Command),
    Files(FilesRequest),
    Terminal(TerminalRequest),
    Hstry(HstryRequest),
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum ServerFrame {
    Agent(Event),
    Files(FilesEvent),
    Terminal(TerminalEvent),
    Hstry(HstryEvent),
    System(SystemEvent),
}

impl ServerFrame {
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: every map key is a string.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"channel":"system","type":"error","id":null,"error":"serialising a frame failed: {e}"}}"#)
        })
    }
}

impl ClientFrame {
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
        match channel {
            Channel::Agent => {
                let op = operation(&object, channel, "cmd", &CommandKind::NAMES, &id)?;
                typed(object, channel, op, id).map(Self::Agent)
            }
            Channel::Files => {
                let op = operation(&object, channel, "type", &FilesOp::TYPES, &id)?;
                typed(object, channel, op, id).map(Self::Files)
            }
            Channel::Terminal => {
                let op = operation(&object, channel, "type", &TerminalRequest::TYPES, &id)?;
                typed(object, channel, op, id).map(Self::Terminal)
            }
            Channel::Hstry => {
                let op = operation(&object, channel, "type", &HstryRequest::TYPES, &id)?;
                typed(object, channel, op, id).map(Self::Hstry)
            }
            Channel::Trx | Channel::Session | Channel::System | Channel::Bus => {
                Err(FrameError::UnsupportedChannel { channel, id })
            }
        }
    }
}

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

fn typed<T: serde::de::DeserializeOwned>(
    mut object: Map<String, Value>,
    channel: Channel,
    operation: String,
    id: Option<String>,
) -> Result<T, FrameError> {
    object.remove("channel");
    serde_json::from_value(Value::Object(object)).map_err(|e| FrameError::InvalidField {
        channel,
        operation,
        reason: e.to_string(),
        id,
    })
}
