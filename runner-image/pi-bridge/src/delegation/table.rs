//! The delegations one bridge keeps track of, at most [`MAX_TRACKED`]: their state as the
//! delegate API reports it, and the stop switch of each running turn. Pure bookkeeping, under
//! the service's lock: nothing here waits or does I/O.

use serde::Serialize;
use tokio::sync::watch;

/// Delegations one bridge tracks. Finished ones beyond it are forgotten oldest first; a start
/// while all of them run is refused (the gateway also limits a Session's children).
pub const MAX_TRACKED: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Running,
    Done,
    Failed,
    Cancelled,
}

/// What `GET /delegate/status/{id}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub id: String,
    /// The child Session; `null` while the gateway creates it.
    pub session: Option<String>,
    pub state: State,
    /// The child's final answer of its last turn, once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

struct Entry {
    status: Status,
    /// Turns begun in the child; the first is 1.
    turns: u32,
    /// The stop switch of the turn whose task is alive; `None` once that task has ended.
    stop: Option<watch::Sender<bool>>,
}

impl Entry {
    /// Over and its task gone: it may be forgotten, or continued with another prompt.
    fn settled(&self) -> bool {
        self.status.state != State::Running && self.stop.is_none()
    }
}

/// Why the table refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// All [`MAX_TRACKED`] delegations are still running.
    Full,
    NotFound,
    /// A turn is running, or a stopped one is still being aborted.
    Busy,
    /// The child was never created (its start is under way).
    NoChild,
}

/// A turn to run: its number in the child, the child, and its stop switch.
#[derive(Debug)]
pub struct TurnTicket {
    pub turn: u32,
    pub child: String,
    pub stop: watch::Receiver<bool>,
}

/// The message a stopped delegation reports.
pub const STOPPED: &str = "the delegation was stopped";

#[derive(Default)]
pub struct Table {
    /// Oldest first.
    entries: Vec<Entry>,
}

impl Table {
    /// A new delegation, running while its child is created; the receiver is its first
    /// turn's stop switch. At capacity the oldest settled delegation is forgotten.
    pub fn add(&mut self, id: &str) -> Result<watch::Receiver<bool>, Refused> {
        if self.entries.len() >= MAX_TRACKED {
            let oldest = self
                .entries
                .iter()
                .position(Entry::settled)
                .ok_or(Refused::Full)?;
            self.entries.remove(oldest);
        }
        let (stop, stopped) = watch::channel(false);
        self.entries.push(Entry {
            status: Status {
                id: id.to_owned(),
                session: None,
                state: State::Running,
                answer: None,
                error: None,
            },
            turns: 1,
            stop: Some(stop),
        });
        Ok(stopped)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.find(id).is_some()
    }

    /// The gateway created the child.
    pub fn set_child(&mut self, id: &str, child: &str) {
        if let Some(entry) = self.find_mut(id) {
            entry.status.session = Some(child.to_owned());
        }
    }

    /// The gateway did not create the child: there is nothing to track.
    pub fn remove(&mut self, id: &str) {
        self.entries.retain(|e| e.status.id != id);
    }

    /// Another turn in the child of a delegation whose last turn is over.
    pub fn follow_up(&mut self, id: &str) -> Result<TurnTicket, Refused> {
        let entry = self.find_mut(id).ok_or(Refused::NotFound)?;
        if !entry.settled() {
            return Err(Refused::Busy);
        }
        let child = entry.status.session.clone().ok_or(Refused::NoChild)?;
        let (stop, stopped) = watch::channel(false);
        entry.turns += 1;
        entry.stop = Some(stop);
        entry.status.state = State::Running;
        entry.status.answer = None;
        entry.status.error = None;
        Ok(TurnTicket {
            turn: entry.turns,
            child,
            stop: stopped,
        })
    }

    /// Stops a running delegation: it is cancelled from now on, whatever its turn still does
    /// while it is aborted. A finished one stays as it is.
    pub fn stop(&mut self, id: &str) -> Result<Status, Refused> {
        let entry = self.find_mut(id).ok_or(Refused::NotFound)?;
        stop_entry(entry);
        Ok(entry.status.clone())
    }

    /// Stops every running delegation; how many there were.
    pub fn stop_all(&mut self) -> usize {
        self.entries
            .iter_mut()
            .map(stop_entry)
            .filter(|&stopped| stopped)
            .count()
    }

