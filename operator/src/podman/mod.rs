//! Single-node mode: the same lifecycle as on Kubernetes, carried out as Podman volumes and
//! containers, with Workspaces and Sessions kept in the local store (`oqto_store::LocalStore`).

pub mod browser;
pub mod render;
mod runtime;

pub use runtime::PodmanRuntime;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use oqto_api::{Session, Workspace};
use oqto_store::LocalStore;

use crate::core::OperatorDefaults;
use crate::core::lifecycle::Requeue;
use crate::reconcile::Reconciler;

/// How runners are isolated on this host.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The network of Restricted runners (see `render::RESTRICTED_NETWORK`).
    pub restricted_network: String,
    /// Whether new Workspaces get a user namespace of their own (off by default: see
    /// `config::RunArgs::runner_user_namespaces`).
    pub user_namespaces: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            restricted_network: render::RESTRICTED_NETWORK.into(),
            user_namespaces: false,
        }
    }
}

/// The one reconciler, acting through Podman at `docker` for `store`.
pub fn reconciler(
    store: Arc<LocalStore>,
    docker: bollard::Docker,
    defaults: OperatorDefaults,
    settings: Settings,
) -> Arc<Reconciler<LocalStore, PodmanRuntime>> {
    let runtime = PodmanRuntime {
        docker,
        store: store.clone(),
        restricted_network: settings.restricted_network,
        user_namespaces: settings.user_namespaces,
        volumes_lock: Default::default(),
    };
    Arc::new(Reconciler::new(store, Arc::new(runtime), defaults))
}

/// How often the store's version file is read for other processes' writes: one small read, so a
/// Session created through the gateway starts without waiting for the full resync.
const STORE_POLL: Duration = Duration::from_millis(200);

/// The shortest pause before an object is looked at again, whatever it asks for.
const SOONEST: Duration = Duration::from_millis(50);

/// When objects asked to be looked at again before the next resync.
#[derive(Debug, Default)]
pub struct Again {
    /// A Workspace or Schedule: the next full pass comes this soon.
    pub full: Option<Duration>,
    /// A Session (namespace, name): only it is looked at then (a starting runner asks every
    /// 100 ms; a pass over everything that often would ask every running runner too).
    pub sessions: Vec<(Duration, String, String)>,
}

/// Reconciles until `shutdown` resolves: on every store change (this process's, or another's
/// seen on disk within `STORE_POLL`) and every `resync` a full pass; in between, each Session
/// that asked to be looked at again sooner (a runner about to answer) alone, when it asked.
pub async fn run(
    reconciler: Arc<Reconciler<LocalStore, PodmanRuntime>>,
    resync: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let store = reconciler.store.clone();
    let health = reconciler.health.clone();
    let mut changes = store.subscribe();
    tokio::pin!(shutdown);
    health.set_leading(true);
    loop {
        let seen = store.version_on_disk();
        let mut again = Again::default();
        match reconciler.runtime.ping().await {
            Ok(()) => {
                health.set_unreachable(None);
                match reconcile_all(&reconciler).await {
                    Ok(asked) => again = asked,
                    Err(e) => tracing::warn!(error = %e, "podman reconcile failed; retrying"),
                }
            }
            Err(why) => {
                let why = format!("the Podman API does not answer: {why}");
                tracing::warn!(%why, "retrying");
                health.set_unreachable(Some(why.clone()));
                // The store answers: say it on the Sessions, where users look.
                for session in store.list::<Session>(None).unwrap_or_default() {
                    if let Err(e) = reconciler.runtime_unreachable(&session, &why).await {
                        tracing::debug!(error = %e, "writing the unreachable condition failed");
                    }
                }
            }
        }
        let now = tokio::time::Instant::now();
        let full_at = now + again.full.map_or(resync, |d| d.max(SOONEST).min(resync));
        let mut due: Vec<(tokio::time::Instant, String, String)> = again
            .sessions
            .into_iter()
            .filter(|(after, _, _)| *after < resync)
            .map(|(after, namespace, name)| (now + after.max(SOONEST), namespace, name))
            .collect();
        loop {
            let wake = due
                .iter()
                .map(|d| d.0)
                .min()
                .unwrap_or(full_at)
                .min(full_at);
            tokio::select! {
                () = &mut shutdown => return,
                _ = changes.changed() => break,
                () = tokio::time::sleep_until(wake) => {
                    let now = tokio::time::Instant::now();
                    if now >= full_at {
                        break;
                    }
                    let (ready, waiting): (Vec<_>, Vec<_>) = due.into_iter().partition(|d| d.0 <= now);
                    due = waiting;
                    for (_, namespace, name) in ready {
                        if let Some(after) = reconcile_one(&reconciler, &namespace, &name, resync).await {
                            due.push((tokio::time::Instant::now() + after, namespace, name));
                        }
                    }
                }
                () = tokio::time::sleep(STORE_POLL) => {
                    // The gateway writes the store from its own process (or container).
                    if store.version_on_disk() != seen {
                        break;
                    }
                }
            }
        }
    }
}

