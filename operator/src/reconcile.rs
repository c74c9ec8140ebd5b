//! The one reconciler of both runtimes: fetch (from the object store), decide (in
//! `core::lifecycle`), act (through the runtime), then write status and Events. The Kubernetes
//! controllers and the Podman loop only decide *when* to call it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use oqto_api::workspace::ReclaimPolicy;
use oqto_api::{Session, Workspace, WorkspaceClass, WorkspacePhase, WorkspaceStatus};
use oqto_store::{EventNote, ObjectStore, key_of};
use serde_json::json;

use crate::Error;
use crate::core::CoreError;
use crate::core::class;
use crate::core::conditions::{Wanted, merge};
use crate::core::idle::Activity;
use crate::core::lifecycle::{
    self, Observed, Requeue, RunnerAction, RunnerHealth, RunnerSeen, Step,
};
use crate::core::written::Written;
use crate::core::{OperatorDefaults, RunnerPlan};
use crate::http::Health;
use crate::metrics::Metrics;
use crate::runtime::{Runtime, Subject};
use crate::schedule::ScheduleRuns;

pub use crate::core::lifecycle::WORKSPACE_FINALIZER;

pub struct Reconciler<S, R> {
    pub store: Arc<S>,
    pub runtime: Arc<R>,
    pub defaults: OperatorDefaults,
    pub metrics: Arc<Metrics>,
    /// How often a running Session's activity is checked.
    pub activity_every: Duration,
    /// What `/readyz` reports: whether the runtime answers.
    pub health: Arc<Health>,
    http: reqwest::Client,
    /// For the runners' readiness (`confirm`): short timeouts, and no redirects, so a hostile
    /// runner cannot send the operator's request elsewhere.
    ask: reqwest::Client,
    /// Failed readiness asks in a row per Running Session (its uid).
    ask_failures: Mutex<HashMap<String, u32>>,
    /// Consecutive transient failures per object, for backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// The statuses last written, so that a pass over a stale cache does not write one again.
    written: Mutex<Written>,
    /// The Schedules' runs in progress in this process.
    pub schedules: Arc<ScheduleRuns<S>>,
    /// The time Schedules are decided at.
    pub clock: crate::clock::Clock,
}

/// Records a reconcile's duration when dropped (whichever way the reconcile ends).
struct Timer<'a> {
    metrics: &'a Metrics,
    controller: &'static str,
    started: Instant,
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.metrics
            .observe_reconcile(self.controller, self.started.elapsed().as_secs_f64());
    }
}

/// How long a runner may take to accept the operator's connection, and to answer its readiness
/// path: it answers at once or is not up (a reconcile waits for the answer, so a runner that
/// stalls must not hold it long).
const ASK_CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
const ASK_TIMEOUT: Duration = Duration::from_millis(800);
/// Failed asks in a row before a Running Session's runner counts as not ready: one slow answer
/// on a busy node does not take a Session out of Running.
const ASK_FAILURES_TO_STOP: u32 = 3;

fn session_key(session: &Session) -> String {
    let (namespace, name) = key_of(session);
    format!("sess/{namespace}/{name}")
}

