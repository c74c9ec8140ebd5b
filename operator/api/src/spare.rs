//! Warm spare Sessions. With `--warm-spares`, the operator keeps one Session started ahead in
//! every Workspace that has a running Session: a real Session (its own runner, token, LLM key
//! and status) that carries the [`SPARE_LABEL`] and that nobody uses yet. Creating a Session
//! without a name claims it instead of starting a runner: the claim removes the label (on the
//! object's `resourceVersion`, so two claims cannot take the same spare) and stamps
//! [`CLAIMED_AT_ANNOTATION`], from which the idle and lifetime rules count. The operator then
//! starts the next spare.
//!
//! Claimed through the gateway (the UI, `oqtoctl`), or with `kubectl label session NAME
//! oqto.dev/spare-`.

use k8s_openapi::jiff::Timestamp;

use crate::{Session, SessionPhase};

/// On a Session started ahead and not claimed yet; its value is "true".
pub const SPARE_LABEL: &str = "oqto.dev/spare";

/// When a spare was claimed (RFC 3339): its idle time and lifetime count from here.
pub const CLAIMED_AT_ANNOTATION: &str = "oqto.dev/claimed-at";

/// Whether `session` is a spare nobody has claimed.
pub fn is_spare(session: &Session) -> bool {
    session
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(SPARE_LABEL))
        .is_some_and(|value| value == "true")
}

/// Whether `session` is an unclaimed spare that can still come to answer: not being deleted, not
/// suspended, not failed. The operator keeps one such spare per Workspace (and replaces the
/// others); the gateway claims only such a spare.
pub fn is_usable_spare(session: &Session) -> bool {
    is_spare(session)
        && session.metadata.deletion_timestamp.is_none()
        && !session.spec.suspended
        && !matches!(
            session.status.as_ref().and_then(|status| status.phase),
            Some(SessionPhase::Failed | SessionPhase::Suspended | SessionPhase::Terminating)
        )
}

/// When `session` was claimed, if it was a spare; an unreadable stamp counts as none.
pub fn claimed_at(session: &Session) -> Option<Timestamp> {
    session
        .metadata
        .annotations
        .as_ref()?
        .get(CLAIMED_AT_ANNOTATION)?
        .parse()
        .ok()
}

/// The name of a Session created without one: its Workspace's name and a random suffix (the
/// same for spares, so a claimed spare looks like any other Session).
pub fn generated_name(workspace: &str, suffix: &str) -> String {
    format!("{workspace}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> Session {
        let mut session = Session::new(
            "s",
            serde_json::from_value(serde_json::json!({"workspaceRef": {"name": "w"}})).unwrap(),
        );
        let map = |pairs: &[(&str, &str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };
        session.metadata.labels = map(labels);
        session.metadata.annotations = map(annotations);
        session
    }

    #[test]
    fn only_the_label_with_true_makes_a_spare() {
        assert!(is_spare(&session(&[(SPARE_LABEL, "true")], &[])));
        assert!(!is_spare(&session(&[(SPARE_LABEL, "false")], &[])));
        assert!(!is_spare(&session(&[], &[])));
    }

    #[test]
    fn a_spare_that_failed_was_suspended_or_is_going_is_not_usable() {
        let mut spare = session(&[(SPARE_LABEL, "true")], &[]);
        assert!(
            is_usable_spare(&spare),
            "a spare without status yet is on its way"
        );
        spare.status =
            Some(serde_json::from_value(serde_json::json!({"phase": "Running"})).unwrap());
        assert!(is_usable_spare(&spare));
        for phase in ["Failed", "Suspended"] {
            let mut broken = spare.clone();
            broken.status =
                Some(serde_json::from_value(serde_json::json!({"phase": phase})).unwrap());
            assert!(!is_usable_spare(&broken), "{phase}");
        }
        let mut suspended = spare.clone();
        suspended.spec.suspended = true;
        assert!(!is_usable_spare(&suspended));
        let mut going = spare.clone();
        going.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::now()),
        );
        assert!(!is_usable_spare(&going));
        assert!(!is_usable_spare(&session(&[], &[])), "not a spare");
    }

    #[test]
    fn the_claim_stamp_is_read_when_it_is_a_time() {
        let claimed = session(&[], &[(CLAIMED_AT_ANNOTATION, "2026-12-04T10:00:00Z")]);
        assert_eq!(
            claimed_at(&claimed),
            Some("2026-12-04T10:00:00Z".parse().unwrap())
        );
        assert_eq!(
            claimed_at(&session(&[], &[(CLAIMED_AT_ANNOTATION, "yesterday")])),
            None
        );
        assert_eq!(claimed_at(&session(&[], &[])), None);
    }
}
