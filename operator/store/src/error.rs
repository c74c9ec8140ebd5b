//! The store's one error, with a stable reason and a verdict on retrying.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `workspaces.oqto.dev "w" not found`, as the apiserver words it.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The object changed since it was read.
    #[error("{0}")]
    Conflict(String),
    /// Refused: the message names the field (`spec.owner: Invalid value: owner is immutable`).
    #[error("{0}")]
    Invalid(String),
    /// Stored, but not readable as its type (written under a looser schema): a change of the
    /// object fixes it, a retry does not.
    #[error("{0}")]
    Unreadable(String),
    /// The caller's rights do not allow it (RBAC).
    #[error("{0}")]
    Forbidden(String),
    /// The API server or the disk could not be reached.
    #[error("{0}")]
    Unavailable(String),
    #[error("store file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store file {path}: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl StoreError {
    pub fn not_found<K: crate::StoredKind>(name: &str) -> Self {
        Self::NotFound(format!("{} {name:?} not found", K::RESOURCE))
    }

    pub fn already_exists<K: crate::StoredKind>(name: &str) -> Self {
        Self::AlreadyExists(format!("{} {name:?} already exists", K::RESOURCE))
    }

    /// CamelCase, stable across releases (Events, metrics).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "NotFound",
            Self::AlreadyExists(_) => "AlreadyExists",
            Self::Conflict(_) => "Conflict",
            Self::Invalid(_) => "Invalid",
            Self::Unreadable(_) => "InvalidObject",
            Self::Forbidden(_) => "Forbidden",
            Self::Unavailable(_) => "StoreUnavailable",
            Self::Io { .. } => "StoreIo",
            Self::Corrupt { .. } => "StoreCorrupt",
        }
    }

    /// Retrying may help (the store was away, the object moved); a refusal needs a change.
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            Self::Invalid(_) | Self::AlreadyExists(_) | Self::Unreadable(_)
        )
    }
}

impl From<oqto_api::rules::FieldError> for StoreError {
    fn from(error: oqto_api::rules::FieldError) -> Self {
        Self::Invalid(error.to_string())
    }
}

impl From<kube::Error> for StoreError {
    /// The apiserver's answer as one of ours; its messages name the field and pass unchanged.
    fn from(error: kube::Error) -> Self {
        match error {
            kube::Error::Api(status) => {
                let message = status.message.clone();
                match status.code {
                    404 => Self::NotFound(message),
                    409 if status.reason == "AlreadyExists" => Self::AlreadyExists(message),
                    409 => Self::Conflict(message),
                    400 | 422 => Self::Invalid(message),
                    403 => Self::Forbidden(message),
                    _ => Self::Unavailable(format!("the Kubernetes API answered: {message}")),
                }
            }
            kube::Error::SerdeError(e) => Self::Unreadable(e.to_string()),
            other => Self::Unavailable(format!("the Kubernetes API is unavailable: {other}")),
        }
    }
}
