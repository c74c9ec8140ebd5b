//! Schedules in single-node mode, against real Podman, the real runner image with the real Pi,
//! and the scripted LLM: when a run is due (the test sets the operator's clock; nothing sleeps
//! until a cron minute), the operator makes its Session, sends the prompt through pi-bridge,
//! follows the turn and records the run; history limits, suspend and deletion clean up.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use std::time::Duration;

use common::{PodmanOperator, object};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use oqto_api::names::LABEL_SCHEDULE;
use oqto_api::{RunOutcome, Schedule, Session};
use oqto_e2e::podman::workspace_volumes;
use oqto_scripted_llm::{Script, ScriptedLlm};
use oqto_store::LocalStore;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(180);
const KEY: &str = "scheduled-upstream-key";

fn host_address() -> String {
    let out = std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn status(store: &LocalStore, namespace: &str, name: &str) -> oqto_api::ScheduleStatus {
    store
        .get::<Schedule>(namespace, name)
        .unwrap()
        .and_then(|s| s.status)
        .unwrap_or_default()
}

async fn until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    oqto_e2e::eventually(what, WAIT, || std::future::ready(check()))
        .await
        .unwrap()
}

/// The first due time of "*/5 * * * *" after `at`.
fn next_five_minutes(at: Timestamp) -> Timestamp {
    let minutes = at.as_second().div_euclid(300) + 1;
    Timestamp::from_second(minutes * 300).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_prompts_a_new_session_when_due_and_records_each_run() {
    let operator = PodmanOperator::start(Duration::from_millis(300)).await;
    let store = operator.store.clone();
    let namespace = format!("sched{}", std::process::id());

    let script: Script = serde_json::from_value(json!({"api_key": KEY, "rules": [
        {"when_user_contains": "nightly report",
         "steps": [{"kind": "text", "chunks": ["Report ", "done"], "delay_ms": 0}]}
    ]}))
    .unwrap();
    let llm = ScriptedLlm::spawn(script, "0.0.0.0:0").await.unwrap();
    common::scripted_workspace(
        &store,
        &namespace,
        "dev",
        "alice",
        &format!("http://{}:{}/v1", host_address(), llm.addr().port()),
        KEY,
    );

    // The operator's time is the test's from here on: a moment after now, nothing is due.
    let start = Timestamp::now();
    operator.clock.set(Some(start));
    store
        .apply::<Schedule>(object(
            "Schedule",
            &namespace,
            "nightly",
            json!({"schedule": "*/5 * * * *", "prompt": "write the nightly report",
                "target": {"newSession": {"workspaceRef": {"name": "dev"}}},
                "successfulRunsHistoryLimit": 1}),
        ))
        .unwrap();
    let first_due = next_five_minutes(start);
    let waiting = until("the Schedule's next time", || {
        let status = status(&store, &namespace, "nightly");
        status.next_schedule_time.clone().map(|t| (t.0, status))
    })
    .await;
    assert_eq!(waiting.0, first_due, "next run at the next 5-minute mark");
    assert!(
        waiting.1.active.is_empty() && waiting.1.runs.is_empty(),
        "nothing ran yet"
    );
    assert_eq!(
        waiting
            .1
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.reason.as_str()),
        Some("Scheduled")
    );

    // 1. The clock reaches the due time: the run makes its Session and prompts the agent.
    operator
        .clock
        .set(Some(first_due + SignedDuration::from_secs(2)));
    let first = until("the first run's end", || {
        let status = status(&store, &namespace, "nightly");
        status.runs.first().cloned()
    })
    .await;
    assert_eq!(first.outcome, Some(RunOutcome::Succeeded), "{first:?}");
    assert_eq!(first.scheduled_at.0, first_due);
    assert!(first.started_at.is_some() && first.finished_at.is_some());
    let session = store
        .get::<Session>(&namespace, &first.session)
        .unwrap()
        .expect("the run's Session");
    assert_eq!(
        session
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_SCHEDULE))
            .map(String::as_str),
        Some("nightly")
    );
    assert_eq!(session.spec.workspace_ref.name, "dev");
    let prompts: Vec<String> = llm
        .requests()
        .iter()
        .map(|r| r.to_string())
        .filter(|r| r.contains("write the nightly report"))
        .collect();
    assert!(
        !prompts.is_empty(),
        "the agent sent the scheduled prompt to the LLM"
    );
    until("the finished run's Session suspended", || {
        let session = store.get::<Session>(&namespace, &first.session).unwrap()?;
        session.spec.suspended.then_some(())
    })
    .await;
    let events = store.events::<Schedule>(&namespace, "nightly");
    for reason in ["RunStarted", "RunSucceeded"] {
        assert!(
            events.iter().any(|e| e.reason == reason),
            "{reason} in {events:?}"
        );
    }

    // 2. The next due time: a second Session; the history limit of one drops the first run
    // and its Session.
    let second_due = first_due + SignedDuration::from_mins(5);
    operator
        .clock
        .set(Some(second_due + SignedDuration::from_secs(1)));
    let second = until("the second run's end", || {
        let status = status(&store, &namespace, "nightly");
        status
            .runs
            .first()
            .filter(|r| r.scheduled_at.0 == second_due)
            .cloned()
            .map(|run| (run, status.runs.len()))
    })
    .await;
    assert_eq!(
        second.0.outcome,
        Some(RunOutcome::Succeeded),
        "{:?}",
        second.0
    );
    assert_ne!(second.0.session, first.session, "a Session per run");
    assert_eq!(second.1, 1, "successfulRunsHistoryLimit keeps one run");
    until("the dropped run's Session deleted", || {
        store
            .get::<Session>(&namespace, &first.session)
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;

    // 3. Suspended: due times pass and nothing runs; there is no next time.
    let mut suspended: Schedule = store.get(&namespace, "nightly").unwrap().unwrap();
    suspended.spec.suspend = true;
    store.apply(suspended).unwrap();
    until("no next time while suspended", || {
        status(&store, &namespace, "nightly")
            .next_schedule_time
            .is_none()
            .then_some(())
    })
    .await;
    operator.clock.set(Some(
        second_due + SignedDuration::from_mins(5) + SignedDuration::from_secs(1),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await; // several operator passes
    let now = status(&store, &namespace, "nightly");
    assert!(
        now.active.is_empty(),
        "a suspended Schedule starts nothing: {now:?}"
    );
    assert_eq!(now.runs.len(), 1);

    // 4. Deleting the Schedule deletes the Sessions it made.
    assert!(store.delete::<Schedule>(&namespace, "nightly").unwrap());
    until("the Schedule's Sessions deleted with it", || {
        store
            .get::<Session>(&namespace, &second.0.session)
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    drop(operator);
    for volume in workspace_volumes(&namespace, "dev") {
        oqto_e2e::podman::podman(&["volume", "rm", "-f", &volume]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_cannot_reach_its_session_fails_with_the_reason_and_bad_schedules_say_why() {
    let operator = PodmanOperator::start(Duration::from_millis(300)).await;
    let store = operator.store.clone();
    let namespace = format!("schedbad{}", std::process::id());
    let start = Timestamp::now();
    operator.clock.set(Some(start));
    store
        .apply::<Schedule>(object(
            "Schedule",
            &namespace,
            "orphan",
            json!({"schedule": "*/5 * * * *", "prompt": "hello",
                "target": {"sessionRef": {"name": "gone"}}}),
        ))
        .unwrap();
    until("TargetNotFound", || {
        let status = status(&store, &namespace, "orphan");
        status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready" && c.reason == "TargetNotFound")
            .map(|c| assert!(c.message.contains("\"gone\""), "{}", c.message))
    })
    .await;
    operator.clock.set(Some(
        next_five_minutes(start) + SignedDuration::from_secs(1),
    ));
    let run = until("the failed run", || {
        status(&store, &namespace, "orphan").runs.first().cloned()
    })
    .await;
    assert_eq!(run.outcome, Some(RunOutcome::Failed));
    assert!(
        run.message
            .as_deref()
            .is_some_and(|m| m.contains("does not exist")),
        "{run:?}"
    );
    assert!(
        store.get::<Session>(&namespace, "gone").unwrap().is_none(),
        "a sessionRef run never creates the Session"
    );
    // The store refuses what the operator could never run, naming the field.
    let bad = store.apply::<Schedule>(object(
        "Schedule",
        &namespace,
        "weekly",
        json!({"schedule": "0 9 * * 8", "prompt": "hello",
            "target": {"sessionRef": {"name": "gone"}}}),
    ));
    let error = bad.expect_err("day-of-week 8").to_string();
    assert!(error.contains("spec.schedule"), "{error}");
}

/// `oqtoctl schedule` against the gateway binary on a store of the test's own (no runner runs:
/// what runs do is the tests above): create with a time zone and a policy, list, suspend and
/// resume, read the runs, refuse a bad cron naming it, delete.
#[tokio::test(flavor = "multi_thread")]
async fn oqtoctl_manages_a_workspaces_schedules_through_the_gateway() {
    const ADMIN: (&str, &str) = ("admin", "schedules-oqtoctl-password");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("store");
    let store = LocalStore::open(&state).unwrap();
    let namespace = format!("schedcli{}", std::process::id());
    store
        .apply::<oqto_api::Workspace>(object(
            "Workspace",
            &namespace,
            "dev",
            json!({"owner": ADMIN.0}),
        ))
        .unwrap();
    let mut command =
        tokio::process::Command::new(oqto_e2e::workspace_binary("oqto-gateway").unwrap());
    command
        .args(["--runtime", "podman", "--namespace", &namespace])
        .arg("--state-dir")
        .arg(&state);
    let gateway =
        oqto_e2e::gateway::GatewayProcess::start(command, &dir.path().join("gateway"), ADMIN)
            .await
            .unwrap();
    let token = gateway.login(ADMIN.0, ADMIN.1).await.unwrap();
    let oqtoctl = |args: &[&str]| {
        let output = std::process::Command::new(oqto_e2e::workspace_binary("oqtoctl").unwrap())
            .args(["--server", &gateway.url, "--token", &token])
            .args(args)
            .env("XDG_CONFIG_HOME", dir.path())
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let (ok, _, err) = oqtoctl(&[
        "schedule",
        "create",
        "nightly",
        "-w",
        "dev",
        "--cron",
        "0 3 * * *",
        "--time-zone",
        "Europe/Berlin",
        "--prompt",
        "write the nightly report",
        "--concurrency-policy",
        "replace",
    ]);
    assert!(ok, "{err}");
    let stored = store
        .get::<Schedule>(&namespace, "nightly")
        .unwrap()
        .unwrap();
    assert_eq!(stored.spec.schedule, "0 3 * * *");
    assert_eq!(stored.spec.time_zone.as_deref(), Some("Europe/Berlin"));
    let (ok, listed, err) = oqtoctl(&["schedule", "list", "-w", "dev"]);
    assert!(ok, "{err}");
    assert!(
        listed.contains("nightly") && listed.contains("0 3 * * *"),
        "{listed}"
    );

    let (ok, _, err) = oqtoctl(&["schedule", "suspend", "nightly", "-w", "dev"]);
    assert!(ok, "{err}");
    let suspended = store
        .get::<Schedule>(&namespace, "nightly")
        .unwrap()
        .unwrap();
    assert!(suspended.spec.suspend, "suspend did not reach the Schedule");
    let (ok, _, err) = oqtoctl(&["schedule", "resume", "nightly", "-w", "dev"]);
    assert!(ok, "{err}");
    let resumed = store
        .get::<Schedule>(&namespace, "nightly")
        .unwrap()
        .unwrap();
    assert!(!resumed.spec.suspend);
    let (ok, _, err) = oqtoctl(&["schedule", "runs", "nightly", "-w", "dev"]);
    assert!(ok, "no runs yet is an answer too: {err}");

    let (ok, _, err) = oqtoctl(&[
        "schedule",
        "create",
        "broken",
        "-w",
        "dev",
        "--cron",
        "every day",
        "--prompt",
        "p",
    ]);
    assert!(!ok, "a bad cron expression was accepted");
    assert!(
        err.contains("spec.schedule"),
        "the refusal names the field: {err}"
    );
    assert!(
        store
            .get::<Schedule>(&namespace, "broken")
            .unwrap()
            .is_none()
    );

    let (ok, _, err) = oqtoctl(&["schedule", "delete", "nightly", "-w", "dev"]);
    assert!(ok, "{err}");
    assert!(
        store
            .get::<Schedule>(&namespace, "nightly")
            .unwrap()
            .is_none()
    );
    let _ = store.delete::<oqto_api::Workspace>(&namespace, "dev");
}
