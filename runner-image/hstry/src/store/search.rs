//! Full-text search: FTS5 `MATCH` on a query built by [`crate::fts_query`].
//!
//! Ranking every match by bm25 costs time in proportion to how many messages match, and a
//! common word ("the", "file", "error") matches most of them: at 100k messages that took over
//! 100 ms per search, most of it bm25 and `snippet()` for rows that were then thrown away.
//! So a search does work in proportion to the page it returns instead:
//!
//! - **Order.** Matches in scope are taken newest first in blocks of [`RANK_BLOCK`]; hits come
//!   block by block, within a block best bm25 first, equal scores newest first. A query with
//!   at most `RANK_BLOCK` matches in scope is therefore ranked purely by bm25; a common word
//!   gets its best matches among its recent ones, not among years of history.
//! - **Which words score.** bm25 computes each word's idf from the word's whole posting list,
//!   on every query: a word in most messages costs a pass over most of the index, for an idf
//!   that bm25 then clamps to ~0 (1e-6 for a word in at least half of the messages). So only
//!   the query's rarest words are scored: rarest first by how many of the newest
//!   [`COMMON_SAMPLE`] messages hold them, as long as together they are in fewer than half of
//!   those. A word in at least half of them never scores (for a store of at most that many
//!   messages, exactly where bm25 clamps), and the words left out are the most common, whose
//!   idf is the smallest. Prefix words (`err*`) match but do not score: scoring one takes
//!   another pass over every word with that prefix. `score` is the negated bm25 of the scored
//!   words; with none, hits come newest first with score 0.
//! - **Cost.** Scope filters are applied while walking the matches newest first (FTS5 walks
//!   rowids in order, so nothing is sorted), bm25 is computed for the candidates of the
//!   blocks the page touches, and `snippet()` only for the page's rows.

use std::collections::HashMap;

use oqto_proto::hstry::{SearchHit, SearchRequest};
use rusqlite::{Connection, Row, ToSql};

use super::{Store, StoreError};
use crate::fts_query::{self, Query, Term};
use crate::validate::{self, InvalidArgument};

pub const SEARCH_DEFAULT_LIMIT: i64 = 20;
pub const SEARCH_MAX_LIMIT: i64 = 200;
pub const SEARCH_MAX_OFFSET: i64 = 10_000;
/// What the snippet wraps every matched word in.
pub const HIGHLIGHT: &str = "**";
/// Words of context a snippet shows around the matches.
const SNIPPET_TOKENS: i64 = 16;
/// How many matches (newest first) are ranked by bm25 against each other. The walk to fill a
/// block and bm25 over it are most of a ranked search's cost (a scope that keeps one match in
/// ten walks ten times as many); at least [`SEARCH_MAX_LIMIT`], so a page spans at most two.
pub const RANK_BLOCK: i64 = SEARCH_MAX_LIMIT;
/// How many of the newest messages decide which words are too common to score: enough to
/// tell a word in 10% of messages from one in 50%, few enough to count in well under 1 ms.
pub const COMMON_SAMPLE: i64 = 1000;

/// The columns a hit is read from, `m.seq` first, with `snippet()` of the full query.
const HIT_COLUMNS: &str = "m.seq, m.id, m.conversation_id, m.idx, m.role, m.content,
     snippet(messages_fts, 0, :highlight, :highlight, '…', :snippet_tokens),
     m.created_at, c.created_at, c.updated_at, c.source_id, c.external_id, c.title,
     c.workspace, c.readable_id";
const HIT_FROM: &str = "FROM messages_fts
     JOIN messages m ON m.seq = messages_fts.rowid
     JOIN conversations c ON c.id = m.conversation_id";

type NamedParams<'a> = Vec<(&'static str, &'a dyn ToSql)>;

