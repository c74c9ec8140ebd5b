//! A Pi started before anyone asks for it. Node and Pi's modules take most of a second to load;
//! a runner serves one Session, so the bridge starts that Session's Pi as soon as it is up,
//! while the operator and the gateway are still learning that the runner is ready, and the
//! conversation adopts it on its first command instead of starting one then.
//!
//! The standby is adopted only when the conversation would start Pi with exactly the same
//! command line and environment (same session file to resume, provider and model); otherwise it
//! is stopped and the conversation starts its own, as it would without a standby.
//!
//! While it loads (until it answers `get_state`) the runner's `/readyz/warm` says not ready: a
//! warm spare's start ends there, so a spare is `Running`, and claimed, only once its Pi has
//! loaded. A conversation that begins meanwhile waits for that Pi (`take_when_loaded`) rather
//! than loading a second one beside it.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::launch::PiLaunch;
use super::process::{PiError, PiOutput, PiProcess};

/// A started Pi and the launch it was started with.
struct Started {
    launch: PiLaunch,
    process: PiProcess,
    events: mpsc::Receiver<PiOutput>,
}

/// At most one Pi waiting for its conversation, once: the first conversation to start Pi takes
/// it or closes the slot, so a standby that would come later is not started at all.
#[derive(Default)]
pub struct Standby {
    slot: Mutex<Slot>,
    /// Told whenever a load ends (the slot leaves `Loading`).
    settled: tokio::sync::Notify,
}

#[derive(Default)]
enum Slot {
    #[default]
    Open,
    /// Started, not answering yet; the process is with [`Standby::start`].
    Loading,
    Waiting(Box<Started>),
    Closed,
}

impl Standby {
    /// Starts Pi for `launch`, waits (at most `within`) until it answers, and keeps it, unless a
    /// conversation has started its own first (then the one started here is stopped).
    pub async fn start(&self, launch: PiLaunch, within: Duration) -> Result<(), PiError> {
        {
            let mut slot = self.lock();
            // Loading without a process: `expect` announced this start.
            if !matches!(*slot, Slot::Open | Slot::Loading) {
                return Ok(());
            }
            *slot = Slot::Loading;
        }
        let (process, events) = match PiProcess::spawn(&launch) {
            Ok(started) => started,
            Err(e) => {
                self.close_if_loading();
                return Err(e);
            }
        };
        info!(pid = ?process.pid(), "Pi started ahead of its conversation");
        let answered = process.request(json!({"type": "get_state"}), within).await;
        let _settled = NotifyOnDrop(&self.settled);
        let mut slot = self.lock();
        match answered {
            Ok(_) if matches!(*slot, Slot::Loading) => {
                *slot = Slot::Waiting(Box::new(Started {
                    launch,
                    process,
                    events,
                }));
                Ok(())
            }
            // Dropped: the process is killed.
            Ok(_) => {
                debug!(
                    "a conversation started its own Pi meanwhile; the one started ahead is stopped"
                );
                Ok(())
            }
            Err(e) => {
                if matches!(*slot, Slot::Loading) {
                    *slot = Slot::Closed;
                }
                Err(e)
            }
        }
    }

    /// Whether a Pi started ahead is still loading (the runner is not ready meanwhile).
    pub fn is_loading(&self) -> bool {
        matches!(*self.lock(), Slot::Loading)
    }

    /// Announces a Pi that `start` will start once the bridge has what it needs (hstry), so
    /// that readiness waits for it from the bridge's first moment.
    pub fn expect(&self) {
        let mut slot = self.lock();
        if matches!(*slot, Slot::Open) {
            *slot = Slot::Loading;
        }
    }

    /// The announced Pi will not be started after all.
    pub fn close_if_loading(&self) {
        let mut slot = self.lock();
        if matches!(*slot, Slot::Loading) {
            *slot = Slot::Closed;
        }
        drop(slot);
        self.settled.notify_waiters();
    }

    /// Like [`Standby::take`], but a Pi still loading is waited for (its load is bounded by
    /// `start`'s `within`) instead of being given up: a conversation that begins early would
    /// otherwise start a second Pi beside the one loading, and both would load at half speed.
    pub async fn take_when_loaded(
        &self,
        launch: &PiLaunch,
    ) -> Option<(PiProcess, mpsc::Receiver<PiOutput>)> {
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            // Registered before the state is read: a load ending in between still wakes us.
            settled.as_mut().enable();
            if !self.is_loading() {
                return self.take(launch);
            }
            settled.await;
        }
    }

    /// The waiting Pi when it was started with `launch` and has not exited; the slot closes
    /// either way. A Pi started with another launch is stopped: it would never be adopted.
    pub fn take(&self, launch: &PiLaunch) -> Option<(PiProcess, mpsc::Receiver<PiOutput>)> {
        let Slot::Waiting(mut started) = std::mem::replace(&mut *self.lock(), Slot::Closed) else {
            return None;
        };
        if &started.launch != launch {
            debug!("the Pi started ahead was for another launch; stopped");
            return None;
        }
        if !started.process.is_running() {
            warn!("the Pi started ahead has exited; starting another");
            return None;
        }
        Some((started.process, started.events))
    }

    pub fn is_waiting(&self) -> bool {
        matches!(*self.lock(), Slot::Waiting(_))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        // A panic while holding this lock left nothing half-done: the slot is whole.
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Wakes the waiters of `take_when_loaded` when dropped, after the slot's lock is released.
struct NotifyOnDrop<'a>(&'a tokio::sync::Notify);