impl<S: ObjectStore, R: Runtime> Reconciler<S, R> {
    pub fn new(store: Arc<S>, runtime: Arc<R>, defaults: OperatorDefaults) -> Self {
        let metrics = Arc::new(Metrics::new());
        let schedules =
            ScheduleRuns::new(store.clone(), defaults.runner_key.clone(), metrics.clone());
        Self {
            schedules,
            clock: Default::default(),
            store,
            runtime,
            defaults,
            metrics,
            activity_every: lifecycle::ACTIVITY_EVERY,
            health: Arc::new(Health::default()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            ask: reqwest::Client::builder()
                .connect_timeout(ASK_CONNECT_TIMEOUT)
                .timeout(ASK_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            ask_failures: Mutex::default(),
            failures: Mutex::default(),
            written: Mutex::default(),
        }
    }

    fn timer(&self, controller: &'static str) -> Timer<'_> {
        Timer {
            metrics: &self.metrics,
            controller,
            started: Instant::now(),
        }
    }

    /// Exponential backoff for transient failures: 1 s, 2 s, 4 s … at most 5 min.
    pub fn backoff(&self, key: &str) -> Duration {
        let Ok(mut failures) = self.failures.lock() else {
            return Duration::from_secs(30);
        };
        let n = failures.entry(key.to_owned()).or_insert(0);
        *n = (*n + 1).min(9);
        Duration::from_secs(1u64 << (*n - 1)).min(Duration::from_secs(300))
    }

    fn succeeded(&self, key: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(key);
        }
    }

    /// Counts a failure and says when to try again (transient) or to wait for a change.
    pub fn failed(&self, controller: &'static str, key: &str, error: &Error) -> Requeue {
        if error.object_gone() {
            tracing::debug!(object = %key, "deleted while being reconciled");
            return Requeue::OnChange;
        }
        self.metrics.failed(controller, error.reason());
        if let Some(why) = error.unreachable() {
            self.health.set_unreachable(Some(why));
        }
        tracing::warn!(object = %key, reason = error.reason(), %error, "reconcile failed");
        if error.is_transient() {
            Requeue::After(self.backoff(key))
        } else {
            Requeue::OnChange
        }
    }

    /// A runner whose process runs is Ready once pi-bridge answers its readiness path (a warm
    /// spare's waits for its Pi: see `RunnerPlan::ready_when_warm`), asked here rather than
    /// waited for: the same rule on both runtimes, and a start is seen when it happens, not at
    /// the kubelet's next probe tick. Only the status code is read (200, nothing else). A
    /// Session already Running on this runner stays so until `ASK_FAILURES_TO_STOP` asks in a
    /// row failed.
    async fn confirm(&self, session: &Session, runner: &mut RunnerSeen, warm: bool) {
        let (RunnerHealth::Starting { running: true, .. }, Some(address)) =
            (&runner.health, &runner.address)
        else {
            return;
        };
        let path = if warm {
            oqto_proto::runner::READY_WARM_PATH
        } else {
            oqto_proto::runner::READY_PATH
        };
        let answered = self
            .ask
            .get(format!("{address}{path}"))
            .send()
            .await
            .is_ok_and(|r| r.status() == reqwest::StatusCode::OK);
        let uid = session.metadata.uid.clone().unwrap_or_default();
        let running_here = session.status.as_ref().is_some_and(|s| {
            s.phase == Some(oqto_api::SessionPhase::Running)
                && s.pod_name.as_deref() == Some(runner.name.as_str())
        });
        let Ok(mut failures) = self.ask_failures.lock() else {
            return;
        };
        if answered {
            failures.remove(&uid);
            runner.health = RunnerHealth::Ready;
        } else if running_here {
            let failed = failures.entry(uid).or_insert(0);
            *failed += 1;
            if *failed < ASK_FAILURES_TO_STOP {
                runner.health = RunnerHealth::Ready;
            }
        } else {
            failures.remove(&uid);
        }
    }

    /// What the runner of the Session with this uid reports, presenting its token.
    async fn activity(&self, address: &str, session_uid: &str) -> Option<Activity> {
        let token = self.defaults.runner_key.token(session_uid);
        let response = self
            .http
            .get(format!("{address}/activity"))
            .header(reqwest::header::AUTHORIZATION, token.bearer())
            .send()
            .await
            .ok()?;
        response.error_for_status().ok()?.json().await.ok()
    }

    /// One Schedule at `now`: its due run started or skipped, its status written.
    pub async fn schedule(
        &self,
        schedule: &oqto_api::Schedule,
        now: Timestamp,
    ) -> Result<Requeue, Error> {
        let _timer = self.timer("schedule");
        let (namespace, name) = key_of(schedule);
        let key = format!("sched/{namespace}/{name}");
        let requeue = self.schedules.reconcile(schedule, now).await?;
        self.succeeded(&key);
        Ok(requeue)
    }

    /// One Session: the lifecycle step, carried out.
    pub async fn session(&self, session: &Session) -> Result<Requeue, Error> {
        let _timer = self.timer("session");
        let key = session_key(session);
        let (namespace, name) = key_of(session);
        if session.metadata.deletion_timestamp.is_some() {
            self.metrics.session_phase(&key, None);
            return Ok(Requeue::OnChange);
        }
        let workspace: Option<Workspace> = match self
            .store
            .get(&namespace, &session.spec.workspace_ref.name)
            .await
        {
            Ok(workspace) => workspace,
            Err(oqto_store::StoreError::Unreadable(reason)) => {
                let seen = self.observed_alone(session);
                let step = lifecycle::workspace_unreadable(&seen, &reason);
                return self.finish(session, &key, step).await;
            }
            Err(e) => return Err(e.into()),
        };
        let (workspace, plan) = match workspace {
            None => (None, None),
            Some(workspace) => {
                let (effective, class) = self.with_class(&workspace).await?;
                let plan = effective.and_then(|w| {
                    class::check_session(session, class.as_ref())?;
                    RunnerPlan::build(&w, session, &self.defaults).map(|plan| (w, plan))
                });
                match plan {
                    Ok((effective, plan)) => (Some(effective), Some(Ok(plan))),
                    Err(error) => (Some(workspace), Some(Err(error))),
                }
            }
        };
        let plan_ref = plan.as_ref().map(|p| p.as_ref());
        let uid = session.metadata.uid.clone().unwrap_or_default();
        let subject = Subject {
            session,
            namespace: &namespace,
            name: &name,
            uid: &uid,
            plan: plan_ref.and_then(|p| p.ok()),
        };
        // Not a sign that the runtime answers (it may be read from a cache): the Podman ping
        // and the leader Lease's renewal say that.
        let mut runner = self.runtime.observe(subject).await?;
        // A created runner is observed once more, so its first status says Starting.
        for _ in 0..2 {
            if let Some(r) = runner.as_mut() {
                self.confirm(session, r, subject.plan.is_some_and(|p| p.ready_when_warm))
                    .await;
            }
            let activity = match &runner {
                Some(r) if r.health == RunnerHealth::Ready => match &r.address {
                    Some(address) => self.activity(address, &uid).await,
                    None => None,
                },
                _ => None,
            };
            let seen = Observed {
                session,
                workspace: workspace.as_ref(),
                runner: runner.as_ref(),
                activity,
                now: Timestamp::now(),
                activity_every: self.activity_every,
            };
            let step = lifecycle::step(&seen, plan_ref);
            match &step.action {
                RunnerAction::Create => {
                    let Some(Ok(plan)) = plan_ref else {
                        return Ok(Requeue::OnChange);
                    };
                    match self.runtime.create(subject, plan).await {
                        Ok(created) => {
                            runner = match created {
                                Some(seen) => Some(seen),
                                None => self.runtime.observe(subject).await?,
                            };
                            if runner.is_some() {
                                continue;
                            }
                        }
                        Err(Error::Refused { reason, message }) => {
                            let refused = lifecycle::refused(&seen, reason, &message);
                            return self.finish(session, &key, refused).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
                RunnerAction::Replace | RunnerAction::Remove => {
                    if let Some(r) = &runner {
                        tracing::info!(session = %key, runner = %r.name, action = ?step.action, "removing the runner");
                        self.runtime.remove(&namespace, &r.name).await?;
                    }
                }
                RunnerAction::Restart => {
                    if let Some(r) = &runner {
                        tracing::info!(session = %key, runner = %r.name, "runner stopped; starting it again");
                        self.runtime.restart(&namespace, &r.name).await?;
                    }
                }
                RunnerAction::None => {}
            }
            if let Some((reason, note)) = &step.suspend {
                tracing::info!(session = %key, reason, %note, "suspending");
                self.store
                    .patch_spec::<Session>(&namespace, &name, json!({"suspended": true}))
                    .await?;
            }
            return self.finish(session, &key, step).await;
        }
        Ok(Requeue::After(Duration::from_secs(1)))
    }

    /// The Workspace with its class applied (the error names what is wrong), and the class.
    async fn with_class(
        &self,
        workspace: &Workspace,
    ) -> Result<(Result<Workspace, CoreError>, Option<WorkspaceClass>), Error> {
        let default = self.defaults.workspace_class.as_deref();
        let wanted = oqto_api::workspace_class::class_name(&workspace.spec, default);
        let found: Option<WorkspaceClass> = match wanted {
            Some(name) => {
                let (namespace, _) = key_of(workspace);
                self.store.get(&namespace, name).await?
            }
            None => None,
        };
        Ok((class::effective(workspace, wanted, found.as_ref()), found))
    }

    /// A Session observed without its Workspace or runner (neither could be looked at).
    fn observed_alone<'a>(&self, session: &'a Session) -> Observed<'a> {
        Observed {
            session,
            workspace: None,
            runner: None,
            activity: None,
            now: Timestamp::now(),
            activity_every: self.activity_every,
        }
    }

    /// Says on a Session that its runtime cannot be reached (the store can: single-node mode).
    pub async fn runtime_unreachable(&self, session: &Session, why: &str) -> Result<(), Error> {
        if session.metadata.deletion_timestamp.is_some()
            || session.status.as_ref().and_then(|s| s.phase)
                == Some(oqto_api::SessionPhase::Suspended)
        {
            return Ok(());
        }
        let seen = self.observed_alone(session);
        let step = lifecycle::runtime_unreachable(&seen, why);
        self.finish(session, &session_key(session), step)
            .await
            .map(drop)
    }

    async fn finish(&self, session: &Session, key: &str, step: Step) -> Result<Requeue, Error> {
        if let Some(status) = &step.status {
            self.metrics
                .session_phase(key, status.phase.map(|p| format!("{p:?}")).as_deref());
            if session.status.as_ref() != Some(status) {
                let uid = session.metadata.uid.as_deref().unwrap_or_default();
                let version = session.metadata.resource_version.as_deref();
                let repeats = self
                    .written
                    .lock()
                    .is_ok_and(|mut w| w.repeats(uid, version, status));
                if repeats {
                    // The cache has not seen the last write yet; that write said all this
                    // (and its Event went with it).
                    self.succeeded(key);
                    return Ok(step.requeue);
                }
                let mut updated = session.clone();
                updated.status = Some(status.clone());
                match self.store.write_status(&updated).await {
                    // Changed meanwhile: the change brings another pass.
                    Err(oqto_store::StoreError::Conflict(_)) => {}
                    other => other?,
                }
                if let Ok(mut written) = self.written.lock() {
                    written.wrote(uid, version, status);
                }
            }
        }
        if let Some(started) = step.started_after {
            self.metrics
                .session_start_seconds
                .observe(started.as_secs_f64());
        }
        if let Some(event) = step.event {
            self.store.record_event(session, event).await;
        }
        self.succeeded(key);
        Ok(step.requeue)
    }

    /// One Workspace: its finalizer and storage, or, once deleted, the cascade: its Sessions
    /// go first, then its storage as `reclaimPolicy` says, then the finalizer.
    pub async fn workspace(&self, workspace: &Workspace) -> Result<Requeue, Error> {
        let _timer = self.timer("workspace");
        let (namespace, name) = key_of(workspace);
        let key = format!("ws/{namespace}/{name}");
        let finalizers = workspace.metadata.finalizers.clone().unwrap_or_default();
        let held = finalizers.iter().any(|f| f == WORKSPACE_FINALIZER);
        if workspace.metadata.deletion_timestamp.is_some() {
            if !held {
                return Ok(Requeue::OnChange);
            }
            return self.cascade(workspace, &namespace, &name, finalizers).await;
        }
        if !held {
            let mut with = finalizers;
            with.push(WORKSPACE_FINALIZER.into());
            self.store
                .set_finalizers::<Workspace>(&namespace, &name, with)
                .await?;
        }
        let effective = match self.with_class(workspace).await?.0 {
            Ok(effective) => effective,
            Err(error) => {
                // A class an admin has yet to create (or fix): said on the Workspace, and
                // looked at again now and then (a class's change does not wake a Workspace).
                let condition =
                    Wanted::new("StorageReady", false, error.reason(), error.to_string());
                self.write_workspace_status(workspace, WorkspacePhase::Failed, &condition)
                    .await?;
                self.succeeded(&key);
                return Ok(Requeue::After(Duration::from_secs(30)));
            }
        };
        let storage = self.runtime.ensure_workspace(&effective).await?;
        self.health.set_unreachable(None);
        let condition = Wanted::new(
            "StorageReady",
            storage.ready,
            storage.reason,
            storage.message.clone(),
        );
        let phase = if storage.ready {
            WorkspacePhase::Ready
        } else {
            WorkspacePhase::Pending
        };
        // Spares first: a Workspace reported Ready has had its spares decided at least once.
        let spare_recheck = self.keep_spare(&namespace, &name, storage.ready).await?;
        self.write_workspace_status(workspace, phase, &condition)
            .await?;
        self.succeeded(&key);
        let every = if storage.ready {
            Duration::from_secs(600)
        } else {
            Duration::from_secs(10)
        };
        Ok(Requeue::After(
            spare_recheck.map_or(every, |r| r.min(every)),
        ))
    }

    /// Starts or deletes the Workspace's warm spare Session (`core::spare`); when to look again
    /// for a spare that is not due yet. A spare is deleted only as it was read: one claimed
    /// meanwhile is a user's Session now.
    async fn keep_spare(
        &self,
        namespace: &str,
        workspace: &str,
        ready: bool,
    ) -> Result<Option<Duration>, Error> {
        let sessions = self.store.sessions_of(namespace, workspace).await?;
        let step = crate::core::spare::decide(
            self.defaults.warm_spares && ready,
            &sessions,
            self.clock.now(),
        );
        for name in &step.delete {
            let Some(version) = sessions
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(name))
                .and_then(|s| s.metadata.resource_version.as_deref())
            else {
                continue;
            };
            match self
                .store
                .delete_if_unchanged::<Session>(namespace, name, version)
                .await
            {
                Ok(_) => tracing::info!(%workspace, spare = %name, "spare Session deleted"),
                Err(oqto_store::StoreError::Conflict(_)) => {
                    tracing::debug!(%workspace, spare = %name, "spare changed meanwhile (claimed?); kept")
                }
                Err(e) => return Err(e.into()),
            }
        }
        if step.create {
            let spare = crate::core::spare::session(
                namespace,
                workspace,
                &oqto_api::names::random_suffix(),
            );
            let name = spare.metadata.name.clone().unwrap_or_default();
            match self.store.create(spare).await {
                Ok(_) => tracing::info!(%workspace, spare = %name, "spare Session started"),
                Err(oqto_store::StoreError::AlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(step.recheck_after)
    }

    async fn cascade(
        &self,
        workspace: &Workspace,
        namespace: &str,
        name: &str,
        finalizers: Vec<String>,
    ) -> Result<Requeue, Error> {
        let sessions = self.store.sessions_of(namespace, name).await?;
        if !sessions.is_empty() {
            for session in sessions
                .iter()
                .filter(|s| s.metadata.deletion_timestamp.is_none())
            {
                let (_, session_name) = key_of(session);
                self.store
                    .delete::<Session>(namespace, &session_name)
                    .await?;
            }
            let condition = Wanted::new(
                "StorageReady",
                false,
                "DeletingSessions",
                format!("{} session(s) are being deleted first", sessions.len()),
            );
            self.write_workspace_status(workspace, WorkspacePhase::Terminating, &condition)
                .await?;
            return Ok(Requeue::After(Duration::from_secs(1)));
        }
        if !self.runtime.release_workspace(workspace).await? {
            return Ok(Requeue::After(Duration::from_secs(2)));
        }
        let policy = workspace.spec.storage.reclaim_policy;
        self.store
            .record_event(
                workspace,
                EventNote {
                    warning: false,
                    reason: "Deleted".into(),
                    note: match policy {
                        ReclaimPolicy::Delete => "sessions and storage deleted".into(),
                        ReclaimPolicy::Retain => {
                            "sessions deleted; storage retained (reclaimPolicy Retain)".into()
                        }
                    },
                },
            )
            .await;
        let rest: Vec<String> = finalizers
            .into_iter()
            .filter(|f| f != WORKSPACE_FINALIZER)
            .collect();
        self.store
            .set_finalizers::<Workspace>(namespace, name, rest)
            .await?;
        Ok(Requeue::OnChange)
    }

    async fn write_workspace_status(
        &self,
        workspace: &Workspace,
        phase: WorkspacePhase,
        condition: &Wanted,
    ) -> Result<(), Error> {
        let old = workspace.status.clone().unwrap_or_default();
        let now = Time(Timestamp::now());
        let status = WorkspaceStatus {
            phase: Some(phase),
            conditions: merge(
                &old.conditions,
                std::slice::from_ref(condition),
                workspace.metadata.generation,
                &now,
            ),
            observed_generation: workspace.metadata.generation,
        };
        if status != old {
            let mut updated = workspace.clone();
            updated.status = Some(status);
            match self.store.write_status(&updated).await {
                Err(oqto_store::StoreError::Conflict(_) | oqto_store::StoreError::NotFound(_)) => {}
                other => other?,
            }
        }
        if old.phase != Some(phase) {
            self.store
                .record_event(
                    workspace,
                    EventNote {
                        warning: false,
                        reason: condition.reason.clone(),
                        note: condition.message.clone(),
                    },
                )
                .await;
        }
        Ok(())
    }

    /// Runners whose Session is gone (or was created again under its name) are removed.
    /// `live`: the uids of the Sessions that exist, from a complete listing.
    pub async fn prune(&self, live: &HashSet<String>) -> Result<usize, Error> {
        let mut removed = 0;
        for runner in self.runtime.list_owned().await? {
            if runner
                .session_uid
                .as_ref()
                .is_some_and(|u| live.contains(u))
            {
                continue;
            }
            tracing::info!(runner = %runner.name, namespace = %runner.namespace, "pruning a runner without a live Session");
            self.runtime.remove(&runner.namespace, &runner.name).await?;
            removed += 1;
        }
        Ok(removed)
    }
}
