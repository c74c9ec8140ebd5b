//! hstry's search at 100k messages, next to plain rusqlite running the minimal FTS5 query on
//! the same database file in the same run.
//!
//! `cargo bench -p oqto-hstry --bench search` writes 100k messages as the bridge does (1000
//! conversations of 100, one append per turn of 4, spread over 10 workspaces) of chat-like text: English function words that occur in nearly
//! every message ("the" in ~98%), a coding vocabulary ("file" ~90%, "error" ~75%, "deploy"
//! ~13%) and a long tail of rare made-up words. Then, query by query and interleaved so both
//! see the same machine load, it times:
//!
//! - `hstry`: `Store::search` (limit 20: rows, snippets, scores, the conversation of each hit);
//! - `plain newest`: `SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?
//!   ORDER BY rowid DESC LIMIT 20` on its own connection: the floor for any FTS5 search that
//!   returns 20 rowids;
//! - `plain bm25`: `… ORDER BY rank LIMIT 20`: the floor for ranking every match by bm25, which
//!   hstry did before (fewer rounds: it is slow).
//!
//! It prints p50/p99 per kind of query (in three scopes: no filter, the bridge's source filter,
//! one workspace of ten) and per query. Figures, not assertions: the CI never runs benches.
//!
//! With `OQTO_BENCH_QUICK` set (not empty) it writes 10k messages (100 conversations) and times
//! 20 rounds instead of 40. With `OQTO_BENCH_RECORD` set it also records, over all queries, hstry
//! in each scope and plain bm25 against plain newest, and per kind of query hstry (no filter)
//! against plain newest (`oqto_bench::Figure`).

#![allow(clippy::unwrap_used)] // A bench that cannot set up has nothing to report.

use std::path::Path;
use std::time::{Duration, Instant};

use oqto_bench::Figure;
use oqto_hstry::fts_query;
use oqto_hstry::store::Store;
use oqto_proto::hstry::{
    AppendMessagesRequest, Conversation, Message, SearchRequest, WriteConversationRequest,
};
use rusqlite::Connection;

const BENCH: &str = "hstry_search";
/// Conversations written: 1000 (100k messages), 100 in a quick run.
const CONVERSATIONS: usize = 1000;
const QUICK_CONVERSATIONS: usize = 100;
const MESSAGES_PER_CONVERSATION: usize = 100;
const WORKSPACES: usize = 10;
/// Messages per append: one turn, as the bridge writes them.
const TURN: usize = 4;
/// Timed passes over every query (hstry and the newest-first floor), fewer in a quick run.
const ROUNDS: usize = 40;
const QUICK_ROUNDS: usize = 20;
/// Passes for the bm25-over-every-match floor, which takes 100-300 ms per common word.
const BM25_ROUNDS: usize = 2;

/// Function words, most frequent first: together they are 55% of all words.
const COMMON: &[&str] = &[
    "the", "to", "a", "and", "of", "is", "in", "it", "you", "that", "this", "for", "i", "on",
    "with", "be", "not", "we", "can", "have", "are", "as", "but", "if", "so", "do", "what", "at",
    "or", "an", "there", "was", "will", "now", "from", "by", "all", "when", "then", "here",
    "should", "would", "just", "let", "me", "my", "your", "need", "like", "how", "which", "one",
    "also", "after", "before", "into", "out", "up", "again", "still", "only", "same", "new",
    "because", "where", "why", "see", "look", "make", "use", "try", "run", "get", "set", "add",
    "fix", "check", "change", "works", "work", "first", "last", "next", "line", "way",
];

