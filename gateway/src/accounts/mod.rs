//! Users and API keys in a local SQLite database. Password hashing is slow on purpose, so
//! the async callers run it on the blocking pool ([`Accounts::verify_login`],
//! [`Accounts::create_user`]); lookups are indexed and quick.

pub mod keys;
pub mod password;
mod schema;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    fn parse(text: &str) -> Self {
        if text == "admin" {
            Self::Admin
        } else {
            Self::User
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    /// The login name; Workspaces record it as their `spec.owner`.
    pub username: String,
    pub role: Role,
    pub created_at: i64,
    /// A disabled user cannot log in, and their tokens and keys are refused.
    #[serde(default)]
    pub disabled: bool,
    /// Bumped by every password change or reset; session tokens carry it.
    #[serde(skip)]
    pub credentials_version: i64,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// An API key as listed: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("username: {0}")]
    InvalidUsername(String),
    #[error("password: {0}")]
    InvalidPassword(String),
    #[error("user {0:?} already exists")]
    UserExists(String),
    #[error("the accounts database failed: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("{0}")]
    Internal(String),
}

/// Login names: 3–50 of `a-z 0-9 _ -`, starting with a letter or digit. Lowercase only, so
/// a name is also usable in labels and object names.
pub fn check_username(name: &str) -> Result<(), String> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !(3..=50).contains(&name.len()) {
        return Err(format!("{name:?} must be 3 to 50 characters long"));
    }
    if !ok_chars || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "{name:?} may contain only a-z, 0-9, '_' and '-', and must start with a letter or digit"
        ));
    }
    Ok(())
}

fn now_ms() -> i64 {
    oqto_proto::canonical::now_ms()
}

#[derive(Clone)]
pub struct Accounts {
    conn: Arc<Mutex<Connection>>,
    /// Argon2 runs at most once per core at a time (each run takes ~19 MiB and a core for tens
    /// of milliseconds): a flood of logins waits here instead of filling the blocking pool.
    hashing: Arc<tokio::sync::Semaphore>,
}

impl Accounts {
    pub fn open(path: &Path) -> Result<Self, AccountsError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        schema::migrate(&mut conn)?;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            hashing: Arc::new(tokio::sync::Semaphore::new(cores)),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn hashing_turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, AccountsError> {
        self.hashing
            .acquire()
            .await
            .map_err(|e| AccountsError::Internal(e.to_string()))
    }

