//! The LLM proxy as tests and benchmarks run it: in this process, in front of an upstream (the
//! scripted LLM), with Sessions in a real local store. One Workspace `w1` (owner `alice`, class
//! `small`) and one Session `s1` exist from the start.

#![allow(clippy::unwrap_used)] // Test support: a failed step is a failed test.

use std::sync::Arc;

use oqto_api::{Session, Workspace, WorkspaceClass};
use oqto_llm_proxy::catalogue::ProxyFile;
use oqto_llm_proxy::ledger::SqliteLedger;
use oqto_llm_proxy::{Catalogue, Proxy, StoreGrants, serve};
use oqto_proto::llm::{KeyClaims, VirtualKeySigner};
use oqto_store::LocalStore;
use serde_json::{Value, json};

pub struct LlmProxyUnderTest {
    _dir: tempfile::TempDir,
    pub store: LocalStore,
    pub ledger: Arc<SqliteLedger>,
    pub metrics: Arc<oqto_llm_proxy::metrics::Metrics>,
    signer: VirtualKeySigner,
    /// The proxy's root URL (`http://127.0.0.1:PORT`).
    pub url: String,
    task: tokio::task::JoinHandle<()>,
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
        let file: ProxyFile = serde_json::from_value(file).unwrap();
        let key = upstream_key.to_owned();
        let catalogue = Catalogue::from_file(file, |_| Some(key.clone())).unwrap();
        let signer = VirtualKeySigner::new(vec![7; 32]).unwrap();
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
        proxy.ledger = Some(ledger.clone());
        let metrics = proxy.metrics.clone();
        let proxy = Arc::new(proxy);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = serve(listener, proxy, std::future::pending()).await;
        });
        Self {
            _dir: dir,
            store,
            ledger,
            metrics,
            signer,
            url,
            task,
        }
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
        self.task.abort();
    }
}
