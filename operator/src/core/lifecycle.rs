//! The Session lifecycle, once for every runtime: from what was observed (the Session, its
//! Workspace, its runner, the runner's activity) to what to do (create, replace, remove or
//! restart the runner, or suspend the Session), the status to write and the Event to record.
//! Pure: the reconciler (`crate::reconcile`) does the I/O, the runtimes only observe and act.
//!
//! The phases:
//!
//! ```text
//!  Pending ──(Workspace exists)──▶ Starting ──(runner ready)──▶ Running ──(idle/maxLifetime)──▶ Suspended
//!     ▲                              │  ▲                          │                               │
//!     └──(Workspace gone: runner     │  └──(runner exited:         │                               │
//!         removed)                   │      restarted, backoff)    │                               │
//!                                    └──(stuck past startTimeout, or crash loop)──▶ Failed         │
//!  spec.suspended: runner removed, files and history kept ◀───────────────────────────────────────┘
//! ```

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use oqto_api::{Session, SessionPhase, SessionStatus, Workspace};
use oqto_store::EventNote;

use super::conditions::{Wanted, merge};
use super::idle::{Activity, should_suspend};
use super::restart::{RestartDecision, StoppedRunner, restart_decision};
use super::{CoreError, RunnerPlan};

/// Held on every Workspace once the operator prepared it: its deletion waits until its Sessions
/// and storage are handled. A runner starts only in a Workspace that carries it, so a
/// Workspace deleted at any moment still takes its runners with it.
pub const WORKSPACE_FINALIZER: &str = "oqto.dev/sessions";

/// How a runner is doing, in the runtime's own terms translated to neutral ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunnerHealth {
    /// It accepts connections.
    Ready,
    /// Not ready yet. `stuck`: what it is stuck on (reason, message), if the runtime says;
    /// `scheduled`: whether it has a place to run, if the runtime knows; `running`: its process
    /// runs at `RunnerSeen::address`, so the operator asks pi-bridge itself whether it answers
    /// (`/readyz`) rather than wait for the runtime to notice (the kubelet's probes tick once a
    /// second; Podman has no probes).
    Starting {
        stuck: Option<(String, String)>,
        scheduled: Option<bool>,
        running: bool,
    },
    /// It ended. `restart`: the runtime does not restart it itself (Podman), so the operator
    /// plays the restart policy with these times; `None`: it ended for good (a failed Pod).
    Exited {
        message: String,
        restart: Option<StoppedRunner>,
    },
}

/// A runner as a runtime observed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerSeen {
    /// Pod or container name.
    pub name: String,
    /// Made for this Session (its uid), not for an earlier one of the same name.
    pub ours: bool,
    /// Made from the current plan (same hash).
    pub current: bool,
    /// Being removed.
    pub deleting: bool,
    /// Since it was created.
    pub age: Duration,
    pub health: RunnerHealth,
    /// Where the gateway reaches pi-bridge (the Session's `status.endpoint`).
    pub endpoint: Option<String>,
    /// Where the operator asks pi-bridge for its activity (`http://host:port`).
    pub address: Option<String>,
}

/// What the runtime should do to the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunnerAction {
    None,
    /// Create it from the plan (and observe again).
    Create,
    /// Remove it: a new one is created on the next pass (a spec change, or an earlier Session's).
    Replace,
    /// Remove it and create none.
    Remove,
    /// Start the stopped runner again.
    Restart,
}

/// When to look again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    After(Duration),
    /// Nothing changes until the Session, its Workspace or its runner does.
    OnChange,
}

/// What was observed.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    pub session: &'a Session,
    pub workspace: Option<&'a Workspace>,
    pub runner: Option<&'a RunnerSeen>,
    /// The runner's `/activity`, asked only while it is ready.
    pub activity: Option<Activity>,
    pub now: Timestamp,
    /// How often a running Session's activity is checked.
    pub activity_every: Duration,
}

/// The decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub action: RunnerAction,
    /// Set `spec.suspended` (idle or past maxLifetime): (reason, note).
    pub suspend: Option<(&'static str, String)>,
    /// `None`: leave the status alone.
    pub status: Option<SessionStatus>,
    pub event: Option<EventNote>,
    /// The runner just became ready, this long after it was created (a metric).
    pub started_after: Option<Duration>,
    pub requeue: Requeue,
}