/// A coding assistant's vocabulary, most frequent first: 33% of all words.
const CODING: &[&str] = &[
    "file",
    "error",
    "function",
    "test",
    "code",
    "build",
    "config",
    "value",
    "type",
    "return",
    "module",
    "crate",
    "cargo",
    "rust",
    "struct",
    "trait",
    "impl",
    "string",
    "path",
    "command",
    "output",
    "input",
    "request",
    "response",
    "server",
    "client",
    "database",
    "query",
    "table",
    "index",
    "schema",
    "migration",
    "deploy",
    "deployment",
    "kubernetes",
    "pod",
    "container",
    "image",
    "helm",
    "chart",
    "service",
    "socket",
    "port",
    "timeout",
    "retry",
    "log",
    "logs",
    "warning",
    "panic",
    "unwrap",
    "result",
    "option",
    "async",
    "await",
    "future",
    "stream",
    "thread",
    "lock",
    "mutex",
    "channel",
    "message",
    "session",
    "workspace",
    "user",
    "admin",
    "token",
    "secret",
    "key",
    "certificate",
    "tls",
    "http",
    "grpc",
    "proto",
    "json",
    "yaml",
    "directory",
    "folder",
    "commit",
    "branch",
    "merge",
    "rebase",
    "diff",
    "patch",
    "review",
    "benchmark",
    "latency",
    "throughput",
    "memory",
    "cpu",
    "disk",
    "cache",
    "search",
    "history",
    "snippet",
    "rank",
    "sqlite",
    "postgres",
    "network",
    "proxy",
    "gateway",
    "operator",
    "controller",
    "reconcile",
    "webhook",
    "field",
    "variable",
    "environment",
    "script",
    "shell",
    "terminal",
    "editor",
    "compile",
    "compiler",
    "linker",
    "dependency",
    "version",
    "release",
    "errors",
    "failed",
    "failing",
    "configured",
    "configuration",
    "deployed",
    "deploying",
    "tests",
    "testing",
    "files",
    "functions",
    "builds",
];

/// Made-up words (identifiers, names, typos): 12% of all words, over this many distinct ones.
const RARE: usize = 40_000;

/// The queries timed, by kind.
fn queries() -> Vec<(&'static str, Vec<String>)> {
    let owned = |queries: &[&str]| queries.iter().map(|q| (*q).to_owned()).collect::<Vec<_>>();
    // Made-up words in ~1700, ~180, ~12 and ~6 messages.
    let rare: Vec<String> = [30, 300, 3000, 20_000].map(rare_word).to_vec();
    let mut rare_queries = rare.clone();
    rare_queries.extend([
        format!("the {}", rare[0]),
        format!("error {}", rare[1]),
        "deploy".to_owned(),
        "xylophone".to_owned(),
    ]);
    let mut prefixes = owned(&["err*", "fil*", "conf*", "deplo*", "de*", "the conf*"]);
    prefixes.extend([
        format!("{}*", &rare[0][..3]),
        format!("{}*", &rare[2][..4]),
        format!("{}* error", &rare[1][..2]),
    ]);
    vec![
        (
            "common words",
            owned(&[
                "the",
                "file",
                "error",
                "the file",
                "file error",
                "error in the file",
                "how do i fix this error",
            ]),
        ),
        ("rare words", rare_queries),
        ("prefixes", prefixes),
        ("one-letter prefix", owned(&["f*", "e*"])),
    ]
}

/// Deterministic pseudo-random numbers (xorshift), so every run writes the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// Picks ranks 0..n with weight 1/(rank+1), as word frequencies in prose go.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize) -> Self {
        let mut total = 0.0;
        let cumulative: Vec<f64> = (0..n)
            .map(|rank| {
                total += 1.0 / (rank as f64 + 1.0);
                total
            })
            .collect();
        Self(cumulative.into_iter().map(|c| c / total).collect())
    }

    fn pick(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
}

/// The rare word of rank `n`, spelled from syllables ("ka", "zomi", …).
fn rare_word(mut n: usize) -> String {
    const SYLLABLES: &[&str] = &[
        "ka", "zo", "mi", "tru", "vel", "qua", "nix", "por", "dax", "lum", "ser", "gri", "hob",
        "yat", "fen", "wub",
    ];
    let mut word = String::new();
    loop {
        word.push_str(SYLLABLES[n % SYLLABLES.len()]);
        n /= SYLLABLES.len();
        if n == 0 {
            return word;
        }
    }
}

