//! The Kubernetes runtime's error: a stable reason for conditions, Events and metrics, and
//! whether to retry (transient) or wait for a change (the user's to fix).

use crate::core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] CoreError),
    #[error("the Kubernetes API failed: {0}")]
    Api(#[from] kube::Error),
    #[error("serialising {what} failed: {source}")]
    Serialize {
        what: &'static str,
        source: serde_json::Error,
    },
}

impl Error {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Invalid(e) => e.reason(),
            Self::Api(_) => "ApiError",
            Self::Serialize { .. } => "InternalError",
        }
    }

    /// Retrying cannot fix a user error; a change of the object will trigger a new reconcile.
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::Invalid(_))
    }
}
