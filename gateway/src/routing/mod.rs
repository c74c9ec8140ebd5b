//! Where each Session's runner is, and whose it is: a table in memory that watches keep
//! current (Kubernetes) or a poll of the local store refreshes (single-node), so the relay
//! never calls an API per frame. Only the fields routing needs are kept.

mod kubernetes;
mod local;

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use oqto_api::{Session, SessionPhase};
use tokio::sync::watch;

pub use kubernetes::watch_kubernetes;
pub use local::poll_local;

/// A Session as the relay sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEntry {
    /// The Session's uid: its runner's token follows from it.
    pub uid: String,
    pub workspace: String,
    pub phase: Option<SessionPhase>,
    pub suspended: bool,
    /// The runner pod (Kubernetes) the Session reports.
    pub pod_name: Option<String>,
    /// The runner's HTTP base the Session reports (single-node: `http://127.0.0.1:PORT`).
    pub endpoint: Option<String>,
    /// The Ready condition's message while the Session is not ready.
    pub message: Option<String>,
    /// The Session that delegated to this one.
    pub parent: Option<String>,
}

impl SessionEntry {
    /// The entry for `session`. None for an unclaimed warm spare: no frame reaches it before a create claims it (its claim removes
    /// the label, and the watch then adds it here).
    pub fn of(session: &Session) -> Option<Self> {
        if oqto_api::spare::is_spare(session) {
            return None;
        }
        let status = session.status.as_ref();
        Some(Self {
            uid: session.metadata.uid.clone().unwrap_or_default(),
            workspace: session.spec.workspace_ref.name.clone(),
            phase: status.and_then(|s| s.phase),
            suspended: session.spec.suspended,
            // Kubernetes addressing only; the pod's usual name until the status names it.
            pod_name: status.and_then(|s| s.pod_name.clone()).or_else(|| {
                session
                    .metadata
                    .name
                    .as_deref()
                    .map(oqto_api::names::runner)
            }),
            endpoint: status.and_then(|s| s.endpoint.clone()),
            message: ready_message(status),
            parent: session
                .spec
                .parent_session_ref
                .as_ref()
                .map(|p| p.name.clone()),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceEntry {
    pub owner: String,
    pub start_timeout: Duration,
}

/// A runner pod's address, as its kubelet reports it (the Pod's status, which no user writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEntry {
    pub ip: Option<String>,
    /// The Pod is Ready or its runner container runs, and it is not being deleted. Whether
    /// pi-bridge answers is the Session's phase: the operator asks it as soon as the container
    /// runs, before the kubelet's probe ticks would mark the Pod Ready.
    pub running: bool,
}

/// What the relay needs to know about one Session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub session: String,
    /// The Session's uid, for its runner's token.
    pub uid: String,
    pub workspace: String,
    /// None while the Session's Workspace is not known.
    pub owner: Option<String>,
    pub phase: Option<SessionPhase>,
    pub suspended: bool,
    pub start_timeout: Duration,
    /// The runner's WebSocket URL, once frames can be delivered.
    pub websocket: Option<String>,
    pub message: Option<String>,
}

#[derive(Default)]
pub struct Tables {
    pub sessions: HashMap<String, SessionEntry>,
    pub workspaces: HashMap<String, WorkspaceEntry>,
    pub pods: HashMap<String, PodEntry>,
}

/// How the runner is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// The pod IP and this port (Kubernetes: no DNS or Service hop per connection).
    PodIp { port: u16 },
    /// The endpoint in the Session's status (single-node).
    StatusEndpoint,
}

pub struct RouteTable {
    tables: RwLock<Tables>,
    changed: watch::Sender<u64>,
    addressing: Addressing,
    /// Whether the first full listing arrived (until then, lookups may miss).
    synced: watch::Sender<bool>,
}

const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(300);

impl RouteTable {
    pub fn new(addressing: Addressing) -> Self {
        Self {
            tables: RwLock::new(Tables::default()),
            changed: watch::channel(0).0,
            addressing,
            synced: watch::channel(false).0,
        }
    }

