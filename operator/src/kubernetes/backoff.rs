//! How the operator's watches retry while the Kubernetes API is away: from 0.8 s, doubling, to
//! at most 5 s (up to 10 s with jitter), starting over after two quiet minutes. kube-runtime's
//! default climbs to 30 s: after an outage the operator would go on missing changes (a runner's
//! Pod turning ready, a Session written meanwhile) for up to half a minute after the API was back.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use kube::runtime::utils::{Backoff, ResetTimerBackoff};

const FIRST: Duration = Duration::from_millis(800);
/// The longest pause before jitter (jitter adds up to as much again).
const LONGEST: Duration = Duration::from_secs(5);
const START_OVER_AFTER: Duration = Duration::from_secs(120);

/// An exponential backoff that kube-runtime can reset.
pub struct Capped {
    builder: ExponentialBuilder,
    current: ExponentialBackoff,
}

impl Capped {
    fn new() -> Self {
        let builder = ExponentialBuilder::new()
            .with_min_delay(FIRST)
            .with_max_delay(LONGEST)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        Self {
            current: builder.build(),
            builder,
        }
    }
}

impl Iterator for Capped {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.current.next()
    }
}

impl Backoff for Capped {
    fn reset(&mut self) {
        self.current = self.builder.build();
    }
}

/// The backoff of every watch the operator runs.
pub fn watch_backoff() -> ResetTimerBackoff<Capped> {
    ResetTimerBackoff::new(Capped::new(), START_OVER_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_never_pause_longer_than_ten_seconds_and_start_over_when_reset() {
        let mut backoff = Capped::new();
        let pauses: Vec<Duration> = backoff.by_ref().take(50).collect();
        assert_eq!(pauses.len(), 50, "it never gives up");
        assert!(
            pauses[0] >= FIRST && pauses[0] <= FIRST * 2,
            "{:?}",
            pauses[0]
        );
        assert!(pauses.iter().all(|p| *p <= LONGEST * 2), "{pauses:?}");
        assert!(
            pauses[10..].iter().all(|p| *p >= LONGEST),
            "it reaches the cap"
        );
        backoff.reset();
        let again = backoff.next().unwrap();
        assert!(
            again <= FIRST * 2,
            "after a reset it starts short: {again:?}"
        );
    }
}
