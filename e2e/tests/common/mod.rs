//! What the single-node suites share: an operator reconciling a store of the test's own into
//! real Podman, through an API service of the test's own.
#![allow(dead_code)] // Each suite uses its part.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oqto_e2e::podman::{PodmanService, RemoveStoreObjects, podman_service};
use oqto_operator::core::OperatorDefaults;
use oqto_operator::http::Health;
use oqto_operator::podman::{self, PodmanRuntime};
use oqto_store::LocalStore;
use serde_json::{Value, json};

/// A Workspace or Session document in `namespace`.
pub fn object<K: serde::de::DeserializeOwned>(
    kind: &str,
    namespace: &str,
    name: &str,
    spec: Value,
) -> K {
    serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":kind,
        "metadata":{"name":name,"namespace":namespace},"spec":spec}))
    .expect("a test object")
}

/// A Workspace `name` of `owner` whose runners talk to the scripted LLM at `base_url` (…/v1)
/// with `key`, from the Secret `llm-keys` written here; Open egress (a Restricted runner may not
/// reach the host), storage deleted with it.
pub fn scripted_workspace(
    store: &LocalStore,
    namespace: &str,
    name: &str,
    owner: &str,
    base_url: &str,
    key: &str,
) {
    let secret = store.secret_path(namespace, "llm-keys");
    std::fs::create_dir_all(secret.parent().expect("a secret's folder"))
        .expect("the secret's folder");
    std::fs::write(&secret, format!("OQTO_LLM_API_KEY={key}\n")).expect("the secret");
    store
        .apply::<oqto_api::Workspace>(object(
            "Workspace",
            namespace,
            name,
            json!({"owner": owner, "storage": {"reclaimPolicy": "Delete"},
                "network": {"egress": "Open"},
                "llm": {"provider": "scripted", "model": "scripted", "baseUrl": base_url,
                    "credentialsSecretRef": {"name": "llm-keys"}}}),
        ))
        .expect("the Workspace");
}

/// The operator in Podman mode, running until dropped (or `stop`).
pub struct PodmanOperator {
    pub store: Arc<LocalStore>,
    image: String,
    resync: Duration,
    settings: podman::Settings,
    /// What the test changes in the operator's defaults (warm spares, say).
    tweak: fn(&mut OperatorDefaults),
    pub health: Arc<Health>,
    /// The time the operator decides Schedules at (kept across restarts).
    pub clock: oqto_operator::clock::Clock,
    pub socket: PathBuf,
    /// Dropping it stops the API service (a test that takes Podman away).
    pub service: Option<PodmanService>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<()>>,
    // Last: the store's containers and volumes go after the operator stopped.
    _cleanup: RemoveStoreObjects,
    _dir: tempfile::TempDir,
}

impl PodmanOperator {
    /// Starts Podman's API service and the operator, resyncing every `resync`.
    pub async fn start(resync: Duration) -> Self {
        Self::start_with_network(resync, podman::render::RESTRICTED_NETWORK).await
    }

    /// The same, with Restricted runners on `restricted_network`.
    pub async fn start_with_network(resync: Duration, restricted_network: &str) -> Self {
        Self::start_with_settings(
            resync,
            podman::Settings {
                restricted_network: restricted_network.to_owned(),
                ..Default::default()
            },
        )
        .await
    }

    /// The same, with `settings`.
    pub async fn start_with_settings(resync: Duration, settings: podman::Settings) -> Self {
        Self::start_with(resync, settings, |_| {}).await
    }

    /// The same, with `settings` and the operator's defaults changed by `tweak`.
    pub async fn start_with(
        resync: Duration,
        settings: podman::Settings,
        tweak: fn(&mut OperatorDefaults),
    ) -> Self {
        let image = oqto_e2e::runner_image().expect("$OQTO_RUNNER_IMAGE");
        oqto_e2e::podman::restricted_egress().expect("hack/podman/egress.sh");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let socket = dir.path().join("podman.sock");
        let service = podman_service(&socket).await.expect("Podman's API service");
        let store = Arc::new(LocalStore::open(&dir.path().join("store")).expect("a store"));
        let mut operator = Self {
            _cleanup: RemoveStoreObjects(store.id().to_owned()),
            store,
            image,
            resync,
            settings,
            tweak,
            health: Arc::default(),
            clock: Default::default(),
            socket,
            service: Some(service),
            stop: None,
            running: None,
            _dir: dir,
        };
        operator.spawn();
        operator
    }

    /// A new operator process, as far as the test can tell: a fresh reconciler (no memory of
    /// the last one) on the same store and socket.
    fn spawn(&mut self) {
        let mut defaults = OperatorDefaults {
            runner_image: Some(self.image.clone()),
            ..OperatorDefaults::new(oqto_e2e::runner_key())
        };
        (self.tweak)(&mut defaults);
        let reconciler = podman::reconciler(
            self.store.clone(),
            PodmanRuntime::connect(&self.socket.display().to_string()).expect("a Podman client"),
            defaults,
            self.settings.clone(),
        );
        self.health = reconciler.health.clone();
        // A restarted operator keeps the test's time.
        reconciler.clock.set(self.clock.fixed());
        self.clock = reconciler.clock.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.running = Some(tokio::spawn(podman::run(reconciler, self.resync, async {
            let _ = stopped.await;
        })));
        self.stop = Some(stop);
    }

    /// The store's directory, for a gateway on the same store (`--state-dir`).
    pub fn state_dir(&self) -> PathBuf {
        self._dir.path().join("store")
    }

    /// Kills it wherever it is (mid-reconcile too: a crash, not a shutdown) and starts a new one.
    pub fn kill_and_restart(&mut self) {
        self.stop.take();
        if let Some(running) = self.running.take() {
            running.abort();
        }
        self.spawn();
    }

    /// Stops the operator and waits for it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            let _ = running.await;
        }
    }
}

impl Drop for PodmanOperator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
