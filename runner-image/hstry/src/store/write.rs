//! Idempotent writes. Each call is one IMMEDIATE transaction: it upserts the conversation by
//! (source_id, external_id) and messages by (conversation, idx), and bumps `version` by one
//! when, and only when, something it controls changed.

use oqto_proto::hstry::{
    AppendMessagesRequest, Conversation, Message, UpdateConversationRequest,
    WriteConversationRequest,
};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, named_params};

use super::{Store, StoreError, merge, now_ms, rows};
use crate::validate::{self, InvalidArgument};

/// What a write did, as the write RPCs report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    pub conversation_id: String,
    /// Messages inserted or changed (0 when the call re-sent what was stored).
    pub messages_written: i32,
    pub version: i64,
    pub message_count: i64,
}

impl Store {
    pub fn write_conversation(
        &mut self,
        request: &WriteConversationRequest,
    ) -> Result<WriteOutcome, StoreError> {
        let incoming = request
            .conversation
            .as_ref()
            .ok_or_else(|| InvalidArgument::new("conversation", "is required"))?;
        validate::conversation(incoming)?;
        validate::messages(&request.messages)?;
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored = find_by_external(&tx, &incoming.source_id, &incoming.external_id)?;
        let (conversation_id, conversation_changed) = match stored {
            None => {
                // Creating the conversation takes it to version 1 (or one past a deleted
                // predecessor's); its messages are part of the same change.
                let retired = retired_version(&tx, &incoming.source_id, &incoming.external_id)?;
                let row = merge::new_conversation(incoming, retired, now);
                insert_conversation(&tx, &row)?;
                let written = upsert_messages(&tx, &row.conversation_id, &request.messages, now)?;
                let outcome = finish(&tx, &row.conversation_id, written, false, None, now)?;
                tx.commit()?;
                return Ok(outcome);
            }
            Some(stored) => {
                let merged = merge::merge_conversation(&stored, incoming);
                let changed = merge::conversation_changed(&stored, &merged);
                if changed {
                    update_conversation_row(&tx, &merged)?;
                }
                (stored.conversation_id, changed)
            }
        };
        let written = upsert_messages(&tx, &conversation_id, &request.messages, now)?;
        let outcome = finish(
            &tx,
            &conversation_id,
            written,
            conversation_changed || written > 0,
            incoming.updated_at_ms,
            now,
        )?;
        tx.commit()?;
        Ok(outcome)
    }

    pub fn append_messages(
        &mut self,
        request: &AppendMessagesRequest,
    ) -> Result<WriteOutcome, StoreError> {
        validate::required_id("source_id", &request.source_id)?;
        validate::required_id("external_id", &request.external_id)?;
        validate::messages(&request.messages)?;
        if request.updated_at_ms.is_some_and(|ms| ms < 0) {
            return Err(InvalidArgument::new("updated_at_ms", "must not be negative").into());
        }
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let conversation = find_by_external(&tx, &request.source_id, &request.external_id)?
            .ok_or_else(|| not_found(&request.source_id, &request.external_id))?;
        let written = upsert_messages(&tx, &conversation.conversation_id, &request.messages, now)?;
        let outcome = finish(
            &tx,
            &conversation.conversation_id,
            written,
            written > 0,
            request.updated_at_ms,
            now,
        )?;
        tx.commit()?;
        Ok(outcome)
    }

    /// Applies the fields the request sets; returns the conversation id and its version.
    pub fn update_conversation(
        &mut self,
        request: &UpdateConversationRequest,
    ) -> Result<(String, i64), StoreError> {
        validate::update(request)?;
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored = find_by_external(&tx, &request.source_id, &request.external_id)?
            .ok_or_else(|| not_found(&request.source_id, &request.external_id))?;
        let updated = merge::apply_update(&stored, request);
        let changed = merge::conversation_changed(&stored, &updated);
        if changed {
            update_conversation_row(&tx, &updated)?;
        }
        let outcome = finish(&tx, &stored.conversation_id, 0, changed, None, now)?;
        tx.commit()?;
        Ok((outcome.conversation_id, outcome.version))
    }

