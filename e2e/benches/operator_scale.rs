//! How the operator scales: 1000 Sessions created against the real control plane (no kubelet).
//! Reports p50/p99 from `create` returning to the runner Pod being seen on a watch, the time
//! until every Session is `Starting`, and the operator's peak RSS (VmHWM). The operator runs as
//! its own release binary, so its memory is measured alone.
//!
//! Needs the control plane: `hack/k8s/controlplane.sh up`, then `cargo bench -p oqto-e2e`.

#![allow(clippy::unwrap_used)] // A bench that cannot set up has nothing to report.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use oqto_api::{Session, SessionPhase, Workspace};
use oqto_e2e::{ControlPlane, install_crds, repo_root};
use serde_json::json;

const SESSIONS: usize = 1000;
const CONCURRENCY: usize = 20;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let plane = ControlPlane::discover().expect("a control plane: hack/k8s/controlplane.sh up");
    let client = plane.client().await.unwrap();
    install_crds(&client).await.unwrap();
    let namespace = format!("bench-{}", std::process::id());
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(namespace.clone()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let built = Command::new("cargo")
        .args(["build", "--release", "-p", "oqto-operator"])
        .current_dir(repo_root())
        .status()
        .unwrap();
    assert!(built.success());
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(Into::into)
        .unwrap_or_else(|_| repo_root().join("target"));
    let mut operator = Command::new(target.join("release/oqto-operator"))
        .args([
            "run",
            "--namespace",
            &namespace,
            "--lease-namespace",
            &namespace,
            "--http-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--runner-image",
            "localhost/oqto-runner:dev",
            "--identity",
            "bench",
        ])
        .env("KUBECONFIG", &plane.kubeconfig)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    let workspaces: Api<Workspace> = Api::namespaced(client.clone(), &namespace);
    let ws: Workspace = serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Workspace",
        "metadata":{"name":"bench"},"spec":{"owner":"bench","storage":{"accessModes":["ReadWriteMany"]}}}))
    .unwrap();
    workspaces
        .create(&PostParams::default(), &ws)
        .await
        .unwrap();

    // Pods as they appear, by name.
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let watch_seen = seen.clone();
    tokio::spawn(async move {
        let mut events = watcher(pods, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Ok(Some(pod)) = events.try_next().await {
            if let Some(name) = pod.metadata.name {
                watch_seen
                    .lock()
                    .unwrap()
                    .entry(name)
                    .or_insert_with(Instant::now);
            }
        }
    });

    println!("operator scale: {SESSIONS} Sessions, {CONCURRENCY} creates in flight");
    let sessions: Api<Session> = Api::namespaced(client.clone(), &namespace);
    let started = Instant::now();
    let created: Vec<(String, Instant)> = futures::stream::iter(0..SESSIONS)
        .map(|i| {
            let sessions = sessions.clone();
            async move {
                let name = format!("s{i}");
                let s: Session = serde_json::from_value(
                    json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session",
                    "metadata":{"name":name},"spec":{"workspaceRef":{"name":"bench"}}}),
                )
                .unwrap();
                sessions.create(&PostParams::default(), &s).await.unwrap();
                (name, Instant::now())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let created_in = started.elapsed();

    // All Starting (the pods exist; no kubelet runs them).
    let all_starting = loop {
        let list = sessions.list(&Default::default()).await.unwrap();
        let starting = list
            .items
            .iter()
            .filter(|s| s.status.as_ref().and_then(|st| st.phase) == Some(SessionPhase::Starting))
            .count();
        if starting == SESSIONS {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "only {starting} of {SESSIONS} Starting after 10 min"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let seen = seen.lock().unwrap().clone();
    let mut to_pod: Vec<Duration> = created
        .iter()
        .filter_map(|(name, at)| {
            seen.get(&format!("oqto-sess-{name}"))
                .map(|pod| pod.saturating_duration_since(*at))
        })
        .collect();
    to_pod.sort();
    let rss = peak_rss_kib(operator.id());
    println!("{:<44} {:>10?}", "all creates returned after", created_in);
    println!(
        "{:<44} {:>10?}",
        "create -> Pod seen, p50",
        percentile(&to_pod, 0.50)
    );
    println!(
        "{:<44} {:>10?}",
        "create -> Pod seen, p99",
        percentile(&to_pod, 0.99)
    );
    println!(
        "{:<44} {:>10?}",
        "first create -> all Sessions Starting", all_starting
    );
    println!("{:<44} {:>7} MiB", "operator peak RSS (VmHWM)", rss / 1024);
    let _ = operator.kill();
    let _ = operator.wait();
    let _ = Api::<Namespace>::all(client)
        .delete(&namespace, &Default::default())
        .await;
}