/// How often a running Session's activity is checked, unless the operator is told otherwise.
pub const ACTIVITY_EVERY: Duration = Duration::from_secs(30);
/// How often a starting Session whose runner does not run yet is looked at without a change.
/// Its runner's changes bring a pass anyway (watches on Kubernetes, the resync on Podman); this
/// only catches what changes nothing (a warning Event), so it is rare: at a thousand starting
/// Sessions a 5 s requeue kept the queue full and new Sessions waited behind it. (A runner that
/// runs is asked sooner, for its first minute: `ask_again_after`.)
const STARTING_EVERY: Duration = Duration::from_secs(30);

/// How soon a runner whose process runs but does not answer yet is asked again: often while it
/// is young (pi-bridge answers within a fraction of a second of its start), then less and less;
/// after a minute as seldom as any starting Session (a runner that never answers costs little,
/// and on Kubernetes the kubelet's Ready brings a pass anyway).
pub fn ask_again_after(age: Duration) -> Duration {
    if age > ASK_OFTEN_FOR {
        return STARTING_EVERY;
    }
    (age / 10).clamp(Duration::from_millis(100), Duration::from_secs(5))
}

/// How long a running runner that does not answer is asked often.
const ASK_OFTEN_FOR: Duration = Duration::from_secs(60);

/// Phase, Ready reason and message: what the Session's status says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    phase: SessionPhase,
    reason: String,
    message: String,
    scheduled: Option<bool>,
}

impl Verdict {
    fn new(phase: SessionPhase, reason: &str, message: impl Into<String>) -> Self {
        Self {
            phase,
            reason: reason.into(),
            message: message.into(),
            scheduled: None,
        }
    }
}

/// The step for a Session whose plan failed with a user error (a Secret the runtime cannot
/// find counts too): the Session fails with that reason until something changes.
pub fn refused(seen: &Observed<'_>, reason: &str, message: &str) -> Step {
    let verdict = Verdict::new(SessionPhase::Failed, reason, message);
    finish(seen, RunnerAction::None, verdict, None, Requeue::OnChange)
}

/// The step for a Session whose Workspace exists but cannot be read: it waits, saying why.
pub fn workspace_unreadable(seen: &Observed<'_>, reason: &str) -> Step {
    let verdict = Verdict::new(
        SessionPhase::Pending,
        "WorkspaceInvalid",
        format!(
            "Workspace {:?} cannot be read: {reason}",
            seen.session.spec.workspace_ref.name
        ),
    );
    finish(seen, RunnerAction::None, verdict, None, Requeue::OnChange)
}

/// The step for a Session while its runtime (the Kubernetes API, the Podman socket) cannot be
/// reached: its phase stays, and `Ready` says what is unreachable, so a waiting user sees why.
pub fn runtime_unreachable(seen: &Observed<'_>, why: &str) -> Step {
    let old = seen.session.status.as_ref();
    let phase = old.and_then(|s| s.phase).unwrap_or(SessionPhase::Pending);
    let verdict = Verdict::new(phase, "RuntimeUnreachable", why);
    let mut step = finish(
        seen,
        RunnerAction::None,
        verdict,
        None,
        Requeue::After(STARTING_EVERY),
    );
    if let Some(status) = step.status.as_mut() {
        // What was known of the runner stays until it can be looked at again.
        status.pod_name = old.and_then(|s| s.pod_name.clone());
        status.endpoint = old.and_then(|s| s.endpoint.clone());
        status.started_at = old.and_then(|s| s.started_at.clone());
        status.last_activity_at = old.and_then(|s| s.last_activity_at.clone());
    }
    step.event = None;
    step
}

