//! The LLM proxy as tests and benchmarks run it, in front of an upstream (the scripted LLM),
//! with Sessions in a real local store: in this process ([`LlmProxyUnderTest::start`]), or as
//! the real binary, which a test can kill and start again ([`LlmProxyUnderTest::start_process`]).
//! One Workspace `w1` (owner `alice`, class `small`) and one Session `s1` exist from the start.

#![allow(clippy::unwrap_used)] // Test support: a failed step is a failed test.

use std::sync::Arc;

use oqto_api::{Session, Workspace, WorkspaceClass};
use oqto_llm_proxy::catalogue::ProxyFile;
use oqto_llm_proxy::ledger::{Ledger, SqliteLedger};
use oqto_llm_proxy::{Catalogue, Proxy, StoreGrants, admin_router, serve};
use oqto_proto::llm::{KeyClaims, VirtualKeySigner};
use oqto_store::LocalStore;
use serde_json::{Value, json};

/// The signer of the tests' virtual keys (printable: the binary takes it as a flag).
const SIGNER: &str = "test-llm-key-signer-0123456789abcdef";
/// The bearer token of the proxy's usage reports (the gateway's, in a deployment).
pub const ADMIN_TOKEN: &str = "test-llm-proxy-admin-token-0123456789";

pub struct LlmProxyUnderTest {
    dir: tempfile::TempDir,
    pub store: LocalStore,
    pub ledger: Arc<SqliteLedger>,
    pub metrics: Arc<oqto_llm_proxy::metrics::Metrics>,
    signer: VirtualKeySigner,
    /// The proxy's root URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Its admin listener (metrics, usage reports for [`ADMIN_TOKEN`]); in-process only.
    pub admin_url: String,
    task: Option<tokio::task::JoinHandle<()>>,
    process: Option<std::process::Child>,
    /// The environment the binary gets (the provider keys its configuration names).
    upstream_env: Vec<(String, String)>,
}

/// A stored object of ours in the `default` namespace.
pub fn object<K: serde::de::DeserializeOwned>(kind: &str, name: &str, spec: Value) -> K {
    serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":kind,
        "metadata":{"name":name,"namespace":"default"},"spec":spec}))
    .unwrap()
}

impl LlmProxyUnderTest {
    /// `file` is the proxy's configuration (providers and models, as YAML would have them);
    /// every `apiKeyEnv` resolves to `upstream_key`. The class `small` allows `class_models`.
    pub async fn start(file: Value, upstream_key: &str, class_models: &[&str]) -> Self {
        Self::start_limited(
            file,
            upstream_key,
            class_models,
            oqto_llm_proxy::DEFAULT_STREAMS_PER_SESSION,
        )
        .await
    }

    /// As [`Self::start`], allowing each Session `streams_per_session` requests in flight.
    pub async fn start_limited(
        file: Value,
        upstream_key: &str,
        class_models: &[&str],
        streams_per_session: usize,
    ) -> Self {
        let (dir, store) = Self::store(class_models);
        let parsed: ProxyFile = serde_json::from_value(file).unwrap();
        let key = upstream_key.to_owned();
        let catalogue = Catalogue::from_file(parsed, |_| Some(key.clone())).unwrap();
        let signer = VirtualKeySigner::new(SIGNER.as_bytes()).unwrap();
        let mut proxy = Proxy::new(
            catalogue,
            signer.clone(),
            StoreGrants {
                store: LocalStore::open(dir.path()).unwrap(),
                default_class: None,
            },
        )
        .unwrap();
        let ledger = Arc::new(SqliteLedger::open(&dir.path().join("llm-usage.db")).unwrap());
        proxy.ledger = Some(Arc::new(Ledger::Sqlite(ledger.clone())));
        proxy.streams_per_session = streams_per_session;
        let metrics = proxy.metrics.clone();
        let proxy = Arc::new(proxy);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin_url = format!("http://{}", admin_listener.local_addr().unwrap());
        let admin = admin_router(
            proxy.clone(),
            oqto_proto::runner::RunnerToken::from_secret(ADMIN_TOKEN.into()),
        );
        let task = tokio::spawn(async move {
            let admin = tokio::spawn(async move {
                let _ = axum::serve(admin_listener, admin).await;
            });
            let _ = serve(listener, proxy, std::future::pending()).await;
            admin.abort();
        });
        Self {
            dir,
            store,
            ledger,
            metrics,
            signer,
            url,
            admin_url,
            task: Some(task),
            process: None,
            upstream_env: Vec::new(),
        }
    }

