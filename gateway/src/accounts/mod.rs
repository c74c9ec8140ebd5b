//! Users, API keys, revoked tokens and (with PostgreSQL) login attempts. The rules live here
//! (names, password strength, hashing, key shapes); the two stores only keep rows: SQLite on
//! one gateway, PostgreSQL when gateways scale out. Password hashing is slow on purpose, so it
//! runs on the blocking pool, one hash per core at a time.

pub mod keys;
pub mod password;
mod postgres;
mod sqlite;
mod sqlite_schema;

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use postgres::PostgresStore;
use sqlite::SqliteStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
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
    /// When the key stops working (Unix ms); None for a key that does not expire.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// What a change to a user's role or state, or their deletion, came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Done,
    NoSuchUser,
    /// Refused: the user is the last active admin, and nobody would be left to administer.
    LastAdmin,
}

/// A change the stores check against the last-active-admin rule and write in one transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) enum UserChange {
    /// `None` keeps what the user has.
    Update {
        role: Option<Role>,
        disabled: Option<bool>,
    },
    Delete,
}

impl UserChange {
    /// Whether a user with `role` and `disabled` now is an active admin who would stop being
    /// one: only then do the stores count the other active admins.
    pub(crate) fn removes_an_active_admin(self, role: Role, disabled: bool) -> bool {
        let active_admin = |role: Role, disabled: bool| role == Role::Admin && !disabled;
        if !active_admin(role, disabled) {
            return false;
        }
        match self {
            Self::Delete => true,
            Self::Update {
                role: new_role,
                disabled: new_disabled,
            } => !active_admin(new_role.unwrap_or(role), new_disabled.unwrap_or(disabled)),
        }
    }
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
    Database(String),
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

impl From<rusqlite::Error> for AccountsError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Database(error.to_string())
    }
}

/// At most one write of a key's `last_used_at` a minute: a CLI loop must not turn reads into
/// writes.
const KEY_USE_WRITE_MS: i64 = 60_000;

/// How a user is looked up.
#[derive(Debug, Clone, Copy)]
pub(crate) enum UserKey {
    Id,
    Name,
}

fn now_ms() -> i64 {
    oqto_proto::canonical::now_ms()
}

/// Where accounts are kept.
enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// Calls the same method on either store (SQLite's are synchronous and quick).
macro_rules! on_store {
    ($self:ident . $method:ident ( $($arg:expr),* $(,)? )) => {
        match &*$self.store {
            Store::Sqlite(store) => Ok(store.$method($($arg),*)?),
            Store::Postgres(store) => store.$method($($arg),*).await,
        }
    };
}

#[derive(Clone)]
pub struct Accounts {
    store: Arc<Store>,
    /// Argon2 runs at most once per core at a time (each run takes ~19 MiB and a core for tens
    /// of milliseconds): a flood of logins waits here instead of filling the blocking pool.
    hashing: Arc<tokio::sync::Semaphore>,
}

impl Accounts {
    /// The single-node store: a SQLite file.
    pub fn open(path: &Path) -> Result<Self, AccountsError> {
        Ok(Self::with_store(Store::Sqlite(SqliteStore::open(path)?)))
    }

    /// The shared store of gateways that scale out; migrates the schema once for all replicas.
    pub async fn connect_postgres(
        url: &str,
        ca_file: Option<&Path>,
    ) -> Result<Self, AccountsError> {
        Ok(Self::with_store(Store::Postgres(
            PostgresStore::connect(url, ca_file).await?,
        )))
    }

