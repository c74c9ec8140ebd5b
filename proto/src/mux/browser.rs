//! The `browser` channel: a view of the runner's browser sidecar (a JPEG screencast) and the
//! user's takeover of it. Only these typed operations reach the browser; the DevTools protocol
//! itself is never exposed, so every field is bounded here, before the runner reads it.

use serde::{Deserialize, Deserializer, Serialize};
use ts_rs::TS;

/// Longest `text` (of `text` and `key`), in characters.
pub const MAX_BROWSER_TEXT_CHARS: usize = 4096;
/// Longest `key` and `code` of a key event, in characters.
pub const MAX_BROWSER_KEY_CHARS: usize = 64;
/// Longest `url` of `navigate`, in characters.
pub const MAX_BROWSER_URL_CHARS: usize = 8192;
/// Mouse coordinates (CSS pixels of the viewport) lie in `0..=MAX_BROWSER_COORDINATE`; wheel
/// deltas within its negative and positive.
pub const MAX_BROWSER_COORDINATE: f64 = 16384.0;
/// Most clicks one mouse event may count (a triple click selects a paragraph).
pub const MAX_BROWSER_CLICK_COUNT: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum BrowserMouseEvent {
    Down,
    Up,
    Move,
    Wheel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum BrowserMouseButton {
    Left,
    Middle,
    Right,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum BrowserKeyEvent {
    Down,
    Up,
}

/// Who drives the browser: the agent's tools, or a user who took control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum BrowserController {
    Agent,
    User,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BrowserRequest {
    /// Receive `state` now and `frame`s while the screencast runs.
    Watch {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// Stop receiving frames; also gives control back when this connection held it.
    Unwatch {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// Control the browser (the agent's tools refuse meanwhile); answered with `state`.
    TakeControl {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    ReleaseControl {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// x/y in CSS pixels of the page's viewport. Controller only; no reply on success.
    Mouse {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        event: BrowserMouseEvent,
        #[serde(deserialize_with = "coordinate")]
        x: f64,
        #[serde(deserialize_with = "coordinate")]
        y: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        button: Option<BrowserMouseButton>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "click_count"
        )]
        click_count: Option<u8>,
        /// CDP's bit field: Alt=1, Ctrl=2, Meta=4, Shift=8.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        modifiers: Option<u8>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "delta"
        )]
        delta_x: Option<f64>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "delta"
        )]
        delta_y: Option<f64>,
    },
    Key {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        event: BrowserKeyEvent,
        #[serde(deserialize_with = "key_name")]
        key: String,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "optional_key_name"
        )]
        code: Option<String>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "optional_text"
        )]
        text: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        modifiers: Option<u8>,
    },
    /// Inserted at the focus as if typed (an IME commit).
    Text {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(deserialize_with = "text")]
        text: String,
    },
    /// http or https only.
    Navigate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(deserialize_with = "web_url")]
        url: String,
    },
}

impl BrowserRequest {
    pub const TYPES: [&'static str; 8] = [
        "watch",
        "unwatch",
        "take_control",
        "release_control",
        "mouse",
        "key",
        "text",
        "navigate",
    ];

    /// The request's correlation id.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::Watch { id }
            | Self::Unwatch { id }
            | Self::TakeControl { id }
            | Self::ReleaseControl { id }
            | Self::Mouse { id, .. }
            | Self::Key { id, .. }
            | Self::Text { id, .. }
            | Self::Navigate { id, .. } => id.as_deref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BrowserEvent {
    /// Sent to each watcher on watch, on control changes and on navigation.
    State {
        url: String,
        title: String,
        controller: BrowserController,
        /// Whether the receiving connection holds control.
        you_control: bool,
    },
    /// One screencast frame; width/height are the viewport in CSS pixels.
    Frame {
        #[ts(type = "number")]
        seq: u64,
        mime: String,
        data_base64: String,
        width: u32,
        height: u32,
    },
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        error: String,
    },
}

fn bounded_string<'de, D: Deserializer<'de>>(
    deserializer: D,
    max: usize,
) -> Result<String, D::Error> {
    within_chars(String::deserialize(deserializer)?, max).map_err(serde::de::Error::custom)
}

fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    bounded_string(deserializer, MAX_BROWSER_TEXT_CHARS)
}

/// Optional fields take `null` as absent, as their TypeScript type says.
fn optional<'de, D, T>(
    deserializer: D,
    check: impl FnOnce(T) -> Result<T, String>,
) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)?
        .map(check)
        .transpose()
        .map_err(serde::de::Error::custom)
}

fn within_chars(value: String, max: usize) -> Result<String, String> {
    // Counting stops at the bound: a huge string costs no more than a short one here.
    match value.chars().nth(max) {
        Some(_) => Err(format!("longer than {max} characters")),
        None => Ok(value),
    }
}

fn optional_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    optional(deserializer, |v| within_chars(v, MAX_BROWSER_TEXT_CHARS))
}

fn key_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    bounded_string(deserializer, MAX_BROWSER_KEY_CHARS)
}

fn optional_key_name<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    optional(deserializer, |v| within_chars(v, MAX_BROWSER_KEY_CHARS))
}

fn web_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let url = bounded_string(deserializer, MAX_BROWSER_URL_CHARS)?;
    let lower = url.get(..8).unwrap_or(&url).to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &url[7..]
    } else if lower.starts_with("https://") {
        &url[8..]
    } else {
        // javascript:, file:, data:, chrome: ... would run code or read the sidecar's files.
        return Err(serde::de::Error::custom(
            "only http:// and https:// URLs can be opened",
        ));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(serde::de::Error::custom("the URL names no host"));
    }
    Ok(url)
}

fn coordinate<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if !(0.0..=MAX_BROWSER_COORDINATE).contains(&value) {
        return Err(serde::de::Error::custom(format!(
            "must be a number from 0 to {MAX_BROWSER_COORDINATE}"
        )));
    }
    Ok(value)
}

fn delta<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    optional(deserializer, |value: f64| {
        if (-MAX_BROWSER_COORDINATE..=MAX_BROWSER_COORDINATE).contains(&value) {
            Ok(value)
        } else {
            Err(format!(
                "must be a number from -{MAX_BROWSER_COORDINATE} to {MAX_BROWSER_COORDINATE}"
            ))
        }
    })
}

fn click_count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u8>, D::Error> {
    optional(deserializer, |value: u8| {
        if value <= MAX_BROWSER_CLICK_COUNT {
            Ok(value)
        } else {
            Err(format!("at most {MAX_BROWSER_CLICK_COUNT}"))
        }
    })
}
