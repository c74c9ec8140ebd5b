//! The operator's one error: a stable reason for conditions, Events and metrics, and whether to
//! retry (transient) or wait for a change (the user's to fix).

use crate::core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] CoreError),
    /// A user error found while acting: the Session fails with this reason until it changes
    /// (a Secret that single-node mode cannot find).
    #[error("{message}")]
    Refused {
        reason: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] oqto_store::StoreError),
    #[error("the Kubernetes API failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("the Podman API failed: {0}")]
    Podman(#[from] bollard::errors::Error),
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
            Self::Refused { reason, .. } => reason,
            Self::Store(e) => e.reason(),
            // Missing RBAC rights: named apart, it is the admin's to fix, not a flaky API.
            Self::Kube(kube::Error::Api(status)) if status.is_forbidden() => "Forbidden",
            Self::Kube(_) => "ApiError",
            Self::Podman(_) => "PodmanError",
            Self::Serialize { .. } => "InternalError",
        }
    }

    /// `Some(why)` when the runtime itself cannot be reached (not a refusal of one request).
    pub fn unreachable(&self) -> Option<String> {
        match self {
            Self::Kube(kube::Error::Api(_)) => None,
            Self::Kube(e) => Some(format!("the Kubernetes API cannot be reached: {e}")),
            Self::Podman(bollard::errors::Error::DockerResponseServerError { .. }) => None,
            Self::Podman(e) => Some(format!("the Podman API cannot be reached: {e}")),
            Self::Store(oqto_store::StoreError::Unavailable(m)) => Some(m.clone()),
            _ => None,
        }
    }

    /// The object was deleted while it was being reconciled (its status write found nothing):
    /// not a failure, its deletion is the next event.
    pub fn object_gone(&self) -> bool {
        matches!(self, Self::Store(oqto_store::StoreError::NotFound(_)))
    }

    /// Retrying cannot fix a user error; a change of the object will trigger a new reconcile.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Invalid(_) | Self::Refused { .. } => false,
            Self::Store(e) => e.is_transient(),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, reason: &str) -> Error {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": code, "reason": reason, "message": "m"
        }))
        .unwrap_or_default();
        Error::Kube(kube::Error::Api(Box::new(status)))
    }

    #[test]
    fn a_deleted_object_is_gone_not_failed() {
        let gone = Error::Store(oqto_store::StoreError::NotFound(
            "session \"s\" not found".into(),
        ));
        assert!(gone.object_gone());
        assert!(
            !api_error(404, "NotFound").object_gone(),
            "only the store's answer counts"
        );
        assert!(!api_error(500, "InternalError").object_gone());
    }

    #[test]
    fn a_refused_permission_has_its_own_reason() {
        assert_eq!(api_error(403, "Forbidden").reason(), "Forbidden");
        assert_eq!(api_error(409, "Conflict").reason(), "ApiError");
        assert!(api_error(403, "Forbidden").is_transient());
        let refused = Error::Refused {
            reason: "SecretNotFound",
            message: "x".into(),
        };
        assert!(!refused.is_transient());
    }
}
