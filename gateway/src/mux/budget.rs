//! What one user may hold in the relay at once, so one user cannot take the memory every other
//! user shares: open mux connections, sessions linked over all of them, and bytes queued from
//! their clients towards runners (a user's frames wait in the gateway while a runner is slow
//! or starting). Bytes queued towards one client are bounded per connection instead: a client
//! that does not read holds back its own runners (back-pressure), never the user's other
//! connections.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits, from the gateway's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open mux connections per user.
    pub connections: usize,
    /// Sessions linked per user, over all their connections.
    pub sessions: usize,
    /// Bytes queued per user towards runners, and per connection towards the client.
    pub queued_bytes: usize,
}

#[derive(Debug)]
pub struct Budgets {
    limits: Limits,
    users: Mutex<HashMap<String, Arc<UserBudget>>>,
}

#[derive(Debug)]
struct UserBudget {
    /// Changed only under the `users` lock: the entry goes when it reaches 0.
    connections: AtomicUsize,
    sessions: AtomicUsize,
    inbound: Arc<Semaphore>,
}

/// One open connection of a user; it stops counting when dropped.
#[derive(Debug)]
pub struct Held {
    budgets: Arc<Budgets>,
    user: String,
    budget: Arc<UserBudget>,
    outbound: Arc<Semaphore>,
}

/// One linked session; it stops counting when dropped.
#[derive(Debug)]
pub struct SessionSlot(Arc<UserBudget>);

/// Bytes reserved in a queue; given back when the frame has been written on.
pub type Reserved = OwnedSemaphorePermit;

/// The permits a reservation of `bytes` takes: a frame larger than the whole budget (a large
/// file read from a runner) passes alone.
fn permits(bytes: usize, capacity: usize) -> u32 {
    u32::try_from(bytes.clamp(1, capacity.max(1))).unwrap_or(u32::MAX)
}

fn semaphore(bytes: usize) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS)))
}

impl Budgets {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            users: Mutex::default(),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A place for one more connection of `user`, or `None` at the limit.
    pub fn hold(self: &Arc<Self>, user: &str) -> Option<Held> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let budget = users
            .entry(user.to_owned())
            .or_insert_with(|| {
                Arc::new(UserBudget {
                    connections: AtomicUsize::new(0),
                    sessions: AtomicUsize::new(0),
                    inbound: semaphore(self.limits.queued_bytes),
                })
            })
            .clone();
        if budget.connections.load(Ordering::SeqCst) >= self.limits.connections {
            return None;
        }
        budget.connections.fetch_add(1, Ordering::SeqCst);
        Some(Held {
            budgets: self.clone(),
            user: user.to_owned(),
            budget,
            outbound: semaphore(self.limits.queued_bytes),
        })
    }
}

impl Held {
    /// A place for one more linked session of this user, or `None` at the limit.
    pub fn link_session(&self) -> Option<SessionSlot> {
        let limit = self.budgets.limits.sessions;
        self.budget
            .sessions
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| SessionSlot(self.budget.clone()))
    }

    /// Room for a client frame of `bytes` in the user's queues towards runners, or `None`
    /// when they are full (the client is told "busy"; nothing waits).
    pub fn reserve_inbound(&self, bytes: usize) -> Option<Reserved> {
        let n = permits(bytes, self.budgets.limits.queued_bytes);
        self.budget.inbound.clone().try_acquire_many_owned(n).ok()
    }

    /// This connection's budget towards its client, for the tasks that read its runners.
    pub fn outbound(&self) -> Outbound {
        Outbound {
            semaphore: self.outbound.clone(),
            capacity: self.budgets.limits.queued_bytes,
        }
    }
}

/// Bytes queued towards one client: a runner frame waits for room (its runner is read no
/// further meanwhile) instead of piling up in memory.
#[derive(Debug, Clone)]
pub struct Outbound {
    semaphore: Arc<Semaphore>,
    capacity: usize,
}

impl Outbound {
    /// Waits for room for `bytes`; `None` when the connection is closing.
    pub async fn reserve(&self, bytes: usize) -> Option<Reserved> {
        let n = permits(bytes, self.capacity);
        self.semaphore.clone().acquire_many_owned(n).await.ok()
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut users = self.budgets.users.lock().unwrap_or_else(|p| p.into_inner());
        if self.budget.connections.fetch_sub(1, Ordering::SeqCst) == 1 {
            users.remove(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budgets(connections: usize, sessions: usize, queued_bytes: usize) -> Arc<Budgets> {
        Budgets::new(Limits {
            connections,
            sessions,
            queued_bytes,
        })
    }

    #[test]
    fn each_user_has_their_own_connections_and_closing_frees_a_place() {
        let cap = budgets(2, 8, 1024);
        let a1 = cap.hold("alice");
        let a2 = cap.hold("alice");
        assert!(a1.is_some() && a2.is_some());
        assert!(cap.hold("alice").is_none(), "the third is refused");
        assert!(cap.hold("bob").is_some(), "bob is not affected");
        drop(a1);
        assert!(cap.hold("alice").is_some(), "a closed one frees its place");
    }

    #[test]
    fn sessions_count_over_all_connections_of_a_user() {
        let cap = budgets(4, 3, 1024);
        let (one, two) = (cap.hold("alice").unwrap(), cap.hold("alice").unwrap());
        let slots: Vec<_> = [&one, &two, &one]
            .iter()
            .map(|held| held.link_session().unwrap())
            .collect();
        assert!(
            two.link_session().is_none(),
            "the fourth session is refused"
        );
        assert!(cap.hold("bob").unwrap().link_session().is_some());
        drop(slots);
        assert!(two.link_session().is_some());
    }

    #[test]
    fn inbound_bytes_are_shared_by_a_users_connections_and_given_back() {
        let cap = budgets(4, 8, 1000);
        let (one, two) = (cap.hold("alice").unwrap(), cap.hold("alice").unwrap());
        let first = one.reserve_inbound(600).unwrap();
        assert!(
            two.reserve_inbound(600).is_none(),
            "the user's budget is full"
        );
        let bob = cap.hold("bob").unwrap();
        assert!(bob.reserve_inbound(600).is_some(), "bob has his own");
        drop(first);
        assert!(
            two.reserve_inbound(600).is_some(),
            "written frames give room back"
        );
        let huge = cap.hold("carol").unwrap();
        let alone = huge.reserve_inbound(5000);
        assert!(alone.is_some(), "a frame above the budget passes alone");
        assert!(huge.reserve_inbound(1).is_none(), "and takes it all");
    }

    #[tokio::test(start_paused = true)]
    async fn outbound_frames_wait_for_the_client_to_take_the_earlier_ones() {
        let cap = budgets(4, 8, 1000);
        let held = cap.hold("alice").unwrap();
        let outbound = held.outbound();
        let first = outbound.reserve(900).await.unwrap();
        let waiting = tokio::spawn({
            let outbound = outbound.clone();
            async move { outbound.reserve(200).await.is_some() }
        });
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        assert!(!waiting.is_finished(), "no room until the first is written");
        drop(first);
        assert!(waiting.await.unwrap());
        let other = cap.hold("alice").unwrap().outbound();
        assert!(
            other.reserve(1000).await.is_some(),
            "another connection of the user has its own room"
        );
    }
}
