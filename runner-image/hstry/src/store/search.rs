//! Full-text search: FTS5 `MATCH` on a query built by [`crate::fts_query`], best bm25 first,
//! with a highlighted snippet and the conversation each hit belongs to.

use oqto_proto::hstry::{SearchHit, SearchRequest};
use rusqlite::named_params;

use super::{Store, StoreError};
use crate::fts_query;
use crate::validate::{self, InvalidArgument};

pub const SEARCH_DEFAULT_LIMIT: i64 = 20;
pub const SEARCH_MAX_LIMIT: i64 = 200;
pub const SEARCH_MAX_OFFSET: i64 = 10_000;
/// What the snippet wraps every matched word in.
pub const HIGHLIGHT: &str = "**";
/// Words of context a snippet shows around the matches.
const SNIPPET_TOKENS: i64 = 16;

impl Store {
    pub fn search(&self, request: &SearchRequest) -> Result<Vec<SearchHit>, StoreError> {
        let limit = validate::page_limit(
            "limit",
            request.limit,
            SEARCH_DEFAULT_LIMIT,
            SEARCH_MAX_LIMIT,
        )?;
        let offset = validate::page_offset("offset", request.offset, SEARCH_MAX_OFFSET)?;
        let Some(expression) = fts_query::build_match(&request.query)
            .map_err(|err| InvalidArgument::new("query", err.to_string()))?
        else {
            return Ok(Vec::new());
        };
        let mut statement = self.conn.prepare_cached(
            "SELECT m.id, m.conversation_id, m.idx, m.role, m.content,
                 snippet(messages_fts, 0, :highlight, :highlight, '…', :snippet_tokens),
                 m.created_at, c.created_at, c.updated_at, messages_fts.rank,
                 c.source_id, c.external_id, c.title, c.workspace, c.readable_id
             FROM messages_fts
             JOIN messages m ON m.seq = messages_fts.rowid
             JOIN conversations c ON c.id = m.conversation_id
             WHERE messages_fts MATCH :expression
               AND (:source = '' OR c.source_id = :source)
               AND (:workspace = '' OR c.workspace = :workspace)
               AND (:role = '' OR m.role = :role)
               AND (:model = '' OR m.model = :model OR (m.model IS NULL AND c.model = :model))
               AND (:harness = '' OR m.harness = :harness
                    OR (m.harness IS NULL AND c.harness = :harness))
               AND (:after IS NULL OR m.created_at > :after)
               AND (:before IS NULL OR m.created_at < :before)
             ORDER BY messages_fts.rank, m.seq
             LIMIT :limit OFFSET :offset",
        )?;
        let hits = statement
            .query_map(
                named_params! {
                    ":highlight": HIGHLIGHT,
                    ":snippet_tokens": SNIPPET_TOKENS,
                    ":expression": expression,
                    ":source": request.source,
                    ":workspace": request.workspace,
                    ":role": request.role,
                    ":model": request.model,
                    ":harness": request.harness,
                    ":after": request.after_ms,
                    ":before": request.before_ms,
                    ":limit": limit,
                    ":offset": offset,
                },
                |row| {
                    let title: Option<String> = row.get(12)?;
                    let workspace: Option<String> = row.get(13)?;
                    let readable_id: Option<String> = row.get(14)?;
                    let bm25: f64 = row.get(9)?;
                    Ok(SearchHit {
                        message_id: row.get(0)?,
                        conversation_id: row.get(1)?,
                        message_idx: row.get(2)?,
                        role: row.get(3)?,
                        content: row.get(4)?,
                        snippet: row.get(5)?,
                        created_at_ms: row.get(6)?,
                        conv_created_at_ms: row.get(7)?,
                        conv_updated_at_ms: row.get(8)?,
                        // bm25 is lower for better matches; the wire says higher is better.
                        #[allow(clippy::cast_possible_truncation)]
                        score: -bm25 as f32,
                        source_id: row.get(10)?,
                        external_id: row.get(11)?,
                        title: title.unwrap_or_default(),
                        workspace: workspace.unwrap_or_default(),
                        readable_id: readable_id.unwrap_or_default(),
                    })
                },
            )?
            .collect::<Result<_, _>>()?;
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use oqto_proto::hstry::{Conversation, Message, WriteConversationRequest};

    fn store_with(messages: &[(&str, &str)]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("hstry.db")).unwrap();
        let messages = messages
            .iter()
            .enumerate()
            .map(|(idx, (role, content))| Message {
                idx: i32::try_from(idx).unwrap(),
                role: (*role).into(),
                content: (*content).into(),
                ..Default::default()
            })
            .collect();
        store
            .write_conversation(&WriteConversationRequest {
                conversation: Some(Conversation {
                    source_id: "pi".into(),
                    external_id: "ses".into(),
                    workspace: Some("alice-dev".into()),
                    ..Default::default()
                }),
                messages,
            })
            .unwrap();
        (dir, store)
    }

