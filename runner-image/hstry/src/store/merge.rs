//! What a write turns a stored row into, and whether that is a change. Pure functions: the
//! idempotence rules (re-sending the same data changes nothing) live here, not in SQL.

use oqto_proto::hstry::{Conversation, Message, UpdateConversationRequest};

/// The row for a conversation seen for the first time, or again after a delete that left it
/// at `retired_version` (0 when there was none).
pub fn new_conversation(
    incoming: &Conversation,
    retired_version: i64,
    now_ms: i64,
) -> Conversation {
    Conversation {
        conversation_id: uuid::Uuid::new_v4().to_string(),
        created_at_ms: if incoming.created_at_ms > 0 {
            incoming.created_at_ms
        } else {
            now_ms
        },
        updated_at_ms: Some(incoming.updated_at_ms.unwrap_or(now_ms)),
        version: retired_version.max(0) + 1,
        message_count: 0,
        ..incoming.clone()
    }
}

/// `WriteConversation` on a known conversation: the fields it sets replace the stored ones;
/// unset ones (None, `""` metadata, `0` created_at) keep what is stored, so a writer that
/// does not know the title cannot erase it. Bookkeeping (id, version, counts, updated_at) is
/// the store's.
pub fn merge_conversation(stored: &Conversation, incoming: &Conversation) -> Conversation {
    fn pick<T: Clone>(incoming: &Option<T>, stored: &Option<T>) -> Option<T> {
        incoming.clone().or_else(|| stored.clone())
    }
    Conversation {
        conversation_id: stored.conversation_id.clone(),
        source_id: stored.source_id.clone(),
        external_id: stored.external_id.clone(),
        title: pick(&incoming.title, &stored.title),
        created_at_ms: if incoming.created_at_ms > 0 {
            incoming.created_at_ms
        } else {
            stored.created_at_ms
        },
        updated_at_ms: stored.updated_at_ms,
        model: pick(&incoming.model, &stored.model),
        provider: pick(&incoming.provider, &stored.provider),
        workspace: pick(&incoming.workspace, &stored.workspace),
        tokens_in: pick(&incoming.tokens_in, &stored.tokens_in),
        tokens_out: pick(&incoming.tokens_out, &stored.tokens_out),
        cost_usd: pick(&incoming.cost_usd, &stored.cost_usd),
        metadata_json: if incoming.metadata_json.is_empty() {
            stored.metadata_json.clone()
        } else {
            incoming.metadata_json.clone()
        },
        harness: pick(&incoming.harness, &stored.harness),
        readable_id: pick(&incoming.readable_id, &stored.readable_id),
        platform_id: pick(&incoming.platform_id, &stored.platform_id),
        version: stored.version,
        message_count: stored.message_count,
        parent_conversation_id: pick(
            &incoming.parent_conversation_id,
            &stored.parent_conversation_id,
        ),
        parent_message_idx: pick(&incoming.parent_message_idx, &stored.parent_message_idx),
        fork_type: pick(&incoming.fork_type, &stored.fork_type),
    }
}

/// `UpdateConversation`: only the fields the request sets.
pub fn apply_update(stored: &Conversation, update: &UpdateConversationRequest) -> Conversation {
    let mut row = stored.clone();
    let set = |target: &mut Option<String>, value: &Option<String>| {
        if let Some(value) = value {
            *target = Some(value.clone());
        }
    };
    set(&mut row.title, &update.title);
    set(&mut row.workspace, &update.workspace);
    set(&mut row.model, &update.model);
    set(&mut row.provider, &update.provider);
    set(&mut row.readable_id, &update.readable_id);
    set(&mut row.harness, &update.harness);
    set(&mut row.platform_id, &update.platform_id);
    set(
        &mut row.parent_conversation_id,
        &update.parent_conversation_id,
    );
    set(&mut row.fork_type, &update.fork_type);
    if let Some(metadata_json) = &update.metadata_json {
        row.metadata_json.clone_from(metadata_json);
    }
    if update.parent_message_idx.is_some() {
        row.parent_message_idx = update.parent_message_idx;
    }
    row
}

/// Whether two rows of one conversation differ in anything a writer controls.
pub fn conversation_changed(stored: &Conversation, merged: &Conversation) -> bool {
    let content = |c: &Conversation| Conversation {
        updated_at_ms: None,
        version: 0,
        message_count: 0,
        ..c.clone()
    };
    content(stored) != content(merged)
}

