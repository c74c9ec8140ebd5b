//! Oqto's canonical protocol (reference §1): durable messages with typed parts, ephemeral events
//! tagged by `event`, and commands tagged by `cmd`. Field names and tags are the wire contract;
//! the serde attributes here are that contract.

mod command;
mod event;
mod message;
mod part;
mod turn;

pub use command::{
    Command, CommandKind, DelegateRequest, ImageInput, SessionConfig, ThinkingLevel,
};
pub use event::{
    AgentPhase, CompactReason, DelegateErrorCode, DelegateMode, Event, EventKind, InputRequest,
    MessageVersion, NotifyLevel, ProcessInfo, ToolCallInfo, now_ms,
};
pub use message::{Message, Role, Sender, SenderType, StopReason, Usage};
pub use part::{FileRange, MediaSource, Part, ToolCallStatus};
pub use turn::{Turn, TurnEnd, TurnStep};