fn corpus(conversations: usize) -> Vec<Vec<Message>> {
    let mut rng = Rng(0x5eed);
    let (common, coding, rare) = (
        Zipf::new(COMMON.len()),
        Zipf::new(CODING.len()),
        Zipf::new(RARE),
    );
    (0..conversations)
        .map(|_| {
            (0..MESSAGES_PER_CONVERSATION)
                .map(|idx| {
                    let words = 20 + (rng.next() % 60) as usize;
                    let content = (0..words)
                        .map(|_| match rng.unit() {
                            u if u < 0.55 => COMMON[common.pick(&mut rng)].to_owned(),
                            u if u < 0.88 => CODING[coding.pick(&mut rng)].to_owned(),
                            _ => rare_word(rare.pick(&mut rng)),
                        })
                        .collect::<Vec<_>>()
                        .join(" ");
                    Message {
                        idx: idx as i32,
                        role: if idx % 2 == 0 { "user" } else { "assistant" }.into(),
                        parts_json: serde_json::json!([{"type": "text", "text": content}])
                            .to_string(),
                        content,
                        created_at_ms: Some(1_700_000_000_000 + idx as i64),
                        ..Default::default()
                    }
                })
                .collect()
        })
        .collect()
}

/// Writes the corpus as the bridge does: the conversation, then one append per turn.
fn build(path: &Path, conversations: usize) {
    let mut store = Store::open(path).unwrap();
    for (n, messages) in corpus(conversations).into_iter().enumerate() {
        let external_id = format!("session-{n}");
        store
            .write_conversation(&WriteConversationRequest {
                conversation: Some(Conversation {
                    source_id: "oqto".into(),
                    external_id: external_id.clone(),
                    workspace: Some(format!("ws-{}", n % WORKSPACES)),
                    ..Default::default()
                }),
                messages: Vec::new(),
            })
            .unwrap();
        for turn in messages.chunks(TURN) {
            store
                .append_messages(&AppendMessagesRequest {
                    source_id: "oqto".into(),
                    external_id: external_id.clone(),
                    messages: turn.to_vec(),
                    updated_at_ms: None,
                })
                .unwrap();
        }
    }
}

/// Durations of searches.
#[derive(Default, Clone)]
struct Samples(Vec<Duration>);

impl Samples {
    fn time<T>(&mut self, run: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = std::hint::black_box(run());
        self.0.push(start.elapsed());
        out
    }

    fn extend(&mut self, other: &Samples) {
        self.0.extend_from_slice(&other.0);
    }