/// The one lifecycle step. `plan` is the Workspace's and Session's `RunnerPlan::build`, `None`
/// exactly when there is no Workspace.
pub fn step(seen: &Observed<'_>, plan: Option<Result<&RunnerPlan, &CoreError>>) -> Step {
    let session = seen.session;
    if session.metadata.deletion_timestamp.is_some() {
        // Its runner goes with it (owner reference, or the prune of owned runners).
        return Step {
            action: RunnerAction::None,
            suspend: None,
            status: None,
            event: None,
            started_after: None,
            requeue: Requeue::OnChange,
        };
    }
    let remove_if_any = || match seen.runner {
        Some(r) if !r.deleting => RunnerAction::Remove,
        _ => RunnerAction::None,
    };
    let (Some(workspace), Some(plan)) = (seen.workspace, plan) else {
        let verdict = Verdict::new(
            SessionPhase::Pending,
            "WorkspaceNotFound",
            format!(
                "Workspace {:?} does not exist; the session starts when it appears",
                session.spec.workspace_ref.name
            ),
        );
        // A runner outlives nothing of its Workspace.
        return finish(seen, remove_if_any(), verdict, None, Requeue::OnChange);
    };
    let plan = match plan {
        Ok(plan) => plan,
        Err(e) => return refused(seen, e.reason(), &e.to_string()),
    };
    let prepared = workspace
        .metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == WORKSPACE_FINALIZER);
    if !prepared && seen.runner.is_none() {
        let verdict = Verdict::new(
            SessionPhase::Pending,
            "WorkspacePreparing",
            format!(
                "Workspace {:?} is being prepared; the session starts then",
                session.spec.workspace_ref.name
            ),
        );
        return finish(
            seen,
            RunnerAction::None,
            verdict,
            None,
            Requeue::After(Duration::from_secs(1)),
        );
    }
    if session.spec.suspended {
        let verdict = Verdict::new(
            SessionPhase::Suspended,
            "Suspended",
            "the runner is stopped; files and history are kept",
        );
        return finish(seen, remove_if_any(), verdict, None, Requeue::OnChange);
    }
    let start_timeout = Duration::from_secs(plan.start_timeout_seconds);
    let Some(runner) = seen.runner else {
        let verdict = Verdict::new(
            SessionPhase::Starting,
            "CreatingRunner",
            "the runner is being created",
        );
        return finish(
            seen,
            RunnerAction::Create,
            verdict,
            None,
            Requeue::After(STARTING_EVERY),
        );
    };
    if runner.deleting {
        let verdict = Verdict::new(
            SessionPhase::Starting,
            "StoppingRunner",
            "the previous runner is being removed",
        );
        return finish(
            seen,
            RunnerAction::None,
            verdict,
            None,
            Requeue::After(Duration::from_secs(1)),
        );
    }
    if !runner.ours || !runner.current {
        let why = if runner.ours {
            "the runner spec changed; replacing the runner"
        } else {
            "a runner of an earlier session by this name; replacing it"
        };
        let verdict = Verdict::new(SessionPhase::Starting, "ReplacingRunner", why);
        return finish(
            seen,
            RunnerAction::Replace,
            verdict,
            None,
            Requeue::After(Duration::from_secs(1)),
        );
    }
    match &runner.health {
        RunnerHealth::Ready => running(seen, runner, workspace),
        RunnerHealth::Exited { message, restart } => exited(seen, message, *restart, start_timeout),
        RunnerHealth::Starting {
            stuck,
            scheduled,
            running,
        } => {
            let mut verdict = match stuck {
                Some((reason, message)) if runner.age > start_timeout => Verdict::new(
                    SessionPhase::Failed,
                    reason,
                    format!(
                        "the runner did not start within {}s: {reason}: {message}",
                        start_timeout.as_secs()
                    ),
                ),
                Some((reason, message)) => {
                    Verdict::new(SessionPhase::Starting, reason, message.clone())
                }
                None if runner.age > start_timeout => Verdict::new(
                    SessionPhase::Failed,
                    "StartTimeout",
                    format!(
                        "the runner did not become ready within {}s",
                        start_timeout.as_secs()
                    ),
                ),
                None => Verdict::new(
                    SessionPhase::Starting,
                    "StartingRunner",
                    "the runner is starting",
                ),
            };
            verdict.scheduled = *scheduled;
            // Also just after the start timeout, which no change announces.
            let left = start_timeout.saturating_sub(runner.age) + Duration::from_secs(1);
            let requeue = if verdict.phase == SessionPhase::Failed {
                Requeue::OnChange
            } else if *running && stuck.is_none() {
                // Nothing announces the moment pi-bridge starts to answer: ask again soon.
                Requeue::After(ask_again_after(runner.age).min(left))
            } else {
                Requeue::After(left.min(STARTING_EVERY))
            };
            finish(seen, RunnerAction::None, verdict, Some(runner), requeue)
        }
    }
}

