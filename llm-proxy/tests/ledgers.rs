//! Both usage ledgers, SQLite and PostgreSQL (a real server: `hack/postgres/server.sh up`), held
//! to the same rows and sums: budgets and reports mean the same wherever usage is kept.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use oqto_llm_proxy::ledger::{Ledger, Record, Scope, SqliteLedger};
use oqto_llm_proxy::ledger_pg::PgLedger;
use oqto_llm_proxy::usage::Usage;

fn record(
    user: &str,
    class: Option<&str>,
    session: &str,
    at: i64,
    tokens: u64,
    cost: f64,
) -> Record {
    Record {
        at,
        user: user.into(),
        namespace: "ns".into(),
        workspace: "w".into(),
        session: session.into(),
        class: class.map(Into::into),
        model: "m".into(),
        provider: "p".into(),
        usage: Usage {
            input_tokens: tokens,
            output_tokens: 1,
            cache_read_tokens: 2,
            cache_write_tokens: 0,
            estimated: false,
        },
        cost,
        status: 200,
    }
}

async fn holds_the_same_sums(ledger: Ledger, name: &str) {
    for r in [
        record("alice", Some("small"), "s1", 100, 10, 0.5),
        record("alice", Some("small"), "s2", 200, 20, 1.0),
        record("bob", Some("small"), "s3", 200, 5, 0.25),
        record("bob", None, "s3", 300, 7, 0.0),
    ] {
        ledger.record(r).await.unwrap();
    }
    // Each row also has 1 output and 2 cache-read tokens.
    let alice = ledger.spent(Scope::User("alice".into()), 0).await.unwrap();
    assert_eq!((alice.tokens, alice.cost), (36, 1.5), "{name}");
    let recent = ledger
        .spent(Scope::User("alice".into()), 150)
        .await
        .unwrap();
    assert_eq!(recent.tokens, 23, "{name}: since a time");
    let class = ledger.spent(Scope::Class("small".into()), 0).await.unwrap();
    assert_eq!((class.tokens, class.cost), (44, 1.75), "{name}");
    let nobody = ledger.spent(Scope::User("carol".into()), 0).await.unwrap();
    assert_eq!((nobody.tokens, nobody.cost), (0, 0.0), "{name}");
    let lines = ledger.usage_of("alice".into(), 0).await.unwrap();
    let sessions: Vec<_> = lines
        .iter()
        .map(|l| (l.session.as_str(), l.requests, l.tokens))
        .collect();
    assert_eq!(sessions, [("s1", 1, 13), ("s2", 1, 23)], "{name}");
    let bob = ledger.usage_of("bob".into(), 0).await.unwrap();
    assert_eq!(
        (bob.len(), bob[0].requests, bob[0].tokens),
        (1, 2, 18),
        "{name}"
    );
    let totals = ledger.totals_by_user(0).await.unwrap();
    let totals: Vec<_> = totals
        .iter()
        .map(|t| (t.user.as_str(), t.requests, t.tokens))
        .collect();
    assert_eq!(
        totals,
        [("alice", 2, 36), ("bob", 2, 18)],
        "{name}: the largest spender first"
    );
}

#[tokio::test]
async fn sqlite_and_postgresql_keep_the_same_usage() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteLedger::open(&dir.path().join("usage.db")).unwrap();
    holds_the_same_sums(Ledger::Sqlite(Arc::new(sqlite)), "SQLite").await;
    let url = oqto_e2e::postgres::fresh_database().await.unwrap();
    let pg = PgLedger::connect(&url, None).await.unwrap();
    holds_the_same_sums(Ledger::Postgres(pg), "PostgreSQL").await;
    // A second replica starting on the same database finds the table made.
    PgLedger::connect(&url, None).await.unwrap();
}
