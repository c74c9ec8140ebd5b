//! Where usage is kept: one row per request (who, where, which model, tokens, cost), and the
//! sums budgets are checked against. SQLite on one node; the proxy writes it from a task of its
//! own, so a slow disk never holds an answer back.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, params};

use crate::usage::Usage;

/// One request's usage.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Unix seconds.
    pub at: i64,
    pub user: String,
    pub namespace: String,
    pub workspace: String,
    pub session: String,
    pub class: Option<String>,
    pub model: String,
    pub provider: String,
    pub usage: Usage,
    /// US dollars.
    pub cost: f64,
    /// The provider's HTTP status.
    pub status: u16,
}

/// Whose spending a sum covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    User(String),
    Class(String),
}

/// Tokens and US dollars spent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spent {
    pub tokens: u64,
    pub cost: f64,
}

/// One line of a usage report: a Workspace's or Session's sums.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct UsageLine {
    pub namespace: String,
    pub workspace: String,
    pub session: String,
    pub requests: u64,
    pub tokens: u64,
    pub cost: f64,
}

/// One user's sums (the admins' view).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct UserTotal {
    pub user: String,
    pub requests: u64,
    pub tokens: u64,
    pub cost: f64,
}

/// Where usage is kept: SQLite on the proxy's volume, or PostgreSQL (`crate::ledger_pg`).
pub enum Ledger {
    Sqlite(std::sync::Arc<SqliteLedger>),
    Postgres(crate::ledger_pg::PgLedger),
}

/// SQLite's calls block: they run on the blocking pool.
async fn blocking<T: Send + 'static>(
    ledger: &std::sync::Arc<SqliteLedger>,
    call: impl FnOnce(&SqliteLedger) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let ledger = ledger.clone();
    tokio::task::spawn_blocking(move || call(&ledger))
        .await
        .map_err(|e| format!("usage ledger: {e}"))?
}

impl Ledger {
    pub async fn record(&self, record: Record) -> Result<(), String> {
        match self {
            Self::Sqlite(l) => blocking(l, move |l| l.record(&record)).await,
            Self::Postgres(l) => l.record(&record).await,
        }
    }

    pub async fn spent(&self, scope: Scope, since: i64) -> Result<Spent, String> {
        match self {
            Self::Sqlite(l) => blocking(l, move |l| l.spent(&scope, since)).await,
            Self::Postgres(l) => l.spent(&scope, since).await,
        }
    }

    pub async fn usage_of(&self, user: String, since: i64) -> Result<Vec<UsageLine>, String> {
        match self {
            Self::Sqlite(l) => blocking(l, move |l| l.usage_of(&user, since)).await,
            Self::Postgres(l) => l.usage_of(&user, since).await,
        }
    }

    pub async fn totals_by_user(&self, since: i64) -> Result<Vec<UserTotal>, String> {
        match self {
            Self::Sqlite(l) => blocking(l, move |l| l.totals_by_user(since)).await,
            Self::Postgres(l) => l.totals_by_user(since).await,
        }
    }
}

pub struct SqliteLedger {
    db: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS llm_usage (
    at INTEGER NOT NULL,
    user TEXT NOT NULL,
    namespace TEXT NOT NULL,
    workspace TEXT NOT NULL,
    session TEXT NOT NULL,
    class TEXT,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    cost REAL NOT NULL,
    status INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_usage_user_at ON llm_usage (user, at);
CREATE INDEX IF NOT EXISTS llm_usage_class_at ON llm_usage (class, at);
";

fn db_error(e: rusqlite::Error) -> String {
    format!("usage ledger: {e}")
}

impl SqliteLedger {
    pub fn open(path: &Path) -> Result<Self, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let db = Connection::open(path).map_err(db_error)?;
        db.execute_batch("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;")
            .map_err(db_error)?;
        db.execute_batch(SCHEMA).map_err(db_error)?;
        Ok(Self { db: Mutex::new(db) })
    }

    fn db(&self) -> Result<std::sync::MutexGuard<'_, Connection>, String> {
        self.db
            .lock()
            .map_err(|_| "usage ledger: poisoned".to_owned())
    }

    pub fn record(&self, r: &Record) -> Result<(), String> {
        let u = &r.usage;
        self.db()?
            .execute(
                "INSERT INTO llm_usage VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
                params![
                    r.at,
                    r.user,
                    r.namespace,
                    r.workspace,
                    r.session,
                    r.class,
                    r.model,
                    r.provider,
                    u.input_tokens as i64,
                    u.output_tokens as i64,
                    u.cache_read_tokens as i64,
                    u.cache_write_tokens as i64,
                    u.estimated,
                    r.cost,
                    r.status
                ],
            )
            .map(|_| ())
            .map_err(db_error)
    }