impl Store {
    pub fn search(&self, request: &SearchRequest) -> Result<Vec<SearchHit>, StoreError> {
        let limit = validate::page_limit(
            "limit",
            request.limit,
            SEARCH_DEFAULT_LIMIT,
            SEARCH_MAX_LIMIT,
        )?;
        let offset = validate::page_offset("offset", request.offset, SEARCH_MAX_OFFSET)?;
        let Some(query) = fts_query::parse(&request.query)
            .map_err(|err| InvalidArgument::new("query", err.to_string()))?
        else {
            return Ok(Vec::new());
        };
        // One snapshot for the several statements below: a write between them could
        // otherwise drop a candidate before its row is read.
        let tx = self.conn.unchecked_transaction()?;
        let expression = query.expression();
        let scope = Scope::of(request);
        let ranking = ranking_terms(&tx, &query)?;
        let hits = if ranking.is_empty() {
            newest_hits(&tx, &expression, &scope, limit, offset)?
        } else {
            let ranking = fts_query::expression(ranking);
            ranked_hits(&tx, &expression, &ranking, &scope, limit, offset)?
        };
        tx.finish()?;
        Ok(hits)
    }
}

/// The scope filters of a request as SQL over `messages m` and `conversations c`.
struct Scope<'r> {
    /// Whether a condition reads `m` or `c` (the walk joins them only then).
    joins_conversation: bool,
    joins_message: bool,
    conditions: Vec<&'static str>,
    params: NamedParams<'r>,
}

impl<'r> Scope<'r> {
    fn of(request: &'r SearchRequest) -> Self {
        let mut scope = Scope {
            joins_conversation: false,
            joins_message: false,
            conditions: Vec::new(),
            params: Vec::new(),
        };
        if !request.source.is_empty() {
            scope.add_conversation("c.source_id = :source", (":source", &request.source));
        }
        if !request.workspace.is_empty() {
            scope.add_conversation(
                "c.workspace = :workspace",
                (":workspace", &request.workspace),
            );
        }
        if !request.role.is_empty() {
            scope.add_message("m.role = :role", (":role", &request.role));
        }
        // A message without its own model or harness has its conversation's.
        if !request.model.is_empty() {
            scope.add_conversation(
                "(m.model = :model OR (m.model IS NULL AND c.model = :model))",
                (":model", &request.model),
            );
        }
        if !request.harness.is_empty() {
            scope.add_conversation(
                "(m.harness = :harness OR (m.harness IS NULL AND c.harness = :harness))",
                (":harness", &request.harness),
            );
        }
        if let Some(after) = &request.after_ms {
            scope.add_message("m.created_at > :after", (":after", after));
        }
        if let Some(before) = &request.before_ms {
            scope.add_message("m.created_at < :before", (":before", before));
        }
        scope
    }

    fn add_message(&mut self, condition: &'static str, param: (&'static str, &'r dyn ToSql)) {
        self.joins_message = true;
        self.conditions.push(condition);
        self.params.push(param);
    }

    fn add_conversation(&mut self, condition: &'static str, param: (&'static str, &'r dyn ToSql)) {
        self.joins_conversation = true;
        self.add_message(condition, param);
    }

    /// `AND …` for every condition (empty without filters).
    fn where_clause(&self) -> String {
        self.conditions
            .iter()
            .map(|condition| format!(" AND {condition}"))
            .collect()
    }

    /// The joins the conditions need, for a walk that otherwise reads only the index.
    fn joins(&self) -> &'static str {
        match (self.joins_message, self.joins_conversation) {
            (_, true) => {
                " JOIN messages m ON m.seq = messages_fts.rowid
                  JOIN conversations c ON c.id = m.conversation_id"
            }
            (true, false) => " JOIN messages m ON m.seq = messages_fts.rowid",
            (false, false) => "",
        }
    }
}

