//! What every reconcile shares.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use crate::core::OperatorDefaults;
use crate::metrics::Metrics;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Watch one namespace only (tests, single-tenant installs); all when None.
    pub namespace: Option<String>,
    pub defaults: OperatorDefaults,
    /// Port of the runner's HTTP server (pi-bridge), for the activity endpoint.
    pub runner_port: u16,
    /// How often a running Session's activity is checked.
    pub activity_every: Duration,
    /// How often runner pods without a live Session are looked for.
    pub prune_every: Duration,
    /// This replica's name in Events and the leader Lease (the pod name in a cluster).
    pub identity: String,
}

pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub recorder: Recorder,
    pub http: reqwest::Client,
    pub metrics: Arc<Metrics>,
    leading: AtomicBool,
    /// Consecutive transient failures per object, for backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(client: Client, settings: Settings) -> Self {
        let reporter = Reporter {
            controller: super::MANAGER.into(),
            instance: Some(settings.identity.clone()),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            settings,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .unwrap_or_default(),
            failures: Mutex::default(),
            metrics: Arc::new(Metrics::new()),
            leading: AtomicBool::new(false),
        }
    }

    /// Whether this replica currently reconciles (for /readyz).
    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }

    pub fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::Relaxed);
    }

    /// Exponential backoff for transient failures: 1 s, 2 s, 4 s … at most 5 min.
    pub fn backoff(&self, key: &str) -> Duration {
        let Ok(mut failures) = self.failures.lock() else {
            return Duration::from_secs(30);
        };
        let n = failures.entry(key.to_owned()).or_insert(0);
        *n = (*n + 1).min(9);
        Duration::from_secs(1u64 << (*n - 1)).min(Duration::from_secs(300))
    }

    pub fn succeeded(&self, key: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(key);
        }
    }
}
