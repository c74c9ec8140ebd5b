//! Schedules, on both runtimes: the reconcile decides (in `core::schedule`) which run is due,
//! records it in the status before acting (so a crash never runs it twice), and hands it to a
//! task of this process (`run`) that reports the outcome back. Status writes of one Schedule
//! are serialised here, since its reconcile and its runs' tasks both write it.

mod run;
mod turn;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use oqto_api::names::LABEL_SCHEDULE;
use oqto_api::rules::Rules;
use oqto_api::{Cadence, RunOutcome, Schedule, ScheduleRun, ScheduleStatus, Session, Workspace};
use oqto_proto::runner::RunnerKey;
use oqto_store::{EventNote, ObjectStore, StoreError, key_of};
use serde_json::json;
use tokio::sync::watch;

use crate::Error;
use crate::core::conditions::{Wanted, merge};
use crate::core::lifecycle::Requeue;
use crate::core::schedule::{self as plan, Plan};
use crate::metrics::Metrics;

pub use run::{READY_TIMEOUT, RunSpec};

/// How long a `Replace` waits for the runs it cancelled before it starts the new one.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// A run in progress in this process.
struct RunTask {
    scheduled_at: Timestamp,
    cancel: watch::Sender<bool>,
    done: watch::Receiver<bool>,
}

