//! Session → its runner Pod and Service; status from what the kubelet reports; suspend, resume
//! and idle suspend.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event as CoreEvent, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use oqto_api::{Session, SessionPhase, SessionStatus, Workspace};
use serde_json::json;

use super::workspace::apply;
use super::{Context, Error, activity};
use crate::core::conditions::{Wanted, merge};
use crate::core::observe::{Observation, RunnerState, observe};
use crate::core::{RunnerPlan, kube_objects};

/// Annotation with a hash of the desired pod: a pod built from an older spec is replaced
/// (a pod's spec is immutable).
const RUNNER_HASH: &str = "oqto.dev/runner-hash";

fn fnv1a(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn since(time: Option<&Time>) -> Duration {
    time.and_then(|t| Duration::try_from(Timestamp::now().duration_since(t.0)).ok())
        .unwrap_or_default()
}

/// Reads the watched object, reporting it on itself when it cannot be read.
pub async fn reconcile_object(
    object: Arc<kube::api::DynamicObject>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    match super::parse::typed::<Session>(&object) {
        Ok(typed) => reconcile(Arc::new(typed), ctx).await,
        Err(reason) => {
            super::parse::report_invalid(
                &ctx,
                &object,
                &kube::api::ApiResource::erase::<Session>(&()),
                &reason,
            )
            .await;
            Ok(Action::await_change())
        }
    }
}

pub async fn reconcile(session: Arc<Session>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = super::ReconcileTimer::new(&ctx, "session");
    // The Pod and Service are owned by the Session: garbage collection removes them.
    let name = session.name_any();
    let namespace = session.namespace().unwrap_or_default();
    let key = format!("sess/{namespace}/{name}");
    if session.metadata.deletion_timestamp.is_some() {
        ctx.metrics.session_phase(&key, None);
        return Ok(Action::await_change());
    }
    let client = &ctx.client;
    let old = session.status.clone().unwrap_or_default();

    let workspace_name = &session.spec.workspace_ref.name;
    let workspace_object = Api::<kube::api::DynamicObject>::namespaced_with(
        client.clone(),
        &namespace,
        &kube::api::ApiResource::erase::<Workspace>(&()),
    )
    .get_opt(workspace_name)
    .await?;
    let workspace = match workspace_object
        .as_ref()
        .map(super::parse::typed::<Workspace>)
    {
        None => None,
        Some(Ok(workspace)) => Some(workspace),
        Some(Err(reason)) => {
            let state = RunnerState {
                phase: SessionPhase::Pending,
                reason: "WorkspaceInvalid".into(),
                message: format!("Workspace {workspace_name:?} cannot be read: {reason}"),
                ready: false,
                scheduled: None,
            };
            write_status(&ctx, &session, &old, &state, None, None, None).await?;
            return Ok(Action::await_change());
        }
    };
    let Some(workspace) = workspace else {
        let state = RunnerState {
            phase: SessionPhase::Pending,
            reason: "WorkspaceNotFound".into(),
            message: format!(
                "Workspace {workspace_name:?} does not exist in namespace {namespace:?}; the session starts when it appears"
            ),
            ready: false,
            scheduled: None,
        };
        write_status(&ctx, &session, &old, &state, None, None, None).await?;
        return Ok(Action::await_change());
    };
    let plan = match RunnerPlan::build(&workspace, &session, &ctx.settings.defaults) {
        Ok(plan) => plan,
        Err(e) => {
            let state = RunnerState {
                phase: SessionPhase::Failed,
                reason: e.reason().into(),
                message: e.to_string(),
                ready: false,
                scheduled: None,
            };
            write_status(&ctx, &session, &old, &state, None, None, None).await?;
            return Ok(Action::await_change());
        }
    };
    let Some(owner) = session.controller_owner_ref(&()) else {
        return Ok(Action::await_change());
    };
    let pods = Api::<Pod>::namespaced(client.clone(), &namespace);
    let mut pod = pods.get_opt(&plan.name).await?;

    if session.spec.suspended {
        if let Some(existing) = &pod
            && existing.metadata.deletion_timestamp.is_none()
        {
            pods.delete(&plan.name, &DeleteParams::default()).await?;
        }
        let state = observe(Observation {
            suspended: true,
            pod: pod.as_ref().filter(|_| false),
            last_warning: None,
            waited: Duration::ZERO,
            start_timeout: Duration::ZERO,
        });
        write_status(&ctx, &session, &old, &state, None, None, None).await?;
        ctx.succeeded(&key);
        return Ok(Action::await_change());
    }

    let mut desired = kube_objects::pod(&plan, owner.clone());
    let hash = fnv1a(
        &serde_json::to_string(&desired.spec).map_err(|source| Error::Serialize {
            what: "pod",
            source,
        })?,
    );
    desired
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(RUNNER_HASH.into(), hash.clone());
    let session_uid = session.metadata.uid.clone();
    match &pod {
        None => pod = Some(apply(&pods, &desired).await?),
        // A pod of an earlier Session of the same name (deleted and created again before
        // garbage collection ran) is not ours: replace it.
        Some(existing)
            if existing.metadata.deletion_timestamp.is_none()
                && existing
                    .owner_references()
                    .iter()
                    .all(|o| Some(&o.uid) != session_uid.as_ref()) =>
        {
            tracing::info!(session = %key, "a runner pod of an earlier session by this name; replacing it");
            pods.delete(&plan.name, &DeleteParams::background()).await?;
        }
        Some(existing)
            if existing.metadata.deletion_timestamp.is_none()
                && existing.annotations().get(RUNNER_HASH) != Some(&hash) =>
        {
            tracing::info!(session = %key, "runner spec changed; replacing the pod");
            pods.delete(&plan.name, &DeleteParams::default()).await?;
        }
        Some(_) => {}
    }
    apply(
        &Api::<Service>::namespaced(client.clone(), &namespace),
        &kube_objects::service(&plan, owner),
    )
    .await?;

    let warning = last_warning(&ctx, &namespace, &plan.name).await;
    let state = observe(Observation {
        suspended: false,
        pod: pod.as_ref(),
        last_warning: warning.as_ref().map(|(r, m)| (r.as_str(), m.as_str())),
        waited: since(
            pod.as_ref()
                .and_then(|p| p.metadata.creation_timestamp.as_ref()),
        ),
        start_timeout: Duration::from_secs(plan.start_timeout_seconds),
    });

    let mut last_activity = None;
    if state.phase == SessionPhase::Running
        && let Some(ip) = pod
            .as_ref()
            .and_then(|p| p.status.as_ref())
            .and_then(|s| s.pod_ip.as_deref())
        && let Some(report) = activity::fetch(&ctx.http, ip, ctx.settings.runner_port).await
    {
        last_activity = Timestamp::from_millisecond(report.last_activity_ms)
            .ok()
            .map(Time);
        let idle_timeout: Duration = workspace.spec.lifecycle.idle_timeout.into();
        let max_lifetime: Option<Duration> = workspace.spec.lifecycle.max_lifetime.map(Into::into);
        let running_for = old.started_at.as_ref().map(|t| since(Some(t)));
        let reason = crate::core::idle::should_suspend(
            &report,
            Timestamp::now().as_millisecond(),
            idle_timeout,
            running_for,
            max_lifetime,
        );
        if let Some((reason, note)) = reason {
            // Suspending is a spec change the user sees and can undo (suspended: false).
            Api::<Session>::namespaced(client.clone(), &namespace)
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"suspended": true}})),
                )
                .await?;
            publish(
                &ctx,
                &session,
                EventType::Normal,
                reason,
                &format!("suspending: {note}"),
            )
            .await;
            return Ok(Action::requeue(Duration::from_secs(1)));
        }
    }

    if state.phase == SessionPhase::Running && old.started_at.is_none() {
        let started = since(
            pod.as_ref()
                .and_then(|p| p.metadata.creation_timestamp.as_ref()),
        );
        ctx.metrics
            .session_start_seconds
            .observe(started.as_secs_f64());
    }
    let endpoint = (state.phase == SessionPhase::Running).then(|| plan.endpoint());
    write_status(
        &ctx,
        &session,
        &old,
        &state,
        Some(plan.name.clone()),
        endpoint,
        last_activity,
    )
    .await?;
    ctx.succeeded(&key);
    Ok(match state.phase {
        SessionPhase::Running => Action::requeue(ctx.settings.activity_every),
        SessionPhase::Failed | SessionPhase::Suspended => Action::await_change(),
        _ => Action::requeue(Duration::from_secs(5)),
    })
}

