//! hstry's write and search cost, next to plain rusqlite doing the same work in the same run.
//!
//! `cargo bench -p oqto-hstry --bench store` writes 100k messages as the bridge does (one
//! AppendMessages per turn of 4 messages, 1000 conversations) three ways: plain rusqlite (one
//! table + FTS5 through a trigger, WAL, synchronous=NORMAL: the floor), hstry's store
//! in-process, and hstry over gRPC on a Unix socket (what the bridge pays). Then it times 500 full-text searches (limit 20) each
//! way and prints p50/p99. Figures, not assertions: the CI never runs benches.
//!
//! With `OQTO_BENCH_QUICK` set (not empty) it writes 10k messages (100 conversations) and times
//! 100 searches. With `OQTO_BENCH_RECORD` set it also records the append rates and search
//! latencies of hstry against plain rusqlite's (`oqto_bench::Figure`).
//!
//! The plain search here ranks every match by bm25 and snippets them all, as hstry once did;
//! `benches/search.rs` times hstry's search against the minimal FTS5 queries on chat-like text.

#![allow(clippy::unwrap_used)] // A bench that cannot set up has nothing to report.

use std::time::{Duration, Instant};

use oqto_bench::{Figure, Unit};
use oqto_hstry::listen::ListenAddr;
use oqto_hstry::server::{Listener, serve};
use oqto_hstry::store::Store;
use oqto_proto::hstry::read_service_client::ReadServiceClient;
use oqto_proto::hstry::search_service_client::SearchServiceClient;
use oqto_proto::hstry::write_service_client::WriteServiceClient;
use oqto_proto::hstry::{
    AppendMessagesRequest, Conversation, Message, SearchRequest, WriteConversationRequest,
};
use rusqlite::{Connection, params};

const BENCH: &str = "hstry_store";
/// Conversations written: 1000 (100k messages), 100 in a quick run.
const CONVERSATIONS: usize = 1000;
const QUICK_CONVERSATIONS: usize = 100;
const MESSAGES_PER_CONVERSATION: usize = 100;
const TURN: usize = 4;
/// Searches timed each way: 500, 100 in a quick run.
const SEARCHES: usize = 500;
const QUICK_SEARCHES: usize = 100;
const VOCABULARY: usize = 20_000;

