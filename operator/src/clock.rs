//! The time Schedules are decided at: the system's, or one a test sets, so that tests drive
//! time instead of sleeping until a cron minute comes.

use std::sync::{Arc, Mutex};

use k8s_openapi::jiff::Timestamp;

/// A shared handle: clones see the same time.
#[derive(Clone, Debug, Default)]
pub struct Clock(Arc<Mutex<Option<Timestamp>>>);

impl Clock {
    /// The set time, else the system's.
    pub fn now(&self) -> Timestamp {
        self.0
            .lock()
            .ok()
            .and_then(|set| *set)
            .unwrap_or_else(Timestamp::now)
    }

    /// The time a test set, if any.
    pub fn fixed(&self) -> Option<Timestamp> {
        self.0.lock().ok().and_then(|set| *set)
    }

    /// From now on, `now()` is `at` (`None`: the system's time again).
    pub fn set(&self, at: Option<Timestamp>) {
        if let Ok(mut set) = self.0.lock() {
            *set = at;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_time_is_seen_by_every_clone_until_cleared() {
        let clock = Clock::default();
        let other = clock.clone();
        let at: Timestamp = "2030-01-01T00:00:00Z".parse().expect("a timestamp");
        clock.set(Some(at));
        assert_eq!(other.now(), at);
        clock.set(None);
        assert!(other.now() < at);
    }
}
