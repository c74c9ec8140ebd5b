//! Column lists and row mapping between the tables and the wire types, in one place so that a
//! SELECT and its mapper cannot drift apart.

use oqto_proto::hstry::{Conversation, Message};
use rusqlite::Row;

pub const CONVERSATION_COLUMNS: &str = "c.id, c.source_id, c.external_id, c.readable_id, \
     c.title, c.created_at, c.updated_at, c.model, c.provider, c.workspace, c.tokens_in, \
     c.tokens_out, c.cost_usd, c.metadata, c.harness, c.platform_id, c.version, \
     c.message_count, c.parent_conversation_id, c.parent_message_idx, c.fork_type";

/// Reads a row selected with [`CONVERSATION_COLUMNS`] (from `conversations c`).
pub fn conversation(row: &Row<'_>) -> rusqlite::Result<Conversation> {
    Ok(Conversation {
        conversation_id: row.get(0)?,
        source_id: row.get(1)?,
        external_id: row.get(2)?,
        readable_id: row.get(3)?,
        title: row.get(4)?,
        created_at_ms: row.get(5)?,
        updated_at_ms: Some(row.get(6)?),
        model: row.get(7)?,
        provider: row.get(8)?,
        workspace: row.get(9)?,
        tokens_in: row.get(10)?,
        tokens_out: row.get(11)?,
        cost_usd: row.get(12)?,
        metadata_json: row.get(13)?,
        harness: row.get(14)?,
        platform_id: row.get(15)?,
        version: row.get(16)?,
        message_count: row.get(17)?,
        parent_conversation_id: row.get(18)?,
        parent_message_idx: row.get(19)?,
        fork_type: row.get(20)?,
    })
}

pub const MESSAGE_COLUMNS: &str = "m.id, m.idx, m.role, m.content, m.parts_json, \
     m.created_at, m.model, m.tokens, m.cost_usd, m.metadata, m.sender_json, m.provider, \
     m.harness, m.client_id";

/// Reads a row selected with [`MESSAGE_COLUMNS`] (from `messages m`).
pub fn message(row: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: Some(row.get(0)?),
        idx: row.get(1)?,
        role: row.get(2)?,
        content: row.get(3)?,
        parts_json: row.get(4)?,
        created_at_ms: Some(row.get(5)?),
        model: row.get(6)?,
        tokens: row.get(7)?,
        cost_usd: row.get(8)?,
        metadata_json: row.get(9)?,
        sender_json: row.get(10)?,
        provider: row.get(11)?,
        harness: row.get(12)?,
        client_id: row.get(13)?,
    })
}