/// The words of `query` that bm25 scores (see the module comment): not prefixes; the rarest
/// first, as long as together they are in fewer than half of the newest [`COMMON_SAMPLE`]
/// messages (counting a message once per word).
fn ranking_terms<'q>(conn: &Connection, query: &'q Query) -> Result<Vec<&'q Term>, StoreError> {
    let mut words: Vec<&str> = query
        .terms()
        .iter()
        .filter(|term| !term.is_prefix())
        .map(Term::phrase)
        .collect();
    words.sort_unstable();
    words.dedup();
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let (floor, sampled): (i64, i64) = conn
        .prepare_cached(
            "SELECT floor, (SELECT COUNT(*) FROM messages WHERE seq > floor)
             FROM (SELECT COALESCE(MAX(seq), 0) - :sample AS floor FROM messages)",
        )?
        .query_row(&[(":sample", &COMMON_SAMPLE)], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    // Counting stops at half the sample: a word found that often never scores.
    let half = (sampled + 1) / 2;
    let mut in_sample = conn.prepare_cached(
        "SELECT COUNT(*) FROM (
             SELECT 1 FROM messages_fts
             WHERE messages_fts MATCH :phrase AND messages_fts.rowid > :floor
             LIMIT :half)",
    )?;
    let mut counted = Vec::with_capacity(words.len());
    for word in words {
        let found: i64 = in_sample.query_row(
            &[
                (":phrase", &word as &dyn ToSql),
                (":floor", &floor),
                (":half", &half),
            ],
            |row| row.get(0),
        )?;
        counted.push((found, word));
    }
    counted.sort_unstable();
    let mut scored = Vec::new();
    let mut total = 0;
    for (found, word) in counted {
        total += found;
        if 2 * total >= sampled {
            break;
        }
        scored.push(word);
    }
    Ok(query
        .terms()
        .iter()
        .filter(|term| !term.is_prefix() && scored.contains(&term.phrase()))
        .collect())
}

