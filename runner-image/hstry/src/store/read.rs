//! Reads: one conversation, its messages in idx order, and a page of conversations.

use oqto_proto::hstry::{Conversation, ConversationSummary, ListConversationsRequest, Message};
use rusqlite::{OptionalExtension, ToSql};

use super::{ConversationKey, Store, StoreError, rows};
use crate::validate;

pub const LIST_DEFAULT_LIMIT: i64 = 50;
pub const LIST_MAX_LIMIT: i64 = 500;
pub const LIST_MAX_OFFSET: i64 = 100_000;

impl Store {
    pub fn get_conversation(&self, key: &ConversationKey) -> Result<Conversation, StoreError> {
        let (condition, params): (&str, Vec<&dyn ToSql>) = match key {
            ConversationKey::Id(id) => ("c.id = ?1", vec![id]),
            // Readable ids are not unique by construction: the latest one wins.
            ConversationKey::ReadableId(id) => ("c.readable_id = ?1", vec![id]),
            ConversationKey::External {
                source_id,
                external_id,
            } => (
                "c.source_id = ?1 AND c.external_id = ?2",
                vec![source_id, external_id],
            ),
        };
        let sql = format!(
            "SELECT {} FROM conversations c WHERE {condition}
             ORDER BY c.updated_at DESC LIMIT 1",
            rows::CONVERSATION_COLUMNS
        );
        self.conn
            .prepare_cached(&sql)?
            .query_row(params.as_slice(), rows::conversation)
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("{key} does not exist")))
    }

    /// The conversation id and its first `limit` messages by idx (`0` = all of them).
    pub fn get_messages(
        &self,
        key: &ConversationKey,
        limit: i64,
    ) -> Result<(String, Vec<Message>), StoreError> {
        if limit < 0 {
            return Err(validate::InvalidArgument::new("limit", "must not be negative").into());
        }
        let conversation_id = self.get_conversation(key)?.conversation_id;
        let sql = format!(
            "SELECT {} FROM messages m WHERE m.conversation_id = ?1 ORDER BY m.idx LIMIT ?2",
            rows::MESSAGE_COLUMNS
        );
        // SQLite reads a negative LIMIT as "no limit".
        let sql_limit = if limit == 0 { -1 } else { limit };
        let messages = self
            .conn
            .prepare_cached(&sql)?
            .query_map((&conversation_id, sql_limit), rows::message)?
            .collect::<Result<_, _>>()?;
        Ok((conversation_id, messages))
    }

    /// The most recently updated conversations first, optionally of one source / workspace.
    pub fn list_conversations(
        &self,
        request: &ListConversationsRequest,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let limit =
            validate::page_limit("limit", request.limit, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT)?;
        let offset = validate::page_offset("offset", request.offset, LIST_MAX_OFFSET)?;
        let sql = format!(
            "SELECT {},
                 (SELECT m.content FROM messages m
                  WHERE m.conversation_id = c.id AND m.role = 'user'
                  ORDER BY m.idx LIMIT 1)
             FROM conversations c
             WHERE (?1 = '' OR c.source_id = ?1) AND (?2 = '' OR c.workspace = ?2)
             ORDER BY c.updated_at DESC, c.id
             LIMIT ?3 OFFSET ?4",
            rows::CONVERSATION_COLUMNS
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let summaries = statement
            .query_map(
                (&request.source_id, &request.workspace, limit, offset),
                |row| {
                    let conversation = rows::conversation(row)?;
                    let first_user_message: Option<String> = row.get(21)?;
                    Ok(ConversationSummary {
                        message_count: conversation.message_count,
                        conversation: Some(conversation),
                        first_user_message: first_user_message.unwrap_or_default(),
                    })
                },
            )?
            .collect::<Result<_, _>>()?;
        Ok(summaries)
    }
}