    /// Deletes the conversation and (by cascade, which also updates the search index) its
    /// messages; returns its id.
    pub fn delete_conversation(
        &mut self,
        source_id: &str,
        external_id: &str,
    ) -> Result<String, StoreError> {
        validate::required_id("source_id", source_id)?;
        validate::required_id("external_id", external_id)?;
        let deleted: Option<String> = self
            .conn
            .query_row(
                "DELETE FROM conversations WHERE source_id = ?1 AND external_id = ?2 RETURNING id",
                (source_id, external_id),
                |row| row.get(0),
            )
            .optional()?;
        deleted.ok_or_else(|| not_found(source_id, external_id))
    }
}

fn not_found(source_id: &str, external_id: &str) -> StoreError {
    StoreError::NotFound(format!(
        "conversation {source_id}/{external_id} does not exist"
    ))
}

pub(super) fn find_by_external(
    tx: &Transaction<'_>,
    source_id: &str,
    external_id: &str,
) -> Result<Option<Conversation>, StoreError> {
    let sql = format!(
        "SELECT {} FROM conversations c WHERE c.source_id = ?1 AND c.external_id = ?2",
        rows::CONVERSATION_COLUMNS
    );
    Ok(tx
        .prepare_cached(&sql)?
        .query_row((source_id, external_id), rows::conversation)
        .optional()?)
}

/// The version a deleted conversation with this key had reached (0 if none was deleted).
fn retired_version(
    tx: &Transaction<'_>,
    source_id: &str,
    external_id: &str,
) -> Result<i64, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT version FROM retired_versions WHERE source_id = ?1 AND external_id = ?2",
        )?
        .query_row((source_id, external_id), |row| row.get(0))
        .optional()?
        .unwrap_or(0))
}

fn insert_conversation(tx: &Transaction<'_>, row: &Conversation) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO conversations (id, source_id, external_id, readable_id, title, created_at,
             updated_at, model, provider, workspace, tokens_in, tokens_out, cost_usd, metadata,
             harness, platform_id, version, message_count, parent_conversation_id,
             parent_message_idx, fork_type)
         VALUES (:id, :source_id, :external_id, :readable_id, :title, :created_at,
             :updated_at, :model, :provider, :workspace, :tokens_in, :tokens_out, :cost_usd,
             :metadata, :harness, :platform_id, :version, 0, :parent_conversation_id,
             :parent_message_idx, :fork_type)",
    )?
    .execute(named_params! {
        ":id": row.conversation_id,
        ":source_id": row.source_id,
        ":external_id": row.external_id,
        ":readable_id": row.readable_id,
        ":title": row.title,
        ":created_at": row.created_at_ms,
        ":updated_at": row.updated_at_ms,
        ":model": row.model,
        ":provider": row.provider,
        ":workspace": row.workspace,
        ":tokens_in": row.tokens_in,
        ":tokens_out": row.tokens_out,
        ":cost_usd": row.cost_usd,
        ":metadata": row.metadata_json,
        ":harness": row.harness,
        ":platform_id": row.platform_id,
        ":version": row.version,
        ":parent_conversation_id": row.parent_conversation_id,
        ":parent_message_idx": row.parent_message_idx,
        ":fork_type": row.fork_type,
    })?;
    Ok(())
}

/// Writes the fields a writer controls; bookkeeping is [`finish`]'s.
fn update_conversation_row(tx: &Transaction<'_>, row: &Conversation) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE conversations SET readable_id = :readable_id, title = :title,
             created_at = :created_at, model = :model, provider = :provider,
             workspace = :workspace, tokens_in = :tokens_in, tokens_out = :tokens_out,
             cost_usd = :cost_usd, metadata = :metadata, harness = :harness,
             platform_id = :platform_id, parent_conversation_id = :parent_conversation_id,
             parent_message_idx = :parent_message_idx, fork_type = :fork_type
         WHERE id = :id",
    )?
    .execute(named_params! {
        ":id": row.conversation_id,
        ":readable_id": row.readable_id,
        ":title": row.title,
        ":created_at": row.created_at_ms,
        ":model": row.model,
        ":provider": row.provider,
        ":workspace": row.workspace,
        ":tokens_in": row.tokens_in,
        ":tokens_out": row.tokens_out,
        ":cost_usd": row.cost_usd,
        ":metadata": row.metadata_json,
        ":harness": row.harness,
        ":platform_id": row.platform_id,
        ":parent_conversation_id": row.parent_conversation_id,
        ":parent_message_idx": row.parent_message_idx,
        ":fork_type": row.fork_type,
    })?;
    Ok(())
}

