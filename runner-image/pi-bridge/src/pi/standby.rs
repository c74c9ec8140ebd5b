//! A Pi started before anyone asks for it. Node and Pi's modules take most of a second to load;
//! a runner serves one Session, so the bridge starts that Session's Pi as soon as it is up,
//! while the operator and the gateway are still learning that the runner is ready, and the
//! conversation adopts it on its first command instead of starting one then.
//!
//! The standby is adopted only when the conversation would start Pi with exactly the same
//! command line and environment (same session file to resume, provider and model); otherwise it
//! is stopped and the conversation starts its own, as it would without a standby.

use std::sync::Mutex;

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
}

#[derive(Default)]
enum Slot {
    #[default]
    Open,
    Waiting(Box<Started>),
    Closed,
}

impl Standby {
    /// Starts Pi for `launch` and keeps it, unless a conversation has already started its own.
    pub fn start(&self, launch: PiLaunch) -> Result<(), PiError> {
        let mut slot = self.lock();
        if !matches!(*slot, Slot::Open) {
            return Ok(());
        }
        let (process, events) = PiProcess::spawn(&launch)?;
        info!(pid = ?process.pid(), "Pi started ahead of its conversation");
        *slot = Slot::Waiting(Box::new(Started {
            launch,
            process,
            events,
        }));
        Ok(())
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;

    fn launch(args: &[&str]) -> PiLaunch {
        PiLaunch {
            program: PathBuf::from("/bin/cat"),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            cwd: std::env::temp_dir(),
            env: BTreeMap::new(),
            env_remove: Vec::new(),
        }
    }

    #[tokio::test]
    async fn the_same_launch_adopts_the_waiting_pi_once() {
        let standby = Standby::default();
        standby.start(launch(&["-"])).unwrap();
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
        standby.start(launch(&["-"])).unwrap();
        assert!(!standby.is_waiting(), "a late standby nobody will adopt");
    }

    #[tokio::test]
    async fn another_launch_stops_the_waiting_pi_instead() {
        let standby = Standby::default();
        standby.start(launch(&["-"])).unwrap();
        assert!(standby.take(&launch(&["-u"])).is_none());
        assert!(
            !standby.is_waiting(),
            "a Pi nobody will adopt stays running"
        );
    }

    #[tokio::test]
    async fn an_exited_pi_is_not_adopted() {
        let standby = Standby::default();
        let mut gone = launch(&[]);
        gone.program = PathBuf::from("/bin/true");
        standby.start(gone.clone()).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(standby.take(&gone).is_none());
    }
}