fn running(seen: &Observed<'_>, runner: &RunnerSeen, workspace: &Workspace) -> Step {
    let old = seen.session.status.as_ref();
    let started_at = old.and_then(|s| s.started_at.as_ref());
    // A spare waits for its claim without a client by design: no idle rule. A claimed one
    // counts its idle time and lifetime from the claim, not from its start.
    let spare = oqto_api::spare::is_spare(seen.session);
    let claimed = oqto_api::spare::claimed_at(seen.session);
    if let Some(activity) = seen.activity.as_ref().filter(|_| !spare) {
        let mut activity = *activity;
        let mut running_for = started_at.map(|t| since(seen.now, t));
        if let Some(claimed) = claimed {
            activity.last_activity_ms = activity.last_activity_ms.max(claimed.as_millisecond());
            running_for = running_for.map(|ran| ran.min(since_timestamp(seen.now, claimed)));
        }
        let lifecycle = &workspace.spec.lifecycle;
        if let Some((reason, note)) = should_suspend(
            &activity,
            seen.now.as_millisecond(),
            lifecycle.idle_timeout.as_duration(),
            running_for,
            lifecycle.max_lifetime.as_ref().map(|d| d.as_duration()),
        ) {
            // A spec change the user sees and can undo (suspended: false).
            return Step {
                action: RunnerAction::None,
                suspend: Some((reason, note.clone())),
                status: None,
                event: Some(EventNote {
                    warning: false,
                    reason: reason.into(),
                    note: format!("suspending: {note}"),
                }),
                started_after: None,
                requeue: Requeue::After(Duration::from_secs(1)),
            };
        }
    }
    let mut verdict = Verdict::new(
        SessionPhase::Running,
        "RunnerReady",
        "the runner accepts connections",
    );
    verdict.scheduled = Some(true);
    let mut step = finish(
        seen,
        RunnerAction::None,
        verdict,
        Some(runner),
        Requeue::After(seen.activity_every),
    );
    if started_at.is_none() {
        step.started_after = Some(runner.age);
    }
    step
}

fn exited(
    seen: &Observed<'_>,
    message: &str,
    restart: Option<StoppedRunner>,
    start_timeout: Duration,
) -> Step {
    let Some(stopped) = restart else {
        let verdict = Verdict::new(SessionPhase::Failed, "RunnerExited", message);
        return finish(seen, RunnerAction::None, verdict, None, Requeue::OnChange);
    };
    match restart_decision(stopped, start_timeout) {
        RestartDecision::Fail => {
            let verdict = Verdict::new(
                SessionPhase::Failed,
                "RunnerExited",
                format!("the runner keeps stopping soon after it starts: {message}"),
            );
            finish(seen, RunnerAction::None, verdict, None, Requeue::OnChange)
        }
        RestartDecision::BackOff(left) => {
            let verdict = Verdict::new(
                SessionPhase::Starting,
                "CrashLoopBackOff",
                format!(
                    "the runner stopped ({message}); starting it again in {}s",
                    left.as_secs().max(1)
                ),
            );
            finish(
                seen,
                RunnerAction::None,
                verdict,
                None,
                Requeue::After(left),
            )
        }
        RestartDecision::Restart => {
            let verdict = Verdict::new(
                SessionPhase::Starting,
                "RunnerRestarted",
                format!("the runner stopped ({message}) and was started again"),
            );
            finish(
                seen,
                RunnerAction::Restart,
                verdict,
                None,
                Requeue::After(Duration::from_secs(1)),
            )
        }
    }
}

fn since(now: Timestamp, time: &Time) -> Duration {
    since_timestamp(now, time.0)
}

fn since_timestamp(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or_default()
}