/// Upserts each message by idx; returns how many were inserted or changed.
fn upsert_messages(
    tx: &Transaction<'_>,
    conversation_id: &str,
    messages: &[Message],
    now: i64,
) -> Result<i32, StoreError> {
    let select_sql = format!(
        "SELECT {} FROM messages m WHERE m.conversation_id = ?1 AND m.idx = ?2",
        rows::MESSAGE_COLUMNS
    );
    let mut select = tx.prepare_cached(&select_sql)?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO messages (id, conversation_id, idx, role, content, parts_json, created_at,
             model, tokens, cost_usd, metadata, sender_json, provider, harness, client_id)
         VALUES (:id, :conversation_id, :idx, :role, :content, :parts_json, :created_at,
             :model, :tokens, :cost_usd, :metadata, :sender_json, :provider, :harness,
             :client_id)",
    )?;
    let mut update = tx.prepare_cached(
        "UPDATE messages SET id = :id, role = :role, content = :content,
             parts_json = :parts_json, created_at = :created_at, model = :model,
             tokens = :tokens, cost_usd = :cost_usd, metadata = :metadata,
             sender_json = :sender_json, provider = :provider, harness = :harness,
             client_id = :client_id
         WHERE conversation_id = :conversation_id AND idx = :idx",
    )?;
    let mut written = 0;
    for incoming in messages {
        let stored = select
            .query_row((conversation_id, incoming.idx), rows::message)
            .optional()?;
        let Some(row) = merge::merge_message(stored.as_ref(), incoming, now) else {
            continue;
        };
        let params = named_params! {
            ":id": row.id,
            ":conversation_id": conversation_id,
            ":idx": row.idx,
            ":role": row.role,
            ":content": row.content,
            ":parts_json": row.parts_json,
            ":created_at": row.created_at_ms,
            ":model": row.model,
            ":tokens": row.tokens,
            ":cost_usd": row.cost_usd,
            ":metadata": row.metadata_json,
            ":sender_json": row.sender_json,
            ":provider": row.provider,
            ":harness": row.harness,
            ":client_id": row.client_id,
        };
        if stored.is_some() {
            update.execute(params)?;
        } else {
            insert.execute(params)?;
        }
        written += 1;
    }
    Ok(written)
}

/// The bookkeeping every write to a stored conversation ends with: recount messages, bump
/// `version` once if the call `changed` anything, and move `updated_at` (to the writer's time when given, else to now when
/// something changed).
fn finish(
    tx: &Transaction<'_>,
    conversation_id: &str,
    messages_written: i32,
    changed: bool,
    updated_at_ms: Option<i64>,
    now: i64,
) -> Result<WriteOutcome, StoreError> {
    let (version, message_count) = tx
        .prepare_cached(
            "UPDATE conversations SET
                 message_count = (SELECT COUNT(*) FROM messages WHERE conversation_id = :id),
                 version = version + :bump,
                 updated_at = COALESCE(:updated_at, CASE WHEN :changed THEN :now
                                                         ELSE updated_at END)
             WHERE id = :id
             RETURNING version, message_count",
        )?
        .query_row(
            named_params! {
                ":id": conversation_id,
                ":bump": i64::from(changed),
                ":updated_at": updated_at_ms,
                ":changed": changed,
                ":now": now,
            },
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
    Ok(WriteOutcome {
        conversation_id: conversation_id.to_owned(),
        messages_written,
        version,
        message_count,
    })
}
