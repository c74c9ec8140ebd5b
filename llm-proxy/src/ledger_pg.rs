//! The usage ledger in PostgreSQL, where the gateway keeps its accounts there: every proxy
//! replica and the gateway's database server see the same rows. The same table and sums as
//! the SQLite ledger (`crate::ledger`), which a shared test holds both to.

use std::path::Path;

use oqto_db::Pool;

use crate::ledger::{Record, Scope, Spent, UsageLine, UserTotal};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS llm_usage (
    at BIGINT NOT NULL,
    \"user\" TEXT NOT NULL,
    namespace TEXT NOT NULL,
    workspace TEXT NOT NULL,
    session TEXT NOT NULL,
    class TEXT,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    estimated BOOLEAN NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    status INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_usage_user_at ON llm_usage (\"user\", at);
CREATE INDEX IF NOT EXISTS llm_usage_class_at ON llm_usage (class, at);
";

/// Held while creating the table, so replicas that start together do it once.
const SCHEMA_LOCK: i64 = 0x6f71_746f_6c6c_6d75; // "oqtollmu"

const TOKENS: &str = "input_tokens+output_tokens+cache_read_tokens+cache_write_tokens";

pub struct PgLedger {
    pool: Pool,
}

fn db(e: impl std::fmt::Display) -> String {
    format!("usage ledger: {e}")
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl PgLedger {
    /// Connects and creates the table when it is missing.
    pub async fn connect(url: &str, ca_file: Option<&Path>) -> Result<Self, String> {
        let pool = oqto_db::pool(url, ca_file, "oqto-llm-proxy", 8)?;
        let mut client = pool.get().await.map_err(db)?;
        let tx = client.transaction().await.map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .await
            .map_err(db)?;
        tx.batch_execute(SCHEMA).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        drop(client);
        Ok(Self { pool })
    }

    async fn client(&self) -> Result<oqto_db::Object, String> {
        self.pool.get().await.map_err(db)
    }

    pub async fn record(&self, r: &Record) -> Result<(), String> {
        let u = &r.usage;
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.client()
            .await?
            .execute(
                "INSERT INTO llm_usage VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)",
                &[
                    &r.at,
                    &r.user,
                    &r.namespace,
                    &r.workspace,
                    &r.session,
                    &r.class,
                    &r.model,
                    &r.provider,
                    &as_i64(u.input_tokens),
                    &as_i64(u.output_tokens),
                    &as_i64(u.cache_read_tokens),
                    &as_i64(u.cache_write_tokens),
                    &u.estimated,
                    &r.cost,
                    &i32::from(r.status),
                ],
            )
            .await
            .map(|_| ())
            .map_err(db)
    }

    pub async fn spent(&self, scope: &Scope, since: i64) -> Result<Spent, String> {
        let (column, name) = match scope {
            Scope::User(n) => ("\"user\"", n),
            Scope::Class(n) => ("class", n),
        };
        let sql = format!(
            "SELECT COALESCE(SUM({TOKENS}),0)::BIGINT, COALESCE(SUM(cost),0)::DOUBLE PRECISION
             FROM llm_usage WHERE {column} = $1 AND at >= $2"
        );
        let row = self
            .client()
            .await?
            .query_one(&sql, &[name, &since])
            .await
            .map_err(db)?;
        Ok(Spent {
            tokens: count(row.get(0)),
            cost: row.get(1),
        })
    }

    pub async fn usage_of(&self, user: &str, since: i64) -> Result<Vec<UsageLine>, String> {
        let sql = format!(
            "SELECT namespace, workspace, session, COUNT(*)::BIGINT, SUM({TOKENS})::BIGINT,
                    SUM(cost)::DOUBLE PRECISION
             FROM llm_usage WHERE \"user\" = $1 AND at >= $2
             GROUP BY namespace, workspace, session ORDER BY namespace, workspace, session"
        );
        let rows = self
            .client()
            .await?
            .query(&sql, &[&user, &since])
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|row| UsageLine {
                namespace: row.get(0),
                workspace: row.get(1),
                session: row.get(2),
                requests: count(row.get(3)),
                tokens: count(row.get(4)),
                cost: row.get(5),
            })
            .collect())
    }

    pub async fn totals_by_user(&self, since: i64) -> Result<Vec<UserTotal>, String> {
        let sql = format!(
            "SELECT \"user\", COUNT(*)::BIGINT, SUM({TOKENS})::BIGINT, SUM(cost)::DOUBLE PRECISION
             FROM llm_usage WHERE at >= $1 GROUP BY \"user\" ORDER BY SUM(cost) DESC, \"user\""
        );
        let rows = self
            .client()
            .await?
            .query(&sql, &[&since])
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|row| UserTotal {
                user: row.get(0),
                requests: count(row.get(1)),
                tokens: count(row.get(2)),
                cost: row.get(3),
            })
            .collect())
    }
}
