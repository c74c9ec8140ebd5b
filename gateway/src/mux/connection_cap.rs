//! Mux connections per user are capped: each one holds buffers, upstream connections and a
//! task, so one user opening thousands would take the memory every other user shares. A
//! connection counts from its upgrade until its task ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct ConnectionCap {
    limit: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One open connection; it stops counting when dropped.
#[derive(Debug)]
pub struct Held {
    cap: Arc<ConnectionCap>,
    user: String,
}

impl ConnectionCap {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            open: Mutex::default(),
        })
    }

    /// A place for one more connection of `user`, or `None` at the limit.
    pub fn hold(self: &Arc<Self>, user: &str) -> Option<Held> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(user.to_owned()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Held {
            cap: self.clone(),
            user: user.to_owned(),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut open = self.cap.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_has_their_own_limit_and_closing_frees_a_place() {
        let cap = ConnectionCap::new(2);
        let a1 = cap.hold("alice");
        let a2 = cap.hold("alice");
        assert!(a1.is_some() && a2.is_some());
        assert!(cap.hold("alice").is_none(), "the third is refused");
        assert!(cap.hold("bob").is_some(), "bob is not affected");
        drop(a1);
        assert!(cap.hold("alice").is_some(), "a closed one frees its place");
    }
}
