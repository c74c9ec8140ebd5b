//! Real Podman for the single-node suites: an API service on a socket of the test's own, the
//! `podman` command, and a guard that removes what a test's store made.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Removes what one store made (containers and volumes carrying its id), also when the test
/// fails half-way: CI may run on a host that keeps its containers, and a leftover runner would
/// hold its port and volumes.
pub struct RemoveStoreObjects(pub String);

impl Drop for RemoveStoreObjects {
    fn drop(&mut self) {
        let label = format!("label=oqto.dev/store={}", self.0);
        // Sidecars first: Podman keeps a runner whose network a browser still uses.
        let (_, sidecars) = podman(&[
            "ps",
            "-aq",
            "--filter",
            &label,
            "--filter",
            "label=oqto.dev/sidecar-of",
        ]);
        let (_, containers) = podman(&["ps", "-aq", "--filter", &label]);
        for id in sidecars
            .split_whitespace()
            .chain(containers.split_whitespace())
        {
            podman(&["rm", "-f", id]);
        }
        let (_, volumes) = podman(&["volume", "ls", "-q", "--filter", &label]);
        for name in volumes.split_whitespace() {
            podman(&["volume", "rm", "-f", name]);
        }
    }
}

/// `podman system service` on a socket of this test; stopped on drop.
pub struct PodmanService(Child);

impl Drop for PodmanService {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Podman's API service on `socket` and waits for the socket.
pub async fn podman_service(socket: &Path) -> anyhow::Result<PodmanService> {
    // A killed service leaves its socket file: waiting for the file must mean the new one.
    let _ = std::fs::remove_file(socket);
    let child = Command::new("podman")
        .args(["system", "service", "--time=0"])
        .arg(format!("unix://{}", socket.display()))
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("podman is not installed (hack/podman/setup.sh): {e}"))?;
    let service = PodmanService(child);
    for _ in 0..100 {
        if socket.exists() {
            return Ok(service);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("podman system service did not create {}", socket.display())
}

/// The network of Restricted runners and its host firewall rules (`hack/podman/egress.sh`,
/// idempotent), made once per test process: the operator refuses Restricted runners without it.
pub fn restricted_egress() -> anyhow::Result<()> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let script = crate::repo_root().join("hack/podman/egress.sh");
        match Command::new(&script).output() {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!(
                "{} failed: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            )),
            Err(e) => Err(format!("{}: {e}", script.display())),
        }
    })
    .clone()
    .map_err(|e| anyhow::anyhow!(e))
}

/// Runs `podman ARGS`: whether it succeeded, and its trimmed output.
pub fn podman(args: &[&str]) -> (bool, String) {
    match Command::new("podman").args(args).output() {
        Ok(out) => (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        ),
        Err(_) => (false, String::new()),
    }
}

/// The volumes the operator made for a Workspace, found by label (their names carry the
/// Workspace's uid, which a test of a deleted Workspace no longer knows). Podman 4.3 ORs
/// several label filters, so the namespace is checked here.
pub fn workspace_volumes(namespace: &str, workspace: &str) -> Vec<String> {
    let format = format!(
        "{{{{.Name}}}} {{{{index .Labels \"{}\"}}}}",
        oqto_api::names::LABEL_NAMESPACE
    );
    let (_, listed) = podman(&[
        "volume",
        "ls",
        "--filter",
        &format!("label={}={workspace}", oqto_api::names::LABEL_WORKSPACE),
        "--format",
        &format,
    ]);
    listed
        .lines()
        .filter_map(|line| line.split_once(' '))
        .filter(|(_, in_namespace)| *in_namespace == namespace)
        .map(|(name, _)| name.to_owned())
        .collect()
}
