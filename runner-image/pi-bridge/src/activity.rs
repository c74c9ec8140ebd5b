//! What the operator's idle detection reads from `/activity`: is an agent working, when did
//! anything last happen, and how many clients are connected. Idleness is defined here, by the
//! runner, not guessed from proxy traffic.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Shared activity counters of the bridge.
#[derive(Debug, Default)]
pub struct Activity {
    busy_conversations: AtomicUsize,
    connected_clients: AtomicUsize,
    last_activity_ms: Mutex<i64>,
}

/// The `/activity` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityReport {
    /// `true` while any agent works on a turn.
    pub busy: bool,
    pub busy_conversations: usize,
    pub connected_clients: usize,
    /// Unix milliseconds of the last prompt, agent event, client frame or connection change.
    pub last_activity_ms: i64,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl Activity {
    pub fn new() -> Self {
        let activity = Self::default();
        activity.touch();
        activity
    }

    pub fn touch(&self) {
        if let Ok(mut last) = self.last_activity_ms.lock() {
            *last = now_ms().max(*last);
        }
    }

    pub fn client_connected(self: &Arc<Self>) -> ClientGuard {
        self.connected_clients.fetch_add(1, Ordering::Relaxed);
        self.touch();
        ClientGuard(self.clone())
    }

    pub fn turn_started(&self) {
        self.busy_conversations.fetch_add(1, Ordering::Relaxed);
        self.touch();
    }

    pub fn turn_ended(&self) {
        // Saturating: a spurious end never makes the count wrap around.
        let _ = self
            .busy_conversations
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        self.touch();
    }

    pub fn report(&self) -> ActivityReport {
        let busy_conversations = self.busy_conversations.load(Ordering::Relaxed);
        ActivityReport {
            busy: busy_conversations > 0,
            busy_conversations,
            connected_clients: self.connected_clients.load(Ordering::Relaxed),
            last_activity_ms: self.last_activity_ms.lock().map(|l| *l).unwrap_or_default(),
        }
    }
}

/// Counts a connected client until dropped.
pub struct ClientGuard(Arc<Activity>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        let _ = self
            .0
            .connected_clients
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        self.0.touch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_clients_are_counted() {
        let activity = Arc::new(Activity::new());
        assert!(!activity.report().busy);
        activity.turn_started();
        activity.turn_started();
        activity.turn_ended();
        assert_eq!(activity.report().busy_conversations, 1);
        activity.turn_ended();
        activity.turn_ended();
        assert_eq!(activity.report().busy_conversations, 0, "never below zero");
        {
            let _a = activity.client_connected();
            let _b = activity.client_connected();
            assert_eq!(activity.report().connected_clients, 2);
        }
        assert_eq!(activity.report().connected_clients, 0);
        assert!(activity.report().last_activity_ms > 0);
    }
}