/// The newest warning Event about the runner pod, if any.
async fn last_warning(ctx: &Context, namespace: &str, pod: &str) -> Option<(String, String)> {
    let events = Api::<CoreEvent>::namespaced(ctx.client.clone(), namespace)
        .list(&ListParams::default().fields(&format!(
            "involvedObject.kind=Pod,involvedObject.name={pod},type=Warning"
        )))
        .await
        .ok()?;
    events
        .items
        .into_iter()
        .max_by_key(|e| {
            e.last_timestamp
                .as_ref()
                .map(|t| t.0)
                .or(e.event_time.as_ref().map(|t| t.0))
        })
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
}

async fn publish(ctx: &Context, session: &Session, type_: EventType, reason: &str, note: &str) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &session.object_ref(&())).await {
        tracing::debug!(error = %e, "publishing an event failed");
    }
}

async fn write_status(
    ctx: &Context,
    session: &Session,
    old: &SessionStatus,
    state: &RunnerState,
    pod_name: Option<String>,
    endpoint: Option<String>,
    last_activity: Option<Time>,
) -> Result<(), Error> {
    let now = Time(Timestamp::now());
    let mut wanted = vec![
        Wanted::new("Ready", state.ready, &state.reason, state.message.clone()),
        Wanted::new(
            "Suspended",
            state.phase == SessionPhase::Suspended,
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
    if let Some(scheduled) = state.scheduled {
        wanted.push(Wanted::new(
            "PodScheduled",
            scheduled,
            if scheduled {
                "Scheduled"
            } else {
                &state.reason
            },
            if scheduled {
                String::new()
            } else {
                state.message.clone()
            },
        ));
    }
    let running = state.phase == SessionPhase::Running;
    let status = SessionStatus {
        phase: Some(state.phase),
        conditions: merge(&old.conditions, &wanted, session.metadata.generation, &now),
        observed_generation: session.metadata.generation,
        pod_name: if state.phase == SessionPhase::Suspended {
            None
        } else {
            pod_name
        },
        endpoint,
        started_at: if running {
            old.started_at.clone().or(Some(now.clone()))
        } else {
            None
        },
        last_activity_at: last_activity.or_else(|| {
            if running {
                old.last_activity_at.clone()
            } else {
                None
            }
        }),
    };
    let namespace = session.namespace().unwrap_or_default();
    ctx.metrics.session_phase(
        &format!("sess/{namespace}/{}", session.name_any()),
        Some(&format!("{:?}", state.phase)),
    );
    if &status != old {
        Api::<Session>::namespaced(ctx.client.clone(), &namespace)
            .patch_status(
                &session.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await?;
    }
    if old.phase != Some(state.phase) {
        let type_ = if state.phase == SessionPhase::Failed {
            EventType::Warning
        } else {
            EventType::Normal
        };
        publish(ctx, session, type_, &state.reason, &state.message).await;
    }
    Ok(())
}

pub fn error_policy(
    session: Arc<kube::api::DynamicObject>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let key = format!(
        "sess/{}/{}",
        session.namespace().unwrap_or_default(),
        session.name_any()
    );
    ctx.metrics.failed("session", error.reason());
    tracing::warn!(session = %key, reason = error.reason(), %error, "reconcile failed");
    if error.is_transient() {
        Action::requeue(ctx.backoff(&key))
    } else {
        Action::await_change()
    }
}