    fn with_store(store: Store) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            store: Arc::new(store),
            hashing: Arc::new(tokio::sync::Semaphore::new(cores)),
        }
    }

    /// Whether several gateways share this store (and so must share limits and secrets).
    pub fn is_shared(&self) -> bool {
        matches!(*self.store, Store::Postgres(_))
    }

    async fn hashing_turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, AccountsError> {
        self.hashing
            .acquire()
            .await
            .map_err(|e| AccountsError::Internal(e.to_string()))
    }

    pub async fn user_count(&self) -> Result<i64, AccountsError> {
        on_store!(self.user_count())
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
        let inserted: bool = on_store!(self.insert_user(&user, &hash))?;
        if !inserted {
            return Err(AccountsError::UserExists(username.to_owned()));
        }
        Ok(user)
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, AccountsError> {
        on_store!(self.user_by(UserKey::Id, id))
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, AccountsError> {
        on_store!(self.user_by(UserKey::Name, username))
    }

    pub async fn list_users(&self) -> Result<Vec<User>, AccountsError> {
        on_store!(self.list_users())
    }

    /// Deletes a user and, with them, their API keys. Their tokens stop working at once:
    /// every request looks the user up. The last active admin is not deleted.
    pub async fn delete_user(&self, username: &str) -> Result<Change, AccountsError> {
        on_store!(self.change_user(username, UserChange::Delete))
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
        on_store!(self.set_password_hash(username, &hash))
    }

    /// Changes a user's role, disables or enables them (`None` keeps what they have). The
    /// change is refused when it would leave no active admin, checked and written in one
    /// transaction, so two admins demoting each other at once cannot both succeed.
    pub async fn update_user(
        &self,
        username: &str,
        role: Option<Role>,
        disabled: Option<bool>,
    ) -> Result<Change, AccountsError> {
        on_store!(self.change_user(username, UserChange::Update { role, disabled }))
    }

    /// The user whose password this is; None for an unknown user or a wrong password. An
    /// unknown user costs a hash verification too, so timing does not tell names apart.
    pub async fn verify_login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, AccountsError> {
        let row: Option<(User, String)> = on_store!(self.user_with_hash(username))?;
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

    /// Makes a key for the user, refused after `expires_at` (Unix ms) when given; the key is
    /// returned once and only its digest is kept.
    pub async fn create_api_key(
        &self,
        user: &User,
        name: &str,
        expires_at: Option<i64>,
    ) -> Result<(String, ApiKeyInfo), AccountsError> {
        let key = keys::generate().map_err(AccountsError::Internal)?;
        let info = ApiKeyInfo {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            prefix: keys::shown_prefix(&key),
            created_at: now_ms(),
            last_used_at: None,
            revoked_at: None,
            expires_at,
        };
        let digest = keys::digest(&key);
        on_store!(self.insert_api_key(&user.id, &info, &digest))?;
        Ok((key, info))
    }

    pub async fn list_api_keys(&self, user: &User) -> Result<Vec<ApiKeyInfo>, AccountsError> {
        on_store!(self.list_api_keys(&user.id))
    }

    /// Revokes a session token (logout) until `expires_at` (unix seconds, its `exp`); tokens
    /// that expired are forgotten on the way.
    pub async fn revoke_token(&self, jti: &str, expires_at: u64) -> Result<(), AccountsError> {
        let expires_at = i64::try_from(expires_at).unwrap_or(i64::MAX);
        let now_s = now_ms() / 1000;
        on_store!(self.revoke_token(jti, expires_at, now_s))
    }

    pub async fn token_revoked(&self, jti: &str) -> Result<bool, AccountsError> {
        on_store!(self.token_revoked(jti))
    }

    /// Revokes one of the user's keys; false when the user has no such key.
    pub async fn revoke_api_key(&self, user: &User, id: &str) -> Result<bool, AccountsError> {
        on_store!(self.revoke_api_key(&user.id, id, now_ms()))
    }

    /// The owner of a key that is neither revoked nor expired, noting its use.
    pub async fn user_by_api_key(&self, key: &str) -> Result<Option<User>, AccountsError> {
        if !keys::well_formed(key) {
            return Ok(None);
        }
        let digest = keys::digest(key);
        on_store!(self.user_by_key_digest(&digest, now_ms()))
    }

    /// With a shared store: the token-signing secret all replicas use, made by whichever
    /// asked first from `candidate`. None for the single-node store (its secret is a file).
    pub async fn shared_token_secret(
        &self,
        candidate: &str,
    ) -> Result<Option<String>, AccountsError> {
        match &*self.store {
            Store::Sqlite(_) => Ok(None),
            Store::Postgres(store) => store
                .setting_or_insert("token-secret", candidate)
                .await
                .map(Some),
        }
    }

    /// With a shared store: counts a login attempt under `key` in the current window of
    /// `window_ms`, returning the window's count; None for the single-node store (its
    /// limits are kept in memory).
    pub(crate) async fn count_attempt(
        &self,
        key: &str,
        window_ms: i64,
    ) -> Result<Option<i64>, AccountsError> {
        match &*self.store {
            Store::Sqlite(_) => Ok(None),
            Store::Postgres(store) => store
                .count_attempt(key, now_ms(), window_ms)
                .await
                .map(Some),
        }
    }

    /// Forgets the shared store's ended windows.
    pub(crate) async fn forget_attempts(&self, window_ms: i64) -> Result<(), AccountsError> {
        match &*self.store {
            Store::Sqlite(_) => Ok(()),
            Store::Postgres(store) => store.forget_attempts(now_ms(), window_ms).await,
        }
    }
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

    /// Each behaviour below runs on both stores: SQLite, and PostgreSQL (a fresh database on
    /// the test server).
    macro_rules! on_both_stores {
        ($($name:ident),* $(,)?) => {
            mod sqlite_store {
                $(
                    #[tokio::test]
                    async fn $name() {
                        let dir = tempfile::tempdir().unwrap();
                        let accounts =
                            super::Accounts::open(&dir.path().join("accounts.db")).unwrap();
                        super::$name(accounts).await;
                    }
                )*
            }
            mod postgres_store {
                $(
                    #[tokio::test]
                    async fn $name() {
                        let url = oqto_e2e::postgres::fresh_database().await.unwrap();
                        let accounts = super::Accounts::connect_postgres(&url, None).await.unwrap();
                        super::$name(accounts).await;
                    }
                )*
            }
        };
    }

    on_both_stores!(
        password_hashing_waits_for_a_free_core,
        users_log_in_with_their_password_only,
        api_keys_authenticate_until_revoked_and_only_their_owner_revokes_them,
        deleting_a_user_removes_their_keys,
        password_changes_and_disabling_are_kept,
        logged_out_tokens_stay_revoked_until_they_expire,
        the_last_active_admin_is_never_demoted_disabled_or_deleted,
        admins_demoting_each_other_at_once_leave_one_admin,
        api_keys_stop_working_when_they_expire,
    );

    /// Whoever asks, one active admin always stays: the store refuses the change that would
    /// take away the last one, and only that change.
    async fn the_last_active_admin_is_never_demoted_disabled_or_deleted(accounts: Accounts) {
        let root = accounts
            .create_user("root", "root-password", Role::Admin)
            .await
            .unwrap();
        accounts
            .create_user("ops", "ops-password", Role::Admin)
            .await
            .unwrap();
        accounts
            .create_user("alice", "alice-password", Role::User)
            .await
            .unwrap();
        // Two admins: one of them may go.
        let disable_ops = accounts.update_user("ops", None, Some(true));
        assert_eq!(disable_ops.await.unwrap(), Change::Done);
        // Now root is the only active one: a disabled admin does not count.
        for (role, disabled) in [
            (Some(Role::User), None),
            (None, Some(true)),
            (Some(Role::User), Some(false)),
        ] {
            let change = accounts.update_user("root", role, disabled);
            assert_eq!(
                change.await.unwrap(),
                Change::LastAdmin,
                "{role:?} {disabled:?}"
            );
        }
        assert_eq!(
            accounts.delete_user("root").await.unwrap(),
            Change::LastAdmin
        );
        let kept = accounts.user_by_id(&root.id).await.unwrap().unwrap();
        assert_eq!((kept.role, kept.disabled), (Role::Admin, false));
        // What does not take the last admin away goes through: root stays admin, users change.
        let keep = accounts.update_user("root", Some(Role::Admin), Some(false));
        assert_eq!(keep.await.unwrap(), Change::Done);
        let disable_alice = accounts.update_user("alice", None, Some(true));
        assert_eq!(disable_alice.await.unwrap(), Change::Done);
        assert_eq!(accounts.delete_user("alice").await.unwrap(), Change::Done);
        // Promoting alice's replacement makes a second admin: then root may step down.
        accounts
            .create_user("bob", "bob-password", Role::User)
            .await
            .unwrap();
        let promote = accounts.update_user("bob", Some(Role::Admin), None);
        assert_eq!(promote.await.unwrap(), Change::Done);
        let demote = accounts.update_user("root", Some(Role::User), None);
        assert_eq!(demote.await.unwrap(), Change::Done);
        assert_eq!(
            accounts.delete_user("bob").await.unwrap(),
            Change::LastAdmin
        );
    }

    /// Six admins each demote themselves at the same moment (on PostgreSQL, over separate
    /// connections): the count and the write are one step, so exactly one admin is left.
    async fn admins_demoting_each_other_at_once_leave_one_admin(accounts: Accounts) {
        let names = [
            "admin-1", "admin-2", "admin-3", "admin-4", "admin-5", "admin-6",
        ];
        for name in names {
            accounts
                .create_user(name, "admin-password", Role::Admin)
                .await
                .unwrap();
        }
        let demotions = names.map(|name| {
            let accounts = accounts.clone();
            tokio::spawn(async move { accounts.update_user(name, Some(Role::User), None).await })
        });
        let mut outcomes = Vec::new();
        for demotion in demotions {
            outcomes.push(demotion.await.unwrap().unwrap());
        }
        let refused = outcomes.iter().filter(|o| **o == Change::LastAdmin).count();
        assert_eq!(refused, 1, "{outcomes:?}");
        let admins = accounts
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .filter(User::is_admin)
            .count();
        assert_eq!(admins, 1);
    }

    async fn api_keys_stop_working_when_they_expire(accounts: Accounts) {
        let alice = accounts
            .create_user("alice", "alice-password", Role::User)
            .await
            .unwrap();
        let later = now_ms() + 3_600_000;
        let (key, info) = accounts
            .create_api_key(&alice, "short-lived", Some(later))
            .await
            .unwrap();
        assert_eq!(info.expires_at, Some(later));
        assert_eq!(
            accounts.user_by_api_key(&key).await.unwrap(),
            Some(alice.clone())
        );
        let (expired, _) = accounts
            .create_api_key(&alice, "expired", Some(now_ms() - 1))
            .await
            .unwrap();
        assert_eq!(accounts.user_by_api_key(&expired).await.unwrap(), None);
        let listed = accounts.list_api_keys(&alice).await.unwrap();
        let expiries: Vec<_> = listed.iter().map(|k| k.expires_at.is_some()).collect();
        assert_eq!(expiries, [true, true], "listings say when a key expires");
    }

    /// A login flood waits for a turn at Argon2 instead of running one hash per request.
    async fn password_hashing_waits_for_a_free_core(accounts: Accounts) {
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

    async fn users_log_in_with_their_password_only(accounts: Accounts) {
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
        assert_eq!(accounts.user_count().await.unwrap(), 1);
    }

    async fn api_keys_authenticate_until_revoked_and_only_their_owner_revokes_them(
        accounts: Accounts,
    ) {
        let alice = accounts
            .create_user("alice", "alice-password", Role::User)
            .await
            .unwrap();
        let bob = accounts
            .create_user("bob", "bob-password", Role::User)
            .await
            .unwrap();
        let (key, info) = accounts
            .create_api_key(&alice, "laptop", None)
            .await
            .unwrap();
        assert_eq!(
            accounts.user_by_api_key(&key).await.unwrap(),
            Some(alice.clone())
        );
        let listed = accounts.list_api_keys(&alice).await.unwrap();
        assert_eq!(listed.len(), 1);
        let first_use = listed[0].last_used_at;
        assert!(first_use.is_some());
        std::thread::sleep(std::time::Duration::from_millis(5));
        accounts.user_by_api_key(&key).await.unwrap();
        assert_eq!(
            accounts.list_api_keys(&alice).await.unwrap()[0].last_used_at,
            first_use,
            "not rewritten within a minute"
        );
        assert!(
            !accounts.revoke_api_key(&bob, &info.id).await.unwrap(),
            "not bob's key"
        );
        assert_eq!(
            accounts.user_by_api_key(&key).await.unwrap(),
            Some(alice.clone())
        );
        assert!(accounts.revoke_api_key(&alice, &info.id).await.unwrap());
        assert_eq!(accounts.user_by_api_key(&key).await.unwrap(), None);
        assert_eq!(
            accounts.user_by_api_key("octo_sk_nonsense").await.unwrap(),
            None
        );
    }

    async fn deleting_a_user_removes_their_keys(accounts: Accounts) {
        let alice = accounts
            .create_user("alice", "alice-password", Role::User)
            .await
            .unwrap();
        let (key, _) = accounts.create_api_key(&alice, "ci", None).await.unwrap();
        assert_eq!(accounts.delete_user("alice").await.unwrap(), Change::Done);
        assert_eq!(
            accounts.delete_user("alice").await.unwrap(),
            Change::NoSuchUser
        );
        assert_eq!(accounts.user_by_api_key(&key).await.unwrap(), None);
        assert_eq!(accounts.user_by_id(&alice.id).await.unwrap(), None);
    }

    async fn password_changes_and_disabling_are_kept(accounts: Accounts) {
        let alice = accounts
            .create_user("alice", "alice-password", Role::User)
            .await
            .unwrap();
        assert!(
            accounts
                .set_password("alice", "a-new-password")
                .await
                .unwrap()
        );
        assert!(
            !accounts
                .set_password("nobody", "a-new-password")
                .await
                .unwrap()
        );
        let changed = accounts.user_by_name("alice").await.unwrap().unwrap();
        assert_eq!(changed.credentials_version, alice.credentials_version + 1);
        assert_eq!(
            accounts
                .verify_login("alice", "alice-password")
                .await
                .unwrap(),
            None
        );
        assert!(
            accounts
                .verify_login("alice", "a-new-password")
                .await
                .unwrap()
                .is_some()
        );
        let disable = accounts.update_user("alice", None, Some(true));
        assert_eq!(disable.await.unwrap(), Change::Done);
        let stored = accounts.user_by_id(&alice.id).await.unwrap().unwrap();
        assert!(stored.disabled);
        assert_eq!(stored.role, Role::User, "a role left out is kept");
        let promote = accounts.update_user("alice", Some(Role::Admin), Some(false));
        assert_eq!(promote.await.unwrap(), Change::Done);
        let stored = accounts.user_by_id(&alice.id).await.unwrap().unwrap();
        assert!(!stored.disabled);
        assert_eq!(stored.role, Role::Admin);
        let unknown = accounts.update_user("nobody", None, Some(true));
        assert_eq!(unknown.await.unwrap(), Change::NoSuchUser);
        let names: Vec<_> = accounts
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(names, ["alice"]);
    }

    async fn logged_out_tokens_stay_revoked_until_they_expire(accounts: Accounts) {
        let now_s = u64::try_from(now_ms() / 1000).unwrap();
        accounts.revoke_token("expired", now_s - 10).await.unwrap();
        accounts
            .revoke_token("current", now_s + 3600)
            .await
            .unwrap();
        accounts
            .revoke_token("current", now_s + 3600)
            .await
            .unwrap();
        assert!(accounts.token_revoked("current").await.unwrap());
        assert!(!accounts.token_revoked("never-revoked").await.unwrap());
        // The next revocation forgets the ones that expired (they would be refused anyway).
        accounts
            .revoke_token("another", now_s + 3600)
            .await
            .unwrap();
        assert!(!accounts.token_revoked("expired").await.unwrap());
    }

    /// Gateways that share a database share users, keys and the token secret, and migrate
    /// the schema once between them.
    #[tokio::test]
    async fn gateways_on_one_postgres_database_share_accounts_and_the_token_secret() {
        let url = oqto_e2e::postgres::fresh_database().await.unwrap();
        let (one, other) = tokio::join!(
            Accounts::connect_postgres(&url, None),
            Accounts::connect_postgres(&url, None)
        );
        let (one, other) = (one.unwrap(), other.unwrap());
        assert!(one.is_shared() && other.is_shared());
        let alice = one
            .create_user("alice", "alice-password", Role::User)
            .await
            .unwrap();
        assert!(matches!(
            other
                .create_user("alice", "other-password", Role::User)
                .await,
            Err(AccountsError::UserExists(_))
        ));
        assert_eq!(
            other.verify_login("alice", "alice-password").await.unwrap(),
            Some(alice.clone())
        );
        let (key, _) = other.create_api_key(&alice, "ci", None).await.unwrap();
        assert_eq!(one.user_by_api_key(&key).await.unwrap(), Some(alice));
        one.revoke_token("jti-1", u64::MAX / 2).await.unwrap();
        assert!(other.token_revoked("jti-1").await.unwrap());
        let first = one.shared_token_secret("first-candidate").await.unwrap();
        let second = other.shared_token_secret("second-candidate").await.unwrap();
        assert_eq!(first.as_deref(), Some("first-candidate"));
        assert_eq!(second, first, "the first replica's secret is everyone's");
    }

    /// A gateway older than the database's schema refuses to start instead of misreading it;
    /// a bad URL is refused with a message that does not repeat it (it may hold a password).
    #[tokio::test]
    async fn a_newer_schema_or_a_bad_url_is_refused_clearly() {
        let url = oqto_e2e::postgres::fresh_database().await.unwrap();
        Accounts::connect_postgres(&url, None).await.unwrap();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .batch_execute("UPDATE oqto_schema SET version = version + 1")
            .await
            .unwrap();
        let Err(error) = Accounts::connect_postgres(&url, None).await else {
            panic!("a newer schema was accepted");
        };
        assert!(
            error.to_string().contains("newer than this gateway"),
            "{error}"
        );

        let wrong = url.replacen("oqto:", "oqto:x", 1);
        let Err(error) = Accounts::connect_postgres(&wrong, None).await else {
            panic!("a wrong password was accepted");
        };
        let password = url.split(':').nth(2).unwrap().split('@').next().unwrap();
        assert!(!error.to_string().contains(password), "{error}");
        let Err(error) = Accounts::connect_postgres("mysql://nope", None).await else {
            panic!("a MySQL URL was accepted");
        };
        assert!(
            error
                .to_string()
                .contains("not a PostgreSQL connection string"),
            "{error}"
        );
    }
}
