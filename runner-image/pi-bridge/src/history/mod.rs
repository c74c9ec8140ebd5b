//! The chat history in hstry: canonical messages are appended after every turn, read back for
//! `get_messages` (so history survives restarts of Pi, the bridge and the pod), and searched for
//! the `hstry` channel.
//!
//! Layout in hstry: one conversation per Oqto session, `source_id = "oqto"`,
//! `external_id = platform_id = <Oqto session id>`, `harness = "pi"`. Pi's own session id and
//! session file live in the conversation's metadata, so a new bridge can resume Pi on the same
//! file. Each message's canonical fields other than `parts` ride in its `metadata_json`, so
//! reading back gives the same canonical message that was written.

mod codec;

use std::path::PathBuf;

use oqto_proto::canonical::Message;
use oqto_proto::hstry::listen::ListenAddr;
use oqto_proto::hstry::read_service_client::ReadServiceClient;
use oqto_proto::hstry::search_service_client::SearchServiceClient;
use oqto_proto::hstry::write_service_client::WriteServiceClient;
use oqto_proto::hstry::{
    AppendMessagesRequest, Conversation, GetConversationRequest, GetMessagesRequest, SearchHit,
    SearchRequest, UpdateConversationRequest, WriteConversationRequest,
};
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;

pub use codec::{message_from_row, message_to_row};

/// hstry's `source_id` for conversations written by the bridge.
pub const SOURCE_ID: &str = "oqto";

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("hstry address: {0}")]
    Address(String),
    #[error("hstry is unreachable: {0}")]
    Unavailable(String),
    #[error("hstry refused the request: {0}")]
    Refused(String),
    #[error("stored message {idx} of {session_id} is unreadable: {reason}")]
    Corrupt {
        session_id: String,
        idx: i32,
        reason: String,
    },
}

impl From<tonic::Status> for HistoryError {
    fn from(status: tonic::Status) -> Self {
        match status.code() {
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown => {
                Self::Unavailable(status.message().to_owned())
            }
            _ => Self::Refused(status.message().to_owned()),
        }
    }
}

/// What the bridge remembers about a conversation between restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pi_session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pi_session_file: Option<PathBuf>,
}

/// The stored state of one conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredConversation {
    pub message_count: u32,
    pub version: u64,
    pub meta: ConversationMeta,
}

/// A conversation's position after a write: what `agent.idle.message_version` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub version: u64,
    pub message_count: u32,
}

#[derive(Clone)]
pub struct History {
    channel: Channel,
    workspace: String,
}

impl History {
    /// A lazily connecting client: the bridge starts while hstry may still be coming up.
    pub fn connect(addr: &ListenAddr, workspace: String) -> Result<Self, HistoryError> {
        let channel = oqto_proto::hstry::client::connect_lazy(addr)
            .map_err(|e| HistoryError::Address(e.to_string()))?;
        Ok(Self { channel, workspace })
    }

    /// Whether hstry answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        let request = ListConversationsProbe::request();
        ReadServiceClient::new(self.channel.clone())
            .list_conversations(request)
            .await
            .is_ok()
    }

    /// The stored conversation of an Oqto session, if any.
    pub async fn load(&self, session_id: &str) -> Result<Option<StoredConversation>, HistoryError> {
        let request = GetConversationRequest {
            source_id: SOURCE_ID.into(),
            external_id: session_id.into(),
            ..Default::default()
        };
        match ReadServiceClient::new(self.channel.clone())
            .get_conversation(request)
            .await
        {
            Ok(response) => Ok(response
                .into_inner()
                .conversation
                .map(|c| StoredConversation {
                    message_count: u32::try_from(c.message_count).unwrap_or(0),
                    version: u64::try_from(c.version).unwrap_or(0),
                    meta: serde_json::from_str(&c.metadata_json).unwrap_or_default(),
                })),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status.into()),
        }
    }

    /// Creates the conversation or updates its metadata (Pi's session id and file).
    pub async fn save_meta(
        &self,
        session_id: &str,
        meta: &ConversationMeta,
        provider: Option<&str>,
        model: Option<&str>,
    ) -> Result<(), HistoryError> {
        let metadata_json = serde_json::to_string(meta).unwrap_or_default();
        let exists = self.load(session_id).await?.is_some();
        if exists {
            let request = UpdateConversationRequest {
                source_id: SOURCE_ID.into(),
                external_id: session_id.into(),
                metadata_json: Some(metadata_json),
                model: model.map(str::to_owned),
                provider: provider.map(str::to_owned),
                ..Default::default()
            };
            WriteServiceClient::new(self.channel.clone())
                .update_conversation(request)
                .await?;
        } else {
            let request = WriteConversationRequest {
                conversation: Some(Conversation {
                    source_id: SOURCE_ID.into(),
                    external_id: session_id.into(),
                    platform_id: Some(session_id.into()),
                    harness: Some("pi".into()),
                    workspace: Some(self.workspace.clone()),
                    model: model.map(str::to_owned),
                    provider: provider.map(str::to_owned),
                    metadata_json,
                    ..Default::default()
                }),
                messages: Vec::new(),
            };
            WriteServiceClient::new(self.channel.clone())
                .write_conversation(request)
                .await?;
        }
        Ok(())
    }

    /// Appends (or rewrites, by idx) finished messages.
    pub async fn append(
        &self,
        session_id: &str,
        messages: &[Message],
    ) -> Result<Written, HistoryError> {
        let request = AppendMessagesRequest {
            source_id: SOURCE_ID.into(),
            external_id: session_id.into(),
            messages: messages.iter().map(message_to_row).collect(),
            updated_at_ms: None,
        };
        let response = WriteServiceClient::new(self.channel.clone())
            .append_messages(request)
            .await?
            .into_inner();
        Ok(Written {
            version: u64::try_from(response.version).unwrap_or(0),
            message_count: u32::try_from(response.message_count).unwrap_or(0),
        })
    }

    /// Every stored message of a session, in order; none when the session has no history.
    pub async fn messages(&self, session_id: &str) -> Result<Vec<Message>, HistoryError> {
        let request = GetMessagesRequest {
            source_id: SOURCE_ID.into(),
            external_id: session_id.into(),
            limit: 0,
            ..Default::default()
        };
        let rows = match ReadServiceClient::new(self.channel.clone())
            .get_messages(request)
            .await
        {
            Ok(response) => response.into_inner().messages,
            Err(status) if status.code() == tonic::Code::NotFound => return Ok(Vec::new()),
            Err(status) => return Err(status.into()),
        };
        rows.iter()
            .map(|row| {
                message_from_row(row).map_err(|reason| HistoryError::Corrupt {
                    session_id: session_id.into(),
                    idx: row.idx,
                    reason,
                })
            })
            .collect()
    }

    /// Full-text search over the conversations of this bridge.
    pub async fn search(&self, query: &str, limit: i64) -> Result<Vec<SearchHit>, HistoryError> {
        let request = SearchRequest {
            query: query.into(),
            limit,
            source: SOURCE_ID.into(),
            ..Default::default()
        };
        Ok(SearchServiceClient::new(self.channel.clone())
            .search(request)
            .await?
            .into_inner()
            .hits)
    }
}

/// The cheapest read hstry answers, used as a readiness probe.
struct ListConversationsProbe;

impl ListConversationsProbe {
    fn request() -> oqto_proto::hstry::ListConversationsRequest {
        oqto_proto::hstry::ListConversationsRequest {
            limit: 1,
            ..Default::default()
        }
    }
}