/// A page of matches in scope, newest first, with score 0: for queries with no word to rank.
fn newest_hits(
    conn: &Connection,
    expression: &str,
    scope: &Scope<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<SearchHit>, StoreError> {
    let sql = newest_hits_sql(scope);
    let mut params = hit_params();
    params.extend_from_slice(&scope.params);
    params.extend_from_slice(&[
        (":expression", &expression as &dyn ToSql),
        (":limit", &limit),
        (":offset", &offset),
    ]);
    let mut statement = conn.prepare_cached(&sql)?;
    let hits = statement
        .query_map(params.as_slice(), |row| hit(row, 0.0))?
        .collect::<Result<_, _>>()?;
    Ok(hits)
}

/// A page of matches in scope ordered block by block, best bm25 of `ranking` first.
fn ranked_hits(
    conn: &Connection,
    expression: &str,
    ranking: &str,
    scope: &Scope<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<SearchHit>, StoreError> {
    let first_block = offset / RANK_BLOCK;
    let last_block = (offset + limit - 1) / RANK_BLOCK;
    let skipped = first_block * RANK_BLOCK;
    let candidates = newest_matches(
        conn,
        expression,
        scope,
        (last_block - first_block + 1) * RANK_BLOCK,
        skipped,
    )?;
    let bm25 = bm25_of(conn, ranking, &candidates)?;
    let mut ranked: Vec<(i64, f64, i64)> = (0_i64..)
        .zip(&candidates)
        .map(|(position, seq)| {
            let block = position / RANK_BLOCK;
            // Every candidate matches the ranking words too (they are a subset of the query).
            (block, bm25.get(seq).copied().unwrap_or(0.0), *seq)
        })
        .collect();
    // bm25 is lower for better matches; equal ones newest first.
    ranked.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(b.2.cmp(&a.2)));
    let page: Vec<(i64, f64)> = ranked
        .into_iter()
        .skip(usize::try_from(offset - skipped).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(_, bm25, seq)| (seq, bm25))
        .collect();
    hits_of(conn, expression, &page)
}

/// The rowids of the matches in scope, newest first, `limit` of them after skipping `offset`.
fn newest_matches(
    conn: &Connection,
    expression: &str,
    scope: &Scope<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<i64>, StoreError> {
    let sql = newest_matches_sql(scope);
    let mut params = scope.params.clone();
    params.extend_from_slice(&[
        (":expression", &expression as &dyn ToSql),
        (":limit", &limit),
        (":offset", &offset),
    ]);
    let mut statement = conn.prepare_cached(&sql)?;
    let seqs = statement
        .query_map(params.as_slice(), |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(seqs)
}

/// Like [`newest_hits_sql`], this walks newest first in FTS5's own rowid order (no sort),
/// applies the scope as it goes and stops at the LIMIT.
fn newest_matches_sql(scope: &Scope<'_>) -> String {
    format!(
        "SELECT messages_fts.rowid FROM messages_fts{}
         WHERE messages_fts MATCH :expression{}
         ORDER BY messages_fts.rowid DESC
         LIMIT :limit OFFSET :offset",
        scope.joins(),
        scope.where_clause()
    )
}

/// Without a sorter SQLite skips the OFFSET rows before computing the columns, so `snippet()`
/// runs for the page only.
fn newest_hits_sql(scope: &Scope<'_>) -> String {
    format!(
        "SELECT {HIT_COLUMNS} {HIT_FROM}
         WHERE messages_fts MATCH :expression{}
         ORDER BY messages_fts.rowid DESC
         LIMIT :limit OFFSET :offset",
        scope.where_clause()
    )
}

/// bm25 of `ranking` for each of `seqs`, in one pass over the rowid range they span: bm25
/// computes its idf once per statement, so one statement per row would repeat it.
fn bm25_of(
    conn: &Connection,
    ranking: &str,
    seqs: &[i64],
) -> Result<HashMap<i64, f64>, StoreError> {
    let (Some(low), Some(high)) = (seqs.iter().min(), seqs.iter().max()) else {
        return Ok(HashMap::new());
    };
    let wanted = json_array(seqs);
    // `+rowid` keeps the list a filter: as an index constraint SQLite would run the FTS5
    // query once per listed rowid.
    let mut statement = conn.prepare_cached(
        "SELECT messages_fts.rowid, bm25(messages_fts) FROM messages_fts
         WHERE messages_fts MATCH :ranking
           AND messages_fts.rowid BETWEEN :low AND :high
           AND +messages_fts.rowid IN (SELECT value FROM json_each(:wanted))",
    )?;
    let scores = statement
        .query_map(
            &[
                (":ranking", &ranking as &dyn ToSql),
                (":low", low),
                (":high", high),
                (":wanted", &wanted),
            ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    Ok(scores)
}

/// The hits for `page` (rowid and bm25, in page order), with snippets of the full query.
fn hits_of(
    conn: &Connection,
    expression: &str,
    page: &[(i64, f64)],
) -> Result<Vec<SearchHit>, StoreError> {
    let seqs: Vec<i64> = page.iter().map(|(seq, _)| *seq).collect();
    let (Some(low), Some(high)) = (seqs.iter().min(), seqs.iter().max()) else {
        return Ok(Vec::new());
    };
    let wanted = json_array(&seqs);
    let sql = format!(
        "SELECT {HIT_COLUMNS} {HIT_FROM}
         WHERE messages_fts MATCH :expression
           AND messages_fts.rowid BETWEEN :low AND :high
           AND +messages_fts.rowid IN (SELECT value FROM json_each(:wanted))"
    );
    let mut params = hit_params();
    params.extend_from_slice(&[
        (":expression", &expression as &dyn ToSql),
        (":low", low),
        (":high", high),
        (":wanted", &wanted),
    ]);
    let scores: HashMap<i64, f64> = page.iter().copied().collect();
    let mut statement = conn.prepare_cached(&sql)?;
    let mut found: HashMap<i64, SearchHit> = statement
        .query_map(params.as_slice(), |row| {
            let seq: i64 = row.get(0)?;
            // bm25 is lower for better matches; the wire says higher is better.
            #[allow(clippy::cast_possible_truncation)]
            let score = scores.get(&seq).map_or(0.0, |bm25| -bm25 as f32);
            Ok((seq, hit(row, score)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(seqs.iter().filter_map(|seq| found.remove(seq)).collect())
}

fn hit_params() -> NamedParams<'static> {
    vec![
        (":highlight", &HIGHLIGHT),
        (":snippet_tokens", &SNIPPET_TOKENS),
    ]
}

/// Reads a row selected with [`HIT_COLUMNS`].
fn hit(row: &Row<'_>, score: f32) -> rusqlite::Result<SearchHit> {
    let title: Option<String> = row.get(12)?;
    let workspace: Option<String> = row.get(13)?;
    let readable_id: Option<String> = row.get(14)?;
    Ok(SearchHit {
        message_id: row.get(1)?,
        conversation_id: row.get(2)?,
        message_idx: row.get(3)?,
        role: row.get(4)?,
        content: row.get(5)?,
        snippet: row.get(6)?,
        created_at_ms: row.get(7)?,
        conv_created_at_ms: row.get(8)?,
        conv_updated_at_ms: row.get(9)?,
        score,
        source_id: row.get(10)?,
        external_id: row.get(11)?,
        title: title.unwrap_or_default(),
        workspace: workspace.unwrap_or_default(),
        readable_id: readable_id.unwrap_or_default(),
    })
}

fn json_array(values: &[i64]) -> String {
    let items: Vec<String> = values.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(","))
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

    /// Writes `contents` as one conversation (idx in order, so later ones are newer).
    fn write(store: &mut Store, external_id: &str, workspace: &str, contents: &[String]) {
        let messages = contents
            .iter()
            .enumerate()
            .map(|(idx, content)| Message {
                idx: i32::try_from(idx).unwrap(),
                role: if idx % 2 == 0 { "user" } else { "assistant" }.into(),
                content: content.clone(),
                created_at_ms: Some(i64::try_from(idx).unwrap()),
                ..Default::default()
            })
            .collect();
        store
            .write_conversation(&WriteConversationRequest {
                conversation: Some(Conversation {
                    source_id: "pi".into(),
                    external_id: external_id.into(),
                    workspace: Some(workspace.into()),
                    ..Default::default()
                }),
                messages,
            })
            .unwrap();
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("hstry.db")).unwrap();
        (dir, store)
    }

    fn request(query: &str, limit: i64, offset: i64) -> SearchRequest {
        SearchRequest {
            query: query.into(),
            limit,
            offset,
            ..Default::default()
        }
    }

    fn indexes(hits: &[SearchHit]) -> Vec<i32> {
        hits.iter().map(|hit| hit.message_idx).collect()
    }

    /// bm25 of `expression` for one message, computed by FTS5 directly.
    fn bm25(store: &Store, expression: &str, message_idx: i32) -> f64 {
        store
            .conn
            .query_row(
                "SELECT bm25(messages_fts) FROM messages_fts
                 JOIN messages m ON m.seq = messages_fts.rowid
                 WHERE messages_fts MATCH ?1 AND m.idx = ?2",
                (expression, message_idx),
                |row| row.get(0),
            )
            .unwrap()
    }

    #[test]
    fn a_rare_word_ranks_by_bm25_and_scores_its_bm25() {
        let (_dir, mut store) = open();
        // "walrus" is in 4 of 12 messages; "the" in all of them.
        let mut contents: Vec<String> = (0..12).map(|n| format!("the filler {n}")).collect();
        contents[1] = "the walrus and many other words around the one walrus".into();
        contents[4] = "the walrus walrus walrus".into();
        contents[7] = "the walrus".into();
        contents[10] = "the walrus sat on the ice for a long while".into();
        write(&mut store, "ses", "ws", &contents);

        let hits = search(&store, "walrus");
        // Pure recency would be 10, 7, 4, 1.
        assert_eq!(indexes(&hits), [4, 7, 1, 10]);
        for hit in &hits {
            let expected = -bm25(&store, "\"walrus\"", hit.message_idx);
            assert!(
                (f64::from(hit.score) - expected).abs() < 1e-4,
                "idx {}: score {} vs bm25 {expected}",
                hit.message_idx,
                hit.score
            );
            assert!(hit.score > 0.0);
        }
        // "the" (in every message) must still match but does not move the order or the score.
        let with_the = search(&store, "the walrus");
        assert_eq!(indexes(&with_the), [4, 7, 1, 10]);
        assert_eq!(
            with_the.iter().map(|h| h.score).collect::<Vec<_>>(),
            hits.iter().map(|h| h.score).collect::<Vec<_>>()
        );
        assert!(with_the[0].snippet.contains("**the** **walrus**"));
        assert!(search(&store, "walrus seal").is_empty());
    }

    #[test]
    fn common_words_and_prefixes_match_newest_first_with_score_zero() {
        let (_dir, mut store) = open();
        let contents: Vec<String> = (0..6)
            .map(|n| {
                let tail = "error ".repeat(6 - n);
                format!("the deployment {n} {tail}")
            })
            .collect();
        write(&mut store, "ses", "ws", &contents);
        // In every message: no word scores, so the newest comes first although the oldest
        // says "error" the most.
        for query in ["error", "the error", "deplo*", "deplo* the"] {
            let hits = search(&store, query);
            assert_eq!(indexes(&hits), [5, 4, 3, 2, 1, 0], "query {query:?}");
            assert!(hits.iter().all(|h| h.score == 0.0), "query {query:?}");
        }
        assert!(
            search(&store, "deplo*")[0]
                .snippet
                .contains("**deployment**")
        );
    }

    #[test]
    fn matches_rank_within_blocks_of_the_newest_and_pages_follow_that_order() {
        let (_dir, mut store) = open();
        // 250 "walrus" messages among 750; the best match (three walruses) is the oldest one,
        // and the best of the newest block is #300.
        let block = usize::try_from(RANK_BLOCK).unwrap();
        let contents: Vec<String> = (0..750)
            .map(|n| match (n % 3, n) {
                (0, 0) => "walrus walrus walrus".to_owned(),
                (0, 300) => "walrus walrus".to_owned(),
                (0, _) => format!("a walrus number {n} on the ice"),
                _ => format!("filler {n}"),
            })
            .collect();
        write(&mut store, "ses", "ws", &contents);

        let first = store.search(&request("walrus", 200, 0)).unwrap();
        assert_eq!(first.len(), block);
        assert_eq!(first[0].message_idx, 300);
        assert!(
            first.iter().all(|hit| hit.message_idx > 147),
            "the newest 200"
        );
        assert!(first.windows(2).all(|w| w[0].score >= w[1].score));
        let second = store.search(&request("walrus", 200, 200)).unwrap();
        assert_eq!(second.len(), 50);
        assert_eq!(second[0].message_idx, 0, "best of the older block");

        // Pages of any size, across the block boundary, cut the same order.
        let mut all = first.clone();
        all.extend(second);
        for (limit, offset) in [(50, 150), (7, 195), (200, 10), (1, 200)] {
            let page = store.search(&request("walrus", limit, offset)).unwrap();
            let start = usize::try_from(offset).unwrap();
            let end = (start + usize::try_from(limit).unwrap()).min(all.len());
            assert_eq!(
                indexes(&page),
                indexes(&all[start..end]),
                "{limit}@{offset}"
            );
        }
        let mut seen = indexes(&all);
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 250, "every match once");
    }

    #[test]
    fn scope_filters_apply_before_the_newest_block_is_taken() {
        let (_dir, mut store) = open();
        // An old conversation in one workspace, then more than a block of newer matches in
        // another: a filter applied after taking the newest block would find nothing.
        let old: Vec<String> = (0..4)
            .map(|n| format!("the walrus of the old workspace {n}"))
            .collect();
        write(&mut store, "old", "ws-old", &old);
        let newer: Vec<String> = (0..3 * 250)
            .map(|n| {
                if n % 3 == 0 {
                    format!("the walrus {n}")
                } else {
                    format!("the filler {n}")
                }
            })
            .collect();
        write(&mut store, "new", "ws-new", &newer);

        for query in ["walrus", "the"] {
            let scoped = |workspace: &str, role: &str, after_ms: Option<i64>| {
                store
                    .search(&SearchRequest {
                        query: query.into(),
                        workspace: workspace.into(),
                        role: role.into(),
                        after_ms,
                        ..Default::default()
                    })
                    .unwrap()
            };
            let hits = scoped("ws-old", "", None);
            assert_eq!(hits.len(), 4, "query {query:?}");
            assert!(hits.iter().all(|h| h.workspace == "ws-old"));
            let users = scoped("ws-old", "user", None);
            assert_eq!(
                {
                    let mut idx = indexes(&users);
                    idx.sort_unstable();
                    idx
                },
                [0, 2],
                "query {query:?}"
            );
            // created_at_ms is the idx here.
            assert_eq!(indexes(&scoped("ws-old", "", Some(2))), [3], "{query:?}");
            assert!(scoped("ws-none", "", None).is_empty());
        }
    }

    #[test]
    fn the_limit_is_honoured_and_capped() {
        let (_dir, mut store) = open();
        let contents: Vec<String> = (0..3 * 250)
            .map(|n| {
                if n % 3 == 0 {
                    format!("the walrus {n}")
                } else {
                    format!("the filler {n}")
                }
            })
            .collect();
        write(&mut store, "ses", "ws", &contents);
        // "walrus" scores (a third of the messages), "the" does not (all of them).
        for (query, matches) in [("walrus", 250), ("the", 750)] {
            assert_eq!(store.search(&request(query, 5, 0)).unwrap().len(), 5);
            assert_eq!(
                store.search(&request(query, 0, 0)).unwrap().len(),
                usize::try_from(SEARCH_DEFAULT_LIMIT).unwrap()
            );
            assert_eq!(
                store.search(&request(query, 10_000, 0)).unwrap().len(),
                usize::try_from(SEARCH_MAX_LIMIT).unwrap()
            );
            assert_eq!(
                store
                    .search(&request(query, 200, matches - 5))
                    .unwrap()
                    .len(),
                5
            );
            assert!(
                store
                    .search(&request(query, 1, matches))
                    .unwrap()
                    .is_empty()
            );
        }
    }

    #[test]
    fn the_walks_never_sort_the_matches() {
        let (_dir, store) = open();
        let everything = SearchRequest {
            source: "pi".into(),
            workspace: "ws".into(),
            role: "user".into(),
            model: "m".into(),
            harness: "h".into(),
            after_ms: Some(1),
            before_ms: Some(2),
            ..Default::default()
        };
        let role_only = SearchRequest {
            role: "user".into(),
            ..Default::default()
        };
        for request in [&SearchRequest::default(), &role_only, &everything] {
            let scope = Scope::of(request);
            for sql in [newest_matches_sql(&scope), newest_hits_sql(&scope)] {
                let mut params = hit_params();
                params.extend_from_slice(&scope.params);
                let (expression, limit, offset) = ("\"x\"", 1_i64, 0_i64);
                params.extend_from_slice(&[
                    (":expression", &expression as &dyn ToSql),
                    (":limit", &limit),
                    (":offset", &offset),
                ]);
                // Only the parameters this statement names.
                let mut statement = store
                    .conn
                    .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .unwrap();
                let used: NamedParams<'_> = params
                    .into_iter()
                    .filter(|(name, _)| statement.parameter_index(name).unwrap().is_some())
                    .collect();
                let plan: Vec<String> = statement
                    .query_map(used.as_slice(), |row| row.get(3))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                assert!(
                    plan.iter().all(|step| !step.contains("TEMP B-TREE")),
                    "{sql}\n{plan:#?}"
                );
            }
        }
    }
}
