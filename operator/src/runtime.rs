//! What a runtime must do for the operator, and nothing more: observe a Session's runner, create,
//! restart and remove it, list the runners it made, and keep a Workspace's storage. Everything
//! else (status, conditions, Events, metrics, idle suspend, the restart policy, start timeouts,
//! "workspace gone", the cascade) is decided once, in `core::lifecycle` and `reconcile`.

use std::future::Future;

use oqto_api::{Session, Workspace};

use crate::Error;
use crate::core::RunnerPlan;
use crate::core::lifecycle::RunnerSeen;

/// A runner the runtime made, as its labels tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRunner {
    pub namespace: String,
    /// Pod or container name.
    pub name: String,
    /// The uid of the Session it was made for.
    pub session_uid: Option<String>,
}

/// A Workspace's storage as the runtime sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSeen {
    pub ready: bool,
    /// CamelCase reason of the `StorageReady` condition.
    pub reason: &'static str,
    pub message: String,
}

/// The Session a runtime is asked about, with what the reconciler knows of it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub session: &'a Session,
    pub namespace: &'a str,
    pub name: &'a str,
    /// The Session's uid: a runner made for another uid is an earlier Session's.
    pub uid: &'a str,
    /// The desired runner; `None` when there is none to compare with (the Workspace is gone):
    /// then the runner counts as current.
    pub plan: Option<&'a RunnerPlan>,
}

pub trait Runtime: Send + Sync + 'static {
    /// The Session's runner, if one exists.
    fn observe(
        &self,
        subject: Subject<'_>,
    ) -> impl Future<Output = Result<Option<RunnerSeen>, Error>> + Send;

    /// Creates and starts the runner of the plan. `Error::Refused` for what the user must fix.
    /// Returns the runner as the write's answer showed it, when it did (saves observing it
    /// again); `None` makes the reconciler observe it.
    fn create(
        &self,
        subject: Subject<'_>,
        plan: &RunnerPlan,
    ) -> impl Future<Output = Result<Option<RunnerSeen>, Error>> + Send;

    /// Starts a stopped runner again (only asked of runtimes that report `Exited{restart}`).
    fn restart(
        &self,
        namespace: &str,
        runner: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Removes a runner; done when it is already gone.
    fn remove(
        &self,
        namespace: &str,
        runner: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Every runner this operator made (in the namespaces it serves).
    fn list_owned(&self) -> impl Future<Output = Result<Vec<OwnedRunner>, Error>> + Send;

    /// Creates or updates the Workspace's storage and the rest of its objects.
    fn ensure_workspace(
        &self,
        workspace: &Workspace,
    ) -> impl Future<Output = Result<StorageSeen, Error>> + Send;

    /// After the Workspace's Sessions are gone: its storage as `reclaimPolicy` says (`Delete`
    /// removes it, `Retain` keeps it). `false` while something still holds it.
    fn release_workspace(
        &self,
        workspace: &Workspace,
    ) -> impl Future<Output = Result<bool, Error>> + Send;
}