    /// What a user or a class spent since `since` (Unix seconds).
    pub fn spent(&self, scope: &Scope, since: i64) -> Result<Spent, String> {
        let (column, name) = match scope {
            Scope::User(n) => ("user", n),
            Scope::Class(n) => ("class", n),
        };
        let sql = format!(
            "SELECT COALESCE(SUM(input_tokens+output_tokens+cache_read_tokens+cache_write_tokens),0),
                    COALESCE(SUM(cost),0) FROM llm_usage WHERE {column} = ?1 AND at >= ?2"
        );
        self.db()?
            .query_row(&sql, params![name, since], |row| {
                Ok(Spent {
                    tokens: row.get::<_, i64>(0)?.max(0) as u64,
                    cost: row.get(1)?,
                })
            })
            .map_err(db_error)
    }

    /// A user's usage since `since`, by Session (Workspaces are the sums of theirs).
    pub fn usage_of(&self, user: &str, since: i64) -> Result<Vec<UsageLine>, String> {
        let db = self.db()?;
        let mut query = db
            .prepare(
                "SELECT namespace, workspace, session, COUNT(*),
                    SUM(input_tokens+output_tokens+cache_read_tokens+cache_write_tokens), SUM(cost)
                 FROM llm_usage WHERE user = ?1 AND at >= ?2
                 GROUP BY namespace, workspace, session ORDER BY namespace, workspace, session",
            )
            .map_err(db_error)?;
        let rows = query
            .query_map(params![user, since], |row| {
                Ok(UsageLine {
                    namespace: row.get(0)?,
                    workspace: row.get(1)?,
                    session: row.get(2)?,
                    requests: row.get::<_, i64>(3)?.max(0) as u64,
                    tokens: row.get::<_, i64>(4)?.max(0) as u64,
                    cost: row.get(5)?,
                })
            })
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }
}

impl SqliteLedger {
    /// Every user's sums since `since`, the largest spender first.
    pub fn totals_by_user(&self, since: i64) -> Result<Vec<UserTotal>, String> {
        let db = self.db()?;
        let mut query = db
            .prepare(
                "SELECT user, COUNT(*),
                    SUM(input_tokens+output_tokens+cache_read_tokens+cache_write_tokens), SUM(cost)
                 FROM llm_usage WHERE at >= ?1 GROUP BY user ORDER BY SUM(cost) DESC, user",
            )
            .map_err(db_error)?;
        let rows = query
            .query_map(params![since], |row| {
                Ok(UserTotal {
                    user: row.get(0)?,
                    requests: row.get::<_, i64>(1)?.max(0) as u64,
                    tokens: row.get::<_, i64>(2)?.max(0) as u64,
                    cost: row.get(3)?,
                })
            })
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(user: &str, class: Option<&str>, at: i64, tokens: u64, cost: f64) -> Record {
        Record {
            at,
            user: user.into(),
            namespace: "ns".into(),
            workspace: "w".into(),
            session: format!("s-{user}"),
            class: class.map(Into::into),
            model: "m".into(),
            provider: "p".into(),
            usage: Usage {
                input_tokens: tokens,
                ..Usage::default()
            },
            cost,
            status: 200,
        }
    }

    #[test]
    fn sums_are_per_user_per_class_and_since_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = SqliteLedger::open(&dir.path().join("usage.db")).unwrap();
        ledger
            .record(&record("alice", Some("small"), 100, 10, 0.5))
            .unwrap();
        ledger
            .record(&record("alice", Some("small"), 200, 20, 1.0))
            .unwrap();
        ledger
            .record(&record("bob", Some("small"), 200, 5, 0.25))
            .unwrap();
        ledger.record(&record("bob", None, 300, 7, 0.0)).unwrap();
        let alice = ledger.spent(&Scope::User("alice".into()), 0).unwrap();
        assert_eq!((alice.tokens, alice.cost), (30, 1.5));
        let recent = ledger.spent(&Scope::User("alice".into()), 150).unwrap();
        assert_eq!(recent.tokens, 20);
        let class = ledger.spent(&Scope::Class("small".into()), 0).unwrap();
        assert_eq!((class.tokens, class.cost), (35, 1.75));
        assert_eq!(
            ledger.spent(&Scope::User("carol".into()), 0).unwrap(),
            Spent::default()
        );
        let totals = ledger.totals_by_user(0).unwrap();
        assert_eq!(
            totals
                .iter()
                .map(|t| (t.user.as_str(), t.tokens))
                .collect::<Vec<_>>(),
            [("alice", 30), ("bob", 12)],
            "the largest spender first"
        );
        let lines = ledger.usage_of("bob", 0).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].requests, lines[0].tokens), (2, 12));
        // Reopened, the rows are still there.
        drop(ledger);
        let again = SqliteLedger::open(&dir.path().join("usage.db")).unwrap();
        assert_eq!(
            again.spent(&Scope::User("alice".into()), 0).unwrap().tokens,
            30
        );
    }
}
