//! Delegation: Pi's `delegate` tool (runner-image/pi-extensions/delegate.ts) asks the bridge,
//! over a loopback-only API ([`api`]), to start a child Session in the same Workspace through
//! the gateway ([`gateway`]), drives the child's turn over the gateway's mux ([`drive`]) and
//! reads its answer back. The parent's pages follow it as `delegate.*` events ([`events`]).
//! A stopped parent stops its delegations.

pub mod api;
pub mod drive;
pub mod events;
pub mod gateway;
pub mod table;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use oqto_proto::canonical::DelegateErrorCode;
use oqto_proto::delegation::StartChild;
use tokio::sync::watch;
use tracing::{info, warn};

use self::drive::{Driven, TurnSpec};
use self::events::Emit;
use self::gateway::Gateway;
use self::table::{Refused, STOPPED, Status, Table, TurnTicket};

/// How long one turn of a child may take (the `delegate` tool waits as long).
pub const TURN_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A delegation to start: the task, and how the child is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelegation {
    pub prompt: String,
    pub child: StartChild,
}

/// A delegation under way: its id and its child.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Started {
    pub id: String,
    pub session: String,
}

/// Why a request to the delegate API failed: its status and a message for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: StatusCode,
    pub message: String,
}

impl Failure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn refused(refused: Refused, id: &str) -> Self {
        match refused {
            Refused::Full => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "at most {} delegations of this agent are tracked and all of them are \
                     running: wait for one to finish or stop one",
                    table::MAX_TRACKED
                ),
            ),
            Refused::NotFound => Self::new(
                StatusCode::NOT_FOUND,
                format!("no delegation {id:?} (it never existed or was forgotten)"),
            ),
            Refused::Busy => Self::new(
                StatusCode::CONFLICT,
                format!(
                    "delegation {id:?} is still running (or still stopping): wait for its \
                     answer first"
                ),
            ),
            Refused::NoChild => Self::new(
                StatusCode::CONFLICT,
                format!("delegation {id:?} has no child session yet"),
            ),
        }
    }
}

/// The delegations of this bridge's Session.
pub struct Delegations {
    /// The gateway, or why delegation is off.
    gateway: Result<Gateway, String>,
    /// The parent Session (this bridge's), named in the child's chat as the prompt's sender.
    parent: String,
    table: Mutex<Table>,
    emit: Emit,
}

impl Delegations {
    pub fn new(gateway: Result<Gateway, String>, parent: String, emit: Emit) -> Arc<Self> {
        Arc::new(Self {
            gateway,
            parent,
            table: Mutex::default(),
            emit,
        })
    }

