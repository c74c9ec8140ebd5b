//! The database schema as an ordered list of migrations. `PRAGMA user_version` records how
//! many have run; opening a database applies the missing ones in one transaction, so an old
//! file is upgraded in place (rows kept) or not at all.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Append only: a migration that has shipped is never edited, a change is a new entry.
const MIGRATIONS: &[&str] = &[
    // 1: conversations, keyed by (source_id, external_id), and their messages keyed by idx.
    // `seq` is the integer rowid the full-text index refers to.
    "
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY NOT NULL,
        source_id TEXT NOT NULL,
        external_id TEXT NOT NULL,
        readable_id TEXT,
        title TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        model TEXT,
        provider TEXT,
        workspace TEXT,
        tokens_in INTEGER,
        tokens_out INTEGER,
        cost_usd REAL,
        metadata TEXT NOT NULL DEFAULT '',
        harness TEXT,
        platform_id TEXT,
        version INTEGER NOT NULL DEFAULT 1,
        message_count INTEGER NOT NULL DEFAULT 0,
        parent_conversation_id TEXT,
        parent_message_idx INTEGER,
        fork_type TEXT,
        UNIQUE (source_id, external_id)
    );
    CREATE INDEX conversations_by_update ON conversations (updated_at DESC);
    CREATE INDEX conversations_by_workspace ON conversations (workspace, updated_at DESC);
    CREATE INDEX conversations_by_readable_id ON conversations (readable_id);

    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL CHECK (idx >= 0),
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        parts_json TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        model TEXT,
        tokens INTEGER,
        cost_usd REAL,
        metadata TEXT NOT NULL DEFAULT '',
        sender_json TEXT NOT NULL DEFAULT '',
        provider TEXT,
        harness TEXT,
        client_id TEXT,
        UNIQUE (conversation_id, idx)
    );
    ",
    // 2: full-text search over message content, kept in sync by triggers (also on the
    // cascade of a conversation delete) and filled from the rows already there.
    "
    CREATE VIRTUAL TABLE messages_fts USING fts5 (
        content,
        content = 'messages',
        content_rowid = 'seq',
        tokenize = 'porter unicode61'
    );
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, content) VALUES (new.seq, new.content);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content)
            VALUES ('delete', old.seq, old.content);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content)
            VALUES ('delete', old.seq, old.content);
        INSERT INTO messages_fts (rowid, content) VALUES (new.seq, new.content);
    END;
    INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
    ",
    // 3: the last version of each deleted conversation, so that one created again under the
    // same (source_id, external_id) continues after it: a client that saw version N of that
    // key never sees a smaller number for newer history.
    "
    CREATE TABLE retired_versions (
        source_id TEXT NOT NULL,
        external_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (source_id, external_id)
    ) WITHOUT ROWID;
    CREATE TRIGGER conversations_retire_version AFTER DELETE ON conversations BEGIN
        INSERT INTO retired_versions (source_id, external_id, version)
            VALUES (old.source_id, old.external_id, old.version)
            ON CONFLICT (source_id, external_id)
            DO UPDATE SET version = MAX(version, excluded.version);
    END;
    ",
    // 4: the full-text index again, now also indexing every word's first 2 and 3 characters.
    // Without those, each prefix search (`err*`) merges the postings of every word with that
    // prefix (tens of ms for a common prefix at 100k messages); with them a 2- or 3-character
    // prefix reads one list, and FTS5 uses the 2-character one to narrow 1-character prefixes.
    // An FTS5 table's options cannot be altered, so the table is created again and filled from
    // the rows; the triggers of migration 2 name it and keep it in sync as before. 'optimize'
    // leaves one segment instead of the several the rebuild writes: every query reads each
    // segment's posting lists.
    "
    DROP TABLE messages_fts;
    CREATE VIRTUAL TABLE messages_fts USING fts5 (
        content,
        content = 'messages',
        content_rowid = 'seq',
        tokenize = 'porter unicode61',
        prefix = '2 3'
    );
    INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
    INSERT INTO messages_fts (messages_fts) VALUES ('optimize');
    ",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    migrate_to(conn, SCHEMA_VERSION)
}

