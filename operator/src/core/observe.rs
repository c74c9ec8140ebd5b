//! A runner's observed state → the Session's phase and the reason it is in it. Reads what the
//! kubelet reports on the Pod (and the newest warning Event) the way a person debugging it
//! would: a start that is stuck says on what (ImagePullBackOff, CrashLoopBackOff, FailedMount,
//! Unschedulable, …), and turns into `Failed` only once `startTimeout` has passed.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use oqto_api::SessionPhase;

/// Container states that mean "stuck", not "slow".
const STUCK_CONTAINER_REASONS: [&str; 7] = [
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// Warning Events that mean "stuck". A FailedScheduling that later clears is transient; the
/// Pod's own `PodScheduled=False/Unschedulable` is what counts.
const STUCK_EVENT_REASONS: [&str; 3] = [
    "FailedMount",
    "FailedAttachVolume",
    "FailedCreatePodSandBox",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerState {
    pub phase: SessionPhase,
    /// CamelCase reason for the Ready condition and Events.
    pub reason: String,
    pub message: String,
    pub ready: bool,
    /// `Some(false)` while the scheduler cannot place the pod.
    pub scheduled: Option<bool>,
}

impl RunnerState {
    fn new(phase: SessionPhase, reason: &str, message: impl Into<String>) -> Self {
        Self {
            phase,
            reason: reason.into(),
            message: message.into(),
            ready: false,
            scheduled: None,
        }
    }
}

/// What the runtime saw.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub suspended: bool,
    pub pod: Option<&'a Pod>,
    /// Newest warning Event about the pod: (reason, message).
    pub last_warning: Option<(&'a str, &'a str)>,
    /// Time since the pod was created.
    pub waited: Duration,
    pub start_timeout: Duration,
}

pub fn observe(seen: Observation<'_>) -> RunnerState {
    let Some(pod) = seen.pod else {
        return if seen.suspended {
            RunnerState::new(
                SessionPhase::Suspended,
                "Suspended",
                "the runner is stopped; files and history are kept",
            )
        } else {
            RunnerState::new(
                SessionPhase::Pending,
                "CreatingRunner",
                "the runner pod is being created",
            )
        };
    };
    if seen.suspended || pod.metadata.deletion_timestamp.is_some() {
        let phase = if seen.suspended {
            SessionPhase::Suspended
        } else {
            SessionPhase::Terminating
        };
        return RunnerState::new(phase, "StoppingRunner", "the runner pod is being deleted");
    }
    let status = pod.status.as_ref();
    let pod_phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    if matches!(pod_phase, "Failed" | "Succeeded") {
        let message = status
            .and_then(|s| s.message.clone())
            .unwrap_or_else(|| format!("the runner pod ended ({pod_phase})"));
        return RunnerState::new(SessionPhase::Failed, "RunnerExited", message);
    }
    let condition = |kind: &str| {
        status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == kind))
    };
    let scheduled = condition("PodScheduled").map(|c| c.status == "True");
    if condition("Ready").is_some_and(|c| c.status == "True") {
        let mut state = RunnerState::new(
            SessionPhase::Running,
            "RunnerReady",
            "the runner accepts connections",
        );
        state.ready = true;
        state.scheduled = Some(true);
        return state;
    }
    let stuck = stuck_on(pod, seen.last_warning).or_else(|| {
        condition("PodScheduled")
            .filter(|c| c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
            .map(|c| {
                (
                    "Unschedulable".to_owned(),
                    c.message.clone().unwrap_or_default(),
                )
            })
    });
    let mut state = match stuck {
        Some((reason, message)) if seen.waited > seen.start_timeout => RunnerState::new(
            SessionPhase::Failed,
            &reason,
            format!(
                "the runner did not start within {}s: {reason}: {message}",
                seen.start_timeout.as_secs()
            ),
        ),
        Some((reason, message)) => RunnerState::new(SessionPhase::Starting, &reason, message),
        None => RunnerState::new(
            SessionPhase::Starting,
            "StartingRunner",
            "the runner is starting",
        ),
    };
    if state.phase == SessionPhase::Starting && seen.waited > seen.start_timeout {
        state = RunnerState::new(
            SessionPhase::Failed,
            "StartTimeout",
            format!(
                "the runner did not become ready within {}s",
                seen.start_timeout.as_secs()
            ),
        );
    }
    state.scheduled = scheduled;
    state
}

