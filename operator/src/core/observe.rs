//! A runner Pod's state as the lifecycle's neutral health. Reads what the kubelet reports on the
//! Pod (and the newest warning Event) the way a person debugging it would: a start that is
//! stuck says on what (ImagePullBackOff, CrashLoopBackOff, FailedMount, Unschedulable, …); the
//! lifecycle turns it into `Failed` once `startTimeout` has passed.

use k8s_openapi::api::core::v1::Pod;

use oqto_proto::runner::CONTAINER as RUNNER_CONTAINER;

use super::lifecycle::RunnerHealth;

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

/// What the kubelet reports on a runner Pod, as the lifecycle's neutral health. The start
/// timeout is the lifecycle's to apply.
pub fn read_pod(pod: &Pod, last_warning: Option<(&str, &str)>) -> RunnerHealth {
    let status = pod.status.as_ref();
    let pod_phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    if matches!(pod_phase, "Failed" | "Succeeded") {
        let message = status
            .and_then(|s| s.message.clone())
            .unwrap_or_else(|| format!("the runner pod ended ({pod_phase})"));
        // The kubelet restarts containers itself; an ended Pod stays ended.
        return RunnerHealth::Exited {
            message,
            restart: None,
        };
    }
    let condition = |kind: &str| {
        status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == kind))
    };
    if condition("Ready").is_some_and(|c| c.status == "True") {
        return RunnerHealth::Ready;
    }
    // Its container runs and the Pod has an address: pi-bridge may answer before the kubelet's
    // next probe tick says so, and the operator asks it (see `RunnerHealth::Starting`). A
    // running container has a place, whatever a scheduler wrote before it was bound.
    let running = status.and_then(|s| s.pod_ip.as_deref()).is_some()
        && status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .any(|c| {
                c.name == RUNNER_CONTAINER && c.state.as_ref().is_some_and(|s| s.running.is_some())
            });
    let scheduled = if running {
        Some(true)
    } else {
        condition("PodScheduled").map(|c| c.status == "True")
    };
    let stuck = stuck_on(pod, last_warning).or_else(|| {
        condition("PodScheduled")
            .filter(|c| {
                !running && c.status == "False" && c.reason.as_deref() == Some("Unschedulable")
            })
            .map(|c| {
                (
                    "Unschedulable".to_owned(),
                    c.message.clone().unwrap_or_default(),
                )
            })
    });
    RunnerHealth::Starting {
        stuck,
        scheduled,
        running,
    }
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

    fn stuck(health: RunnerHealth) -> Option<String> {
        match health {
            RunnerHealth::Starting { stuck, .. } => stuck.map(|s| s.0),
            other => panic!("not starting: {other:?}"),
        }
    }

    #[test]
    fn ready_pods_are_ready() {
        let ready = pod(
            json!({"phase":"Running","conditions":[{"type":"Ready","status":"True"},{"type":"PodScheduled","status":"True"}]}),
        );
        assert_eq!(read_pod(&ready, None), RunnerHealth::Ready);
    }

    #[test]
    fn an_image_pull_backoff_is_named() {
        let stuck_pod = pod(
            json!({"phase":"Pending","containerStatuses":[{"name":"runner","image":"x","imageID":"",
            "ready":false,"restartCount":0,"state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image \"x\""}}}]}),
        );
        assert_eq!(
            stuck(read_pod(&stuck_pod, None)).as_deref(),
            Some("ImagePullBackOff")
        );
    }

    #[test]
    fn scheduling_and_mount_problems_are_named() {
        let unschedulable = pod(
            json!({"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False",
            "reason":"Unschedulable","message":"0/3 nodes are available"}]}),
        );
        assert_eq!(
            read_pod(&unschedulable, None),
            RunnerHealth::Starting {
                stuck: Some(("Unschedulable".into(), "0/3 nodes are available".into())),
                scheduled: Some(false),
                running: false,
            }
        );
        let pending = pod(json!({"phase":"Pending"}));
        assert_eq!(
            stuck(read_pod(
                &pending,
                Some(("FailedMount", "volume not found"))
            ))
            .as_deref(),
            Some("FailedMount")
        );
        assert_eq!(
            stuck(read_pod(&pending, Some(("FailedScheduling", "retrying")))),
            None,
            "a FailedScheduling event alone is not stuck"
        );
    }

    /// The kubelet has started the container but not yet probed it: the operator may ask it.
    /// (A scheduler's "Unschedulable" from before the Pod was bound no longer holds then.)
    #[test]
    fn a_running_container_with_an_address_is_one_the_operator_may_ask() {
        let health = |ip: Option<&str>, state: serde_json::Value| {
            read_pod(
                &pod(json!({"phase":"Running","podIP":ip,
                "conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable",
                    "message":"0/1 nodes are available"},{"type":"Ready","status":"False"}],
                "containerStatuses":[{"name":"runner","image":"x","imageID":"","ready":false,
                    "started":false,"restartCount":0,"state":state}]})),
                None,
            )
        };
        let up = json!({"running":{"startedAt":"2026-12-04T20:10:07Z"}});
        assert_eq!(
            health(Some("10.244.0.2"), up.clone()),
            RunnerHealth::Starting {
                stuck: None,
                scheduled: Some(true),
                running: true
            }
        );
        let RunnerHealth::Starting { running, stuck, .. } = health(None, up) else {
            panic!("not starting")
        };
        assert!(!running, "no address to ask yet");
        assert_eq!(stuck.map(|s| s.0).as_deref(), Some("Unschedulable"));
        let creating = health(
            Some("10.244.0.2"),
            json!({"waiting":{"reason":"ContainerCreating"}}),
        );
        assert!(matches!(
            creating,
            RunnerHealth::Starting { running: false, .. }
        ));
    }

    #[test]
    fn ended_pods_exit_for_good() {
        let ended = pod(json!({"phase":"Failed","message":"OOMKilled"}));
        assert_eq!(
            read_pod(&ended, None),
            RunnerHealth::Exited {
                message: "OOMKilled".into(),
                restart: None
            }
        );
    }
}