/// The row to write for `incoming` at its idx, or `None` when the stored one already says the
/// same. A message is replaced as a whole, except that an unset created_at or id keeps the
/// stored one (or gets now / a fresh UUID the first time).
pub fn merge_message(stored: Option<&Message>, incoming: &Message, now_ms: i64) -> Option<Message> {
    let mut row = incoming.clone();
    row.id = incoming
        .id
        .clone()
        .filter(|id| !id.is_empty())
        .or_else(|| stored.and_then(|s| s.id.clone()))
        .or_else(|| Some(uuid::Uuid::new_v4().to_string()));
    row.created_at_ms = incoming
        .created_at_ms
        .or_else(|| stored.and_then(|s| s.created_at_ms))
        .or(Some(now_ms));
    match stored {
        Some(stored) if *stored == row => None,
        _ => Some(row),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored_message() -> Message {
        Message {
            id: Some("m-1".into()),
            idx: 0,
            role: "user".into(),
            content: "hello".into(),
            created_at_ms: Some(100),
            ..Default::default()
        }
    }

    #[test]
    fn resending_a_message_without_id_or_time_is_no_change() {
        let stored = stored_message();
        let resent = Message {
            id: None,
            created_at_ms: None,
            ..stored.clone()
        };
        assert_eq!(merge_message(Some(&stored), &resent, 999), None);
        assert_eq!(merge_message(Some(&stored), &stored, 999), None);
    }

    #[test]
    fn a_changed_field_or_a_dropped_optional_is_a_change() {
        let stored = Message {
            model: Some("m".into()),
            ..stored_message()
        };
        let edited = Message {
            content: "hello!".into(),
            ..stored.clone()
        };
        assert_eq!(
            merge_message(Some(&stored), &edited, 999).unwrap().content,
            "hello!"
        );
        // Messages are replaced whole: leaving out the model clears it.
        let without_model = Message {
            model: None,
            ..stored.clone()
        };
        assert_eq!(
            merge_message(Some(&stored), &without_model, 999)
                .unwrap()
                .model,
            None
        );
    }

    #[test]
    fn a_new_message_gets_now_and_an_id_unless_given() {
        let incoming = Message {
            id: None,
            created_at_ms: None,
            ..stored_message()
        };
        let row = merge_message(None, &incoming, 999).unwrap();
        assert_eq!(row.created_at_ms, Some(999));
        assert!(uuid::Uuid::parse_str(row.id.as_deref().unwrap()).is_ok());
        let row = merge_message(None, &stored_message(), 999).unwrap();
        assert_eq!(
            (row.id.as_deref(), row.created_at_ms),
            (Some("m-1"), Some(100))
        );
    }

    fn stored_conversation() -> Conversation {
        Conversation {
            conversation_id: "c-1".into(),
            source_id: "pi".into(),
            external_id: "ses".into(),
            title: Some("Penguins".into()),
            created_at_ms: 10,
            updated_at_ms: Some(20),
            metadata_json: r#"{"a":1}"#.into(),
            version: 4,
            message_count: 7,
            ..Default::default()
        }
    }

    #[test]
    fn unset_conversation_fields_keep_what_is_stored() {
        let stored = stored_conversation();
        let bare = Conversation {
            source_id: "pi".into(),
            external_id: "ses".into(),
            ..Default::default()
        };
        let merged = merge_conversation(&stored, &bare);
        assert_eq!(merged, stored);
        assert!(!conversation_changed(&stored, &merged));
    }

    #[test]
    fn set_conversation_fields_replace_and_count_as_change() {
        let stored = stored_conversation();
        let incoming = Conversation {
            source_id: "pi".into(),
            external_id: "ses".into(),
            title: Some("Seals".into()),
            version: 99,
            ..Default::default()
        };
        let merged = merge_conversation(&stored, &incoming);
        assert_eq!(merged.title.as_deref(), Some("Seals"));
        // The writer cannot set bookkeeping.
        assert_eq!((merged.version, merged.message_count), (4, 7));
        assert!(conversation_changed(&stored, &merged));
        // Bookkeeping alone is not a change.
        let touched = Conversation {
            updated_at_ms: Some(21),
            version: 5,
            ..stored.clone()
        };
        assert!(!conversation_changed(&stored, &touched));
    }

    #[test]
    fn update_applies_only_set_fields() {
        let stored = stored_conversation();
        let update = UpdateConversationRequest {
            workspace: Some("alice-dev".into()),
            ..Default::default()
        };
        let updated = apply_update(&stored, &update);
        assert_eq!(updated.workspace.as_deref(), Some("alice-dev"));
        assert_eq!(updated.title, stored.title);
        assert!(!conversation_changed(
            &stored,
            &apply_update(&stored, &Default::default())
        ));
    }
}