/// The status for a verdict, and an Event when the phase changes.
fn finish(
    seen: &Observed<'_>,
    action: RunnerAction,
    verdict: Verdict,
    runner: Option<&RunnerSeen>,
    requeue: Requeue,
) -> Step {
    let session = seen.session;
    let old = session.status.clone().unwrap_or_default();
    let now = Time(seen.now);
    let mut wanted = vec![
        Wanted::new(
            "Ready",
            verdict.phase == SessionPhase::Running && verdict.reason == "RunnerReady",
            &verdict.reason,
            verdict.message.clone(),
        ),
        Wanted::new(
            "Suspended",
            verdict.phase == SessionPhase::Suspended,
            if session.spec.suspended {
                "SuspendRequested"
            } else {
                "Active"
            },
            if session.spec.suspended {
                "spec.suspended is true"
            } else {
                "spec.suspended is false"
            },
        ),
    ];
    if let Some(scheduled) = verdict.scheduled {
        let (reason, message) = if scheduled {
            ("Scheduled", String::new())
        } else {
            (verdict.reason.as_str(), verdict.message.clone())
        };
        wanted.push(Wanted::new("PodScheduled", scheduled, reason, message));
    }
    let running = verdict.phase == SessionPhase::Running;
    let last_activity = seen
        .activity
        .filter(|_| running)
        .and_then(|a| Timestamp::from_millisecond(a.last_activity_ms).ok())
        .map(Time);
    let status = SessionStatus {
        phase: Some(verdict.phase),
        conditions: merge(&old.conditions, &wanted, session.metadata.generation, &now),
        observed_generation: session.metadata.generation,
        pod_name: runner
            .filter(|_| verdict.phase != SessionPhase::Suspended)
            .map(|r| r.name.clone()),
        endpoint: runner.filter(|_| running).and_then(|r| r.endpoint.clone()),
        started_at: if running {
            old.started_at.clone().or(Some(now))
        } else {
            None
        },
        last_activity_at: if running {
            last_activity.or(old.last_activity_at.clone())
        } else {
            None
        },
    };
    // A new Session's first step, Starting, is no news: its runner's creation says so. At a
    // thousand new Sessions an Event each was a fifth of the apiserver's requests.
    let news = match old.phase {
        None => verdict.phase != SessionPhase::Starting,
        Some(phase) => phase != verdict.phase,
    };
    let event = news.then(|| EventNote {
        warning: verdict.phase == SessionPhase::Failed,
        reason: verdict.reason.clone(),
        note: verdict.message.clone(),
    });
    Step {
        action,
        suspend: None,
        status: Some(status),
        event,
        started_after: None,
        requeue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::OperatorDefaults;
    use crate::core::desired::tests::{session, workspace};
    use serde_json::json;

    fn defaults() -> OperatorDefaults {
        OperatorDefaults {
            runner_image: Some("img".into()),
            ..OperatorDefaults::new(oqto_proto::runner::RunnerKey::new(vec![7; 32]).unwrap())
        }
    }

    fn runner(health: RunnerHealth, age: u64) -> RunnerSeen {
        RunnerSeen {
            name: "oqto-sess-fix-bug".into(),
            ours: true,
            current: true,
            deleting: false,
            age: Duration::from_secs(age),
            health,
            endpoint: Some("http://runner:8080".into()),
            address: Some("http://10.0.0.7:8080".into()),
        }
    }

    fn starting() -> RunnerHealth {
        RunnerHealth::Starting {
            stuck: None,
            scheduled: None,
            running: false,
        }
    }

    /// The step for a Session in the `alice-dev` Workspace (with `ws` as its spec).
    fn decide(
        sess: &Session,
        ws: Option<&Workspace>,
        runner: Option<&RunnerSeen>,
        activity: Option<Activity>,
    ) -> Step {
        let prepared = ws.map(|w| {
            let mut w = w.clone();
            w.metadata.finalizers = Some(vec![WORKSPACE_FINALIZER.into()]);
            w
        });
        let ws = prepared.as_ref();
        let plan = ws.map(|w| RunnerPlan::build(w, sess, &defaults()));
        let seen = Observed {
            session: sess,
            workspace: ws,
            runner,
            activity,
            now: Timestamp::from_second(1_000_000).unwrap(),
            activity_every: ACTIVITY_EVERY,
        };
        step(&seen, plan.as_ref().map(|p| p.as_ref()))
    }

    fn phase(step: &Step) -> (SessionPhase, String) {
        let status = step.status.as_ref().expect("a status");
        let ready = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .expect("Ready");
        (status.phase.unwrap(), ready.reason.clone())
    }

    #[test]
    fn a_new_session_gets_a_runner_and_starts() {
        let (s, w) = (
            session(json!({"workspaceRef":{"name":"alice-dev"}})),
            workspace(json!({"owner":"alice"})),
        );
        let step = decide(&s, Some(&w), None, None);
        assert_eq!(step.action, RunnerAction::Create);
        assert_eq!(
            phase(&step),
            (SessionPhase::Starting, "CreatingRunner".into())
        );
        assert!(step.event.is_none(), "a new Session's Starting is no Event");
        let step = decide(&s, Some(&w), Some(&runner(starting(), 1)), None);
        assert_eq!(step.action, RunnerAction::None);
        assert_eq!(
            phase(&step),
            (SessionPhase::Starting, "StartingRunner".into())
        );
        assert_eq!(
            step.requeue,
            Requeue::After(STARTING_EVERY),
            "a runner not running yet: its runtime announces the change"
        );
        // From Starting on, a phase change is an Event.
        let mut started = s.clone();
        started.status = step.status.clone();
        let step = decide(
            &started,
            Some(&w),
            Some(&runner(RunnerHealth::Ready, 2)),
            None,
        );
        assert_eq!(
            step.status.as_ref().unwrap().phase,
            Some(SessionPhase::Running)
        );
        assert!(step.event.is_some(), "Starting -> Running is an Event");
    }

    #[test]
    fn no_runner_starts_before_the_operator_prepared_the_workspace() {
        let s = session(json!({"workspaceRef":{"name":"alice-dev"}}));
        let w = workspace(json!({"owner":"alice"}));
        let plan = RunnerPlan::build(&w, &s, &defaults());
        let seen = Observed {
            session: &s,
            workspace: Some(&w),
            runner: None,
            activity: None,
            now: Timestamp::from_second(1_000_000).unwrap(),
            activity_every: ACTIVITY_EVERY,
        };
        let step = step(&seen, Some(plan.as_ref()));
        assert_eq!(step.action, RunnerAction::None);
        assert_eq!(
            phase(&step),
            (SessionPhase::Pending, "WorkspacePreparing".into())
        );
    }

    #[test]
    fn a_ready_runner_runs_with_endpoint_start_time_and_activity() {
        let (s, w) = (
            session(json!({"workspaceRef":{"name":"alice-dev"}})),
            workspace(json!({"owner":"alice"})),
        );
        let activity = Activity {
            busy: true,
            connected_clients: 0,
            last_activity_ms: 999_000_000,
        };
        let step = decide(
            &s,
            Some(&w),
            Some(&runner(RunnerHealth::Ready, 7)),
            Some(activity),
        );
        assert_eq!(phase(&step), (SessionPhase::Running, "RunnerReady".into()));
        let status = step.status.as_ref().unwrap();
        assert_eq!(status.endpoint.as_deref(), Some("http://runner:8080"));
        assert_eq!(status.pod_name.as_deref(), Some("oqto-sess-fix-bug"));
        assert!(status.started_at.is_some());
        assert_eq!(
            status.last_activity_at.as_ref().map(|t| t.0.as_second()),
            Some(999_000)
        );
        assert!(
            status
                .conditions
                .iter()
                .any(|c| c.type_ == "PodScheduled" && c.status == "True")
        );
        assert_eq!(step.started_after, Some(Duration::from_secs(7)));
        assert_eq!(step.requeue, Requeue::After(ACTIVITY_EVERY));
    }

    #[test]
    fn an_idle_runner_suspends_its_session() {
        let (s, w) = (
            session(json!({"workspaceRef":{"name":"alice-dev"}})),
            workspace(json!({"owner":"alice","lifecycle":{"idleTimeout":"1m"}})),
        );
        let idle = Activity {
            busy: false,
            connected_clients: 0,
            last_activity_ms: 0,
        };
        let step = decide(
            &s,
            Some(&w),
            Some(&runner(RunnerHealth::Ready, 7)),
            Some(idle),
        );
        assert_eq!(step.suspend.map(|s| s.0), Some("IdleTimeout"));
        assert_eq!(step.status, None, "the status follows the spec change");
    }

    #[test]
    fn a_spare_is_never_idle_and_a_claimed_one_counts_from_its_claim() {
        let w = workspace(json!({"owner":"alice","lifecycle":{"idleTimeout":"1m"}}));
        let idle = Activity {
            busy: false,
            connected_clients: 0,
            last_activity_ms: 0,
        };
        let ready = runner(RunnerHealth::Ready, 7);
        let mut spare = session(json!({"workspaceRef":{"name":"alice-dev"}}));
        spare.metadata.labels = Some([(oqto_api::spare::SPARE_LABEL.into(), "true".into())].into());
        let step = decide(&spare, Some(&w), Some(&ready), Some(idle));
        assert_eq!(step.suspend, None, "a spare waits without clients");
        let mut claimed = session(json!({"workspaceRef":{"name":"alice-dev"}}));
        let stamp = |at: i64| {
            Some(
                [(
                    oqto_api::spare::CLAIMED_AT_ANNOTATION.to_owned(),
                    Timestamp::from_second(at).unwrap().to_string(),
                )]
                .into(),
            )
        };
        claimed.metadata.annotations = stamp(1_000_000 - 10);
        let step = decide(&claimed, Some(&w), Some(&ready), Some(idle));
        assert_eq!(
            step.suspend, None,
            "claimed 10 s ago: not idle for a minute"
        );
        claimed.metadata.annotations = stamp(1_000_000 - 120);
        let step = decide(&claimed, Some(&w), Some(&ready), Some(idle));
        assert_eq!(step.suspend.map(|s| s.0), Some("IdleTimeout"));
    }

    /// A runner whose process runs but does not answer yet is asked again soon, and less often
    /// the longer it takes, up to its start timeout.
    #[test]
    fn a_running_runner_that_does_not_answer_yet_is_asked_again_soon() {
        let (s, w) = (
            session(json!({"workspaceRef":{"name":"alice-dev"}})),
            workspace(json!({"owner":"alice","lifecycle":{"startTimeout":"90s"}})),
        );
        let running = RunnerHealth::Starting {
            stuck: None,
            scheduled: Some(true),
            running: true,
        };
        let young = decide(&s, Some(&w), Some(&runner(running.clone(), 0)), None);
        assert_eq!(
            phase(&young),
            (SessionPhase::Starting, "StartingRunner".into())
        );
        assert_eq!(young.requeue, Requeue::After(Duration::from_millis(100)));
        let older = decide(&s, Some(&w), Some(&runner(running.clone(), 50)), None);
        assert_eq!(older.requeue, Requeue::After(Duration::from_secs(5)));
        let old = decide(&s, Some(&w), Some(&runner(running.clone(), 80)), None);
        assert_eq!(
            old.requeue,
            Requeue::After(Duration::from_secs(11)),
            "past a minute as any start: its timeout's second"
        );
        assert_eq!(
            ask_again_after(Duration::from_secs(3)),
            Duration::from_millis(300)
        );
        let late = decide(&s, Some(&w), Some(&runner(running, 91)), None);
        assert_eq!(
            phase(&late),
            (SessionPhase::Failed, "StartTimeout".into()),
            "running is not answering: the start timeout holds"
        );
    }

    #[test]
    fn a_stuck_start_fails_after_the_start_timeout_with_what_it_was_stuck_on() {
        let (s, w) = (
            session(json!({"workspaceRef":{"name":"alice-dev"}})),
            workspace(json!({"owner":"alice","lifecycle":{"startTimeout":"60s"}})),
        );
        let stuck = RunnerHealth::Starting {
            stuck: Some(("ImagePullBackOff".into(), "no such image".into())),
            scheduled: Some(true),
            running: false,
        };
        let early = decide(&s, Some(&w), Some(&runner(stuck.clone(), 10)), None);
        assert_eq!(
            phase(&early),
            (SessionPhase::Starting, "ImagePullBackOff".into())
        );
        let late = decide(&s, Some(&w), Some(&runner(stuck, 61)), None);
        assert_eq!(
            phase(&late),
            (SessionPhase::Failed, "ImagePullBackOff".into())
        );
        assert!(late.event.as_ref().is_some_and(|e| e.warning));
        let slow = decide(&s, Some(&w), Some(&runner(starting(), 61)), None);
        assert_eq!(phase(&slow), (SessionPhase::Failed, "StartTimeout".into()));
    }

    #[test]
    fn a_gone_workspace_or_a_suspend_removes_the_runner() {
        let s = session(json!({"workspaceRef":{"name":"alice-dev"}}));
        let r = runner(RunnerHealth::Ready, 100);
        let gone = decide(&s, None, Some(&r), None);
        assert_eq!(gone.action, RunnerAction::Remove);
        assert_eq!(
            phase(&gone),
            (SessionPhase::Pending, "WorkspaceNotFound".into())
        );
        let w = workspace(json!({"owner":"alice"}));
        let suspended = session(json!({"workspaceRef":{"name":"alice-dev"},"suspended":true}));
        let step = decide(&suspended, Some(&w), Some(&r), None);
        assert_eq!(step.action, RunnerAction::Remove);
        assert_eq!(phase(&step).0, SessionPhase::Suspended);
        assert_eq!(step.status.unwrap().pod_name, None);
    }

    #[test]
    fn a_runner_of_another_spec_or_session_is_replaced() {
        let (s, w) = (
            session(json!({"workspaceRef":{"name":"alice-dev"}})),
            workspace(json!({"owner":"alice"})),
        );
        for (ours, current) in [(false, true), (true, false)] {
            let r = RunnerSeen {
                ours,
                current,
                ..runner(RunnerHealth::Ready, 5)
            };
            assert_eq!(
                decide(&s, Some(&w), Some(&r), None).action,
                RunnerAction::Replace
            );
        }
    }

    #[test]
    fn a_stopped_runner_is_restarted_backed_off_or_failed() {
        let (s, w) = (
            session(json!({"workspaceRef":{"name":"alice-dev"}})),
            workspace(json!({"owner":"alice"})),
        );
        let exited = |lasted, since_exit, since_created| RunnerHealth::Exited {
            message: "exit code 1".into(),
            restart: Some(StoppedRunner {
                lasted: Some(Duration::from_secs(lasted)),
                since_exit: Duration::from_secs(since_exit),
                since_created: Duration::from_secs(since_created),
            }),
        };
        let ran = decide(&s, Some(&w), Some(&runner(exited(600, 0, 900), 900)), None);
        assert_eq!(ran.action, RunnerAction::Restart);
        let crashed = decide(&s, Some(&w), Some(&runner(exited(1, 1, 10), 10)), None);
        assert_eq!(
            (crashed.action.clone(), phase(&crashed).1),
            (RunnerAction::None, "CrashLoopBackOff".into())
        );
        let looping = decide(&s, Some(&w), Some(&runner(exited(1, 9, 400), 400)), None);
        assert_eq!(
            phase(&looping),
            (SessionPhase::Failed, "RunnerExited".into())
        );
        // A Pod that ended is not restarted by the operator.
        let ended = RunnerHealth::Exited {
            message: "OOMKilled".into(),
            restart: None,
        };
        let step = decide(&s, Some(&w), Some(&runner(ended, 50)), None);
        assert_eq!(step.action, RunnerAction::None);
        assert_eq!(phase(&step), (SessionPhase::Failed, "RunnerExited".into()));
    }

    #[test]
    fn an_invalid_plan_fails_with_its_reason_and_an_unchanged_status_is_not_an_event() {
        let s = session(json!({"workspaceRef":{"name":"alice-dev"}}));
        let w = workspace(
            json!({"owner":"alice","runner":{"env":[{"name":"PI_BRIDGE_MODEL","value":"x"}]}}),
        );
        let step = decide(&s, Some(&w), None, None);
        assert_eq!(phase(&step), (SessionPhase::Failed, "InvalidSpec".into()));
        assert_eq!(step.action, RunnerAction::None);
        let mut again = s.clone();
        again.status = step.status.clone();
        let second = decide(&again, Some(&w), None, None);
        assert_eq!(second.event, None);
        assert_eq!(second.status, again.status, "nothing to write");
    }
}
