//! Frames of the multiplexed WebSocket (§2): one JSON object per frame with a top-level
//! `channel`. The agent channel carries canonical commands and events; the others carry
//! `{type, id?, ...}` operations and their `<op>_result` / `error` answers.

mod channel;
mod error;
mod field_locator;
mod files;
mod frame;
mod hstry;
mod system;
mod terminal;

pub use channel::Channel;
pub use error::FrameError;
pub use files::{DirEntry, EntryType, FileStat, FilesEvent, FilesOp, FilesRequest, TreeEntry};
pub use frame::{ClientFrame, ServerFrame};
pub use hstry::{HstryEvent, HstryRequest};
pub use system::SystemEvent;
pub use terminal::{TerminalEvent, TerminalRequest};
