//! Store behaviour through its public calls: idempotence, versions, counts, the search index
//! staying in sync with the rows.

use oqto_proto::hstry::{
    AppendMessagesRequest, Conversation, Message, SearchRequest, UpdateConversationRequest,
    WriteConversationRequest,
};

use super::{ConversationKey, Store, StoreError};

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("hstry.db")).unwrap();
    (dir, store)
}

fn message(idx: i32, content: &str) -> Message {
    Message {
        idx,
        role: if idx % 2 == 0 { "user" } else { "assistant" }.into(),
        content: content.into(),
        parts_json: format!(r#"[{{"type":"text","id":"p{idx}","text":"{content}"}}]"#),
        ..Default::default()
    }
}

fn key() -> ConversationKey {
    ConversationKey::External {
        source_id: "pi".into(),
        external_id: "ses_1".into(),
    }
}

fn write(store: &mut Store, messages: Vec<Message>) -> super::WriteOutcome {
    store
        .write_conversation(&WriteConversationRequest {
            conversation: Some(Conversation {
                source_id: "pi".into(),
                external_id: "ses_1".into(),
                ..Default::default()
            }),
            messages,
        })
        .unwrap()
}

fn append(store: &mut Store, messages: Vec<Message>) -> Result<super::WriteOutcome, StoreError> {
    store.append_messages(&AppendMessagesRequest {
        source_id: "pi".into(),
        external_id: "ses_1".into(),
        messages,
        updated_at_ms: None,
    })
}

fn hits(store: &Store, query: &str) -> usize {
    store
        .search(&SearchRequest {
            query: query.into(),
            ..Default::default()
        })
        .unwrap()
        .len()
}

fn assert_index_in_sync(store: &Store) {
    store
        .conn
        .execute(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
            [],
        )
        .unwrap();
}

#[test]
fn versions_move_once_per_changing_call_and_never_on_a_resend() {
    let (_dir, mut store) = open();
    let created = write(
        &mut store,
        vec![message(0, "hello"), message(1, "hi there")],
    );
    assert_eq!(
        (
            created.version,
            created.message_count,
            created.messages_written
        ),
        (1, 2, 2)
    );

    let rewritten = write(
        &mut store,
        vec![message(0, "hello"), message(1, "hi there")],
    );
    assert_eq!((rewritten.version, rewritten.messages_written), (1, 0));
    let reappended = append(&mut store, vec![message(1, "hi there")]).unwrap();
    assert_eq!((reappended.version, reappended.messages_written), (1, 0));

    // Two new messages and one edit in one call: one bump.
    let grown = append(
        &mut store,
        vec![message(1, "hi again"), message(2, "a"), message(3, "b")],
    )
    .unwrap();
    assert_eq!(
        (grown.version, grown.message_count, grown.messages_written),
        (2, 4, 3)
    );
    assert_eq!(store.get_conversation(&key()).unwrap().version, 2);
}

#[test]
fn a_conversation_created_again_after_a_delete_continues_its_versions() {
    let (_dir, mut store) = open();
    write(&mut store, vec![message(0, "hello")]);
    let before = append(&mut store, vec![message(1, "hi")]).unwrap();
    assert_eq!(before.version, 2);
    store.delete_conversation("pi", "ses_1").unwrap();

    let again = write(&mut store, vec![message(0, "hello")]);
    assert_eq!((again.version, again.message_count), (3, 1));
    assert_ne!(again.conversation_id, before.conversation_id);
    // Deleted again at a lower version than the first time: still never backwards.
    store.delete_conversation("pi", "ses_1").unwrap();
    assert_eq!(write(&mut store, vec![]).version, 4);
    // Other keys are not affected.
    let other = store
        .write_conversation(&WriteConversationRequest {
            conversation: Some(Conversation {
                source_id: "pi".into(),
                external_id: "ses_2".into(),
                ..Default::default()
            }),
            messages: vec![],
        })
        .unwrap();
    assert_eq!(other.version, 1);
}

#[test]
fn the_database_is_in_wal_mode_for_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hstry.db");
    let mut store = Store::open(&path).unwrap();
    // WAL is a property of the file, so a reader that opens it later sees it too...
    let reader = rusqlite::Connection::open(&path).unwrap();
    let mode: String = reader
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // ...and a reader in the middle of a read does not block a commit (with a rollback journal
    // the commit would need the reader gone); the reader keeps its snapshot until it finishes.
    let count = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("SELECT COUNT(*) FROM conversations", [], |row| row.get(0))
            .unwrap()
    };
    reader.execute_batch("BEGIN").unwrap();
    assert_eq!(count(&reader), 0);
    write(&mut store, vec![message(0, "written during a read")]);
    assert_eq!(count(&reader), 0, "the open read sees its snapshot");
    reader.execute_batch("COMMIT").unwrap();
    assert_eq!(count(&reader), 1);
}

