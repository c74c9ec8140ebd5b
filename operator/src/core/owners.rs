//! Single-node mode has no garbage collector: which Sessions outlived their owner (the
//! Schedule that made them for a run, or the Session that delegated to them), decided here and
//! deleted by the Podman loop. On Kubernetes their owner references do the same.

use std::collections::HashSet;

use oqto_api::{Schedule, Session};
use oqto_store::key_of;

/// The `(namespace, name)` of every Session whose Schedule or Session owner is gone (by uid:
/// an owner made again under the same name is another object).
pub fn orphaned_sessions(sessions: &[Session], schedules: &[Schedule]) -> Vec<(String, String)> {
    let alive: HashSet<(&str, &str)> = schedules
        .iter()
        .filter_map(|s| s.metadata.uid.as_deref().map(|uid| ("Schedule", uid)))
        .chain(
            sessions
                .iter()
                .filter(|s| s.metadata.deletion_timestamp.is_none())
                .filter_map(|s| s.metadata.uid.as_deref().map(|uid| ("Session", uid))),
        )
        .collect();
    sessions
        .iter()
        .filter(|session| {
            session
                .metadata
                .owner_references
                .iter()
                .flatten()
                .filter(|o| o.kind == "Schedule" || o.kind == "Session")
                .any(|o| !alive.contains(&(o.kind.as_str(), o.uid.as_str())))
        })
        .map(key_of)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session(name: &str, uid: &str, owner: Option<(&str, &str)>) -> Session {
        let owners = owner.map(|(kind, uid)| {
            json!([{"apiVersion": "oqto.dev/v1alpha1", "kind": kind, "name": "o", "uid": uid}])
        });
        serde_json::from_value(json!({"apiVersion": "oqto.dev/v1alpha1", "kind": "Session",
            "metadata": {"name": name, "namespace": "ns", "uid": uid, "ownerReferences": owners},
            "spec": {"workspaceRef": {"name": "w"}}}))
        .expect("a session")
    }

    fn schedule(uid: &str) -> Schedule {
        serde_json::from_value(
            json!({"apiVersion": "oqto.dev/v1alpha1", "kind": "Schedule",
            "metadata": {"name": "nightly", "namespace": "ns", "uid": uid},
            "spec": {"schedule": "@daily", "prompt": "p",
                "target": {"sessionRef": {"name": "x"}}}}),
        )
        .expect("a schedule")
    }

    #[test]
    fn sessions_whose_schedule_or_parent_is_gone_are_orphans() {
        let sessions = [
            session("parent", "p1", None),
            session("child", "c1", Some(("Session", "p1"))),
            session("orphan-child", "c2", Some(("Session", "gone"))),
            session("run", "r1", Some(("Schedule", "s1"))),
            session("old-run", "r2", Some(("Schedule", "s-before"))),
        ];
        let orphans = orphaned_sessions(&sessions, &[schedule("s1")]);
        let names: Vec<&str> = orphans.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["orphan-child", "old-run"]);
        // A deleted parent takes its children along.
        let mut deleting = sessions[0].clone();
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        let orphans = orphaned_sessions(&[deleting, sessions[1].clone()], &[]);
        assert_eq!(orphans, [("ns".to_owned(), "child".to_owned())]);
    }
}