    fn search(store: &Store, query: &str) -> Vec<SearchHit> {
        store
            .search(&SearchRequest {
                query: query.into(),
                ..Default::default()
            })
            .unwrap()
    }

    #[test]
    fn hostile_queries_never_reach_sqlite_as_syntax() {
        let (_dir, store) = store_with(&[("user", "the \"quoted\" AND (odd) text: NEAR -here")]);
        for query in [
            "\"",
            "\"\"\"",
            "(",
            ")",
            "AND",
            "OR OR",
            "NOT",
            "NEAR(",
            "a:b",
            "content:x",
            "*",
            "^",
            "-x",
            "x'); DROP TABLE messages; --",
            "{a b}",
            "\u{0}",
        ] {
            store
                .search(&SearchRequest {
                    query: query.into(),
                    ..Default::default()
                })
                .unwrap_or_else(|err| panic!("query {query:?} failed: {err}"));
        }
        assert_eq!(search(&store, "\"quoted\" (odd)").len(), 1);
        assert_eq!(search(&store, "NEAR").len(), 1);
    }

    #[test]
    fn stems_prefixes_snippets_and_filters() {
        let (_dir, store) = store_with(&[
            ("user", "How do I deploy the operator?"),
            ("assistant", "Deploying works with helm install."),
            ("user", "thanks"),
        ]);
        let hits = search(&store, "deploys");
        assert_eq!(hits.len(), 2, "porter stemming matches deploy/deploying");
        assert!(hits.iter().any(|h| h.snippet.contains("**Deploying**")));
        assert_eq!(search(&store, "oper*").len(), 1);
        assert!(search(&store, "kubernetes").is_empty());
        let assistant_only = store
            .search(&SearchRequest {
                query: "deploy".into(),
                role: "assistant".into(),
                workspace: "alice-dev".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(assistant_only.len(), 1);
        assert_eq!(assistant_only[0].message_idx, 1);
        let other_workspace = store
            .search(&SearchRequest {
                query: "deploy".into(),
                workspace: "bob".into(),
                ..Default::default()
            })
            .unwrap();
        assert!(other_workspace.is_empty());
    }

    #[test]
    fn paging_is_validated_and_applied() {
        let (_dir, store) = store_with(&[("user", "alpha"), ("user", "alpha"), ("user", "alpha")]);
        let page = |limit, offset| SearchRequest {
            query: "alpha".into(),
            limit,
            offset,
            ..Default::default()
        };
        assert_eq!(store.search(&page(2, 0)).unwrap().len(), 2);
        assert_eq!(store.search(&page(2, 2)).unwrap().len(), 1);
        assert!(matches!(
            store.search(&page(-1, 0)),
            Err(StoreError::InvalidArgument(e)) if e.field == "limit"
        ));
        assert!(matches!(
            store.search(&page(1, SEARCH_MAX_OFFSET + 1)),
            Err(StoreError::InvalidArgument(e)) if e.field == "offset"
        ));
    }
}