#[test]
fn a_resend_keeps_ids_and_times_the_store_assigned() {
    let (_dir, mut store) = open();
    write(&mut store, vec![message(0, "hello")]);
    let (_, before) = store.get_messages(&key(), 0).unwrap();
    append(&mut store, vec![message(0, "hello")]).unwrap();
    let (_, after) = store.get_messages(&key(), 0).unwrap();
    assert_eq!(before, after);
    assert!(after[0].id.is_some() && after[0].created_at_ms.is_some());
}

#[test]
fn an_explicit_updated_at_moves_without_a_version_bump() {
    let (_dir, mut store) = open();
    write(&mut store, vec![message(0, "hello")]);
    let outcome = store
        .append_messages(&AppendMessagesRequest {
            source_id: "pi".into(),
            external_id: "ses_1".into(),
            messages: vec![message(0, "hello")],
            updated_at_ms: Some(42),
        })
        .unwrap();
    assert_eq!(outcome.version, 1);
    assert_eq!(
        store.get_conversation(&key()).unwrap().updated_at_ms,
        Some(42)
    );
}

#[test]
fn edits_and_deletes_keep_the_search_index_in_sync() {
    let (_dir, mut store) = open();
    write(
        &mut store,
        vec![message(0, "penguins waddle"), message(1, "walruses")],
    );
    append(&mut store, vec![message(0, "seals swim")]).unwrap();
    assert_eq!(hits(&store, "penguins"), 0);
    assert_eq!(hits(&store, "seals"), 1);
    assert_index_in_sync(&store);

    store.delete_conversation("pi", "ses_1").unwrap();
    assert_eq!(hits(&store, "seals"), 0);
    assert_eq!(hits(&store, "walruses"), 0);
    let leftover: i64 = store
        .conn
        .query_row("SELECT COUNT(*) FROM messages", [], |row| row.get(0))
        .unwrap();
    assert_eq!(leftover, 0);
    assert_index_in_sync(&store);
    assert!(matches!(
        store.get_conversation(&key()),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn update_conversation_applies_set_fields_once() {
    let (_dir, mut store) = open();
    write(&mut store, vec![]);
    let update = UpdateConversationRequest {
        source_id: "pi".into(),
        external_id: "ses_1".into(),
        title: Some("Penguins".into()),
        readable_id: Some("brave-penguin".into()),
        ..Default::default()
    };
    assert_eq!(store.update_conversation(&update).unwrap().1, 2);
    assert_eq!(store.update_conversation(&update).unwrap().1, 2);
    let by_readable = store
        .get_conversation(&ConversationKey::ReadableId("brave-penguin".into()))
        .unwrap();
    assert_eq!(by_readable.title.as_deref(), Some("Penguins"));
    // A later WriteConversation that does not know the title keeps it.
    write(&mut store, vec![]);
    let conversation = store.get_conversation(&key()).unwrap();
    assert_eq!(
        (conversation.title.as_deref(), conversation.version),
        (Some("Penguins"), 2)
    );
}

#[test]
fn unknown_conversations_are_not_found() {
    let (_dir, mut store) = open();
    assert!(matches!(
        append(&mut store, vec![message(0, "x")]),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_conversation("pi", "nope"),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.get_messages(&ConversationKey::Id("nope".into()), 0),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn get_messages_limit_takes_the_first_by_idx() {
    let (_dir, mut store) = open();
    // Written out of order: reads come back by idx.
    write(
        &mut store,
        vec![message(2, "c"), message(0, "a"), message(1, "b")],
    );
    let (_, first_two) = store.get_messages(&key(), 2).unwrap();
    let contents: Vec<_> = first_two.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, ["a", "b"]);
    assert_eq!(store.get_messages(&key(), 0).unwrap().1.len(), 3);
}

#[test]
fn list_conversations_filters_and_summarises() {
    let (_dir, mut store) = open();
    for (external_id, workspace) in [("a", "ws-1"), ("b", "ws-2"), ("c", "ws-1")] {
        store
            .write_conversation(&WriteConversationRequest {
                conversation: Some(Conversation {
                    source_id: "pi".into(),
                    external_id: external_id.into(),
                    workspace: Some(workspace.into()),
                    ..Default::default()
                }),
                messages: vec![
                    Message {
                        role: "system".into(),
                        ..message(0, "be nice")
                    },
                    message(2, &format!("question {external_id}")),
                ],
            })
            .unwrap();
    }
    let listed = store
        .list_conversations(&oqto_proto::hstry::ListConversationsRequest {
            workspace: "ws-1".into(),
            ..Default::default()
        })
        .unwrap();
    let mut firsts: Vec<_> = listed
        .iter()
        .map(|s| (s.first_user_message.as_str(), s.message_count))
        .collect();
    firsts.sort_unstable();
    assert_eq!(firsts, [("question a", 2), ("question c", 2)]);
}