/// Deterministic pseudo-random numbers (xorshift), so every run writes the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A word, common ones far more often than rare ones (roughly Zipfian, like prose).
    fn word(&mut self) -> String {
        let r = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        format!("w{}", ((r * r * r) * VOCABULARY as f64) as usize)
    }

    fn sentence(&mut self, words: usize) -> String {
        (0..words)
            .map(|_| self.word())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn corpus(conversations: usize) -> Vec<Vec<Message>> {
    let mut rng = Rng(0x5eed);
    (0..conversations)
        .map(|_| {
            (0..MESSAGES_PER_CONVERSATION)
                .map(|idx| {
                    let words = 20 + (rng.next() % 60) as usize;
                    let content = rng.sentence(words);
                    Message {
                        idx: idx as i32,
                        role: if idx % 2 == 0 { "user" } else { "assistant" }.into(),
                        parts_json: serde_json::json!([{"type":"text","id":format!("part_{idx}"),"text":content}]).to_string(),
                        content,
                        id: Some(format!("msg_{idx}")),
                        created_at_ms: Some(1_700_000_000_000 + idx as i64),
                        ..Default::default()
                    }
                })
                .collect()
        })
        .collect()
}

fn queries(searches: usize) -> Vec<String> {
    let mut rng = Rng(0xfeed);
    (0..searches)
        .map(|i| {
            if i % 2 == 0 {
                rng.word()
            } else {
                format!("{} {}", rng.word(), rng.word())
            }
        })
        .collect()
}

fn conversation(n: usize) -> Conversation {
    Conversation {
        source_id: "oqto".into(),
        external_id: format!("session-{n}"),
        harness: Some("pi".into()),
        ..Default::default()
    }
}

struct Report {
    name: &'static str,
    /// The path in the recorded figures' `what` ("append: {what}", "search: {what}").
    what: &'static str,
    append: Duration,
    searches: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The reference path's `what`.
const PLAIN: &str = "plain rusqlite";

fn plain_rusqlite(dir: &std::path::Path, corpus: &[Vec<Message>], queries: &[String]) -> Report {
    let mut conn = Connection::open(dir.join("plain.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "wal").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.execute_batch(
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY, conversation TEXT NOT NULL,
             idx INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, parts_json TEXT NOT NULL,
             UNIQUE (conversation, idx));
         CREATE VIRTUAL TABLE messages_fts USING fts5 (content, content = 'messages',
             content_rowid = 'seq', tokenize = 'porter unicode61');
         CREATE TRIGGER fts_insert AFTER INSERT ON messages BEGIN
             INSERT INTO messages_fts (rowid, content) VALUES (new.seq, new.content); END;",
    )
    .unwrap();
    let start = Instant::now();
    for (n, messages) in corpus.iter().enumerate() {
        for turn in messages.chunks(TURN) {
            let tx = conn.transaction().unwrap();
            {
                let mut insert = tx
                    .prepare_cached("INSERT INTO messages (conversation, idx, role, content, parts_json) VALUES (?1, ?2, ?3, ?4, ?5)")
                    .unwrap();
                for m in turn {
                    insert
                        .execute(params![
                            format!("session-{n}"),
                            m.idx,
                            m.role,
                            m.content,
                            m.parts_json
                        ])
                        .unwrap();
                }
            }
            tx.commit().unwrap();
        }
    }
    let append = start.elapsed();
    let mut searches = Vec::new();
    let mut statement = conn
        .prepare(
            "SELECT m.seq, m.content, snippet(messages_fts, 0, '**', '**', '…', 16)
                  FROM messages_fts JOIN messages m ON m.seq = messages_fts.rowid
                  WHERE messages_fts MATCH ?1 ORDER BY messages_fts.rank LIMIT 20",
        )
        .unwrap();
    for query in queries {
        let start = Instant::now();
        let rows: Vec<i64> = statement
            .query_map([query], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        std::hint::black_box(rows);
        searches.push(start.elapsed());
    }
    Report {
        name: "plain rusqlite",
        what: PLAIN,
        append,
        searches,
    }
}

fn hstry_store(dir: &std::path::Path, corpus: &[Vec<Message>], queries: &[String]) -> Report {
    let mut store = Store::open(&dir.join("store.db")).unwrap();
    let start = Instant::now();
    for (n, messages) in corpus.iter().enumerate() {
        store
            .write_conversation(&WriteConversationRequest {
                conversation: Some(conversation(n)),
                messages: Vec::new(),
            })
            .unwrap();
        for turn in messages.chunks(TURN) {
            store
                .append_messages(&AppendMessagesRequest {
                    source_id: "oqto".into(),
                    external_id: format!("session-{n}"),
                    messages: turn.to_vec(),
                    updated_at_ms: None,
                })
                .unwrap();
        }
    }
    let append = start.elapsed();
    let searches = queries
        .iter()
        .map(|query| {
            let start = Instant::now();
            let hits = store
                .search(&SearchRequest {
                    query: query.clone(),
                    limit: 20,
                    ..Default::default()
                })
                .unwrap();
            std::hint::black_box(hits);
            start.elapsed()
        })
        .collect();
    Report {
        name: "hstry store (in-process)",
        what: "hstry in-process",
        append,
        searches,
    }
}

async fn hstry_grpc(dir: &std::path::Path, corpus: &[Vec<Message>], queries: &[String]) -> Report {
    let listener = Listener::bind(&ListenAddr::Unix(dir.join("hstry.sock")))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let store = Store::open(&dir.join("grpc.db")).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, store, async {
        let _ = stopped.await;
    }));
    let channel = oqto_hstry::client::connect(&addr).await.unwrap();
    let mut write = WriteServiceClient::new(channel.clone());
    let mut search = SearchServiceClient::new(channel.clone());
    let _read = ReadServiceClient::new(channel);
    let start = Instant::now();
    for (n, messages) in corpus.iter().enumerate() {
        write
            .write_conversation(WriteConversationRequest {
                conversation: Some(conversation(n)),
                messages: Vec::new(),
            })
            .await
            .unwrap();
        for turn in messages.chunks(TURN) {
            write
                .append_messages(AppendMessagesRequest {
                    source_id: "oqto".into(),
                    external_id: format!("session-{n}"),
                    messages: turn.to_vec(),
                    updated_at_ms: None,
                })
                .await
                .unwrap();
        }
    }
    let append = start.elapsed();
    let mut searches = Vec::new();
    for query in queries {
        let start = Instant::now();
        let hits = search
            .search(SearchRequest {
                query: query.clone(),
                limit: 20,
                ..Default::default()
            })
            .await
            .unwrap();
        std::hint::black_box(hits);
        searches.push(start.elapsed());
    }
    let _ = stop.send(());
    let _ = server.await;
    Report {
        name: "hstry over gRPC (unix socket)",
        what: "hstry gRPC",
        append,
        searches,
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (conversations, searches) = if oqto_bench::quick() {
        (QUICK_CONVERSATIONS, QUICK_SEARCHES)
    } else {
        (CONVERSATIONS, SEARCHES)
    };
    let corpus = corpus(conversations);
    let queries = queries(searches);
    let total = conversations * MESSAGES_PER_CONVERSATION;
    println!(
        "hstry benchmark: {total} messages in {conversations} conversations, {TURN} per append, {searches} searches (limit 20)"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reports = [
        plain_rusqlite(dir.path(), &corpus, &queries),
        hstry_store(dir.path(), &corpus, &queries),
        runtime.block_on(hstry_grpc(dir.path(), &corpus, &queries)),
    ];
    println!(
        "{:<32} {:>14} {:>12} {:>12}",
        "", "append msg/s", "search p50", "search p99"
    );
    for mut report in reports {
        report.searches.sort();
        let rate = total as f64 / report.append.as_secs_f64();
        println!(
            "{:<32} {:>14.0} {:>12?} {:>12?}",
            report.name,
            rate,
            percentile(&report.searches, 0.50),
            percentile(&report.searches, 0.99),
        );
        let append = Figure::value(
            BENCH,
            &format!("append: {}", report.what),
            Unit::PerSecond,
            rate,
        )
        .higher_is_better();
        let search =
            Figure::latency_us(BENCH, &format!("search: {}", report.what), &report.searches)
                .plotted_in("hstry store search");
        if report.what == PLAIN {
            append.record();
            search.record();
        } else {
            append.against(&format!("append: {PLAIN}")).record();
            search.against(&format!("search: {PLAIN}")).record();
        }
    }
}
