//! When a running Session should suspend itself: no turn in progress, no client connected and
//! no activity for the Workspace's `idleTimeout`, or running longer than its `maxLifetime`. Both
//! runtimes ask this with what the runner's `/activity` reported.

use std::time::Duration;

/// What pi-bridge's `/activity` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct Activity {
    pub busy: bool,
    pub connected_clients: u64,
    pub last_activity_ms: i64,
}

/// `Some((reason, message))` when the runner should be suspended now.
pub fn should_suspend(
    activity: &Activity,
    now_ms: i64,
    idle_timeout: Duration,
    running_for: Option<Duration>,
    max_lifetime: Option<Duration>,
) -> Option<(&'static str, String)> {
    let idle_for =
        Duration::from_millis(u64::try_from(now_ms - activity.last_activity_ms).unwrap_or(0));
    if !activity.busy && activity.connected_clients == 0 && idle_for > idle_timeout {
        return Some((
            "IdleTimeout",
            format!("no activity and no client for {}s", idle_for.as_secs()),
        ));
    }
    match (running_for, max_lifetime) {
        (Some(ran), Some(max)) if ran > max => Some((
            "MaxLifetime",
            format!("ran for {}s, longer than maxLifetime", ran.as_secs()),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn activity(busy: bool, clients: u64, last: i64) -> Activity {
        Activity {
            busy,
            connected_clients: clients,
            last_activity_ms: last,
        }
    }

    #[test]
    fn idle_means_no_turn_no_client_and_quiet_long_enough() {
        let now = 10 * 60_000;
        assert_eq!(
            should_suspend(&activity(false, 0, 0), now, MIN, None, None).map(|s| s.0),
            Some("IdleTimeout")
        );
        assert!(
            should_suspend(&activity(false, 1, 0), now, MIN, None, None).is_none(),
            "a client is connected"
        );
        assert!(
            should_suspend(&activity(true, 0, 0), now, MIN, None, None).is_none(),
            "a turn is running"
        );
        assert!(
            should_suspend(&activity(false, 0, now - 1000), now, MIN, None, None).is_none(),
            "recent activity"
        );
        assert!(
            should_suspend(&activity(false, 0, now + 5000), now, MIN, None, None).is_none(),
            "clock skew is not idleness"
        );
    }

    #[test]
    fn max_lifetime_applies_even_while_busy() {
        let verdict = should_suspend(&activity(true, 3, 0), 0, MIN, Some(2 * MIN), Some(MIN));
        assert_eq!(verdict.map(|s| s.0), Some("MaxLifetime"));
    }
}