    pub fn user_count(&self) -> Result<i64, AccountsError> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM users", [], |row| row.get(0))?)
    }

    /// Checks a new password's rules and hashes it, on the blocking pool and in turn.
    async fn hash_new_password(&self, password: &str) -> Result<String, AccountsError> {
        password::check(password).map_err(AccountsError::InvalidPassword)?;
        let secret = password.to_owned();
        let _turn = self.hashing_turn().await?;
        tokio::task::spawn_blocking(move || password::hash(&secret))
            .await
            .map_err(|e| AccountsError::Internal(e.to_string()))?
            .map_err(AccountsError::Internal)
    }

    /// Creates a user (hashing on the blocking pool).
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<User, AccountsError> {
        check_username(username).map_err(AccountsError::InvalidUsername)?;
        let hash = self.hash_new_password(password).await?;
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            username: username.to_owned(),
            role,
            created_at: now_ms(),
            disabled: false,
            credentials_version: 0,
        };
        let inserted = self.conn().execute(
            "INSERT INTO users (id, username, password_hash, role, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (username) DO NOTHING",
            params![user.id, user.username, hash, role.as_str(), user.created_at],
        )?;
        if inserted == 0 {
            return Err(AccountsError::UserExists(username.to_owned()));
        }
        Ok(user)
    }

    pub fn user_by_id(&self, id: &str) -> Result<Option<User>, AccountsError> {
        self.user_where("id", id)
    }

    pub fn user_by_name(&self, username: &str) -> Result<Option<User>, AccountsError> {
        self.user_where("username", username)
    }

    fn user_where(&self, column: &str, value: &str) -> Result<Option<User>, AccountsError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1");
        Ok(self
            .conn()
            .prepare_cached(&sql)?
            .query_row([value], row_to_user)
            .optional()?)
    }

    pub fn list_users(&self) -> Result<Vec<User>, AccountsError> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username"
        ))?;
        let users = statement.query_map([], row_to_user)?;
        Ok(users.collect::<Result<_, _>>()?)
    }

    /// Deletes a user and, with them, their API keys. Their tokens stop working at once:
    /// every request looks the user up.
    pub fn delete_user(&self, username: &str) -> Result<bool, AccountsError> {
        Ok(self
            .conn()
            .execute("DELETE FROM users WHERE username = ?1", [username])?
            > 0)
    }

    /// Sets a user's password (their own change, or an admin's reset) and bumps their
    /// credentials version, so every session token issued before stops working. False for an
    /// unknown user.
    pub async fn set_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<bool, AccountsError> {
        let hash = self.hash_new_password(password).await?;
        Ok(self.conn().execute(
            "UPDATE users SET password_hash = ?2, credentials_version = credentials_version + 1
             WHERE username = ?1",
            params![username, hash],
        )? > 0)
    }

    /// Disables or enables a user. False for an unknown user.
    pub fn set_disabled(&self, username: &str, disabled: bool) -> Result<bool, AccountsError> {
        Ok(self.conn().execute(
            "UPDATE users SET disabled = ?2 WHERE username = ?1",
            params![username, i64::from(disabled)],
        )? > 0)
    }

    /// The user whose password this is; None for an unknown user or a wrong password. An
    /// unknown user costs a hash verification too, so timing does not tell names apart.
    pub async fn verify_login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, AccountsError> {
        let row = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = ?1"
            ))?
            .query_row([username], |row| {
                Ok((row_to_user(row)?, row.get::<_, String>(6)?))
            })
            .optional()?;
        let (user, stored) = match row {
            Some((user, stored)) => (Some(user), stored),
            None => (None, dummy_hash()),
        };
        let secret = password.to_owned();
        let _turn = self.hashing_turn().await?;
        let matches = tokio::task::spawn_blocking(move || password::verify(&secret, &stored))
            .await
            .map_err(|e| AccountsError::Internal(e.to_string()))?;
        Ok(user.filter(|_| matches))
    }

    /// Makes a key for the user; the key is returned once and only its digest is kept.
    pub fn create_api_key(
        &self,
        user: &User,
        name: &str,
    ) -> Result<(String, ApiKeyInfo), AccountsError> {
        let key = keys::generate().map_err(AccountsError::Internal)?;
        let info = ApiKeyInfo {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            prefix: keys::shown_prefix(&key),
            created_at: now_ms(),
            last_used_at: None,
            revoked_at: None,
        };
        self.conn().execute(
            "INSERT INTO api_keys (id, user_id, name, prefix, hash, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                info.id,
                user.id,
                info.name,
                info.prefix,
                keys::digest(&key),
                info.created_at
            ],
        )?;
        Ok((key, info))
    }

    pub fn list_api_keys(&self, user: &User) -> Result<Vec<ApiKeyInfo>, AccountsError> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(
            "SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys
             WHERE user_id = ?1 ORDER BY created_at",
        )?;
        let rows = statement.query_map([&user.id], |row| {
            Ok(ApiKeyInfo {
                id: row.get(0)?,
                name: row.get(1)?,
                prefix: row.get(2)?,
                created_at: row.get(3)?,
                last_used_at: row.get(4)?,
                revoked_at: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes a session token (logout) until `expires_at` (unix seconds, its `exp`); tokens
    /// that expired are forgotten on the way.
    pub fn revoke_token(&self, jti: &str, expires_at: u64) -> Result<(), AccountsError> {
        let conn = self.conn();
        let now = now_ms() / 1000;
        conn.execute("DELETE FROM revoked_tokens WHERE expires_at < ?1", [now])?;
        conn.execute(
            "INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2)",
            params![jti, i64::try_from(expires_at).unwrap_or(i64::MAX)],
        )?;
        Ok(())
    }

    pub fn token_revoked(&self, jti: &str) -> Result<bool, AccountsError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM revoked_tokens WHERE jti = ?1")?
            .query_row([jti], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Revokes one of the user's keys; false when the user has no such key.
    pub fn revoke_api_key(&self, user: &User, id: &str) -> Result<bool, AccountsError> {
        Ok(self.conn().execute(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?3) WHERE id = ?1 AND user_id = ?2",
            params![id, user.id, now_ms()],
        )? > 0)
    }

    /// The owner of an unrevoked key, noting its use.
    pub fn user_by_api_key(&self, key: &str) -> Result<Option<User>, AccountsError> {
        if !keys::well_formed(key) {
            return Ok(None);
        }
        let conn = self.conn();
        let found = conn
            .prepare_cached(
                "SELECT u.id, u.username, u.role, u.created_at, u.disabled, u.credentials_version, k.id FROM api_keys k
                 JOIN users u ON u.id = k.user_id WHERE k.hash = ?1 AND k.revoked_at IS NULL",
            )?
            .query_row([keys::digest(key)], |row| {
                Ok((row_to_user(row)?, row.get::<_, String>(6)?))
            })
            .optional()?;
        let Some((user, key_id)) = found else {
            return Ok(None);
        };
        // At most one write a minute per key: a CLI loop must not turn reads into writes.
        conn.prepare_cached(
            "UPDATE api_keys SET last_used_at = ?2
             WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2 - 60000)",
        )?
        .execute(params![key_id, now_ms()])?;
        Ok(Some(user))
    }
}

/// The columns `row_to_user` reads, in its order.
const USER_COLUMNS: &str = "id, username, role, created_at, disabled, credentials_version";

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

/// A valid hash of a password nobody has, verified for unknown users.
fn dummy_hash() -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| password::hash("no such user, no such password").unwrap_or_default())
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, Accounts) {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(&dir.path().join("accounts.db")).unwrap();
        (dir, accounts)
    }

    /// A login flood waits for a turn at Argon2 instead of running one hash per request.
    #[tokio::test]
    async fn password_hashing_waits_for_a_free_core() {
        let (_dir, accounts) = open();
        accounts
            .create_user("alice", "alice-password", Role::User)
            .await
            .unwrap();
        let all = u32::try_from(accounts.hashing.available_permits()).unwrap();
        let busy = accounts.hashing.acquire_many(all).await.unwrap();
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(300),
            accounts.verify_login("alice", "alice-password"),
        )
        .await;
        assert!(waiting.is_err(), "no hashing while every core is taken");
        drop(busy);
        let user = accounts
            .verify_login("alice", "alice-password")
            .await
            .unwrap();
        assert!(user.is_some());
    }

    #[tokio::test]
    async fn users_log_in_with_their_password_only() {
        let (_dir, accounts) = open();
        let alice = accounts
            .create_user("alice", "alice-password", Role::User)
            .await
            .unwrap();
        let found = accounts
            .verify_login("alice", "alice-password")
            .await
            .unwrap();
        assert_eq!(found, Some(alice.clone()));
        assert_eq!(
            accounts
                .verify_login("alice", "wrong-password")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            accounts
                .verify_login("nobody", "alice-password")
                .await
                .unwrap(),
            None
        );
        assert!(matches!(
            accounts
                .create_user("alice", "another-password", Role::Admin)
                .await,
            Err(AccountsError::UserExists(_))
        ));
        assert!(matches!(
            accounts
                .create_user("Al", "alice-password", Role::User)
                .await,
            Err(AccountsError::InvalidUsername(_))
        ));
        assert!(matches!(
            accounts.create_user("bob", "short", Role::User).await,
            Err(AccountsError::InvalidPassword(_))
        ));
        assert_eq!(accounts.user_count().unwrap(), 1);
    }

    #[tokio::test]
    async fn api_keys_authenticate_until_revoked_and_only_their_owner_revokes_them() {
        let (_dir, accounts) = open();
        let alice = accounts
            .create_user("alice", "alice-password", Role::User)
            .await
            .unwrap();
        let bob = accounts
            .create_user("bob", "bob-password", Role::User)
            .await
            .unwrap();
        let (key, info) = accounts.create_api_key(&alice, "laptop").unwrap();
        assert_eq!(accounts.user_by_api_key(&key).unwrap(), Some(alice.clone()));
        let listed = accounts.list_api_keys(&alice).unwrap();
        assert_eq!(listed.len(), 1);
        let first_use = listed[0].last_used_at;
        assert!(first_use.is_some());
        std::thread::sleep(std::time::Duration::from_millis(5));
        accounts.user_by_api_key(&key).unwrap();
        assert_eq!(
            accounts.list_api_keys(&alice).unwrap()[0].last_used_at,
            first_use,
            "not rewritten within a minute"
        );
        assert!(
            !accounts.revoke_api_key(&bob, &info.id).unwrap(),
            "not bob's key"
        );
        assert_eq!(accounts.user_by_api_key(&key).unwrap(), Some(alice.clone()));
        assert!(accounts.revoke_api_key(&alice, &info.id).unwrap());
        assert_eq!(accounts.user_by_api_key(&key).unwrap(), None);
        assert_eq!(accounts.user_by_api_key("octo_sk_nonsense").unwrap(), None);
    }

    #[tokio::test]
    async fn deleting_a_user_removes_their_keys() {
        let (_dir, accounts) = open();
        let alice = accounts
            .create_user("alice", "alice-password", Role::User)
            .await
            .unwrap();
        let (key, _) = accounts.create_api_key(&alice, "ci").unwrap();
        assert!(accounts.delete_user("alice").unwrap());
        assert_eq!(accounts.user_by_api_key(&key).unwrap(), None);
        assert_eq!(accounts.user_by_id(&alice.id).unwrap(), None);
    }
}
