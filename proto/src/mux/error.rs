use super::Channel;

/// Why a client frame was refused. Keeps the frame's correlation `id` and its channel when they
/// could be read, so the answer goes to the right place.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameError {
    #[error("Invalid frame: not JSON: {reason}")]
    NotJson { reason: String },
    #[error("Invalid frame: expected a JSON object")]
    NotObject,
    #[error("Invalid frame: missing `channel` (a string)")]
    MissingChannel { id: Option<String> },
    #[error(
        "Invalid frame: unknown channel {name:?} (served here: agent, files, terminal, hstry, browser)"
    )]
    UnknownChannel { name: String, id: Option<String> },
    #[error("Invalid frame: channel `{channel}` is not served by this endpoint")]
    UnsupportedChannel {
        channel: Channel,
        id: Option<String>,
    },
    #[error("Invalid {channel} frame: missing `{tag}` (a string)")]
    MissingTag {
        channel: Channel,
        tag: &'static str,
        id: Option<String>,
    },
    #[error("Invalid {channel} frame: unknown {tag} {name:?}")]
    UnknownOperation {
        channel: Channel,
        tag: &'static str,
        name: String,
        id: Option<String>,
    },
    /// `reason` is serde's message; `field` the dotted path it is about, when it could be found.
    #[error("Invalid {channel} frame `{operation}`: {}{reason}", field_prefix(.field))]
    InvalidField {
        channel: Channel,
        operation: String,
        field: Option<String>,
        reason: String,
        id: Option<String>,
    },
}

impl FrameError {
    /// The frame's correlation id, when it had a string `id`.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::NotJson { .. } | Self::NotObject => None,
            Self::MissingChannel { id }
            | Self::UnknownChannel { id, .. }
            | Self::UnsupportedChannel { id, .. }
            | Self::MissingTag { id, .. }
            | Self::UnknownOperation { id, .. }
            | Self::InvalidField { id, .. } => id.as_deref(),
        }
    }

    /// The frame's channel, when it named a known one (served or not).
    pub fn channel(&self) -> Option<Channel> {
        match self {
            Self::UnsupportedChannel { channel, .. }
            | Self::MissingTag { channel, .. }
            | Self::UnknownOperation { channel, .. }
            | Self::InvalidField { channel, .. } => Some(*channel),
            Self::NotJson { .. }
            | Self::NotObject
            | Self::MissingChannel { .. }
            | Self::UnknownChannel { .. } => None,
        }
    }
}

fn field_prefix(field: &Option<String>) -> String {
    field
        .as_deref()
        .map(|field| format!("field `{field}`: "))
        .unwrap_or_default()
}
