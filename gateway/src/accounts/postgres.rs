//! The accounts store in PostgreSQL, for gateways that scale out: every replica sees the same
//! users, keys, revoked tokens, login attempts and token-signing secret.
//!
//! The gateway wants a database of its own. Connections come from a small pool; TLS is used
//! when the server offers it (`sslmode=prefer`, the default) or demanded by the URL
//! (`sslmode=require`), verified against the web PKI roots and an optional CA file.

use std::path::Path;

use oqto_db::Pool;
use tokio_postgres::Row;

use super::{AccountsError, ApiKeyInfo, Change, Role, User, UserChange, UserKey};

/// Connections per replica: logins and key lookups are short statements.
const POOL_SIZE: usize = 16;
/// Held while migrating, so replicas that start together migrate once.
const MIGRATION_LOCK: i64 = 0x6f71_746f_6163_6374; // "oqtoacct"
/// Held by every change that may take away an active admin, from its count to its write: two
/// admins demoting each other on two replicas at once would otherwise both see the other still
/// active and leave nobody.
const ADMINS_LOCK: i64 = 0x6f71_746f_6164_6d6e; // "oqtoadmn"

const MIGRATIONS: &[&str] = &[
    // 1: the SQLite schema's tables, plus what replicas must share: login attempts (fixed
    // one-minute windows) and settings such as the token-signing secret.
    "
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
        created_at BIGINT NOT NULL,
        disabled BOOLEAN NOT NULL DEFAULT FALSE,
        credentials_version BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        last_used_at BIGINT,
        revoked_at BIGINT
    );
    CREATE INDEX api_keys_by_user ON api_keys (user_id);
    CREATE TABLE revoked_tokens (
        jti TEXT PRIMARY KEY,
        expires_at BIGINT NOT NULL
    );
    CREATE TABLE login_attempts (
        key TEXT PRIMARY KEY,
        window_start BIGINT NOT NULL,
        attempts INTEGER NOT NULL
    );
    CREATE TABLE gateway_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    ",
    // 2: API keys that stop working at a set time (Unix ms); NULL never expires, as every key
    // made before did.
    "
    ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
    ",
];

const USER_COLUMNS: &str = "id, username, role, created_at, disabled, credentials_version";

pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects (checking the server answers) and migrates. `url` is a libpq-style URL or
    /// key=value string; it may hold a password, so it never appears in errors or logs.
    pub async fn connect(url: &str, ca_file: Option<&Path>) -> Result<Self, AccountsError> {
        let pool = oqto_db::pool(url, ca_file, "oqto-gateway", POOL_SIZE)
            .map_err(AccountsError::Internal)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self) -> Result<oqto_db::Object, AccountsError> {
        self.pool.get().await.map_err(|e| pool(&e))
    }

    async fn migrate(&self) -> Result<(), AccountsError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| database(&e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|e| database(&e))?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS oqto_schema (version INTEGER NOT NULL)")
            .await
            .map_err(|e| database(&e))?;
        let current: i32 = tx
            .query_opt("SELECT version FROM oqto_schema", &[])
            .await
            .map_err(|e| database(&e))?
            .map_or(0, |row| row.get(0));
        let current = usize::try_from(current).unwrap_or(0);
        if current > MIGRATIONS.len() {
            return Err(AccountsError::Internal(format!(
                "the accounts database has schema version {current}, newer than this gateway's {}: \
                 run the newer gateway, or restore a backup",
                MIGRATIONS.len()
            )));
        }
        for migration in &MIGRATIONS[current..] {
            tx.batch_execute(migration)
                .await
                .map_err(|e| database(&e))?;
        }
        let latest = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
        tx.execute("DELETE FROM oqto_schema", &[])
            .await
            .map_err(|e| database(&e))?;
        tx.execute("INSERT INTO oqto_schema (version) VALUES ($1)", &[&latest])
            .await
            .map_err(|e| database(&e))?;
        tx.commit().await.map_err(|e| database(&e))
    }

    /// Runs one statement; the number of rows it changed.
    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, AccountsError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(|e| database(&e))?;
        client
            .execute(&statement, params)
            .await
            .map_err(|e| database(&e))
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, AccountsError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(|e| database(&e))?;
        client
            .query(&statement, params)
            .await
            .map_err(|e| database(&e))
    }

    pub async fn user_count(&self) -> Result<i64, AccountsError> {
        let rows = self.query("SELECT COUNT(*) FROM users", &[]).await?;
        Ok(rows.first().map_or(0, |row| row.get(0)))
    }

    pub async fn insert_user(&self, user: &User, hash: &str) -> Result<bool, AccountsError> {
        Ok(self
            .execute(
                "INSERT INTO users (id, username, password_hash, role, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING",
                &[
                    &user.id,
                    &user.username,
                    &hash,
                    &user.role.as_str(),
                    &user.created_at,
                ],
            )
            .await?
            > 0)
    }

    pub async fn user_by(&self, key: UserKey, value: &str) -> Result<Option<User>, AccountsError> {
        let sql = match key {
            UserKey::Id => select_user_where("id"),
            UserKey::Name => select_user_where("username"),
        };
        let rows = self.query(&sql, &[&value]).await?;
        Ok(rows.first().map(row_to_user))
    }

    pub async fn user_with_hash(
        &self,
        username: &str,
    ) -> Result<Option<(User, String)>, AccountsError> {
        let rows = self
            .query(
                &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = $1"),
                &[&username],
            )
            .await?;
        Ok(rows.first().map(|row| (row_to_user(row), row.get(6))))
    }

    pub async fn list_users(&self) -> Result<Vec<User>, AccountsError> {
        let rows = self
            .query(
                &format!("SELECT {USER_COLUMNS} FROM users ORDER BY username"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(row_to_user).collect())
    }

    /// Checks a change against the last-active-admin rule and writes it, in one transaction
    /// under [`ADMINS_LOCK`].
    pub async fn change_user(
        &self,
        username: &str,
        change: UserChange,
    ) -> Result<Change, AccountsError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| database(&e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ADMINS_LOCK])
            .await
            .map_err(|e| database(&e))?;
        let Some(row) = tx
            .query_opt(
                "SELECT role, disabled FROM users WHERE username = $1",
                &[&username],
            )
            .await
            .map_err(|e| database(&e))?
        else {
            return Ok(Change::NoSuchUser);
        };
        let (role, disabled) = (Role::parse(row.get(0)), row.get::<_, bool>(1));
        if change.removes_an_active_admin(role, disabled) {
            let others: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM users
                     WHERE role = 'admin' AND NOT disabled AND username <> $1",
                    &[&username],
                )
                .await
                .map_err(|e| database(&e))?
                .get(0);
            if others == 0 {
                return Ok(Change::LastAdmin);
            }
        }
        match change {
            UserChange::Delete => {
                tx.execute("DELETE FROM users WHERE username = $1", &[&username])
                    .await
                    .map_err(|e| database(&e))?;
            }
            UserChange::Update { role, disabled } => {
                tx.execute(
                    "UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled)
                     WHERE username = $1",
                    &[&username, &role.map(Role::as_str), &disabled],
                )
                .await
                .map_err(|e| database(&e))?;
            }
        }
        tx.commit().await.map_err(|e| database(&e))?;
        Ok(Change::Done)
    }

    pub async fn set_password_hash(
        &self,
        username: &str,
        hash: &str,
    ) -> Result<bool, AccountsError> {
        Ok(self
            .execute(
                "UPDATE users SET password_hash = $2, credentials_version = credentials_version + 1
                 WHERE username = $1",
                &[&username, &hash],
            )
            .await?
            > 0)
    }

    pub async fn insert_api_key(
        &self,
        user_id: &str,
        info: &ApiKeyInfo,
        digest: &str,
    ) -> Result<(), AccountsError> {
        self.execute(
            "INSERT INTO api_keys (id, user_id, name, prefix, hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &info.id,
                &user_id,
                &info.name,
                &info.prefix,
                &digest,
                &info.created_at,
                &info.expires_at,
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKeyInfo>, AccountsError> {
        let rows = self
            .query(
                "SELECT id, name, prefix, created_at, last_used_at, revoked_at, expires_at
                 FROM api_keys WHERE user_id = $1 ORDER BY created_at",
                &[&user_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ApiKeyInfo {
                id: row.get(0),
                name: row.get(1),
                prefix: row.get(2),
                created_at: row.get(3),
                last_used_at: row.get(4),
                revoked_at: row.get(5),
                expires_at: row.get(6),
            })
            .collect())
    }

    pub async fn revoke_api_key(
        &self,
        user_id: &str,
        id: &str,
        now: i64,
    ) -> Result<bool, AccountsError> {
        Ok(self
            .execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND user_id = $2",
                &[&id, &user_id, &now],
            )
            .await?
            > 0)
    }

    pub async fn user_by_key_digest(
        &self,
        digest: &str,
        now: i64,
    ) -> Result<Option<User>, AccountsError> {
        let rows = self
            .query(
                "SELECT u.id, u.username, u.role, u.created_at, u.disabled, u.credentials_version, k.id
                 FROM api_keys k JOIN users u ON u.id = k.user_id
                 WHERE k.hash = $1 AND k.revoked_at IS NULL
                 AND (k.expires_at IS NULL OR k.expires_at > $2)",
                &[&digest, &now],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let key_id: String = row.get(6);
        self.execute(
            "UPDATE api_keys SET last_used_at = $2
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2::BIGINT - $3::BIGINT)",
            &[&key_id, &now, &super::KEY_USE_WRITE_MS],
        )
        .await?;
        Ok(Some(row_to_user(row)))
    }

    pub async fn revoke_token(
        &self,
        jti: &str,
        expires_at: i64,
        now_s: i64,
    ) -> Result<(), AccountsError> {
        self.execute(
            "DELETE FROM revoked_tokens WHERE expires_at < $1",
            &[&now_s],
        )
        .await?;
        self.execute(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&jti, &expires_at],
        )
        .await?;
        Ok(())
    }

    pub async fn token_revoked(&self, jti: &str) -> Result<bool, AccountsError> {
        Ok(!self
            .query("SELECT 1 FROM revoked_tokens WHERE jti = $1", &[&jti])
            .await?
            .is_empty())
    }

    /// Counts an attempt against `key` in the current fixed window of `window_ms`; the count
    /// including this one. One statement, so replicas counting at once do not lose attempts.
    pub async fn count_attempt(
        &self,
        key: &str,
        now: i64,
        window_ms: i64,
    ) -> Result<i64, AccountsError> {
        let rows = self
            .query(
                "INSERT INTO login_attempts AS a (key, window_start, attempts) VALUES ($1, $2, 1)
                 ON CONFLICT (key) DO UPDATE SET
                   attempts = CASE WHEN a.window_start <= $2::BIGINT - $3::BIGINT THEN 1 ELSE a.attempts + 1 END,
                   window_start = CASE WHEN a.window_start <= $2::BIGINT - $3::BIGINT THEN $2 ELSE a.window_start END
                 RETURNING attempts",
                &[&key, &now, &window_ms],
            )
            .await?;
        Ok(rows
            .first()
            .map_or(0, |row| i64::from(row.get::<_, i32>(0))))
    }

    /// Drops the windows that ended, so the table stays small.
    pub async fn forget_attempts(&self, now: i64, window_ms: i64) -> Result<(), AccountsError> {
        self.execute(
            "DELETE FROM login_attempts WHERE window_start <= $1::BIGINT - $2::BIGINT",
            &[&now, &window_ms],
        )
        .await?;
        Ok(())
    }

    /// The setting `name`, set to `candidate` by whichever replica asked first.
    pub async fn setting_or_insert(
        &self,
        name: &str,
        candidate: &str,
    ) -> Result<String, AccountsError> {
        self.execute(
            "INSERT INTO gateway_settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&name, &candidate],
        )
        .await?;
        let rows = self
            .query(
                "SELECT value FROM gateway_settings WHERE name = $1",
                &[&name],
            )
            .await?;
        rows.first()
            .map(|row| row.get(0))
            .ok_or_else(|| AccountsError::Internal(format!("the setting {name:?} vanished")))
    }
}

fn select_user_where(column: &str) -> String {
    format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = $1")
}

fn row_to_user(row: &Row) -> User {
    User {
        id: row.get(0),
        username: row.get(1),
        role: Role::parse(row.get(2)),
        created_at: row.get(3),
        disabled: row.get(4),
        credentials_version: row.get(5),
    }
}

/// A server's or a connection's error, with what PostgreSQL said (its message and SQLSTATE)
/// or the cause underneath; never the connection string.
fn database(error: &tokio_postgres::Error) -> AccountsError {
    if let Some(db) = error.as_db_error() {
        return AccountsError::Database(format!(
            "{} (SQLSTATE {})",
            db.message(),
            db.code().code()
        ));
    }
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text = format!("{text}: {inner}");
        cause = inner.source();
    }
    AccountsError::Database(text)
}

fn pool(error: &oqto_db::PoolError) -> AccountsError {
    match error {
        oqto_db::PoolError::Backend(inner) => database(inner),
        other => AccountsError::Database(format!("no database connection: {other}")),
    }
}
