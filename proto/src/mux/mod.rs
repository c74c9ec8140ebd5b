//! Frames of the multiplexed WebSocket (§2): one JSON object per frame with a top-level
//! `channel` and the `session_id` it is for. The agent channel carries canonical commands and
//! events; the others carry `{type, id?, ...}` operations and their `<op>_result` / `error`
//! answers. The envelope, the session-name type, the error frame and the ping timings are
//! written here once for the gateway and pi-bridge.

mod addressed;
mod browser;
mod channel;
mod envelope;
mod error;
mod field_locator;
mod files;
mod frame;
mod hstry;
mod session_name;
mod system;
mod terminal;
mod timing;

pub use addressed::{Addressed, Tagged};
pub use browser::{
    BrowserController, BrowserEvent, BrowserKeyEvent, BrowserMouseButton, BrowserMouseEvent,
    BrowserRequest, MAX_BROWSER_CLICK_COUNT, MAX_BROWSER_COORDINATE, MAX_BROWSER_KEY_CHARS,
    MAX_BROWSER_TEXT_CHARS, MAX_BROWSER_URL_CHARS,
};
pub use channel::Channel;
pub use envelope::{Envelope, Refusal, SERVED, ServerHead};
pub use error::FrameError;
pub use files::{DirEntry, EntryType, FileStat, FilesEvent, FilesOp, FilesRequest, TreeEntry};
pub use frame::{ClientFrame, ServerFrame};
pub use hstry::{HstryEvent, HstryRequest};
pub use session_name::SessionName;
pub use system::SystemEvent;
pub use terminal::{TerminalEvent, TerminalRequest};
pub use timing::{PEER_SILENCE, PING_EVERY};
