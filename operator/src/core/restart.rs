//! What to do with a runner container that stopped, playing the kubelet's `restartPolicy:
//! Always` in single-node mode: start it again (its files and history are on the volumes); wait
//! first when it died soon after its start; fail the Session when such crashes outlast the
//! Workspace's `startTimeout`, as CrashLoopBackOff would surface on Kubernetes.

use std::time::Duration;

/// A run shorter than this counts as a crash, and a crashed runner waits this long before it
/// is started again (the kubelet's CrashLoopBackOff, shortened).
pub const CRASH_BACKOFF: Duration = Duration::from_secs(5);

/// What the stopped runner's timestamps tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoppedRunner {
    /// How long its last run lasted (`None`: the times are unknown, treated as a crash).
    pub lasted: Option<Duration>,
    /// Since it stopped.
    pub since_exit: Duration,
    /// Since its container was created: how long the Session has been trying to start.
    pub since_created: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartDecision {
    /// Start it now.
    Restart,
    /// A crash: wait this much longer before starting it again.
    BackOff(Duration),
    /// It keeps crashing past the start timeout: the Session fails.
    Fail,
}

pub fn restart_decision(runner: StoppedRunner, start_timeout: Duration) -> RestartDecision {
    let crashed = runner.lasted.is_none_or(|d| d < CRASH_BACKOFF);
    if !crashed {
        return RestartDecision::Restart;
    }
    if runner.since_created > start_timeout {
        return RestartDecision::Fail;
    }
    match CRASH_BACKOFF.checked_sub(runner.since_exit) {
        Some(left) if !left.is_zero() => RestartDecision::BackOff(left),
        _ => RestartDecision::Restart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(300);
    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_runner_that_ran_a_while_starts_again_at_once() {
        let runner = StoppedRunner {
            lasted: Some(secs(600)),
            since_exit: secs(0),
            since_created: secs(3600),
        };
        assert_eq!(restart_decision(runner, TIMEOUT), RestartDecision::Restart);
    }

    #[test]
    fn a_crash_waits_out_the_back_off_then_starts_again() {
        let mut runner = StoppedRunner {
            lasted: Some(secs(1)),
            since_exit: secs(2),
            since_created: secs(10),
        };
        assert_eq!(
            restart_decision(runner, TIMEOUT),
            RestartDecision::BackOff(secs(3))
        );
        runner.since_exit = CRASH_BACKOFF;
        assert_eq!(restart_decision(runner, TIMEOUT), RestartDecision::Restart);
    }

    #[test]
    fn crashes_past_the_start_timeout_fail_and_unknown_times_count_as_crashes() {
        let runner = StoppedRunner {
            lasted: None,
            since_exit: secs(60),
            since_created: TIMEOUT + secs(1),
        };
        assert_eq!(restart_decision(runner, TIMEOUT), RestartDecision::Fail);
        // A long run after a long life is no crash loop, whatever the age.
        let healthy = StoppedRunner {
            lasted: Some(CRASH_BACKOFF),
            ..runner
        };
        assert_eq!(restart_decision(healthy, TIMEOUT), RestartDecision::Restart);
    }
}