    /// The task of the delegation's turn ended with an answer or an error. True when the
    /// delegation had been stopped first: it stays cancelled.
    pub fn finish(&mut self, id: &str, result: Result<String, String>) -> bool {
        let Some(entry) = self.find_mut(id) else {
            return false;
        };
        entry.stop = None;
        if entry.status.state == State::Cancelled {
            return true;
        }
        match result {
            Ok(answer) => {
                entry.status.state = State::Done;
                entry.status.answer = Some(answer);
            }
            Err(error) => {
                entry.status.state = State::Failed;
                entry.status.error = Some(error);
            }
        }
        false
    }

    pub fn status(&self, id: &str) -> Option<Status> {
        self.find(id).map(|e| e.status.clone())
    }

    pub fn list(&self) -> Vec<Status> {
        self.entries.iter().map(|e| e.status.clone()).collect()
    }

    fn find(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.status.id == id)
    }

    fn find_mut(&mut self, id: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.status.id == id)
    }
}

/// True when the entry was running and is now stopping.
fn stop_entry(entry: &mut Entry) -> bool {
    if entry.status.state != State::Running {
        return false;
    }
    entry.status.state = State::Cancelled;
    entry.status.error = Some(STOPPED.into());
    if let Some(stop) = &entry.stop {
        stop.send_replace(true);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(table: &Table) -> Vec<String> {
        table.list().into_iter().map(|s| s.id).collect()
    }

    #[test]
    fn at_most_eight_are_tracked_and_the_oldest_finished_are_forgotten_first() {
        let mut table = Table::default();
        for n in 0..MAX_TRACKED {
            table.add(&format!("d{n}")).unwrap();
            table.set_child(&format!("d{n}"), &format!("c{n}"));
        }
        assert_eq!(table.add("d8").unwrap_err(), Refused::Full, "all running");
        // Two finish, the later one first: the older is forgotten first all the same.
        assert!(!table.finish("d5", Ok("five".into())));
        assert!(!table.finish("d2", Err("broke".into())));
        table.add("d8").unwrap();
        assert!(!table.contains("d2"), "the oldest finished went");
        assert!(table.contains("d5"));
        table.add("d9").unwrap();
        assert!(!table.contains("d5"));
        assert_eq!(table.add("d10").unwrap_err(), Refused::Full);
        assert_eq!(table.list().len(), MAX_TRACKED);
        assert_eq!(ids(&table)[..2], ["d0", "d1"], "the running ones stay");
    }

    #[test]
    fn a_stopped_delegation_is_cancelled_at_once_and_held_until_its_task_ends() {
        let mut table = Table::default();
        for n in 0..MAX_TRACKED {
            table.add(&format!("d{n}")).unwrap();
        }
        // The last one added is the one stopped.
        table.remove("d7");
        let switch = table.add("d7").unwrap();
        table.set_child("d7", "c7");
        let status = table.stop("d7").unwrap();
        assert_eq!(status.state, State::Cancelled);
        assert_eq!(status.error.as_deref(), Some(STOPPED));
        assert!(*switch.borrow(), "the turn is told to stop");
        // Still aborting: neither forgotten nor continued.
        assert_eq!(table.add("d8").unwrap_err(), Refused::Full);
        assert_eq!(table.follow_up("d7").unwrap_err(), Refused::Busy);
        // The turn ended anyway with an answer: the delegation stays cancelled.
        assert!(table.finish("d7", Ok("late".into())));
        let status = table.status("d7").unwrap();
        assert_eq!((status.state, status.answer), (State::Cancelled, None));
        table.add("d8").unwrap();
        assert!(!table.contains("d7"));
        assert_eq!(table.stop("nope").unwrap_err(), Refused::NotFound);
    }

    #[test]
    fn a_follow_up_needs_the_last_turn_over_and_a_child() {
        let mut table = Table::default();
        table.add("d").unwrap();
        assert_eq!(table.follow_up("d").unwrap_err(), Refused::Busy);
        table.set_child("d", "c");
        assert!(!table.finish("d", Ok("first".into())));
        let ticket = table.follow_up("d").unwrap();
        assert_eq!((ticket.turn, ticket.child.as_str()), (2, "c"));
        let status = table.status("d").unwrap();
        assert_eq!((status.state, status.answer), (State::Running, None));
        assert_eq!(table.follow_up("d").unwrap_err(), Refused::Busy);
        assert_eq!(table.stop_all(), 1);
        assert_eq!(table.stop_all(), 0, "already stopped");
        assert!(*ticket.stop.borrow());
        assert_eq!(table.follow_up("nope").unwrap_err(), Refused::NotFound);
    }
}
