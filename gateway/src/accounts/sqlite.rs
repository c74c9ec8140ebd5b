//! The accounts store in a local SQLite file: the single-node default. Calls are quick indexed
//! statements, run inline under one connection's lock.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{ApiKeyInfo, Change, Role, User, UserChange, UserKey};

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

/// The columns `row_to_user` reads, in its order.
const USER_COLUMNS: &str = "id, username, role, created_at, disabled, credentials_version";

impl SqliteStore {
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        super::sqlite_schema::migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn user_count(&self) -> rusqlite::Result<i64> {
        self.conn()
            .query_row("SELECT COUNT(*) FROM users", [], |row| row.get(0))
    }

    pub fn insert_user(&self, user: &User, hash: &str) -> rusqlite::Result<bool> {
        Ok(self.conn().execute(
            "INSERT INTO users (id, username, password_hash, role, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (username) DO NOTHING",
            params![
                user.id,
                user.username,
                hash,
                user.role.as_str(),
                user.created_at
            ],
        )? > 0)
    }

    pub fn user_by(&self, key: UserKey, value: &str) -> rusqlite::Result<Option<User>> {
        let column = match key {
            UserKey::Id => "id",
            UserKey::Name => "username",
        };
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1");
        self.conn()
            .prepare_cached(&sql)?
            .query_row([value], row_to_user)
            .optional()
    }

    pub fn user_with_hash(&self, username: &str) -> rusqlite::Result<Option<(User, String)>> {
        self.conn()
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = ?1"
            ))?
            .query_row([username], |row| Ok((row_to_user(row)?, row.get(6)?)))
            .optional()
    }

    pub fn list_users(&self) -> rusqlite::Result<Vec<User>> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username"
        ))?;
        let users = statement.query_map([], row_to_user)?;
        users.collect()
    }

    /// Checks a change against the last-active-admin rule and writes it. `IMMEDIATE` takes the
    /// database's write lock before the check, so no other change (from this process or
    /// another on the same file) comes between the count and the write.
    pub fn change_user(&self, username: &str, change: UserChange) -> rusqlite::Result<Change> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = tx
            .query_row(
                "SELECT role, disabled FROM users WHERE username = ?1",
                [username],
                |row| {
                    Ok((
                        Role::parse(&row.get::<_, String>(0)?),
                        row.get::<_, i64>(1)? != 0,
                    ))
                },
            )
            .optional()?;
        let Some((role, disabled)) = found else {
            return Ok(Change::NoSuchUser);
        };
        if change.removes_an_active_admin(role, disabled) {
            let others: i64 = tx.query_row(
                "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND username <> ?1",
                [username],
                |row| row.get(0),
            )?;
            if others == 0 {
                return Ok(Change::LastAdmin);
            }
        }
        match change {
            UserChange::Delete => {
                tx.execute("DELETE FROM users WHERE username = ?1", [username])?;
            }
            UserChange::Update { role, disabled } => {
                tx.execute(
                    "UPDATE users SET role = COALESCE(?2, role), disabled = COALESCE(?3, disabled)
                     WHERE username = ?1",
                    params![username, role.map(Role::as_str), disabled.map(i64::from)],
                )?;
            }
        }
        tx.commit()?;
        Ok(Change::Done)
    }

    pub fn set_password_hash(&self, username: &str, hash: &str) -> rusqlite::Result<bool> {
        Ok(self.conn().execute(
            "UPDATE users SET password_hash = ?2, credentials_version = credentials_version + 1
             WHERE username = ?1",
            params![username, hash],
        )? > 0)
    }

    pub fn insert_api_key(
        &self,
        user_id: &str,
        info: &ApiKeyInfo,
        digest: &str,
    ) -> rusqlite::Result<()> {
        self.conn().execute(
            "INSERT INTO api_keys (id, user_id, name, prefix, hash, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                info.id,
                user_id,
                info.name,
                info.prefix,
                digest,
                info.created_at,
                info.expires_at
            ],
        )?;
        Ok(())
    }

    pub fn list_api_keys(&self, user_id: &str) -> rusqlite::Result<Vec<ApiKeyInfo>> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(
            "SELECT id, name, prefix, created_at, last_used_at, revoked_at, expires_at
             FROM api_keys WHERE user_id = ?1 ORDER BY created_at",
        )?;
        let rows = statement.query_map([user_id], |row| {
            Ok(ApiKeyInfo {
                id: row.get(0)?,
                name: row.get(1)?,
                prefix: row.get(2)?,
                created_at: row.get(3)?,
                last_used_at: row.get(4)?,
                revoked_at: row.get(5)?,
                expires_at: row.get(6)?,
            })
        })?;
        rows.collect()
    }

    pub fn revoke_api_key(&self, user_id: &str, id: &str, now: i64) -> rusqlite::Result<bool> {
        Ok(self.conn().execute(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?3) WHERE id = ?1 AND user_id = ?2",
            params![id, user_id, now],
        )? > 0)
    }

    pub fn user_by_key_digest(&self, digest: &str, now: i64) -> rusqlite::Result<Option<User>> {
        let conn = self.conn();
        let found = conn
            .prepare_cached(
                "SELECT u.id, u.username, u.role, u.created_at, u.disabled, u.credentials_version, k.id FROM api_keys k
                 JOIN users u ON u.id = k.user_id WHERE k.hash = ?1 AND k.revoked_at IS NULL
                 AND (k.expires_at IS NULL OR k.expires_at > ?2)",
            )?
            .query_row(params![digest, now], |row| {
                Ok((row_to_user(row)?, row.get::<_, String>(6)?))
            })
            .optional()?;
        let Some((user, key_id)) = found else {
            return Ok(None);
        };
        conn.prepare_cached(
            "UPDATE api_keys SET last_used_at = ?2
             WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2 - ?3)",
        )?
        .execute(params![key_id, now, super::KEY_USE_WRITE_MS])?;
        Ok(Some(user))
    }

    pub fn revoke_token(&self, jti: &str, expires_at: i64, now_s: i64) -> rusqlite::Result<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM revoked_tokens WHERE expires_at < ?1", [now_s])?;
        conn.execute(
            "INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2)",
            params![jti, expires_at],
        )?;
        Ok(())
    }

    pub fn token_revoked(&self, jti: &str) -> rusqlite::Result<bool> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM revoked_tokens WHERE jti = ?1")?
            .query_row([jti], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

fn row_to_user(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        role: Role::parse(&row.get::<_, String>(2)?),
        created_at: row.get(3)?,
        disabled: row.get::<_, i64>(4)? != 0,
        credentials_version: row.get(5)?,
    })
}