    /// Stops every running delegation whenever `aborts` changes: the parent's `abort`.
    pub fn follow_aborts(self: &Arc<Self>, mut aborts: watch::Receiver<u64>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            while aborts.changed().await.is_ok() {
                let Some(delegations) = weak.upgrade() else {
                    break;
                };
                let stopped = delegations.stop_all();
                if stopped > 0 {
                    info!(
                        stopped,
                        "the parent's turn was aborted; its delegations stop"
                    );
                }
            }
        });
    }

    /// A poisoned lock means a panic elsewhere; the table itself is always consistent.
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn gateway(&self) -> Result<&Gateway, Failure> {
        self.gateway
            .as_ref()
            .map_err(|why| Failure::new(StatusCode::SERVICE_UNAVAILABLE, why.clone()))
    }

    /// Whether a gateway is configured: the API refuses everything otherwise.
    pub fn check_on(&self) -> Result<(), Failure> {
        self.gateway().map(|_| ())
    }

    /// Creates the child and starts its first turn; answers once the child exists (or the
    /// gateway refused it). Runs on a task of its own, so a caller that hangs up does not leave
    /// a delegation half started.
    pub async fn start(self: &Arc<Self>, new: NewDelegation) -> Result<Started, Failure> {
        let this = self.clone();
        tokio::spawn(async move { this.create_and_run(new).await })
            .await
            .unwrap_or_else(|e| {
                Err(Failure::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("starting the delegation failed: {e}"),
                ))
            })
    }

    async fn create_and_run(self: Arc<Self>, new: NewDelegation) -> Result<Started, Failure> {
        let gateway = self.gateway()?;
        let (id, stop) = {
            let mut table = self.table();
            let id = loop {
                let id = new_id();
                if !table.contains(&id) {
                    break id;
                }
            };
            let stop = table.add(&id).map_err(|r| Failure::refused(r, &id))?;
            (id, stop)
        };
        let child = match gateway.start_child(&new.child).await {
            Ok(child) => child,
            Err(refusal) => {
                self.table().remove(&id);
                warn!(id, error = %refusal.message, "the gateway did not start a child");
                (self.emit)(events::error(&id, refusal.message.clone(), refusal.code));
                // The gateway's refusals (limits, rules) are the caller's answer; the gateway
                // failing is a bad gateway.
                let status = refusal
                    .status
                    .filter(StatusCode::is_client_error)
                    .unwrap_or(StatusCode::BAD_GATEWAY);
                return Err(Failure::new(status, refusal.message));
            }
        };
        self.table().set_child(&id, &child);
        info!(id, child, "delegated to a child session");
        (self.emit)(events::start(&id, &child));
        self.run_turn(
            id.clone(),
            id.clone(),
            TurnTicket {
                turn: 1,
                child: child.clone(),
                stop,
            },
            new.prompt,
        );
        Ok(Started { id, session: child })
    }

    /// Another turn in the child of a delegation whose last turn is over. Its events carry
    /// `<id>.<turn>`, so each turn is one `delegate.start` … `delegate.end` on the parent.
    pub fn prompt(self: &Arc<Self>, id: &str, prompt: String) -> Result<Started, Failure> {
        self.gateway()?;
        let ticket = self
            .table()
            .follow_up(id)
            .map_err(|r| Failure::refused(r, id))?;
        let request_id = format!("{id}.{}", ticket.turn);
        (self.emit)(events::start(&request_id, &ticket.child));
        let session = ticket.child.clone();
        self.run_turn(id.to_owned(), request_id, ticket, prompt);
        Ok(Started {
            id: id.to_owned(),
            session,
        })
    }

    fn run_turn(
        self: &Arc<Self>,
        id: String,
        request_id: String,
        ticket: TurnTicket,
        prompt: String,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let driven = match this.gateway() {
                Ok(gateway) => {
                    let client_id = format!("delegate:{}:{request_id}", this.parent);
                    let emit = this.emit.clone();
                    let delta_id = request_id.clone();
                    drive::drive(
                        gateway,
                        TurnSpec {
                            child: &ticket.child,
                            prompt: &prompt,
                            client_id: &client_id,
                            timeout: TURN_TIMEOUT,
                        },
                        ticket.stop,
                        move |delta| emit(events::delta(&delta_id, delta)),
                    )
                    .await
                }
                Err(failure) => Driven::Failed {
                    error: failure.message,
                    code: DelegateErrorCode::RunnerUnreachable,
                },
            };
            let took = started.elapsed();
            // The child's runner is freed before the parent hears of the end, so a parent
            // that delegates again at once is not refused for sub-agents still "running".
            if let Ok(gateway) = this.gateway() {
                gateway.suspend_child(&ticket.child).await;
            }
            this.turn_ended(&id, &request_id, &ticket.child, driven, took);
        });
    }

    fn turn_ended(&self, id: &str, request_id: &str, child: &str, driven: Driven, took: Duration) {
        let result = match &driven {
            Driven::Finished { answer } => Ok(answer.clone()),
            Driven::Failed { error, .. } => Err(error.clone()),
            Driven::TimedOut => Err(timed_out()),
            Driven::Cancelled => Err(STOPPED.to_owned()),
        };
        let stopped = self.table().finish(id, result);
        let kind = match driven {
            _ if stopped => events::error(request_id, STOPPED.into(), DelegateErrorCode::Cancelled),
            Driven::Cancelled => {
                events::error(request_id, STOPPED.into(), DelegateErrorCode::Cancelled)
            }
            Driven::Finished { answer } => {
                let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
                events::end(request_id, child, answer, ms)
            }
            Driven::Failed { error, code } => {
                warn!(id, child, error, "a delegated turn failed");
                events::error(request_id, error, code)
            }
            Driven::TimedOut => events::error(request_id, timed_out(), DelegateErrorCode::Timeout),
        };
        (self.emit)(kind);
    }

    /// Stops a running delegation (its child's turn is aborted); a finished one is left as it
    /// is. Its status either way.
    pub fn stop(&self, id: &str) -> Result<Status, Failure> {
        self.table().stop(id).map_err(|r| Failure::refused(r, id))
    }

    /// Stops every running delegation; how many there were.
    pub fn stop_all(&self) -> usize {
        self.table().stop_all()
    }

    pub fn status(&self, id: &str) -> Result<Status, Failure> {
        self.table()
            .status(id)
            .ok_or_else(|| Failure::refused(Refused::NotFound, id))
    }

    pub fn list(&self) -> Vec<Status> {
        self.table().list()
    }

    /// Test support: a delegation that runs until stopped, without a gateway.
    #[cfg(test)]
    fn add_running(&self, id: &str) -> watch::Receiver<bool> {
        let mut table = self.table();
        let stop = table.add(id).unwrap_or_else(|r| panic!("{r:?}"));
        table.set_child(id, &format!("child-of-{id}"));
        stop
    }
}

fn timed_out() -> String {
    format!(
        "the sub-agent gave no answer within {} minutes",
        TURN_TIMEOUT.as_secs() / 60
    )
}

/// A short random id, unique within this bridge (the table checks): `dlg-` and 12 hex digits.
fn new_id() -> String {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded randomly per process: the ids do not repeat across restarts the
    // way a bare counter would (a page still showing an old delegation would mix them up).
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let hash = std::hash::RandomState::new().hash_one((n, oqto_proto::canonical::now_ms()));
    format!("dlg-{:012x}", hash & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 16 && id.starts_with("dlg-"))
        );
    }

    #[tokio::test]
    async fn the_parents_abort_stops_every_running_delegation() {
        let emit: Emit = Arc::new(|_| {});
        let delegations = Delegations::new(Err("off".into()), "p".into(), emit);
        let (aborts, watching) = watch::channel(0u64);
        delegations.follow_aborts(watching);
        let mut first = delegations.add_running("a");
        let mut second = delegations.add_running("b");
        aborts.send_modify(|n| *n += 1);
        for stop in [&mut first, &mut second] {
            tokio::time::timeout(Duration::from_secs(5), stop.wait_for(|on| *on))
                .await
                .expect("stopped in time")
                .expect("switch alive");
        }
        let states: Vec<_> = delegations.list().into_iter().map(|s| s.state).collect();
        assert_eq!(states, [table::State::Cancelled, table::State::Cancelled]);
    }
}
