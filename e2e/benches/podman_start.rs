//! Single-node start latency: a Session applied to the local store until its runner answers
//! `/readyz`, 20 times with a warm image, next to a bare `podman run` of the same image polled
//! the same way, in the same run. `cargo bench -p oqto-e2e --bench podman_start`
//! ($OQTO_RUNNER_IMAGE, default localhost/oqto-runner:dev; $OQTO_BENCH_STARTS, default 20, 5
//! with OQTO_BENCH_QUICK). `hack/bench.sh` runs it and records its figures.

#![allow(clippy::unwrap_used)] // A bench that cannot set up has nothing to report.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oqto_api::{Session, Workspace};
use oqto_bench::Figure;
use oqto_operator::core::OperatorDefaults;
use oqto_operator::podman::{self, PodmanRuntime, render};
use oqto_proto::runner;
use oqto_store::LocalStore;
use serde_json::json;

/// The bench's name in `hack/bench.sh`'s table, and the row the operator's start is compared with.
const BENCH: &str = "podman_start";
const BARE: &str = "bare `podman run` -> /readyz";
const BARE_TOKEN: &str = "bench-runner-token-0123456789abcdef";

async fn ready(http: &reqwest::Client, endpoint: &str) -> bool {
    http.get(format!("{endpoint}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

fn summary(figure: Figure, mut times: Vec<Duration>) {
    times.sort();
    let at = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    println!("{:<44} {:>10?} {:>10?}", figure.what, at(0.50), at(0.95));
    figure.record();
}

#[tokio::main]
async fn main() {
    let starts = oqto_bench::count("OQTO_BENCH_STARTS", 20, 5);
    let image =
        std::env::var("OQTO_RUNNER_IMAGE").unwrap_or_else(|_| "localhost/oqto-runner:dev".into());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("podman.sock");
    let mut service = Command::new("podman")
        .args(["system", "service", "--time=0"])
        .arg(format!("unix://{}", socket.display()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while !socket.exists() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Bare podman run, polled the same way.
    let mut bare = Vec::new();
    for i in 0..starts {
        let name = format!("oqto-bench-bare-{i}");
        let started = Instant::now();
        let out = Command::new("podman")
            .args([
                "run",
                "-d",
                "--replace",
                "--name",
                &name,
                "-p",
                "127.0.0.1::8080",
            ])
            // The runner's contract (oqto_proto::runner): a bridge serves one Session with a token.
            .args(["-e", &format!("{}=bench", runner::ENV_SESSION)])
            .args(["-e", &format!("{}={BARE_TOKEN}", runner::ENV_TOKEN)])
            .arg(&image)
            .output()
            .unwrap();
        assert!(out.status.success());
        let port = String::from_utf8(
            Command::new("podman")
                .args(["port", &name, "8080"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let endpoint = format!("http://{}", port.trim());
        while !ready(&http, &endpoint).await {
            // Bounded: a runner that cannot start (its logs say why) must not hang the run.
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{name} did not answer /readyz within 60 s: see `podman logs {name}`"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bare.push(started.elapsed());
        Command::new("podman")
            .args(["rm", "-f", "-t", "0", &name])
            .output()
            .unwrap();
    }

    oqto_e2e::podman::restricted_egress().unwrap();
    let store = Arc::new(LocalStore::open(&dir.path().join("store")).unwrap());
    let reconciler = podman::reconciler(
        store.clone(),
        PodmanRuntime::connect(&socket.display().to_string()).unwrap(),
        OperatorDefaults {
            runner_image: Some(image.clone()),
            ..OperatorDefaults::new(oqto_e2e::runner_key())
        },
        podman::Settings::default(),
    );
    tokio::spawn(podman::run(
        reconciler,
        Duration::from_millis(100),
        std::future::pending(),
    ));
    let namespace = format!("bench{}", std::process::id());
    let ws: Workspace = serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Workspace",
        "metadata":{"name":"w","namespace":namespace},"spec":{"owner":"bench","storage":{"reclaimPolicy":"Delete"}}}))
    .unwrap();
    store.apply(ws).unwrap();
    let mut operator = Vec::new();
    for i in 0..starts {
        let name = format!("s{i}");
        let session: Session =
            serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session",
            "metadata":{"name":name,"namespace":namespace},"spec":{"workspaceRef":{"name":"w"}}}))
            .unwrap();
        let started = Instant::now();
        store.apply(session).unwrap();
        loop {
            let endpoint = store
                .get::<Session>(&namespace, &name)
                .unwrap()
                .and_then(|s| s.status)
                .and_then(|s| s.endpoint);
            if let Some(endpoint) = endpoint
                && ready(&http, &endpoint).await
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "Session {name}'s runner did not answer /readyz within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        operator.push(started.elapsed());
        store.delete::<Session>(&namespace, &name).unwrap();
        let container = render::container_name(&namespace, &name);
        while Command::new("podman")
            .args(["container", "exists", &container])
            .status()
            .unwrap()
            .success()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    store.delete::<Workspace>(&namespace, "w").unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    println!("podman start latency: {starts} starts, warm image {image}");
    println!("{:<44} {:>10} {:>10}", "", "p50", "p95");
    summary(Figure::latency(BENCH, BARE, &bare), bare);
    summary(
        Figure::latency(BENCH, "Session applied -> runner /readyz", &operator).against(BARE),
        operator,
    );
    let _ = service.kill();
    let _ = service.wait();
}
