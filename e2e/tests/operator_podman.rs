//! Single-node mode against real Podman: the operator's Podman runtime turns Workspaces and
//! Sessions from the local store into volumes and a running runner container (the image built
//! by runner-image/build.sh, $OQTO_RUNNER_IMAGE), through Podman's API socket. Podman missing
//! is a failure, not a skip.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{PodmanOperator, object};
use futures::FutureExt as _;
use oqto_api::{Session, SessionPhase, Workspace};
use oqto_e2e::podman::{podman, podman_service, workspace_volumes};
use oqto_operator::podman::render;
use oqto_store::LocalStore;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);

async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    oqto_e2e::eventually(what, WAIT, check).await.unwrap()
}

/// Workspace `w` of eve (its storage deleted with it) and its Session `s`.
fn workspace_w_with_session_s(store: &LocalStore, namespace: &str) {
    store
        .apply::<Workspace>(object(
            "Workspace",
            namespace,
            "w",
            json!({"owner":"eve","storage":{"reclaimPolicy":"Delete"}}),
        ))
        .unwrap();
    store
        .apply::<Session>(object(
            "Session",
            namespace,
            "s",
            json!({"workspaceRef":{"name":"w"}}),
        ))
        .unwrap();
}

/// Waits until the Session's phase is Running.
async fn until_running(store: &LocalStore, namespace: &str, session: &str, what: &str) {
    eventually(what, || async {
        let phase = store
            .get::<Session>(namespace, session)
            .unwrap()?
            .status?
            .phase?;
        (phase == SessionPhase::Running).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_runs_as_a_container_and_its_files_survive_suspend_and_resume() {
    let mut operator = PodmanOperator::start(Duration::from_millis(500)).await;
    let store = operator.store.clone();
    let namespace = format!("t{}", std::process::id());
    // Another store's volume on this host (a developer's stack beside the test), marked for
    // deletion and named by no Workspace here: this operator must leave it alone.
    let foreign = format!("oqto-{namespace}-foreign-files");
    let (created, _) = podman(&[
        "volume",
        "create",
        "--label",
        "app.kubernetes.io/managed-by=oqto-operator",
        "--label",
        "oqto.dev/reclaim-policy=Delete",
        "--label",
        "oqto.dev/store=another-store",
        &foreign,
    ]);
    assert!(created, "podman volume create {foreign}");

    let secret = store.secret_path(&namespace, "llm-keys");
    std::fs::create_dir_all(secret.parent().unwrap()).unwrap();
    std::fs::write(&secret, "OQTO_LLM_API_KEY=sekrit\n").unwrap();
    store
        .apply::<Workspace>(object(
            "Workspace",
            &namespace,
            "dev",
            json!({"owner":"alice","storage":{"reclaimPolicy":"Delete"},
                "runner":{"resources":{"limits":{"memory":"768Mi","cpu":"1500m"}}},
                "llm":{"provider":"scripted","model":"scripted","credentialsSecretRef":{"name":"llm-keys"}}}),
        ))
        .unwrap();
    store
        .apply::<Workspace>(object(
            "Workspace",
            &namespace,
            "keep",
            json!({"owner":"alice"}),
        ))
        .unwrap();
    store
        .apply::<Session>(object(
            "Session",
            &namespace,
            "s1",
            json!({"workspaceRef":{"name":"dev"}}),
        ))
        .unwrap();
    let container = render::container_name(&namespace, "s1");
    // A second runner in a workspace with a short idleTimeout suspends itself: nobody connects.
    store
        .apply::<Workspace>(object(
            "Workspace",
            &namespace,
            "idle",
            json!({"owner":"bob","storage":{"reclaimPolicy":"Delete"},"lifecycle":{"idleTimeout":"3s"}}),
        ))
        .unwrap();
    store
        .apply::<Session>(object(
            "Session",
            &namespace,
            "sleepy",
            json!({"workspaceRef":{"name":"idle"}}),
        ))
        .unwrap();

    let phase = |store: Arc<LocalStore>, ns: String| async move {
        store
            .get::<Session>(&ns, "s1")
            .unwrap()
            .and_then(|s| s.status)
            .and_then(|s| s.phase)
    };
    eventually("Running", || {
        phase(store.clone(), namespace.clone())
            .then(|p| async move { p.filter(|p| *p == SessionPhase::Running) })
    })
    .await;
    let status = store
        .get::<Session>(&namespace, "s1")
        .unwrap()
        .unwrap()
        .status
        .unwrap();
    let endpoint = status.endpoint.clone().expect("an endpoint");
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let health = reqwest::get(format!("{endpoint}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(status.pod_name.as_deref(), Some(container.as_str()));
    let (user_ok, user) = podman(&["exec", &container, "id", "-u"]);
    assert!(user_ok);
    assert_eq!(user, "1000", "the runner is not root");
    // The Workspace's limits and a pids limit hold the runner (a fork bomb, a memory hog).
    let (_, limits) = podman(&[
        "inspect",
        "--format",
        "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}",
        &container,
    ]);
    assert_eq!(
        limits,
        format!("{} 1500000000 {}", 768 * 1024 * 1024, render::PIDS_LIMIT)
    );
    // Published on 127.0.0.1, but any local process without the runner's token gets nothing.
    for path in ["/activity", "/metrics", "/ws"] {
        let answer = reqwest::get(format!("{endpoint}{path}")).await.unwrap();
        assert_eq!(answer.status(), 401, "{path} without the token");
    }

    let (_, key) = podman(&["exec", &container, "printenv", "OQTO_LLM_API_KEY"]);
    assert_eq!(
        key, "sekrit",
        "the Secret's keys are the runner's environment"
    );
    let status_text = serde_json::to_string(&status).unwrap();
    assert!(!status_text.contains("sekrit"), "no secret in status");

    let (written, _) = podman(&[
        "exec",
        &container,
        "sh",
        "-c",
        "echo kept > /workspace/proof.txt",
    ]);
    assert!(written);

    // Suspend: the container goes, the volumes stay.
    store
        .apply::<Session>(object(
            "Session",
            &namespace,
            "s1",
            json!({"workspaceRef":{"name":"dev"},"suspended":true}),
        ))
        .unwrap();
    eventually("Suspended", || {
        phase(store.clone(), namespace.clone())
            .then(|p| async move { p.filter(|p| *p == SessionPhase::Suspended) })
    })
    .await;
    eventually("the container removed", || async {
        (!podman(&["container", "exists", &container]).0).then_some(())
    })
    .await;

    // Resume: a new container, same files.
    store
        .apply::<Session>(object(
            "Session",
            &namespace,
            "s1",
            json!({"workspaceRef":{"name":"dev"}}),
        ))
        .unwrap();
    eventually("Running again", || {
        phase(store.clone(), namespace.clone())
            .then(|p| async move { p.filter(|p| *p == SessionPhase::Running) })
    })
    .await;
    let (read, content) = podman(&["exec", &container, "cat", "/workspace/proof.txt"]);
    assert!(read);
    assert_eq!(content, "kept");

    let sleepy = store.clone();
    let ns = namespace.clone();
    eventually("the idle runner suspended itself", || {
        let sleepy = sleepy.clone();
        let ns = ns.clone();
        async move {
            let session = sleepy.get::<Session>(&ns, "sleepy").unwrap()?;
            let suspended = session.spec.suspended
                && session.status.and_then(|s| s.phase) == Some(SessionPhase::Suspended);
            suspended.then_some(())
        }
    })
    .await;
    assert!(
        !podman(&[
            "container",
            "exists",
            &render::container_name(&namespace, "sleepy")
        ])
        .0
    );
    store.delete::<Session>(&namespace, "sleepy").unwrap();
    store.delete::<Workspace>(&namespace, "idle").unwrap();

    // Delete: the container goes; the Delete workspace's volumes go, the Retain one's stay.
    store.delete::<Session>(&namespace, "s1").unwrap();
    eventually("the container removed", || async {
        (!podman(&["container", "exists", &container]).0).then_some(())
    })
    .await;
    assert_eq!(workspace_volumes(&namespace, "dev").len(), 2);
    store.delete::<Workspace>(&namespace, "dev").unwrap();
    store.delete::<Workspace>(&namespace, "keep").unwrap();
    eventually("the Delete volumes removed", || async {
        workspace_volumes(&namespace, "dev")
            .is_empty()
            .then_some(())
    })
    .await;
    let kept = workspace_volumes(&namespace, "keep");
    assert_eq!(kept.len(), 2, "Retain keeps the volumes");
    assert!(
        podman(&["volume", "exists", &foreign]).0,
        "another store's volume is not pruned"
    );
    podman(&["volume", "rm", "-f", &foreign]);

    // The attack: mallory creates a Workspace of the retained one's name to get its files. It
    // gets volumes of its own (named from its uid); the retained ones stay as they are.
    store
        .apply::<Workspace>(object(
            "Workspace",
            &namespace,
            "keep",
            json!({"owner":"mallory"}),
        ))
        .unwrap();
    let all = eventually("the new workspace's own volumes", || async {
        let all = workspace_volumes(&namespace, "keep");
        (all.len() == 4).then_some(all)
    })
    .await;
    assert!(
        kept.iter().all(|v| all.contains(v)),
        "the retained volumes are kept, not reused: {all:?}"
    );
    store.delete::<Workspace>(&namespace, "keep").unwrap();
    operator.stop().await;
    for volume in all {
        podman(&["volume", "rm", "-f", &volume]);
    }
}

/// The Podman API goes away under a running operator: `/readyz` and the waiting Session say
/// so; when a service answers on the socket again, the Session starts without an operator
/// restart.
#[tokio::test]
async fn a_lost_podman_api_is_reported_and_the_operator_recovers_when_it_returns() {
    let mut operator = PodmanOperator::start(Duration::from_millis(300)).await;
    let (store, health) = (operator.store.clone(), operator.health.clone());
    let namespace = format!("lost{}", std::process::id());
    store
        .apply::<Workspace>(object("Workspace", &namespace, "w", json!({"owner":"eve"})))
        .unwrap();
    eventually("the workspace's volumes", || async {
        (workspace_volumes(&namespace, "w").len() == 2).then_some(())
    })
    .await;

    drop(operator.service.take());
    store
        .apply::<Session>(object(
            "Session",
            &namespace,
            "waits",
            json!({"workspaceRef":{"name":"w"}}),
        ))
        .unwrap();
    let message = eventually("the session says the runtime is unreachable", || async {
        let status = store.get::<Session>(&namespace, "waits").unwrap()?.status?;
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        (ready.reason == "RuntimeUnreachable").then(|| ready.message.clone())
    })
    .await;
    assert!(message.contains("Podman API"), "{message}");
    assert!(
        health.unreachable().is_some(),
        "/readyz reports the runtime unreachable"
    );

    // A new service on the same socket path (a new socket file).
    let _service = podman_service(&operator.socket).await.unwrap();
    until_running(
        &store,
        &namespace,
        "waits",
        "the session runs once Podman answers again",
    )
    .await;
    assert_eq!(health.unreachable(), None);
    operator.stop().await;
    for volume in workspace_volumes(&namespace, "w") {
        podman(&["volume", "rm", "-f", &volume]);
    }
}

/// Restricted egress on one node (issue 15), attacked from inside a runner: a TCP service of the
/// host's, listening on all its addresses, is out of reach of a Restricted runner (by the host's
/// address and by its network's gateway), while an Open runner reaches it (so the probe can
/// tell). The Restricted runner is on the network `hack/podman/egress.sh` guards.
#[tokio::test(flavor = "multi_thread")]
async fn restricted_runners_reach_no_host_service_and_open_ones_do() {
    let mut operator = PodmanOperator::start(Duration::from_millis(500)).await;
    let store = operator.store.clone();
    let namespace = format!("egress{}", std::process::id());
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || for _ in listener.incoming() {});
    for (workspace, spec) in [
        (
            "closed",
            json!({"owner":"eve","storage":{"reclaimPolicy":"Delete"}}),
        ),
        (
            "open",
            json!({"owner":"eve","storage":{"reclaimPolicy":"Delete"},"network":{"egress":"Open"}}),
        ),
    ] {
        store
            .apply::<Workspace>(object("Workspace", &namespace, workspace, spec))
            .unwrap();
        store
            .apply::<Session>(object(
                "Session",
                &namespace,
                workspace,
                json!({"workspaceRef":{"name":workspace}}),
            ))
            .unwrap();
    }
    for session in ["closed", "open"] {
        until_running(&store, &namespace, session, &format!("{session} runs")).await;
    }
    let host_address = std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap();
    let (_, restricted_gateway) = podman(&[
        "network",
        "inspect",
        render::RESTRICTED_NETWORK,
        "--format",
        "{{range .Subnets}}{{.Gateway}}{{end}}",
    ]);
    let reaches = |session: &str, address: &str| {
        let container = render::container_name(&namespace, session);
        let probe = format!("timeout 3 bash -c 'exec 3<>/dev/tcp/{address}/{port}'");
        podman(&["exec", &container, "bash", "-c", &probe]).0
    };
    let closed = render::container_name(&namespace, "closed");
    let (_, network) = podman(&[
        "inspect",
        "--format",
        "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{end}}",
        &closed,
    ]);
    assert_eq!(network, render::RESTRICTED_NETWORK);
    assert!(
        reaches("open", &host_address),
        "an Open runner reaches the host's {host_address}:{port} (else the probe proves nothing)"
    );
    for address in [host_address.as_str(), restricted_gateway.as_str()] {
        assert!(
            !reaches("closed", address),
            "a Restricted runner must not reach the host's service at {address}:{port}"
        );
    }
    operator.stop().await;
    for workspace in ["closed", "open"] {
        for volume in workspace_volumes(&namespace, workspace) {
            podman(&["volume", "rm", "-f", &volume]);
        }
    }
}

/// Each Workspace's runners run in a user namespace of their own (issue 15), looked at as a
/// hostile agent would: a runner's root is not the host's root nor its uid 1000 the host's;
/// the runners of one Workspace share its range, and so its files; another Workspace's runner
/// has a range of its own, and its files belong to host uids the first range does not hold.
#[tokio::test(flavor = "multi_thread")]
async fn each_workspace_runs_in_a_user_namespace_of_its_own() {
    let settings = oqto_operator::podman::Settings {
        user_namespaces: true,
        ..Default::default()
    };
    let mut operator =
        PodmanOperator::start_with_settings(Duration::from_millis(500), settings).await;
    let store = operator.store.clone();
    let namespace = format!("userns{}", std::process::id());
    for workspace in ["a", "b"] {
        store
            .apply::<Workspace>(object(
                "Workspace",
                &namespace,
                workspace,
                json!({"owner":"eve","storage":{"reclaimPolicy":"Delete"}}),
            ))
            .unwrap();
    }
    for (session, workspace) in [("a1", "a"), ("a2", "a"), ("b1", "b")] {
        store
            .apply::<Session>(object(
                "Session",
                &namespace,
                session,
                json!({"workspaceRef":{"name":workspace}}),
            ))
            .unwrap();
    }
    for session in ["a1", "a2", "b1"] {
        until_running(&store, &namespace, session, &format!("{session} runs")).await;
    }
    let exec = |session: &str, script: &str| {
        let container = render::container_name(&namespace, session);
        podman(&["exec", &container, "sh", "-c", script])
    };
    // "<container uid> <host uid> <count>" of uid 0, for uids and gids alike.
    let mapping = |session: &str| {
        let (ok, uids) = exec(session, "cat /proc/self/uid_map");
        let (_, gids) = exec(session, "cat /proc/self/gid_map");
        assert!(ok, "{session}: no uid_map");
        let first: Vec<u64> = uids
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(
            uids.split_whitespace().collect::<Vec<_>>(),
            gids.split_whitespace().collect::<Vec<_>>(),
            "{session}: gids are mapped as uids"
        );
        first
    };
    let (a1, a2, b1) = (mapping("a1"), mapping("a2"), mapping("b1"));
    for (session, map) in [("a1", &a1), ("b1", &b1)] {
        assert_eq!(map.len(), 3, "{session}: one range, {map:?}");
        assert_eq!(map[0], 0, "{session}: {map:?}");
        assert!(
            map[1] >= 1 << 31,
            "{session}: container root must be no host uid below 2^31 (the host's users), {map:?}"
        );
        assert_eq!(map[2], 65536, "{session}: {map:?}");
    }
    assert_eq!(a1, a2, "the runners of one Workspace share its range");
    assert!(
        a1[1].abs_diff(b1[1]) >= 65536,
        "two Workspaces' ranges must not overlap: {a1:?} {b1:?}"
    );
    // One Workspace's runners share their files: what a1 writes, a2 reads and extends.
    assert!(exec("a1", "echo from-a1 > /workspace/shared").0);
    assert!(
        exec(
            "a2",
            "cat /workspace/shared && echo from-a2 >> /workspace/shared"
        )
        .0
    );
    assert_eq!(exec("a1", "cat /workspace/shared").1, "from-a1\nfrom-a2");
    // On the host, the file belongs to a1's uid 1000, which is not the host's uid 1000 and
    // not in b's range.
    let (_, files) = podman(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{if eq .Destination \"/workspace\"}}{{.Source}}{{end}}{{end}}",
        &render::container_name(&namespace, "a1"),
    ]);
    let owner = std::fs::metadata(std::path::Path::new(&files).join("shared"))
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap();
    assert_eq!(u64::from(owner), a1[1] + 1000, "{files}");
    assert!(!(b1[1]..b1[1] + 65536).contains(&u64::from(owner)));
    operator.stop().await;
    for workspace in ["a", "b"] {
        for volume in workspace_volumes(&namespace, workspace) {
            podman(&["volume", "rm", "-f", &volume]);
        }
    }
}

/// Without the guarded network (its firewall rules never installed, say) a Restricted runner
/// does not start at all, rather than start open: the Session fails with a reason that names
/// the fix.
#[tokio::test(flavor = "multi_thread")]
async fn without_the_guarded_network_restricted_runners_do_not_start() {
    let mut operator =
        PodmanOperator::start_with_network(Duration::from_millis(500), "oqto-no-such-network")
            .await;
    let store = operator.store.clone();
    let namespace = format!("unguarded{}", std::process::id());
    workspace_w_with_session_s(&store, &namespace);
    let message = eventually("the session names the missing network", || async {
        let status = store.get::<Session>(&namespace, "s").unwrap()?.status?;
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        (ready.reason == "EgressNotEnforced").then(|| ready.message.clone())
    })
    .await;
    assert!(message.contains("hack/podman/egress.sh"), "{message}");
    let container = render::container_name(&namespace, "s");
    assert!(
        !podman(&["container", "exists", &container]).0,
        "no runner was started"
    );
    operator.stop().await;
    for volume in workspace_volumes(&namespace, "w") {
        podman(&["volume", "rm", "-f", &volume]);
    }
}

/// Sessions created and deleted concurrently across Workspaces while the operator is killed
/// and started again at random moments: afterwards exactly one container per live Session
/// (none for deleted ones, none twice), every status converged at the current
/// `observedGeneration`, and storage as `reclaimPolicy` says. Counts: `OQTO_CHAOS_SESSIONS`
/// (default 16) across `OQTO_CHAOS_WORKSPACES` (default 4).
#[tokio::test(flavor = "multi_thread")]
async fn killed_at_random_moments_the_podman_operator_converges() {
    let (sessions, workspaces) = oqto_e2e::chaos_counts(16, 4);
    let mut rng = oqto_e2e::Rng::from_clock();
    let seed = rng.0;
    println!("chaos: {sessions} sessions, {workspaces} workspaces, seed {seed}");
    let mut operator = PodmanOperator::start(Duration::from_millis(300)).await;
    let store = operator.store.clone();
    let namespace = format!("chaos{}", std::process::id());
    let policy = oqto_e2e::chaos_reclaim_policy;
    for w in 0..workspaces {
        store
            .apply::<Workspace>(object(
                "Workspace",
                &namespace,
                &format!("w{w}"),
                json!({"owner":"chaos","storage":{"reclaimPolicy":policy(w)}}),
            ))
            .unwrap();
    }
    let creating = {
        let (store, namespace) = (store.clone(), namespace.clone());
        tokio::spawn(async move {
            for i in 0..sessions {
                let workspace = format!("w{}", i % workspaces);
                store
                    .apply::<Session>(object(
                        "Session",
                        &namespace,
                        &format!("s{i}"),
                        json!({"workspaceRef":{"name":workspace}}),
                    ))
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut kills = 0;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(100 + rng.below(600))).await;
        operator.kill_and_restart();
        kills += 1;
    }
    creating.await.unwrap();
    // Every other Session goes, and the last two Workspaces (one of each policy) with theirs.
    for i in (0..sessions).step_by(2) {
        store
            .delete::<Session>(&namespace, &format!("s{i}"))
            .unwrap();
        if rng.below(4) == 0 {
            operator.kill_and_restart();
            kills += 1;
        }
    }
    let gone_workspaces = [workspaces - 2, workspaces - 1];
    let (retained_ws, deleted_ws) = if policy(workspaces - 2) == "Retain" {
        (workspaces - 2, workspaces - 1)
    } else {
        (workspaces - 1, workspaces - 2)
    };
    for w in gone_workspaces {
        store
            .delete::<Workspace>(&namespace, &format!("w{w}"))
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
    operator.kill_and_restart();
    kills += 1;

    let live: std::collections::BTreeMap<String, String> = (0..sessions)
        .filter(|i| i % 2 == 1 && !gone_workspaces.contains(&(i % workspaces)))
        .map(|i| {
            (
                render::container_name(&namespace, &format!("s{i}")),
                format!("s{i}"),
            )
        })
        .collect();
    let store_label = format!("label=oqto.dev/store={}", store.id());
    let outcome = oqto_e2e::eventually("convergence", Duration::from_secs(300), || async {
        let (_, listed) = podman(&[
            "ps",
            "-a",
            "--filter",
            &store_label,
            "--format",
            "{{.Names}} {{.Labels}}",
        ]);
        let names: Vec<&str> = listed
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
        if names.len() != unique.len() || unique.len() != live.len() {
            return None;
        }
        for (container, session) in &live {
            if !unique.contains(container.as_str()) {
                return None;
            }
            let s = store.get::<Session>(&namespace, session).unwrap()?;
            let status = s.status?;
            if status.phase != Some(SessionPhase::Running)
                || status.observed_generation != s.metadata.generation
            {
                return None;
            }
        }
        for w in gone_workspaces {
            if store
                .get::<Workspace>(&namespace, &format!("w{w}"))
                .unwrap()
                .is_some()
            {
                return None;
            }
        }
        workspace_volumes(&namespace, &format!("w{deleted_ws}"))
            .is_empty()
            .then_some(())
    })
    .await;
    let retained = workspace_volumes(&namespace, &format!("w{retained_ws}"));
    let retained_kept = retained.len() == 2;
    operator.stop().await;
    println!("chaos: {kills} kills, converged: {}", outcome.is_ok());
    outcome.unwrap();
    assert!(retained_kept, "Retain keeps a deleted Workspace's volumes");
    for volume in retained {
        podman(&["volume", "rm", "-f", &volume]);
    }
}

/// Podman announces nothing: a starting runner is looked at again as soon as the lifecycle asks
/// (every 100 ms while pi-bridge does not answer yet), not at the next resync. With a resync far
/// longer than the test, the Session is still Running, and deleting it all still completes.
#[tokio::test]
async fn a_starting_session_is_looked_at_again_before_the_next_resync() {
    let mut operator = PodmanOperator::start(Duration::from_secs(3600)).await;
    let store = operator.store.clone();
    let namespace = format!("soon{}", std::process::id());
    workspace_w_with_session_s(&store, &namespace);
    until_running(&store, &namespace, "s", "Running long before the resync").await;

    let container = render::container_name(&namespace, "s");
    store.delete::<Session>(&namespace, "s").unwrap();
    store.delete::<Workspace>(&namespace, "w").unwrap();
    eventually("the runner and the volumes gone", || async {
        let (exists, _) = podman(&["container", "exists", &container]);
        (!exists && workspace_volumes(&namespace, "w").is_empty()).then_some(())
    })
    .await;
    operator.stop().await;
}

/// `podman exec RUNNER curl` of the browser's CDP version: Chromium's answer, from the runner's
/// own loopback.
fn cdp_from(runner: &str) -> Option<String> {
    let (ok, out) = podman(&[
        "exec",
        runner,
        "curl",
        "-s",
        "--max-time",
        "2",
        "http://127.0.0.1:9222/json/version",
    ]);
    (ok && out.contains("HeadlessChrome")).then_some(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runner_with_a_browser_gets_a_sidecar_on_its_network_that_goes_with_it() {
    let image = oqto_e2e::browser_image().unwrap();
    let operator = PodmanOperator::start(Duration::from_millis(500)).await;
    let store = operator.store.clone();
    let namespace = format!("browser{}", std::process::id());
    store
        .apply::<Workspace>(object(
            "Workspace",
            &namespace,
            "w",
            json!({"owner":"eve","storage":{"reclaimPolicy":"Delete"},
                "runner":{"browser":{"enabled":true,"image":image}}}),
        ))
        .unwrap();
    store
        .apply::<Session>(object(
            "Session",
            &namespace,
            "s",
            json!({"workspaceRef":{"name":"w"}}),
        ))
        .unwrap();
    until_running(&store, &namespace, "s", "the Session with a browser runs").await;
    let runner = render::container_name(&namespace, "s");
    let browser = oqto_operator::podman::browser::container_name(&runner);

    // The browser runs beside the runner, in its network namespace, as its own user, hardened.
    let (_, runner_id) = podman(&["inspect", "--format", "{{.Id}}", &runner]);
    let (found, seen) = podman(&[
        "inspect",
        "--format",
        "{{.State.Running}}|{{.HostConfig.NetworkMode}}|{{.Config.User}}|{{.HostConfig.ReadonlyRootfs}}|{{.HostConfig.CapDrop}}",
        &browser,
    ]);
    assert!(found, "no browser container {browser}");
    let fields: Vec<&str> = seen.split('|').collect();
    assert_eq!(fields[0], "true", "{seen}");
    assert!(
        fields[1] == format!("container:{runner_id}") || fields[1] == format!("container:{runner}"),
        "the runner's network: {seen}"
    );
    assert_eq!(fields[2], "1001:1001", "{seen}");
    assert_eq!(fields[3], "true", "read-only root: {seen}");
    // No runner secrets in its environment; the runner alone gets the CDP address.
    let (_, env) = podman(&["inspect", "--format", "{{.Config.Env}}", &browser]);
    assert!(
        !env.contains("PI_BRIDGE_TOKEN") && !env.contains("OQTO_LLM"),
        "{env}"
    );
    let (_, runner_env) = podman(&["exec", &runner, "printenv", "OQTO_BROWSER_CDP"]);
    assert_eq!(runner_env, "http://127.0.0.1:9222");

    // CDP answers on the runner's loopback (and only there: nothing is published).
    let version = eventually("CDP answers from inside the runner", || async {
        cdp_from(&runner)
    })
    .await;
    assert!(version.contains("webSocketDebuggerUrl"), "{version}");
    // (The shared namespace's ports are the runner's: pi-bridge's, never CDP's.)
    let (_, ports) = podman(&["port", &browser]);
    assert!(!ports.contains("9222"), "CDP published: {ports}");

    // A runner that stopped is started again, and its browser with it, in its new network.
    // Asked again if Podman refuses for a moment (it did once in CI, under the load of the
    // whole suite, on a runner that had just started); what it said goes to the test's output.
    eventually("podman stops the runner", || async {
        let stop = std::process::Command::new("podman")
            .args(["stop", "--time", "1", &runner])
            .output()
            .ok()?;
        if !stop.status.success() {
            eprintln!(
                "podman stop {runner}: {}",
                String::from_utf8_lossy(&stop.stderr).trim()
            );
        }
        stop.status.success().then_some(())
    })
    .await;
    eventually("CDP answers again after the runner's restart", || async {
        cdp_from(&runner)
    })
    .await;

    // Deleting the Session removes both containers.
    store.delete::<Session>(&namespace, "s").unwrap();
    eventually("the runner and its browser are gone", || async {
        let gone = |name: &str| !podman(&["container", "exists", name]).0;
        (gone(&runner) && gone(&browser)).then_some(())
    })
    .await;
}
