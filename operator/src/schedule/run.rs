//! One run of a Schedule, from its Session to the end of the agent's turn: create or wake the
//! Session, wait for its runner, send the prompt, follow the turn. The outcome goes back to
//! the Schedule's status through `ScheduleRuns::finish`.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use oqto_api::names::{LABEL_SCHEDULE, LABEL_WORKSPACE};
use oqto_api::{RunOutcome, Schedule, Session, SessionPhase};
use oqto_proto::runner::{RunnerKey, websocket_url};
use oqto_store::{ObjectStore, StoreError};
use serde_json::json;
use tokio::sync::watch;

use super::turn::{self, Driven};

/// How often a run looks at its Session while the runner starts.
pub const READY_POLL: Duration = Duration::from_millis(500);
/// How long a run waits for its runner (the Session's own start timeout fails it sooner when
/// the Workspace sets a shorter one).
pub const READY_TIMEOUT: Duration = Duration::from_secs(600);

/// Everything a run needs, taken from the Schedule when it started (a later edit applies from
/// the next run on).
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub namespace: String,
    pub schedule: String,
    pub schedule_uid: String,
    pub scheduled_at: Timestamp,
    pub session: String,
    /// `Some(workspace, provider, model)`: the run creates its Session.
    pub new_session: Option<(String, Option<String>, Option<String>)>,
    pub prompt: String,
    pub timeout: Duration,
}

impl RunSpec {
    pub fn of(schedule: &Schedule, scheduled_at: Timestamp, session: String) -> Self {
        let (namespace, name) = oqto_store::key_of(schedule);
        let spec = &schedule.spec;
        Self {
            namespace,
            schedule: name,
            schedule_uid: schedule.metadata.uid.clone().unwrap_or_default(),
            scheduled_at,
            session,
            new_session: spec.target.new_session.as_ref().map(|n| {
                (
                    n.workspace_ref.name.clone(),
                    n.provider.clone(),
                    n.model.clone(),
                )
            }),
            prompt: spec.prompt.clone(),
            timeout: crate::core::schedule::run_timeout(spec),
        }
    }
}

/// How a run ended, and why when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub outcome: RunOutcome,
    pub message: Option<String>,
    /// When the prompt was sent (`None`: it never was).
    pub started_at: Option<Timestamp>,
}

impl Ended {
    fn failed(message: impl Into<String>) -> Self {
        Self {
            outcome: RunOutcome::Failed,
            message: Some(message.into()),
            started_at: None,
        }
    }
}

/// Carries the run out. `cancel` turning true aborts it (`Replace`, a deleted Schedule).
pub async fn execute<S: ObjectStore>(
    store: &S,
    key: &RunnerKey,
    run: &RunSpec,
    mut cancel: watch::Receiver<bool>,
) -> Ended {
    if let Err(why) = ensure_session(store, run).await {
        return Ended::failed(why);
    }
    let ready = tokio::select! {
        ready = wait_ready(store, run) => ready,
        _ = cancel.wait_for(|c| *c) => return Ended {
            outcome: RunOutcome::Cancelled,
            message: Some("a newer run replaced it before its prompt was sent".into()),
            started_at: None,
        },
    };
    let (websocket, uid) = match ready {
        Ok(ready) => ready,
        Err(ended) => return ended,
    };
    let started_at = Timestamp::now();
    let client_id = format!("schedule-{}", run.schedule);
    let driven = turn::drive(
        &websocket,
        &key.token(&uid),
        &run.session,
        &run.prompt,
        &client_id,
        run.timeout,
        cancel,
    )
    .await;
    let (outcome, message) = match driven {
        Driven::Finished => (RunOutcome::Succeeded, None),
        Driven::Failed(why) => (RunOutcome::Failed, Some(why)),
        Driven::TimedOut => (
            RunOutcome::Failed,
            Some(format!(
                "the turn took longer than runTimeout ({}s) and was aborted",
                run.timeout.as_secs()
            )),
        ),
        Driven::Cancelled => (
            RunOutcome::Cancelled,
            Some("a newer run replaced it (concurrencyPolicy Replace)".into()),
        ),
    };
    Ended {
        outcome,
        message,
        started_at: Some(started_at),
    }
}

