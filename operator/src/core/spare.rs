//! How many warm spare Sessions a Workspace should have (see `oqto_api::spare`): one while it
//! has a Session of its own in use, none otherwise. Decided from the Workspace's Sessions
//! alone, so both runtimes and every pass agree.
//!
//! A new spare waits until a Session in use has been Running for [`START_AFTER`]: started
//! together, the spare's runner would take half of a small node's CPU from the start and the
//! first turn the user waits for (on two cores the first token came twice as late: the runner
//! reports ready before its Pi has loaded). A second Session is asked for by a person, seconds
//! later. An existing spare stays while any Session is in use, even one restarting, so a
//! runner's restart does not churn spares.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use oqto_api::spare::{is_spare, is_usable_spare};
use oqto_api::{Session, SessionPhase};

/// How long a Session in use runs before its Workspace's spare starts.
pub const START_AFTER: Duration = Duration::from_secs(10);

/// What to do about a Workspace's spares.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SpareStep {
    /// Start a new spare.
    pub create: bool,
    /// Spares to delete: all of them when none is wanted, else the broken ones and any beyond
    /// the first.
    pub delete: Vec<String>,
    /// Look again after this long: a spare is wanted once a Session has run [`START_AFTER`].
    pub recheck_after: Option<Duration>,
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
pub fn decide(wanted: bool, sessions: &[Session], now: Timestamp) -> SpareStep {
    let live = || {
        sessions
            .iter()
            .filter(|s| s.metadata.deletion_timestamp.is_none())
    };
    let in_use = || live().filter(|s| !is_spare(s) && !s.spec.suspended);
    // How long until the Session in use that has run longest has run START_AFTER (zero: it
    // has); none while no Session in use runs. A runner without a start time counts as long up.
    let wait = in_use()
        .filter_map(|s| s.status.as_ref())
        .filter(|status| status.phase == Some(SessionPhase::Running))
        .map(|status| {
            let ran = status.started_at.as_ref().map_or(START_AFTER, |t| {
                Duration::try_from(now.duration_since(t.0)).unwrap_or_default()
            });
            START_AFTER.saturating_sub(ran)
        })
        .min();
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
            recheck_after: None,
        };
    }
    // A spare that failed or was suspended will never be claimable: replaced.
    let (usable, broken): (Vec<&Session>, Vec<&Session>) =
        spares.into_iter().partition(|s| is_usable_spare(s));
    let missing = usable.is_empty();
    SpareStep {
        create: missing && wait == Some(Duration::ZERO),
        delete: broken
            .into_iter()
            .chain(usable.into_iter().skip(1))
            .map(name)
            .collect(),
        recheck_after: wait.filter(|wait| missing && !wait.is_zero()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-12-04T11:00:00Z".parse().unwrap()
    }

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
            decide(true, &sessions, now()),
            SpareStep {
                create: true,
                ..SpareStep::default()
            }
        );
        let with_spare = [
            session("a", false, false, Some("Running")),
            session("sp", true, false, Some("Starting")),
        ];
        assert_eq!(decide(true, &with_spare, now()), SpareStep::default());
    }

    #[test]
    fn no_spare_without_a_session_in_use_or_when_switched_off() {
        let idle = [
            session("a", false, true, Some("Suspended")),
            session("sp", true, false, Some("Running")),
        ];
        assert_eq!(decide(true, &idle, now()).delete, ["sp"]);
        assert!(!decide(true, &idle, now()).create);
        let only_spare = [session("sp", true, false, Some("Running"))];
        assert_eq!(
            decide(true, &only_spare, now()).delete,
            ["sp"],
            "a spare is not a use"
        );
        let off = [
            session("a", false, false, Some("Running")),
            session("sp", true, false, Some("Running")),
        ];
        assert_eq!(decide(false, &off, now()).delete, ["sp"]);
        assert!(!decide(false, &off, now()).create);
    }

    #[test]
    fn broken_and_extra_spares_are_replaced_by_one() {
        let sessions = [
            session("a", false, false, Some("Running")),
            session("bad", true, false, Some("Failed")),
        ];
        assert_eq!(
            decide(true, &sessions, now()),
            SpareStep {
                create: true,
                delete: vec!["bad".into()],
                recheck_after: None,
            }
        );
        let two = [
            session("a", false, false, Some("Running")),
            session("s1", true, false, Some("Running")),
            session("s22", true, false, None),
        ];
        assert_eq!(
            decide(true, &two, now()),
            SpareStep {
                delete: vec!["s22".into()],
                ..SpareStep::default()
            },
            "the older spare stays"
        );
    }

    #[test]
    fn a_spare_starts_after_the_session_in_use_is_running_and_outlives_its_restarts() {
        let starting = [session("a", false, false, Some("Starting"))];
        assert_eq!(
            decide(true, &starting, now()),
            SpareStep::default(),
            "no spare competes with the start the user waits for"
        );
        let restarting = [
            session("a", false, false, Some("Starting")),
            session("sp", true, false, Some("Running")),
        ];
        assert_eq!(
            decide(true, &restarting, now()),
            SpareStep::default(),
            "the spare is kept while its Session restarts"
        );
    }

    #[test]
    fn the_spare_waits_until_the_session_in_use_has_run_a_while() {
        let since = |seconds: i64| {
            let mut s = session("a", false, false, Some("Running"));
            let started = now() - k8s_openapi::jiff::SignedDuration::from_secs(seconds);
            s.status.as_mut().unwrap().started_at = Some(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(started),
            );
            s
        };
        assert_eq!(
            decide(true, &[since(4)], now()),
            SpareStep {
                recheck_after: Some(START_AFTER - Duration::from_secs(4)),
                ..SpareStep::default()
            },
            "too early: looked at again when it is time"
        );
        assert!(decide(true, &[since(10)], now()).create);
        assert!(
            decide(true, &[since(4), since(60)], now()).create,
            "the Session that has run longest counts"
        );
        let kept = [since(4), session("sp", true, false, Some("Running"))];
        assert_eq!(
            decide(true, &kept, now()),
            SpareStep::default(),
            "a spare there already: nothing to wait for"
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
        assert_eq!(decide(true, &sessions, now()).delete, ["sp"]);
    }
}