    /// The real `oqto-llm-proxy` binary (`cargo build --workspace --bins`) over the same kind
    /// of store; [`Self::kill`] and [`Self::restart`] stop and start it on the same port.
    pub async fn start_process(file: Value, upstream_key: &str, class_models: &[&str]) -> Self {
        let (dir, store) = Self::store(class_models);
        let upstream_env = file["providers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["apiKeyEnv"].as_str())
            .map(|var| (var.to_owned(), upstream_key.to_owned()))
            .collect();
        std::fs::write(dir.path().join("llm-proxy.yaml"), file.to_string()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ledger = Arc::new(SqliteLedger::open(&dir.path().join("llm-usage.db")).unwrap());
        let mut proxy = Self {
            dir,
            store,
            ledger,
            metrics: Arc::default(),
            signer: VirtualKeySigner::new(SIGNER.as_bytes()).unwrap(),
            url: format!("http://127.0.0.1:{port}"),
            admin_url: String::new(),
            task: None,
            process: None,
            upstream_env,
        };
        proxy.restart().await;
        proxy
    }

    /// Starts the binary again (after [`Self::kill`]) and waits until it answers.
    pub async fn restart(&mut self) {
        let binary = crate::workspace_binary("oqto-llm-proxy").unwrap();
        let dir = self.dir.path();
        let listen = self.url.trim_start_matches("http://").to_owned();
        let child = std::process::Command::new(binary)
            .args(["--runtime", "podman", "--listen", &listen])
            .args([
                "--metrics-listen",
                "127.0.0.1:0",
                "--llm-key-signer",
                SIGNER,
            ])
            .arg("--state-dir")
            .arg(dir)
            .arg("--config")
            .arg(dir.join("llm-proxy.yaml"))
            .arg("--usage-db")
            .arg(dir.join("llm-usage.db"))
            .envs(self.upstream_env.iter().cloned())
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap();
        self.process = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(&listen).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("oqto-llm-proxy did not listen on {listen}");
    }

    /// SIGKILL, as a crashed or rescheduled proxy.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A fresh store with the class, the Workspace and the Session.
    fn store(class_models: &[&str]) -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        store
            .apply(object::<WorkspaceClass>(
                "WorkspaceClass",
                "small",
                json!({ "models": class_models }),
            ))
            .unwrap();
        store
            .apply(object::<Workspace>(
                "Workspace",
                "w1",
                json!({"owner": "alice", "workspaceClassName": "small"}),
            ))
            .unwrap();
        store
            .apply(object::<Session>(
                "Session",
                "s1",
                json!({"workspaceRef": {"name": "w1"}}),
            ))
            .unwrap();
        (dir, store)
    }

    /// The virtual key of Session `session` as it is now (the operator mints the same).
    pub fn key(&self, session: &str) -> String {
        let stored = self
            .store
            .get::<Session>("default", session)
            .unwrap()
            .unwrap();
        self.signer
            .mint(&KeyClaims {
                namespace: "default".into(),
                session: session.into(),
                session_uid: stored.metadata.uid.unwrap(),
            })
            .expose()
            .to_owned()
    }

    /// A key signed by another platform's signer, for Session `s1`.
    pub fn foreign_key(&self) -> String {
        let uid = self.key("s1").split('_').nth(3).unwrap().to_owned();
        VirtualKeySigner::new(vec![8; 32])
            .unwrap()
            .mint(&KeyClaims {
                namespace: "default".into(),
                session: "s1".into(),
                session_uid: uid,
            })
            .expose()
            .to_owned()
    }
}

impl Drop for LlmProxyUnderTest {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.kill();
    }
}