/// The runs this process carries out, and one status lock per Schedule.
pub struct ScheduleRuns<S> {
    store: Arc<S>,
    key: RunnerKey,
    metrics: Arc<Metrics>,
    tasks: Mutex<HashMap<String, Vec<RunTask>>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn schedule_key(namespace: &str, name: &str) -> String {
    format!("sched/{namespace}/{name}")
}

fn event(warning: bool, reason: &str, note: String) -> EventNote {
    EventNote {
        warning,
        reason: reason.into(),
        note,
    }
}

impl<S: ObjectStore> ScheduleRuns<S> {
    pub fn new(store: Arc<S>, key: RunnerKey, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            store,
            key,
            metrics,
            tasks: Mutex::default(),
            locks: Mutex::default(),
        })
    }

    fn lock_of(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.locks.lock() {
            Ok(mut locks) => locks.entry(key.to_owned()).or_default().clone(),
            // A poisoned map only loses serialisation, never a write.
            Err(_) => Arc::default(),
        }
    }

    fn running(&self, key: &str) -> Vec<Timestamp> {
        self.tasks
            .lock()
            .map(|t| {
                t.get(key)
                    .map(|runs| runs.iter().map(|r| r.scheduled_at).collect())
            })
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Asks every run of the Schedule to stop; returns what says when each has.
    fn cancel_all(&self, key: &str) -> Vec<watch::Receiver<bool>> {
        let Ok(tasks) = self.tasks.lock() else {
            return Vec::new();
        };
        tasks
            .get(key)
            .map(|runs| {
                runs.iter()
                    .map(|r| {
                        let _ = r.cancel.send(true);
                        r.done.clone()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One Schedule at `now` (the caller's clock: tests drive it).
    pub async fn reconcile(
        self: &Arc<Self>,
        given: &Schedule,
        now: Timestamp,
    ) -> Result<Requeue, Error> {
        let (namespace, name) = key_of(given);
        let key = schedule_key(&namespace, &name);
        let lock = self.lock_of(&key);
        let guard = lock.lock().await;
        // The status is read fresh: a run's task may have written it since the cache saw it.
        let Some(schedule) = self.store.get::<Schedule>(&namespace, &name).await? else {
            self.cancel_all(&key);
            return Ok(Requeue::OnChange);
        };
        if schedule.metadata.deletion_timestamp.is_some() {
            self.cancel_all(&key);
            return Ok(Requeue::OnChange);
        }
        let generation = schedule.metadata.generation;
        let old = schedule.status.clone().unwrap_or_default();
        let mut status = old.clone();
        let mut events = Vec::new();
        let stamp = Time(now);

        let cadence = match schedule
            .validate()
            .map_err(|e| (e.field, e.message))
            .and_then(|()| {
                Cadence::parse(&schedule.spec.schedule, schedule.spec.time_zone.as_deref())
            }) {
            Ok(cadence) => cadence,
            Err((field, message)) => {
                let wanted =
                    Wanted::new("Ready", false, "InvalidSpec", format!("{field}: {message}"));
                status.conditions = merge(&old.conditions, &[wanted], generation, &stamp);
                status.observed_generation = generation;
                status.next_schedule_time = None;
                if status != old {
                    events.push(event(true, "InvalidSpec", format!("{field}: {message}")));
                }
                self.write(&schedule, status, &old, events).await?;
                return Ok(Requeue::OnChange);
            }
        };

        // Runs the status calls active but no task of this process carries (the operator
        // restarted, or the leader changed): their outcome is unknown.
        let running = self.running(&key);
        let (kept, lost): (Vec<_>, Vec<_>) = std::mem::take(&mut status.active)
            .into_iter()
            .partition(|r| running.contains(&r.scheduled_at.0));
        status.active = kept;
        for run in lost {
            let message = "the operator restarted during the run; the agent's turn may have gone on without it";
            events.push(event(
                true,
                "RunInterrupted",
                format!("run {}: {message}", run.session),
            ));
            self.drop_sessions(
                &schedule,
                plan::record(
                    &mut status.runs,
                    plan::finished(run, RunOutcome::Failed, Some(message.into()), now),
                    schedule.spec.successful_runs_history_limit,
                    schedule.spec.failed_runs_history_limit,
                ),
            )
            .await;
        }

        let created = schedule
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(now, |t| t.0);
        let last = old.last_schedule_time.as_ref().map(|t| t.0);
        let decided: Plan = plan::plan(
            &schedule.spec,
            &cadence,
            last.unwrap_or(created),
            last,
            status.active.len(),
            now,
        );
        if decided.cancel_active {
            // The runs write their own end (taking this lock): wait for them outside it, then
            // decide again with them gone.
            let waiting = self.cancel_all(&key);
            drop(guard);
            for mut done in waiting {
                let _ = tokio::time::timeout(CANCEL_WAIT, done.wait_for(|d| *d)).await;
            }
            return Ok(Requeue::After(Duration::from_millis(100)));
        }
        status.last_schedule_time = decided.last_schedule.map(Time);
        status.next_schedule_time = decided.next.map(Time);
        let target = target_session(&schedule);
        if let Some((due, reason)) = &decided.skip {
            let session = target(*due);
            events.push(event(
                true,
                "RunSkipped",
                format!("run due {due} skipped: {}", reason.message()),
            ));
            self.metrics.schedule_run("Skipped");
            let skipped = ScheduleRun {
                scheduled_at: Time(*due),
                started_at: None,
                finished_at: Some(stamp.clone()),
                session,
                outcome: Some(RunOutcome::Skipped),
                message: Some(reason.message()),
            };
            let dropped = plan::record(
                &mut status.runs,
                skipped,
                schedule.spec.successful_runs_history_limit,
                schedule.spec.failed_runs_history_limit,
            );
            self.drop_sessions(&schedule, dropped).await;
        }
        let started = decided.start.map(|due| {
            let session = target(due);
            events.push(event(
                false,
                "RunStarted",
                format!("run due {due} started in Session {session}"),
            ));
            status.active.push(ScheduleRun {
                scheduled_at: Time(due),
                started_at: None,
                finished_at: None,
                session: session.clone(),
                outcome: None,
                message: None,
            });
            RunSpec::of(&schedule, due, session)
        });

        let ready = self.target_condition(&schedule).await;
        status.conditions = merge(&old.conditions, &[ready], generation, &stamp);
        status.observed_generation = generation;
        // Recorded before the run starts: a crash after this write loses the run's outcome,
        // never runs it twice.
        self.write(&schedule, status, &old, events).await?;
        if let Some(spec) = started {
            self.spawn(key, spec);
        }
        Ok(Requeue::After(decided.requeue_after(now)))
    }

    /// `Ready`: valid, and the target is there (a run with a missing target fails, and says
    /// so, but the Schedule keeps its times).
    async fn target_condition(&self, schedule: &Schedule) -> Wanted {
        let (namespace, _) = key_of(schedule);
        let target = &schedule.spec.target;
        let missing = if let Some(session) = &target.session_ref {
            match self.store.get::<Session>(&namespace, &session.name).await {
                Ok(None) => Some(format!("Session {:?} does not exist", session.name)),
                _ => None,
            }
        } else if let Some(new) = &target.new_session {
            match self
                .store
                .get::<Workspace>(&namespace, &new.workspace_ref.name)
                .await
            {
                Ok(None) => Some(format!(
                    "Workspace {:?} does not exist",
                    new.workspace_ref.name
                )),
                _ => None,
            }
        } else {
            None
        };
        match (missing, schedule.spec.suspend) {
            (Some(why), _) => Wanted::new("Ready", false, "TargetNotFound", why),
            (None, true) => Wanted::new("Ready", true, "Suspended", "no new runs start"),
            (None, false) => Wanted::new("Ready", true, "Scheduled", "runs start when due"),
        }
    }

    async fn write(
        &self,
        schedule: &Schedule,
        status: ScheduleStatus,
        old: &ScheduleStatus,
        events: Vec<EventNote>,
    ) -> Result<(), Error> {
        if &status != old {
            let mut updated = schedule.clone();
            updated.status = Some(status);
            self.store.write_status(&updated).await?;
        }
        for note in events {
            self.store.record_event(schedule, note).await;
        }
        Ok(())
    }

    fn spawn(self: &Arc<Self>, key: String, spec: RunSpec) {
        let (cancel, cancelled) = watch::channel(false);
        let (finished, done) = watch::channel(false);
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.entry(key.clone()).or_default().push(RunTask {
                scheduled_at: spec.scheduled_at,
                cancel,
                done,
            });
        }
        let runs = self.clone();
        tokio::spawn(async move {
            let ended = run::execute(&*runs.store, &runs.key, &spec, cancelled).await;
            runs.finish(&key, &spec, ended).await;
            let _ = finished.send(true);
        });
    }

    /// Writes a run's end into its Schedule's status, with an Event; suspends the Session the
    /// run made; deletes the Sessions of runs the history limits drop.
    async fn finish(&self, key: &str, spec: &RunSpec, ended: run::Ended) {
        let lock = self.lock_of(key);
        let _guard = lock.lock().await;
        if let Ok(mut tasks) = self.tasks.lock()
            && let Some(runs) = tasks.get_mut(key)
        {
            runs.retain(|r| r.scheduled_at != spec.scheduled_at);
        }
        self.metrics.schedule_run(&format!("{:?}", ended.outcome));
        if spec.new_session.is_some() {
            // Its history stays; opening it in the UI wakes it.
            let suspend = self
                .store
                .patch_spec::<Session>(&spec.namespace, &spec.session, json!({"suspended": true}))
                .await;
            if let Err(e) = suspend
                && !matches!(e, StoreError::NotFound(_))
            {
                tracing::warn!(session = %spec.session, error = %e, "suspending a finished run's Session failed");
            }
        }
        // A few tries: the status may be written by a reconcile between our read and write.
        for _ in 0..3 {
            match self.record_end(spec, &ended).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(schedule = %spec.schedule, error = %e, "recording a run's end failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    async fn record_end(&self, spec: &RunSpec, ended: &run::Ended) -> Result<(), Error> {
        let Some(schedule) = self
            .store
            .get::<Schedule>(&spec.namespace, &spec.schedule)
            .await?
        else {
            return Ok(());
        };
        let old = schedule.status.clone().unwrap_or_default();
        let mut status = old.clone();
        let Some(at) = status
            .active
            .iter()
            .position(|r| r.scheduled_at.0 == spec.scheduled_at)
        else {
            return Ok(());
        };
        let mut run = status.active.remove(at);
        run.started_at = ended.started_at.map(Time);
        let now = Timestamp::now();
        let run = plan::finished(run, ended.outcome, ended.message.clone(), now);
        if ended.outcome.is_success() {
            status.last_successful_time = Some(Time(now));
        }
        let note = match ended.outcome {
            RunOutcome::Succeeded => event(
                false,
                "RunSucceeded",
                format!("run in Session {} succeeded", spec.session),
            ),
            outcome => event(
                true,
                if outcome == RunOutcome::Cancelled {
                    "RunCancelled"
                } else {
                    "RunFailed"
                },
                format!(
                    "run in Session {}: {}",
                    spec.session,
                    ended.message.as_deref().unwrap_or("no reason given")
                ),
            ),
        };
        let dropped = plan::record(
            &mut status.runs,
            run,
            schedule.spec.successful_runs_history_limit,
            schedule.spec.failed_runs_history_limit,
        );
        self.write(&schedule, status, &old, vec![note]).await?;
        self.drop_sessions(&schedule, dropped).await;
        Ok(())
    }

    /// Deletes the Sessions of dropped runs, when this Schedule made them (never a
    /// `sessionRef` target).
    async fn drop_sessions(&self, schedule: &Schedule, dropped: Vec<ScheduleRun>) {
        let (namespace, name) = key_of(schedule);
        for run in dropped {
            let Ok(Some(session)) = self.store.get::<Session>(&namespace, &run.session).await
            else {
                continue;
            };
            let made_here = session
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_SCHEDULE))
                == Some(&name);
            if made_here
                && let Err(e) = self.store.delete::<Session>(&namespace, &run.session).await
            {
                tracing::warn!(session = %run.session, error = %e, "deleting an old run's Session failed");
            }
        }
    }
}

/// The Session a run due at a time goes to.
fn target_session(schedule: &Schedule) -> impl Fn(Timestamp) -> String + '_ {
    move |due| match &schedule.spec.target.session_ref {
        Some(session) => session.name.clone(),
        None => plan::run_session_name(&key_of(schedule).1, due),
    }
}