    /// Changes whenever any entry changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Waits until the first listing is in (lookups before it would miss live sessions).
    pub async fn wait_synced(&self) {
        let mut synced = self.synced.subscribe();
        let _ = synced.wait_for(|s| *s).await;
    }

    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    pub fn mark_synced(&self) {
        self.synced.send_replace(true);
    }

    /// Changes the tables and tells the waiters.
    pub fn update(&self, change: impl FnOnce(&mut Tables)) {
        {
            let mut tables = self.tables.write().unwrap_or_else(|p| p.into_inner());
            change(&mut tables);
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Like [`RouteTable::update`], telling the waiters only when `change` says it changed
    /// something.
    pub fn update_if(&self, change: impl FnOnce(&mut Tables) -> bool) {
        let changed = {
            let mut tables = self.tables.write().unwrap_or_else(|p| p.into_inner());
            change(&mut tables)
        };
        if changed {
            self.changed.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// The owner of a session (through its workspace), waiting at most `grace` for the table
    /// to catch up with a recent write. Looked up on every frame: no route is built.
    pub async fn known_owner(&self, session: &str, grace: Duration) -> Option<String> {
        if let Some(owner) = self.owner(session) {
            return Some(owner);
        }
        let mut changes = self.subscribe();
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            changes.mark_unchanged();
            if let Some(owner) = self.owner(session) {
                return Some(owner);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }

    /// The Session that delegated to `session`, as the table knows it.
    pub fn parent(&self, session: &str) -> Option<String> {
        let tables = self.tables.read().unwrap_or_else(|p| p.into_inner());
        tables.sessions.get(session)?.parent.clone()
    }

    fn owner(&self, session: &str) -> Option<String> {
        let tables = self.tables.read().unwrap_or_else(|p| p.into_inner());
        let workspace = &tables.sessions.get(session)?.workspace;
        tables.workspaces.get(workspace).map(|w| w.owner.clone())
    }

    pub fn route(&self, session: &str) -> Option<Route> {
        let tables = self.tables.read().unwrap_or_else(|p| p.into_inner());
        let entry = tables.sessions.get(session)?;
        let workspace = tables.workspaces.get(&entry.workspace);
        let running = entry.phase == Some(SessionPhase::Running) && !entry.suspended;
        let websocket = match self.addressing {
            Addressing::PodIp { port } => entry
                .pod_name
                .as_ref()
                .and_then(|pod| tables.pods.get(pod))
                .filter(|pod| pod.running)
                .and_then(|pod| pod.ip.as_deref())
                .map(|ip| websocket_url(ip, port)),
            Addressing::StatusEndpoint => entry.endpoint.as_deref().and_then(endpoint_websocket),
        }
        .filter(|_| running);
        Some(Route {
            session: session.to_owned(),
            uid: entry.uid.clone(),
            workspace: entry.workspace.clone(),
            owner: workspace.map(|w| w.owner.clone()),
            phase: entry.phase,
            suspended: entry.suspended,
            start_timeout: workspace.map_or(DEFAULT_START_TIMEOUT, |w| w.start_timeout),
            websocket,
            message: entry.message.clone(),
        })
    }
}

fn websocket_url(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("ws://[{ip}]:{port}/ws")
    } else {
        format!("ws://{ip}:{port}/ws")
    }
}

/// `http://host:port` → `ws://host:port/ws`.
fn endpoint_websocket(endpoint: &str) -> Option<String> {
    let rest = endpoint
        .strip_prefix("http://")
        .map(|r| ("ws://", r))
        .or_else(|| endpoint.strip_prefix("https://").map(|r| ("wss://", r)))?;
    Some(format!("{}{}/ws", rest.0, rest.1.trim_end_matches('/')))
}

/// The Ready condition's message of a Session status, for errors about it.
pub fn ready_message(status: Option<&oqto_api::SessionStatus>) -> Option<String> {
    status?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready" && c.status != "True")
        .map(|c| format!("{}: {}", c.reason, c.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(addressing: Addressing) -> RouteTable {
        let table = RouteTable::new(addressing);
        table.update(|t| {
            t.workspaces.insert(
                "ws".into(),
                WorkspaceEntry {
                    owner: "alice".into(),
                    start_timeout: Duration::from_secs(9),
                },
            );
            t.sessions.insert(
                "s1".into(),
                SessionEntry {
                    uid: "s1-uid".into(),
                    workspace: "ws".into(),
                    phase: Some(SessionPhase::Running),
                    suspended: false,
                    pod_name: Some("oqto-sess-s1".into()),
                    endpoint: Some("http://127.0.0.1:4000".into()),
                    message: None,
                    parent: None,
                },
            );
        });
        table
    }

    #[test]
    fn pod_addressing_needs_a_running_pod_with_an_ip() {
        let table = table(Addressing::PodIp { port: 8080 });
        let route = table.route("s1").unwrap();
        assert_eq!(route.owner.as_deref(), Some("alice"));
        assert_eq!(route.start_timeout, Duration::from_secs(9));
        assert_eq!(route.websocket, None, "no pod yet");
        table.update(|t| {
            t.pods.insert(
                "oqto-sess-s1".into(),
                PodEntry {
                    ip: Some("10.1.2.3".into()),
                    running: false,
                },
            );
        });
        assert_eq!(
            table.route("s1").unwrap().websocket,
            None,
            "its container does not run"
        );
        table.update(|t| {
            t.pods.insert(
                "oqto-sess-s1".into(),
                PodEntry {
                    ip: Some("fd00::5".into()),
                    running: true,
                },
            );
        });
        assert_eq!(
            table.route("s1").unwrap().websocket.as_deref(),
            Some("ws://[fd00::5]:8080/ws")
        );
        table.update(|t| t.sessions.get_mut("s1").unwrap().phase = Some(SessionPhase::Suspended));
        assert_eq!(table.route("s1").unwrap().websocket, None, "suspended");
        assert_eq!(table.route("other"), None);
    }

    #[test]
    fn status_addressing_uses_the_endpoint() {
        let table = table(Addressing::StatusEndpoint);
        assert_eq!(
            table.route("s1").unwrap().websocket.as_deref(),
            Some("ws://127.0.0.1:4000/ws")
        );
        table.update(|t| {
            t.workspaces.clear();
        });
        let route = table.route("s1").unwrap();
        assert_eq!(route.owner, None, "unknown workspace: nobody's");
        assert_eq!(route.start_timeout, DEFAULT_START_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_written_a_moment_ago_is_waited_for() {
        let table = std::sync::Arc::new(table(Addressing::StatusEndpoint));
        let later = table.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            later.update(|t| {
                let mut entry = t.sessions["s1"].clone();
                entry.workspace = "ws".into();
                t.sessions.insert("fresh".into(), entry);
            });
        });
        let started = tokio::time::Instant::now();
        let owner = table.known_owner("fresh", Duration::from_secs(2)).await;
        assert_eq!(owner.as_deref(), Some("alice"));
        assert_eq!(started.elapsed(), Duration::from_millis(300));
        // Known at once: no wait; never known: None after the grace period.
        assert!(
            table
                .known_owner("s1", Duration::from_secs(2))
                .await
                .is_some()
        );
        let started = tokio::time::Instant::now();
        assert_eq!(
            table.known_owner("nope", Duration::from_secs(2)).await,
            None
        );
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn waiters_hear_about_changes() {
        let table = table(Addressing::StatusEndpoint);
        let mut changes = table.subscribe();
        changes.mark_unchanged();
        table.update(|_| {});
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        table.update_if(|_| false);
        assert!(
            !changes.has_changed().unwrap(),
            "nothing changed: nobody woken"
        );
        table.update_if(|_| true);
        assert!(changes.has_changed().unwrap());
    }
}