/// Keeps the sooner of `slot` and what `requeue` asks for.
fn sooner(slot: &mut Option<Duration>, requeue: Requeue) {
    if let Requeue::After(after) = requeue {
        *slot = Some(slot.map_or(after, |s| s.min(after)));
    }
}

/// One Session alone; when it asks to be looked at again before the resync, how soon.
async fn reconcile_one(
    reconciler: &Reconciler<LocalStore, PodmanRuntime>,
    namespace: &str,
    name: &str,
    resync: Duration,
) -> Option<Duration> {
    let session = reconciler.store.get::<Session>(namespace, name).ok()??;
    match reconciler.session(&session).await {
        Ok(Requeue::After(after)) if after < resync => Some(after.max(SOONEST)),
        Ok(_) => None,
        Err(e) => {
            reconciler.failed("session", &format!("sess/{namespace}/{name}"), &e);
            None
        }
    }
}

/// One pass over the whole store: Workspaces, Sessions, Schedules, then runners without a
/// Session. Returns what asked to be looked at again, and when.
pub async fn reconcile_all(
    reconciler: &Reconciler<LocalStore, PodmanRuntime>,
) -> Result<Again, crate::Error> {
    let store = &reconciler.store;
    let mut again = Again::default();
    for workspace in store.list::<Workspace>(None)? {
        match reconciler.workspace(&workspace).await {
            Ok(requeue) => sooner(&mut again.full, requeue),
            Err(e) => {
                let (namespace, name) = oqto_store::key_of(&workspace);
                reconciler.failed("workspace", &format!("ws/{namespace}/{name}"), &e);
            }
        }
    }
    let sessions = store.list::<Session>(None)?;
    for session in &sessions {
        let (namespace, name) = oqto_store::key_of(session);
        match reconciler.session(session).await {
            Ok(Requeue::After(after)) => again.sessions.push((after, namespace, name)),
            Ok(Requeue::OnChange) => {}
            Err(e) => {
                reconciler.failed("session", &format!("sess/{namespace}/{name}"), &e);
            }
        }
    }
    let schedules = store.list::<oqto_api::Schedule>(None)?;
    let now = reconciler.clock.now();
    for schedule in &schedules {
        match reconciler.schedule(schedule, now).await {
            Ok(requeue) => sooner(&mut again.full, requeue),
            Err(e) => {
                let (namespace, name) = oqto_store::key_of(schedule);
                reconciler.failed("schedule", &format!("sched/{namespace}/{name}"), &e);
            }
        }
    }
    // No garbage collector here: Sessions whose Schedule or parent Session is gone go too.
    for (namespace, name) in crate::core::owners::orphaned_sessions(&sessions, &schedules) {
        if let Err(e) = store.delete::<Session>(&namespace, &name) {
            tracing::warn!(session = %name, error = %e, "deleting a Session whose owner is gone failed");
        }
    }
    // Only this loop creates runners, and only for Sessions of this listing: every runner it
    // made is live here, and a Session created meanwhile has no runner yet.
    let live: HashSet<String> = sessions
        .iter()
        .filter_map(|s| s.metadata.uid.clone())
        .collect();
    reconciler.prune(&live).await?;
    Ok(again)
}
