//! How many warm spare Sessions a Workspace should have (see `oqto_api::spare`): one while it
//! has a Session of its own in use, none otherwise. Decided from the Workspace's Sessions
//! alone, so both runtimes and every pass agree.
//!
//! A new spare waits until a Session in use is Running: started together, the spare's runner
//! would take half of a small node's CPU from the start the user waits for (on two cores the
//! first token came twice as late). An existing spare stays while any Session is in use, even
//! one restarting, so a runner's restart does not churn spares.

use oqto_api::Session;
use oqto_api::spare::{is_spare, is_usable_spare};

/// What to do about a Workspace's spares.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SpareStep {
    /// Start a new spare.
    pub create: bool,
    /// Spares to delete: all of them when none is wanted, else the broken ones and any beyond
    /// the first.
    pub delete: Vec<String>,
}

/// A new spare for `workspace`: the Workspace's defaults, labelled as a spare.
pub fn session(namespace: &str, workspace: &str, suffix: &str) -> Session {
    let mut spare = Session::new(
        &oqto_api::spare::generated_name(workspace, suffix),
        oqto_api::SessionSpec::in_workspace(workspace),
    );
    spare.metadata.namespace = Some(namespace.to_owned());
    spare.metadata.labels =
        Some([(oqto_api::spare::SPARE_LABEL.to_owned(), "true".to_owned())].into());
    spare
}

/// `wanted`: spares are on and the Workspace is ready (not being deleted, storage ready).
pub fn decide(wanted: bool, sessions: &[Session]) -> SpareStep {
    let live = || {
        sessions
            .iter()
            .filter(|s| s.metadata.deletion_timestamp.is_none())
    };
    let in_use = || live().filter(|s| !is_spare(s) && !s.spec.suspended);
    let running = in_use().any(|s| {
        s.status.as_ref().and_then(|status| status.phase) == Some(oqto_api::SessionPhase::Running)
    });
    let in_use = in_use().next().is_some();
    let mut spares: Vec<&Session> = live().filter(|s| is_spare(s)).collect();
    // The oldest spare is kept: it is the likeliest to be ready.
    spares.sort_by(|a, b| {
        let created = |s: &Session| s.metadata.creation_timestamp.clone().map(|t| t.0);
        created(a)
            .cmp(&created(b))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    let name = |s: &Session| s.metadata.name.clone().unwrap_or_default();
    if !(wanted && in_use) {
        return SpareStep {
            create: false,
            delete: spares.into_iter().map(name).collect(),
        };
    }
    // A spare that failed or was suspended will never be claimable: replaced.
    let (usable, broken): (Vec<&Session>, Vec<&Session>) =
        spares.into_iter().partition(|s| is_usable_spare(s));
    SpareStep {
        create: usable.is_empty() && running,
        delete: broken
            .into_iter()
            .chain(usable.into_iter().skip(1))
            .map(name)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session(name: &str, spare: bool, suspended: bool, phase: Option<&str>) -> Session {
        let mut value = json!({"apiVersion": "oqto.dev/v1alpha1", "kind": "Session",
            "metadata": {"name": name, "creationTimestamp": format!("2026-12-04T10:00:0{}Z", name.len() % 10)},
            "spec": {"workspaceRef": {"name": "w"}, "suspended": suspended}});
        if spare {
            value["metadata"]["labels"] = json!({"oqto.dev/spare": "true"});
        }
        if let Some(phase) = phase {
            value["status"] = json!({"phase": phase});
        }
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_workspace_with_a_running_session_gets_one_spare() {
        let sessions = [session("a", false, false, Some("Running"))];
        assert_eq!(
            decide(true, &sessions),
            SpareStep {
                create: true,
                delete: vec![]
            }
        );
        let with_spare = [
            session("a", false, false, Some("Running")),
            session("sp", true, false, Some("Starting")),
        ];
        assert_eq!(decide(true, &with_spare), SpareStep::default());
    }

    #[test]
    fn no_spare_without_a_session_in_use_or_when_switched_off() {
        let idle = [
            session("a", false, true, Some("Suspended")),
            session("sp", true, false, Some("Running")),
        ];
        assert_eq!(decide(true, &idle).delete, ["sp"]);
        assert!(!decide(true, &idle).create);
        let only_spare = [session("sp", true, false, Some("Running"))];
        assert_eq!(
            decide(true, &only_spare).delete,
            ["sp"],
            "a spare is not a use"
        );
        let off = [
            session("a", false, false, Some("Running")),
            session("sp", true, false, Some("Running")),
        ];
        assert_eq!(decide(false, &off).delete, ["sp"]);
        assert!(!decide(false, &off).create);
    }

    #[test]
    fn broken_and_extra_spares_are_replaced_by_one() {
        let sessions = [
            session("a", false, false, Some("Running")),
            session("bad", true, false, Some("Failed")),
        ];
        assert_eq!(
            decide(true, &sessions),
            SpareStep {
                create: true,
                delete: vec!["bad".into()]
            }
        );
        let two = [
            session("a", false, false, Some("Running")),
            session("s1", true, false, Some("Running")),
            session("s22", true, false, None),
        ];
        assert_eq!(
            decide(true, &two),
            SpareStep {
                create: false,
                delete: vec!["s22".into()]
            },
            "the older spare stays"
        );
    }

    #[test]
    fn a_spare_starts_after_the_session_in_use_is_running_and_outlives_its_restarts() {
        let starting = [session("a", false, false, Some("Starting"))];
        assert_eq!(
            decide(true, &starting),
            SpareStep::default(),
            "no spare competes with the start the user waits for"
        );
        let restarting = [
            session("a", false, false, Some("Starting")),
            session("sp", true, false, Some("Running")),
        ];
        assert_eq!(
            decide(true, &restarting),
            SpareStep::default(),
            "the spare is kept while its Session restarts"
        );
    }

    #[test]
    fn deleted_sessions_count_for_nothing() {
        let mut going = session("a", false, false, Some("Running"));
        going.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-12-04T10:00:00Z".parse().unwrap(),
            ));
        let sessions = [going, session("sp", true, false, Some("Running"))];
        assert_eq!(decide(true, &sessions).delete, ["sp"]);
    }
}