impl Drop for NotifyOnDrop<'_> {
    fn drop(&mut self) {
        self.0.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;

    /// A stand-in Pi that answers every command (`marker` only tells launches apart).
    fn launch(marker: &[&str]) -> PiLaunch {
        let answer = r#"while IFS= read -r line; do id=$(printf '%s' "$line" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p'); printf '{"type":"response","id":"%s","command":"get_state","success":true,"data":{}}\n' "$id"; done"#;
        let mut args = vec!["-c".to_owned(), answer.to_owned(), "pi".to_owned()];
        args.extend(marker.iter().map(|a| (*a).to_owned()));
        PiLaunch {
            program: PathBuf::from("/bin/sh"),
            args,
            cwd: std::env::temp_dir(),
            env: BTreeMap::new(),
            env_remove: Vec::new(),
        }
    }

    const WITHIN: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn the_same_launch_adopts_the_waiting_pi_once() {
        let standby = Standby::default();
        standby.start(launch(&["-"]), WITHIN).await.unwrap();
        assert!(standby.is_waiting());
        let (process, _events) = standby.take(&launch(&["-"])).expect("adopted");
        assert!(process.pid().is_some());
        assert!(!standby.is_waiting());
        assert!(standby.take(&launch(&["-"])).is_none(), "adopted twice");
    }

    #[tokio::test]
    async fn no_pi_starts_ahead_once_a_conversation_started_its_own() {
        let standby = Standby::default();
        assert!(standby.take(&launch(&["-"])).is_none());
        standby.start(launch(&["-"]), WITHIN).await.unwrap();
        assert!(!standby.is_waiting(), "a late standby nobody will adopt");
    }

    #[tokio::test]
    async fn another_launch_stops_the_waiting_pi_instead() {
        let standby = Standby::default();
        standby.start(launch(&["-"]), WITHIN).await.unwrap();
        assert!(standby.take(&launch(&["-u"])).is_none());
        assert!(
            !standby.is_waiting(),
            "a Pi nobody will adopt stays running"
        );
    }

    #[tokio::test]
    async fn the_runner_is_not_ready_while_the_pi_started_ahead_loads() {
        let standby = std::sync::Arc::new(Standby::default());
        let mut slow = launch(&[]);
        // Answers only after a second, as Node loading Pi would.
        slow.args[1] = format!("sleep 1; {}", slow.args[1]);
        let starting = tokio::spawn({
            let standby = standby.clone();
            async move { standby.start(slow, WITHIN).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(standby.is_loading());
        starting.await.unwrap().unwrap();
        assert!(!standby.is_loading());
        assert!(standby.is_waiting());
    }

    #[tokio::test]
    async fn a_conversation_that_starts_meanwhile_closes_the_slot() {
        let standby = std::sync::Arc::new(Standby::default());
        let mut slow = launch(&[]);
        slow.args[1] = format!("sleep 1; {}", slow.args[1]);
        let starting = tokio::spawn({
            let standby = standby.clone();
            let slow = slow.clone();
            async move { standby.start(slow, WITHIN).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(standby.take(&slow).is_none(), "not loaded yet");
        starting.await.unwrap().unwrap();
        assert!(!standby.is_waiting(), "kept a Pi nobody will adopt");
        assert!(!standby.is_loading());
    }

    #[tokio::test]
    async fn an_announced_pi_counts_as_loading_until_it_is_started_or_given_up() {
        let standby = Standby::default();
        standby.expect();
        assert!(standby.is_loading(), "ready before Pi was even started");
        standby.start(launch(&["-"]), WITHIN).await.unwrap();
        assert!(standby.is_waiting());
        let given_up = Standby::default();
        given_up.expect();
        given_up.close_if_loading();
        assert!(!given_up.is_loading(), "never ready without the Pi");
    }

    #[tokio::test]
    async fn an_early_conversation_waits_for_the_loading_pi_and_adopts_it() {
        let standby = std::sync::Arc::new(Standby::default());
        let mut slow = launch(&[]);
        slow.args[1] = format!("sleep 1; {}", slow.args[1]);
        standby.expect();
        let starting = tokio::spawn({
            let standby = standby.clone();
            let slow = slow.clone();
            async move { standby.start(slow, WITHIN).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(standby.is_loading());
        let adopted = standby.take_when_loaded(&slow).await;
        assert!(adopted.is_some(), "a second Pi would load beside the first");
        starting.await.unwrap().unwrap();
        assert!(!standby.is_waiting(), "adopted once");
        // A load that never comes ends the wait too.
        let given_up = std::sync::Arc::new(Standby::default());
        given_up.expect();
        let waiting = tokio::spawn({
            let given_up = given_up.clone();
            let slow = slow.clone();
            async move { given_up.take_when_loaded(&slow).await.is_none() }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        given_up.close_if_loading();
        assert!(waiting.await.unwrap());
    }

    #[tokio::test]
    async fn an_exited_pi_is_not_adopted() {
        let standby = Standby::default();
        let mut gone = launch(&[]);
        gone.program = PathBuf::from("/bin/true");
        let refused = standby.start(gone.clone(), WITHIN).await;
        assert!(refused.is_err(), "a Pi that exits never answers");
        assert!(!standby.is_loading(), "the runner would never be ready");
        assert!(standby.take(&gone).is_none());
    }
}