/// The first container state or warning that names why the pod is not starting.
fn stuck_on(pod: &Pod, last_warning: Option<(&str, &str)>) -> Option<(String, String)> {
    let containers = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten();
    for container in containers {
        if let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref())
            && let Some(reason) = waiting.reason.as_deref()
            && STUCK_CONTAINER_REASONS.contains(&reason)
        {
            return Some((
                reason.to_owned(),
                waiting.message.clone().unwrap_or_default(),
            ));
        }
    }
    last_warning
        .filter(|(reason, _)| STUCK_EVENT_REASONS.contains(reason))
        .map(|(reason, message)| (reason.to_owned(), message.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata":{"name":"p"},"status":status})).unwrap()
    }

    fn seen<'a>(pod: Option<&'a Pod>, waited: u64) -> Observation<'a> {
        Observation {
            suspended: false,
            pod,
            last_warning: None,
            waited: Duration::from_secs(waited),
            start_timeout: Duration::from_secs(300),
        }
    }

    #[test]
    fn ready_pods_run_and_missing_pods_are_pending_or_suspended() {
        let ready = pod(
            json!({"phase":"Running","conditions":[{"type":"Ready","status":"True"},{"type":"PodScheduled","status":"True"}]}),
        );
        let state = observe(seen(Some(&ready), 1));
        assert_eq!((state.phase, state.ready), (SessionPhase::Running, true));
        assert_eq!(observe(seen(None, 0)).phase, SessionPhase::Pending);
        let suspended = Observation {
            suspended: true,
            ..seen(None, 0)
        };
        assert_eq!(observe(suspended).phase, SessionPhase::Suspended);
    }

    #[test]
    fn an_image_pull_backoff_fails_only_after_the_start_timeout() {
        let stuck = pod(
            json!({"phase":"Pending","containerStatuses":[{"name":"runner","image":"x","imageID":"",
            "ready":false,"restartCount":0,"state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image \"x\""}}}]}),
        );
        let early = observe(seen(Some(&stuck), 10));
        assert_eq!(
            (early.phase, early.reason.as_str()),
            (SessionPhase::Starting, "ImagePullBackOff")
        );
        let late = observe(seen(Some(&stuck), 301));
        assert_eq!(
            (late.phase, late.reason.as_str()),
            (SessionPhase::Failed, "ImagePullBackOff")
        );
        assert!(
            late.message.contains("within 300s") && late.message.contains("pulling image"),
            "{}",
            late.message
        );
    }

    #[test]
    fn scheduling_and_mount_problems_are_named() {
        let unschedulable = pod(
            json!({"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False",
            "reason":"Unschedulable","message":"0/3 nodes are available"}]}),
        );
        let state = observe(seen(Some(&unschedulable), 5));
        assert_eq!(
            (state.phase, state.reason.as_str(), state.scheduled),
            (SessionPhase::Starting, "Unschedulable", Some(false))
        );
        let pending = pod(json!({"phase":"Pending"}));
        let mount = Observation {
            last_warning: Some(("FailedMount", "volume not found")),
            ..seen(Some(&pending), 400)
        };
        let state = observe(mount);
        assert_eq!(
            (state.phase, state.reason.as_str()),
            (SessionPhase::Failed, "FailedMount")
        );
        let transient = Observation {
            last_warning: Some(("FailedScheduling", "retrying")),
            ..seen(Some(&pending), 5)
        };
        assert_eq!(
            observe(transient).reason,
            "StartingRunner",
            "a FailedScheduling event alone is not stuck"
        );
        assert_eq!(observe(seen(Some(&pending), 301)).reason, "StartTimeout");
    }

    #[test]
    fn ended_pods_fail() {
        let ended = pod(json!({"phase":"Failed","message":"OOMKilled"}));
        let state = observe(seen(Some(&ended), 5));
        assert_eq!(
            (state.phase, state.reason.as_str(), state.message.as_str()),
            (SessionPhase::Failed, "RunnerExited", "OOMKilled")
        );
    }
}
