//! How the operator scales, against the real control plane (no kubelet). First, on a quiet
//! control plane, Sessions created one at a time: create → runner Pod seen on a watch. Then a
//! burst of 1000 Sessions: create → Pod p50/p99 during the burst, the time until every Session
//! is `Starting`, and the operator's peak RSS (VmHWM). Where the time goes: the CPU seconds
//! the operator, kube-apiserver and etcd spent during the burst, and the operator's reconcile
//! count, mean duration and failures (its /metrics). The Workspace's `startTimeout` outlasts the
//! burst, and the figures are printed also when the burst does not finish in time. The operator
//! runs as its own release binary, so its memory is measured alone.
//!
//! Needs the control plane: `hack/k8s/controlplane.sh up`, then `cargo bench -p oqto-e2e`
//! ($OQTO_BENCH_SESSIONS, default 1000, 200 with OQTO_BENCH_QUICK). `hack/bench.sh` runs it and
//! records its figures.

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
use oqto_bench::{Figure, Unit};
use oqto_e2e::{ControlPlane, install_crds, repo_root};
use serde_json::json;

/// The bench's name in `hack/bench.sh`'s table, and the row the burst is compared with.
const BENCH: &str = "operator_scale";
const QUIET_TO_POD: &str = "quiet: create -> Pod seen";
const CONCURRENCY: usize = 20;
/// Sessions created one at a time on the quiet control plane.
const QUIET: usize = 20;
/// How long the burst may take before the bench gives up (and still reports).
const GIVE_UP: Duration = Duration::from_secs(600);

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ") ".
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// The pid of a control-plane process of ours, by its binary name.
fn pid_of(binary: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let first = cmdline.split(|b| *b == 0).next()?;
            std::str::from_utf8(first)
                .ok()?
                .ends_with(&format!("/{binary}"))
                .then_some(pid)
        })
}

/// A metric's value from the operator's /metrics text (first line that starts with `name`).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

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

/// The apiserver's request counts by verb and resource (`apiserver_request_total`), read
/// with kubectl: what the burst asked of it.
fn apiserver_requests(plane: &ControlPlane) -> HashMap<String, f64> {
    let out = Command::new(plane.bin_dir.join("kubectl"))
        .args(["get", "--raw", "/metrics"])
        .env("KUBECONFIG", &plane.kubeconfig)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let label = |labels: &str, name: &str| {
        labels
            .split(',')
            .find_map(|l| l.strip_prefix(&format!("{name}=\"")))
            .map(|v| v.trim_end_matches('"').to_owned())
            .unwrap_or_default()
    };
    let mut counts = HashMap::new();
    for line in out.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let mut key = format!("{} {}", label(labels, "verb"), label(labels, "resource"));
        let sub = label(labels, "subresource");
        if !sub.is_empty() {
            key = format!("{key}/{sub}");
        }
        *counts.entry(key).or_insert(0.0) += value.parse::<f64>().unwrap_or(0.0);
    }
    counts
}