fn migrate_to(conn: &mut Connection, target: usize) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: usize = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        // A newer hstry wrote this file; guessing at its schema could corrupt history.
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (done, migration) in MIGRATIONS.iter().enumerate().take(target).skip(found) {
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", done + 1)?;
        tracing::info!(version = done + 1, "applied schema migration");
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use oqto_proto::hstry::SearchRequest;

    /// A database migrated to `version` only, holding one conversation of two messages.
    fn older_database(version: usize) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hstry.db");
        let mut conn = Connection::open(&path).unwrap();
        migrate_to(&mut conn, version).unwrap();
        conn.execute_batch(
            "INSERT INTO conversations (id, source_id, external_id, created_at, updated_at,
                                        message_count)
                 VALUES ('c1', 'pi', 'ses_old', 1, 2, 2);
             INSERT INTO messages (id, conversation_id, idx, role, content, created_at)
                 VALUES ('m0', 'c1', 0, 'user', 'where are the penguins', 1),
                        ('m1', 'c1', 1, 'assistant', 'in antarctica', 2);",
        )
        .unwrap();
        (dir, path)
    }

    #[test]
    fn an_older_database_is_upgraded_without_losing_rows() {
        // A database as the first release left it, with history in it.
        let (_dir, path) = older_database(1);

        let store = Store::open(&path).unwrap();
        let version: usize = store
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let key = crate::store::ConversationKey::External {
            source_id: "pi".into(),
            external_id: "ses_old".into(),
        };
        let (_, messages) = store.get_messages(&key, 0).unwrap();
        assert_eq!(messages.len(), 2);
        // The index added by the upgrade covers the rows written before it.
        let hits = store
            .search(&SearchRequest {
                query: "penguin".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].message_idx, 0);
    }

    #[test]
    fn the_index_is_rebuilt_with_prefixes_and_stays_in_sync_after_the_upgrade() {
        // A database as the release before the prefix index left it.
        let (_dir, path) = older_database(3);

        let mut store = Store::open(&path).unwrap();
        let version: usize = store
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let definition: String = store
            .conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'messages_fts'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert!(definition.contains("prefix = '2 3'"), "{definition}");
        let integrity_check = |store: &Store| {
            store
                .conn
                .execute(
                    "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
                    [],
                )
                .unwrap();
        };
        integrity_check(&store);
        let hits = |store: &Store, query: &str| -> Vec<i32> {
            store
                .search(&SearchRequest {
                    query: query.into(),
                    ..Default::default()
                })
                .unwrap()
                .iter()
                .map(|hit| hit.message_idx)
                .collect()
        };
        // Rows written before the upgrade, by a 2-character, a 3-character and a longer prefix.
        assert_eq!(hits(&store, "an*"), [1]);
        assert_eq!(hits(&store, "pen*"), [0]);
        assert_eq!(hits(&store, "pengu*"), [0]);

        // The triggers keep the new table in sync.
        store
            .append_messages(&oqto_proto::hstry::AppendMessagesRequest {
                source_id: "pi".into(),
                external_id: "ses_old".into(),
                messages: vec![oqto_proto::hstry::Message {
                    idx: 1,
                    role: "assistant".into(),
                    content: "on antarctic ice with a walrus".into(),
                    ..Default::default()
                }],
                updated_at_ms: None,
            })
            .unwrap();
        assert_eq!(hits(&store, "wa*"), [1]);
        assert!(hits(&store, "antarctica").is_empty());
        integrity_check(&store);
        store.delete_conversation("pi", "ses_old").unwrap();
        assert!(hits(&store, "pen*").is_empty());
        integrity_check(&store);
    }

    #[test]
    fn opening_twice_is_a_no_op_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hstry.db");
        drop(Store::open(&path).unwrap());
        drop(Store::open(&path).unwrap());
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::SchemaTooNew { found, .. }) if found == SCHEMA_VERSION + 1
        ));
    }
}
