//! The SQLite store: one connection to one database file (WAL, foreign keys, a busy timeout),
//! used from one thread at a time. [`SharedStore`] runs its calls on tokio's blocking pool.

mod merge;
mod read;
mod rows;
mod schema;
mod search;
mod write;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use thiserror::Error;

use crate::validate::InvalidArgument;

pub use schema::SCHEMA_VERSION;
pub use write::WriteOutcome;

/// How long a write waits for another connection's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Error)]
pub enum StoreError {
    #[error(transparent)]
    InvalidArgument(#[from] InvalidArgument),
    #[error("{0}")]
    NotFound(String),
    #[error("the database has schema version {found}; this hstry supports up to {supported}")]
    SchemaTooNew { found: usize, supported: usize },
    #[error("the database could not be opened in WAL mode (journal mode is {0:?})")]
    NoWal(String),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store task failed: {0}")]
    Task(String),
}

/// How a read names its conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationKey {
    Id(String),
    ReadableId(String),
    External {
        source_id: String,
        external_id: String,
    },
}

impl ConversationKey {
    /// The first key that is set, in the order conversation_id, readable_id,
    /// source_id + external_id.
    pub fn from_fields(
        conversation_id: &str,
        readable_id: &str,
        source_id: &str,
        external_id: &str,
    ) -> Result<Self, InvalidArgument> {
        if !conversation_id.is_empty() {
            return Ok(Self::Id(conversation_id.to_owned()));
        }
        if !readable_id.is_empty() {
            return Ok(Self::ReadableId(readable_id.to_owned()));
        }
        if source_id.is_empty() && external_id.is_empty() {
            return Err(InvalidArgument::new(
                "conversation_id",
                "name the conversation by conversation_id, readable_id or source_id + external_id",
            ));
        }
        crate::validate::required_id("source_id", source_id)?;
        crate::validate::required_id("external_id", external_id)?;
        Ok(Self::External {
            source_id: source_id.to_owned(),
            external_id: external_id.to_owned(),
        })
    }
}

impl std::fmt::Display for ConversationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "conversation {id}"),
            Self::ReadableId(id) => write!(f, "conversation with readable_id {id}"),
            Self::External {
                source_id,
                external_id,
            } => write!(f, "conversation {source_id}/{external_id}"),
        }
    }
}

pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NoWal(mode));
        }
        // WAL + NORMAL never corrupts; a power cut may lose the last commits, which the
        // writer re-sends (writes are idempotent).
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        schema::migrate(&mut conn)?;
        Ok(Self { conn })
    }
}

/// The store shared by the gRPC handlers. SQLite calls block, so each one runs on tokio's
/// blocking pool; the mutex serialises them on the single connection.
#[derive(Clone)]
pub struct SharedStore(Arc<Mutex<Store>>);

impl SharedStore {
    pub fn new(store: Store) -> Self {
        Self(Arc::new(Mutex::new(store)))
    }

    pub async fn run<T, F>(&self, call: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            // A panic inside a call rolled its transaction back when it unwound, so the
            // connection is still consistent: keep serving instead of failing forever.
            let mut store = store.lock().unwrap_or_else(PoisonError::into_inner);
            call(&mut store)
        })
        .await
        .map_err(|err| StoreError::Task(err.to_string()))?
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests;