/// Waits (a while, with progress) until no earlier bench namespace is still being deleted:
/// its cascade would run during this burst. (Other namespaces stuck on finalizers whose
/// operator is gone make no progress, and so no load.)
async fn wait_for_quiet(client: &kube::Client) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let since = Instant::now();
    loop {
        let busy = namespaces
            .list(&Default::default())
            .await
            .map(|l| {
                l.items
                    .iter()
                    .filter(|n| n.metadata.deletion_timestamp.is_some())
                    .filter(|n| {
                        n.metadata
                            .name
                            .as_deref()
                            .is_some_and(|n| n.starts_with("bench-"))
                    })
                    .count()
            })
            .unwrap_or(0);
        if busy == 0 || since.elapsed() > Duration::from_secs(300) {
            return;
        }
        println!("waiting for {busy} namespace(s) being deleted, for a quiet control plane");
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

#[tokio::main]
async fn main() {
    // The burst: 1000 Sessions as the issue names, 200 in a quick run.
    let total = oqto_bench::count("OQTO_BENCH_SESSIONS", 1000, 200);
    let plane = ControlPlane::discover().expect("a control plane: hack/k8s/controlplane.sh up");
    let client = plane.client().await.unwrap();
    install_crds(&client).await.unwrap();
    wait_for_quiet(&client).await;
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

    // Without the variables cargo sets for this bench: a nested build that sees them rebuilds
    // the crates whose build scripts read them.
    let mut build = Command::new("cargo");
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && !matches!(&*key, "CARGO_HOME" | "CARGO_TARGET_DIR") {
            build.env_remove(&*key);
        }
    }
    let built = build
        .args(["build", "--release", "-p", "oqto-operator"])
        .current_dir(repo_root())
        .status()
        .unwrap();
    assert!(built.success());
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(Into::into)
        .unwrap_or_else(|_| repo_root().join("target"));
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let mut operator = Command::new(target.join("release/oqto-operator"))
        .args([
            "run",
            "--namespace",
            &namespace,
            "--lease-namespace",
            &namespace,
            "--http-listen",
            &format!("127.0.0.1:{metrics_port}"),
        ])
        .args([
            "--runner-image",
            "localhost/oqto-runner:dev",
            "--identity",
            "bench",
        ])
        .env("KUBECONFIG", &plane.kubeconfig)
        .env("OQTO_RUNNER_KEY", oqto_e2e::RUNNER_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    let workspaces: Api<Workspace> = Api::namespaced(client.clone(), &namespace);
    let ws: Workspace = serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Workspace",
        "metadata":{"name":"bench"},"spec":{"owner":"bench","storage":{"accessModes":["ReadWriteMany"]},
        "lifecycle":{"startTimeout":"2h"}}}))
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

    // Sessions as they turn Starting, by name.
    let starting_seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let watch_starting = starting_seen.clone();
    let session_watch: Api<Session> = Api::namespaced(client.clone(), &namespace);
    tokio::spawn(async move {
        let mut events = watcher(session_watch, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Ok(Some(session)) = events.try_next().await {
            let starting =
                session.status.as_ref().and_then(|s| s.phase) == Some(SessionPhase::Starting);
            if let (true, Some(name)) = (starting, session.metadata.name) {
                watch_starting
                    .lock()
                    .unwrap()
                    .entry(name)
                    .or_insert_with(Instant::now);
            }
        }
    });

    let sessions: Api<Session> = Api::namespaced(client.clone(), &namespace);
    let session = |name: &str| -> Session {
        serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session",
            "metadata":{"name":name},"spec":{"workspaceRef":{"name":"bench"}}}))
        .unwrap()
    };
    // Quiet: one at a time, each until its Pod is seen.
    let mut quiet = Vec::new();
    for i in 0..QUIET {
        let name = format!("q{i}");
        sessions
            .create(&PostParams::default(), &session(&name))
            .await
            .unwrap();
        let at = Instant::now();
        let pod = format!("oqto-sess-{name}");
        let deadline = at + Duration::from_secs(30);
        let seen_at = loop {
            if let Some(t) = seen.lock().unwrap().get(&pod) {
                break Some(*t);
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        if let Some(t) = seen_at {
            quiet.push(t.saturating_duration_since(at));
        }
    }
    quiet.sort();

    println!("operator scale: {total} Sessions, {CONCURRENCY} creates in flight");
    let apiserver = pid_of("kube-apiserver");
    let etcd = pid_of("etcd");
    let controllers = pid_of("kube-controller-manager");
    let bench = Some(std::process::id());
    let processes = [Some(operator.id()), apiserver, etcd, controllers, bench];
    let cpu_before = processes.map(|p| p.map(cpu_seconds));
    let requests_before = apiserver_requests(&plane);
    let metrics_before = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap_or_default();
    let started = Instant::now();
    let create_latency: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let created: Vec<(String, Instant)> = futures::stream::iter(0..total)
        .map(|i| {
            let sessions = sessions.clone();
            let object = session(&format!("s{i}"));
            let create_latency = create_latency.clone();
            async move {
                let name = object.metadata.name.clone().unwrap();
                let sent = Instant::now();
                sessions
                    .create(&PostParams::default(), &object)
                    .await
                    .unwrap();
                create_latency.lock().unwrap().push(sent.elapsed());
                (name, Instant::now())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let created_in = started.elapsed();

    // All Starting (the pods exist; no kubelet runs them), or the bench gives up and reports.
    // Read from the Sessions' watch: listing 1000 Sessions every few milliseconds would be a
    // load on the apiserver of the bench's own.
    let all_starting = loop {
        let count = starting_seen
            .lock()
            .unwrap()
            .keys()
            .filter(|n| n.starts_with('s'))
            .count();
        if count == total {
            break Ok(starting_seen
                .lock()
                .unwrap()
                .values()
                .max()
                .map_or(Duration::ZERO, |t| t.saturating_duration_since(started)));
        }
        if started.elapsed() > GIVE_UP {
            break Err(count);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let burst = started.elapsed();
    let cpu_after = processes.map(|p| p.map(cpu_seconds));
    let requests_after = apiserver_requests(&plane);
    let metrics_after = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap_or_default();
    let seen = seen.lock().unwrap().clone();
    let mut to_pod: Vec<Duration> = created
        .iter()
        .filter_map(|(name, at)| {
            seen.get(&format!("oqto-sess-{name}"))
                .map(|pod| pod.saturating_duration_since(*at))
        })
        .collect();
    to_pod.sort();
    let mut creates = create_latency.lock().unwrap().clone();
    creates.sort();
    let rss = peak_rss_kib(operator.id());
    let row = |what: &str, value: String| println!("{what:<52} {value:>12}");
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let p = |v: &[Duration], q: f64| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            ms(percentile(v, q))
        }
    };
    row("quiet: create -> Pod seen, p50", p(&quiet, 0.50));
    row("quiet: create -> Pod seen, p99", p(&quiet, 0.99));
    row("burst: all creates returned after", ms(created_in));
    row("burst: create request latency, p50", p(&creates, 0.50));
    row("burst: create request latency, p99", p(&creates, 0.99));
    row("burst: create -> Pod seen, p50", p(&to_pod, 0.50));
    row("burst: create -> Pod seen, p99", p(&to_pod, 0.99));
    row(
        "burst: first create -> all Sessions Starting",
        all_starting.map_or_else(|starting| format!("gave up: {starting}/{total}"), ms),
    );
    row("operator peak RSS (VmHWM)", format!("{} MiB", rss / 1024));
    Figure::latency(BENCH, QUIET_TO_POD, &quiet).record();
    Figure::latency(BENCH, "burst: create -> Pod seen", &to_pod)
        .against(QUIET_TO_POD)
        .record();
    Figure::latency(BENCH, "burst: create request latency", &creates).record();
    if let Ok(all) = all_starting {
        Figure::value(
            BENCH,
            "burst: first create -> all Sessions Starting",
            Unit::Seconds,
            all.as_secs_f64(),
        )
        .record();
    }
    Figure::value(BENCH, "operator peak RSS", Unit::Mib, rss as f64 / 1024.0).record();
    println!(
        "where the time went during the burst ({:.1} s):",
        burst.as_secs_f64()
    );
    let names = [
        "oqto-operator",
        "kube-apiserver",
        "etcd",
        "kube-controller-manager",
        "this bench (creates, watches)",
    ];
    for (name, (before, after)) in names.iter().zip(cpu_before.iter().zip(cpu_after.iter())) {
        if let (Some(b), Some(a)) = (before, after) {
            row(&format!("  {name} CPU"), format!("{:.1} s", a - b));
            Figure::value(BENCH, &format!("burst: {name} CPU"), Unit::Seconds, a - b).record();
        }
    }
    let delta = |name: &str| metric(&metrics_after, name) - metric(&metrics_before, name);
    let count = delta("oqto_operator_reconcile_duration_seconds_count{controller=\"session\"}");
    let sum = delta("oqto_operator_reconcile_duration_seconds_sum{controller=\"session\"}");
    row("  session reconciles", format!("{count:.0}"));
    if count > 0.0 {
        row(
            "  session reconcile, mean",
            format!("{:.1} ms", sum / count * 1000.0),
        );
    }
    row(
        "  reconcile failures",
        format!("{:.0}", delta("oqto_operator_reconcile_failures_total")),
    );
    let mut requests: Vec<(String, f64)> = requests_after
        .iter()
        .map(|(key, after)| {
            (
                key.clone(),
                after - requests_before.get(key).copied().unwrap_or(0.0),
            )
        })
        .filter(|(_, n)| *n >= 10.0)
        .collect();
    requests.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("apiserver requests during the burst (10 or more):");
    for (key, n) in requests {
        row(&format!("  {key}"), format!("{n:.0}"));
    }
    // The Workspace goes first, while the operator runs: its finalizer waits for the operator
    // to delete its Sessions, and a namespace left Terminating would load the next run.
    println!("cleaning up: deleting the Workspace and its {total} Sessions");
    let _ = workspaces.delete("bench", &Default::default()).await;
    let cleanup = Instant::now();
    while workspaces.get_opt("bench").await.ok().flatten().is_some()
        && cleanup.elapsed() < Duration::from_secs(300)
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = operator.kill();
    let _ = operator.wait();
    let _ = Api::<Namespace>::all(client)
        .delete(&namespace, &Default::default())
        .await;
}
