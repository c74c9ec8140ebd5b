//! The rules a Workspace or Session must keep on create and on update, written once. The CRDs
//! carry them as CEL rules for the apiserver (generated next to the types); the local store of
//! single-node mode checks them here. A test sends the same bad updates to both stores and
//! expects the same refusals.

use crate::names::is_object_name;
use crate::schedule::{MAX_HISTORY, MAX_NAME, MAX_PROMPT_CHARS};
use crate::{Cadence, Schedule, Session, Workspace};

/// A refused value: the field's path and why, as the apiserver words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: Invalid value: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> Result<(), FieldError> {
    Err(FieldError {
        field,
        message: message.into(),
    })
}

/// What every stored kind checks.
pub trait Rules {
    /// A new object (the schema and CEL rules without `oldSelf`).
    fn validate(&self) -> Result<(), FieldError>;
    /// A change of `old` into `self` (the transition rules: immutable fields, growth only).
    fn validate_update(&self, old: &Self) -> Result<(), FieldError>;
}

/// A Kubernetes quantity (`10Gi`, `500M`, `1.5Ti`, `1e3`) as a number, for comparisons.
pub fn quantity(text: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 14] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
    ];
    let text = text.trim();
    let (number, scale) = SUFFIXES
        .iter()
        .find_map(|(suffix, scale)| text.strip_suffix(suffix).map(|n| (n, *scale)))
        .or_else(|| text.strip_suffix('E').map(|n| (n, 1e18)))
        .unwrap_or((text, 1.0));
    if number.is_empty() || number.starts_with(['+', '-']) && number.len() == 1 {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let value = value * scale;
    value.is_finite().then_some(value)
}

impl Rules for Workspace {
    fn validate(&self) -> Result<(), FieldError> {
        if self.spec.owner.is_empty() || self.spec.owner.len() > 253 {
            return refuse("spec.owner", "must be 1 to 253 characters");
        }
        if !quantity(&self.spec.storage.size.0).is_some_and(|q| q > 0.0) {
            return refuse(
                "spec.storage.size",
                "must be a positive quantity such as 10Gi or 500Mi",
            );
        }
        if let Some(class) = &self.spec.workspace_class_name
            && !is_object_name(class)
        {
            return refuse(
                "spec.workspaceClassName",
                "must be an object name: lowercase letters, digits, '-' and '.'",
            );
        }
        Ok(())
    }

    fn validate_update(&self, old: &Self) -> Result<(), FieldError> {
        let (new, old) = (&self.spec, &old.spec);
        if new.owner != old.owner {
            return refuse("spec.owner", "owner is immutable");
        }
        let size = |q: &str| quantity(q).unwrap_or(0.0);
        if size(&new.storage.size.0) < size(&old.storage.size.0) {
            return refuse("spec.storage.size", "size may grow but not shrink");
        }
        if new.storage.storage_class_name != old.storage.storage_class_name {
            return refuse(
                "spec.storage.storageClassName",
                "storageClassName is immutable",
            );
        }
        if new.workspace_class_name != old.workspace_class_name {
            return refuse("spec.workspaceClassName", "workspaceClassName is immutable");
        }
        if new.storage.access_modes != old.storage.access_modes {
            return refuse("spec.storage.accessModes", "accessModes is immutable");
        }
        Ok(())
    }
}

impl Rules for Session {
    fn validate(&self) -> Result<(), FieldError> {
        let spec = &self.spec;
        if !is_object_name(&spec.workspace_ref.name) {
            return refuse(
                "spec.workspaceRef.name",
                "must be an object name: lowercase letters, digits, '-' and '.'",
            );
        }
        if spec.provider.is_some() && spec.model.is_none() {
            return refuse("spec.model", "model is required when provider is set");
        }
        if let Some(parent) = &spec.parent_session_ref
            && Some(&parent.name) == self.metadata.name.as_ref()
        {
            return refuse(
                "spec.parentSessionRef.name",
                "must not name the session itself",
            );
        }
        Ok(())
    }

    fn validate_update(&self, old: &Self) -> Result<(), FieldError> {
        let (new, old) = (&self.spec, &old.spec);
        if new.workspace_ref != old.workspace_ref {
            return refuse("spec.workspaceRef", "workspaceRef is immutable");
        }
        if new.harness != old.harness {
            return refuse("spec.harness", "harness is immutable");
        }
        if new.parent_session_ref != old.parent_session_ref {
            return refuse("spec.parentSessionRef", "parentSessionRef is immutable");
        }
        Ok(())
    }
}

impl Rules for Schedule {
    fn validate(&self) -> Result<(), FieldError> {
        if self
            .metadata
            .name
            .as_ref()
            .is_some_and(|n| n.len() > MAX_NAME)
        {
            return refuse(
                "metadata.name",
                "a Schedule's name is at most 63 characters: it labels the Sessions of its runs",
            );
        }
        let spec = &self.spec;
        if let Err((field, message)) = Cadence::parse(&spec.schedule, spec.time_zone.as_deref()) {
            return refuse(field, message);
        }
        let prompt_chars = spec.prompt.chars().count();
        if spec.prompt.trim().is_empty() || prompt_chars > MAX_PROMPT_CHARS {
            return refuse(
                "spec.prompt",
                format!("must be 1 to {MAX_PROMPT_CHARS} characters of text"),
            );
        }
        let target = &spec.target;
        match (&target.session_ref, &target.new_session) {
            (Some(session), None) if !is_object_name(&session.name) => {
                return refuse(
                    "spec.target.sessionRef.name",
                    "must be an object name: lowercase letters, digits, '-' and '.'",
                );
            }
            (None, Some(new)) => {
                if !is_object_name(&new.workspace_ref.name) {
                    return refuse(
                        "spec.target.newSession.workspaceRef.name",
                        "must be an object name: lowercase letters, digits, '-' and '.'",
                    );
                }
                if new.provider.is_some() && new.model.is_none() {
                    return refuse(
                        "spec.target.newSession.model",
                        "model is required when provider is set",
                    );
                }
            }
            (Some(_), None) => {}
            _ => {
                return refuse(
                    "spec.target",
                    "set exactly one of sessionRef and newSession",
                );
            }
        }
        if spec
            .starting_deadline_seconds
            .is_some_and(|s| !(1..=86_400).contains(&s))
        {
            return refuse("spec.startingDeadlineSeconds", "must be 1 to 86400");
        }
        if spec.successful_runs_history_limit > MAX_HISTORY {
            return refuse(
                "spec.successfulRunsHistoryLimit",
                format!("must be at most {MAX_HISTORY}"),
            );
        }
        if spec.failed_runs_history_limit > MAX_HISTORY {
            return refuse(
                "spec.failedRunsHistoryLimit",
                format!("must be at most {MAX_HISTORY}"),
            );
        }
        Ok(())
    }

    fn validate_update(&self, _old: &Self) -> Result<(), FieldError> {
        // Every field may change: a new target or schedule applies from the next run on.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_compare_across_units() {
        assert_eq!(quantity("10Gi"), Some(10.0 * 1_073_741_824.0));
        assert!(quantity("1Ti") > quantity("1000Gi"));
        assert!(quantity("1G") < quantity("1Gi"));
        assert_eq!(quantity("1e3"), Some(1000.0));
        assert_eq!(quantity("1.5k"), Some(1500.0));
        assert_eq!(quantity("ten gigs"), None);
        assert_eq!(quantity(""), None);
    }
}
