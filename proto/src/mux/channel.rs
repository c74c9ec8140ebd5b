use std::fmt;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The `channel` of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Agent,
    Files,
    Terminal,
    Hstry,
    Trx,
    Session,
    System,
    Bus,
    Browser,
}

impl Channel {
    pub const ALL: [Channel; 9] = [
        Self::Agent,
        Self::Files,
        Self::Terminal,
        Self::Hstry,
        Self::Trx,
        Self::Session,
        Self::System,
        Self::Bus,
        Self::Browser,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Files => "files",
            Self::Terminal => "terminal",
            Self::Hstry => "hstry",
            Self::Trx => "trx",
            Self::Session => "session",
            Self::System => "system",
            Self::Bus => "bus",
            Self::Browser => "browser",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
