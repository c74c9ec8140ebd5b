//! How many requests one Session may have in flight at once. An agent asks one model at a time
//! (a few with subagents); a hostile one opening hundreds of streams would spend the team's
//! provider quota and the proxy's connections. Over the limit: a 429 naming it, at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Open streams per Session (namespace, name).
#[derive(Default)]
pub struct SessionStreams {
    open: Mutex<HashMap<(String, String), usize>>,
}

/// One open stream; the slot is free again when it is dropped (the answer ended, the client
/// went away, or the request failed).
pub struct StreamSlot {
    streams: Arc<SessionStreams>,
    key: (String, String),
}

impl SessionStreams {
    /// A slot for the Session, unless it holds `limit` already.
    pub fn try_open(
        self: &Arc<Self>,
        namespace: &str,
        session: &str,
        limit: usize,
    ) -> Option<StreamSlot> {
        let key = (namespace.to_owned(), session.to_owned());
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key.clone()).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            streams: self.clone(),
            key,
        })
    }

    /// Streams open now (all Sessions).
    pub fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_holds_at_most_its_limit_and_a_closed_slot_is_free_again() {
        let streams = Arc::new(SessionStreams::default());
        let a = streams.try_open("ns", "s1", 2).unwrap();
        let _b = streams.try_open("ns", "s1", 2).unwrap();
        assert!(streams.try_open("ns", "s1", 2).is_none(), "the third");
        assert!(
            streams.try_open("ns", "s2", 2).is_some(),
            "another Session's own"
        );
        assert!(
            streams.try_open("other", "s1", 2).is_some(),
            "same name elsewhere"
        );
        drop(a);
        assert!(streams.try_open("ns", "s1", 2).is_some());
        assert_eq!(streams.open(), 1);
    }
}