    /// Nearest-rank percentile.
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort();
        let rank = ((sorted.len() as f64 * p).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    fn summary(&self) -> String {
        format!(
            "{:>9.2?} {:>9.2?}",
            self.percentile(0.50),
            self.percentile(0.99)
        )
    }
}

/// The scopes every query is searched in, as the request's filters.
const SCOPES: [&str; 3] = ["no filter", "source filter", "one workspace of ten"];

fn request(query: &str, scope: usize) -> SearchRequest {
    let mut request = SearchRequest {
        query: query.into(),
        limit: 20,
        ..Default::default()
    };
    match scope {
        // What the bridge sends: its own source (every conversation here).
        1 => request.source = "oqto".into(),
        // The walk skips nine of every ten matches.
        2 => request.workspace = "ws-3".into(),
        _ => {}
    }
    request
}

/// The timings of one query.
#[derive(Default)]
struct Timings {
    hstry: [Samples; SCOPES.len()],
    newest: Samples,
    bm25: Samples,
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hstry.db");
    let (conversations, rounds) = if oqto_bench::quick() {
        (QUICK_CONVERSATIONS, QUICK_ROUNDS)
    } else {
        (CONVERSATIONS, ROUNDS)
    };
    let total = conversations * MESSAGES_PER_CONVERSATION;
    let start = Instant::now();
    build(&path, conversations);
    println!(
        "hstry search benchmark: {total} messages in {conversations} conversations, limit 20, \
         store written in {:.1?}",
        start.elapsed()
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average when the timing starts (1, 5, 15 min): {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    let store = Store::open(&path).unwrap();
    let plain = Connection::open(&path).unwrap();
    // Every query reads each segment's posting lists; FTS5 merges them as writes go.
    let segments: i64 = plain
        .query_row(
            "SELECT COUNT(DISTINCT segid) FROM messages_fts_idx",
            [],
            |row| row.get(0),
        )
        .unwrap();
    println!("full-text index segments: {segments}");
    let mut newest = plain
        .prepare(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1
             ORDER BY rowid DESC LIMIT 20",
        )
        .unwrap();
    let mut bm25 = plain
        .prepare(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 ORDER BY rank LIMIT 20",
        )
        .unwrap();
    let count_matches = |expression: &str| -> i64 {
        plain
            .query_row(
                "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH ?1",
                [expression],
                |row| row.get(0),
            )
            .unwrap()
    };

    println!(
        "\n{:<40} {:>9} {:>9} | {:>9} {:>9} | {:>9} {:>9}",
        "", "hstry p50", "p99", "newest p50", "p99", "bm25 p50", "p99"
    );
    // Every query of every kind, for the recorded figures.
    let mut pooled = Timings::default();
    for (kind, queries) in queries() {
        let expressions: Vec<String> = queries
            .iter()
            .map(|query| fts_query::build_match(query).unwrap().unwrap())
            .collect();
        let mut timings: Vec<Timings> = queries.iter().map(|_| Timings::default()).collect();
        // One untimed pass, so that no query pays for reading pages from disk.
        for (query, expression) in queries.iter().zip(&expressions) {
            for scope in 0..SCOPES.len() {
                store.search(&request(query, scope)).unwrap();
            }
            count_matches(expression);
        }
        // Round-robin over the queries, so that every one sees the same spread of machine load.
        for round in 0..rounds {
            for ((query, expression), timing) in queries.iter().zip(&expressions).zip(&mut timings)
            {
                for (scope, samples) in timing.hstry.iter_mut().enumerate() {
                    let hits = samples.time(|| store.search(&request(query, scope)).unwrap());
                    assert!(hits.len() <= 20);
                }
                timing.newest.time(|| {
                    newest
                        .query_map([expression], |row| row.get::<_, i64>(0))
                        .unwrap()
                        .count()
                });
                if round < BM25_ROUNDS {
                    timing.bm25.time(|| {
                        bm25.query_map([expression], |row| row.get::<_, i64>(0))
                            .unwrap()
                            .count()
                    });
                }
            }
        }
        let mut all = Timings::default();
        for timing in &timings {
            for (pooled, samples) in all.hstry.iter_mut().zip(&timing.hstry) {
                pooled.extend(samples);
            }
            all.newest.extend(&timing.newest);
            all.bm25.extend(&timing.bm25);
        }
        for (pooled, samples) in pooled.hstry.iter_mut().zip(&all.hstry) {
            pooled.extend(samples);
        }
        pooled.newest.extend(&all.newest);
        pooled.bm25.extend(&all.bm25);
        let newest = format!("{kind}: {NEWEST}");
        Figure::latency_us(BENCH, &newest, &all.newest.0).record();
        Figure::latency_us(BENCH, &format!("{kind}: hstry"), &all.hstry[0].0)
            .against(&newest)
            .record();
        println!("{kind}, {} queries", queries.len());
        for (scope, samples) in SCOPES.iter().zip(&all.hstry) {
            let floors = if *scope == SCOPES[0] {
                format!(" | {} | {}", all.newest.summary(), all.bm25.summary())
            } else {
                String::new()
            };
            println!(
                "  {:<38} {}{floors}",
                format!("all, {scope}"),
                samples.summary()
            );
        }
        for ((query, expression), timing) in queries.iter().zip(&expressions).zip(&timings) {
            let label = format!("{query:?} ({} matches)", count_matches(expression));
            println!(
                "    {label:<36} {} | {} | {}",
                timing.hstry[0].summary(),
                timing.newest.summary(),
                timing.bm25.summary()
            );
        }
    }
    println!(
        "\nhstry: Store::search in-process (rows, snippets, scores, conversations). newest / bm25: \
         plain rusqlite on the same file, rowids only, ORDER BY rowid DESC / ORDER BY rank. \
         {rounds} rounds ({BM25_ROUNDS} for bm25); per-query rows are without filters."
    );
    Figure::latency_us(BENCH, NEWEST, &pooled.newest.0)
        .plotted_in("hstry search")
        .record();
    // Not plotted: its hundreds of milliseconds would squash the others' curves.
    Figure::latency_us(BENCH, "plain bm25", &pooled.bm25.0).record();
    for (scope, samples) in SCOPES.iter().zip(&pooled.hstry) {
        Figure::latency_us(BENCH, &format!("hstry, {scope}"), &samples.0)
            .against(NEWEST)
            .plotted_in("hstry search")
            .record();
    }
}

/// The reference: plain rusqlite, the newest 20 rowids matching.
const NEWEST: &str = "plain newest";