/// Creates the run's Session, or wakes the target Session.
async fn ensure_session<S: ObjectStore>(store: &S, run: &RunSpec) -> Result<(), String> {
    let Some((workspace, provider, model)) = &run.new_session else {
        return match store.get::<Session>(&run.namespace, &run.session).await {
            Ok(Some(session)) if session.spec.suspended => store
                .patch_spec::<Session>(&run.namespace, &run.session, json!({"suspended": false}))
                .await
                .map(drop)
                .map_err(|e| format!("waking Session {:?} failed: {e}", run.session)),
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(format!(
                "Session {:?} (spec.target.sessionRef) does not exist",
                run.session
            )),
            Err(e) => Err(format!("reading Session {:?} failed: {e}", run.session)),
        };
    };
    let due = run.scheduled_at.strftime("%Y-%m-%d %H:%M UTC");
    let session = json!({
        "apiVersion": "oqto.dev/v1alpha1",
        "kind": "Session",
        "metadata": {
            "name": run.session,
            "namespace": run.namespace,
            "labels": {LABEL_SCHEDULE: run.schedule, LABEL_WORKSPACE: workspace},
            // Kubernetes deletes a Schedule's Sessions with it; single-node mode does the same
            // in `ScheduleRuns::collect`.
            "ownerReferences": [{
                "apiVersion": "oqto.dev/v1alpha1",
                "kind": "Schedule",
                "name": run.schedule,
                "uid": run.schedule_uid,
            }],
        },
        "spec": {
            "workspaceRef": {"name": workspace},
            "provider": provider,
            "model": model,
            "displayName": format!("{} · {due}", run.schedule),
        },
    });
    let session: Session = serde_json::from_value(session)
        .map_err(|e| format!("building the run's Session failed: {e}"))?;
    match store.create(session).await {
        Ok(_) => Ok(()),
        // A retried run finds the Session it made before; a Session someone else made under
        // that name gets nobody's scheduled prompt.
        Err(StoreError::AlreadyExists(_)) => {
            let existing = store
                .get::<Session>(&run.namespace, &run.session)
                .await
                .map_err(|e| format!("reading Session {:?} failed: {e}", run.session))?;
            let ours = existing.is_some_and(|s| {
                s.metadata
                    .owner_references
                    .unwrap_or_default()
                    .iter()
                    .any(|o| {
                        o.kind == "Schedule" && o.uid == run.schedule_uid && o.name == run.schedule
                    })
            });
            if ours {
                Ok(())
            } else {
                Err(format!(
                    "a Session named {:?} exists and was not made by this Schedule",
                    run.session
                ))
            }
        }
        Err(e) => Err(format!("creating Session {:?} failed: {e}", run.session)),
    }
}

/// Waits until the Session's runner is ready: its WebSocket address and uid.
async fn wait_ready<S: ObjectStore>(store: &S, run: &RunSpec) -> Result<(String, String), Ended> {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        match store.get::<Session>(&run.namespace, &run.session).await {
            Ok(Some(session)) => {
                let status = session.status.clone().unwrap_or_default();
                let endpoint = status.endpoint.as_deref().and_then(websocket_url);
                match (status.phase, endpoint, session.metadata.uid.clone()) {
                    (Some(SessionPhase::Running), Some(websocket), Some(uid)) => {
                        return Ok((websocket, uid));
                    }
                    (Some(SessionPhase::Failed), ..) => {
                        let why = status
                            .conditions
                            .iter()
                            .find(|c| c.type_ == "Ready")
                            .map(|c| c.message.clone())
                            .unwrap_or_default();
                        return Err(Ended::failed(format!(
                            "the Session's runner failed to start: {why}"
                        )));
                    }
                    _ => {}
                }
            }
            Ok(None) => {
                return Err(Ended {
                    outcome: RunOutcome::Cancelled,
                    message: Some(format!("Session {:?} was deleted", run.session)),
                    started_at: None,
                });
            }
            // The store may be briefly unreachable; the deadline bounds the wait.
            Err(e) => tracing::debug!(error = %e, "reading the run's Session failed"),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Ended::failed(format!(
                "the Session's runner was not ready within {}s",
                READY_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(READY_POLL).await;
    }
}
