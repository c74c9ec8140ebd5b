//! Two single-node stacks on one host each have a Podman API service of their own
//! (`hack/podman/service.sh`, keyed by `OQTO_PROJECT`): stopping one stack's service leaves the
//! other's answering. (Before, both shared one socket and one pid file, and the second stack's
//! `hack/down.sh` took the API away from the first.)
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

use std::process::Command;

fn service(project: &str, action: &str) -> String {
    let script = oqto_e2e::repo_root().join("hack/podman/service.sh");
    let out = Command::new(script)
        .arg(action)
        .env("OQTO_PROJECT", project)
        .env_remove("OQTO_PODMAN_SOCKET_PATH")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "service.sh {action} for {project}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn answers(socket: &str) -> bool {
    Command::new("curl")
        .args(["-fsS", "--max-time", "3", "--unix-socket", socket])
        .arg("http://d/v1.41/_ping")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Stops a test's services also when the test fails half-way.
struct Down(Vec<String>);

impl Drop for Down {
    fn drop(&mut self) {
        for project in &self.0 {
            let _ = Command::new(oqto_e2e::repo_root().join("hack/podman/service.sh"))
                .arg("down")
                .env("OQTO_PROJECT", project)
                .env_remove("OQTO_PODMAN_SOCKET_PATH")
                .status();
        }
    }
}

#[test]
fn each_stack_has_its_own_podman_service_and_stopping_one_keeps_the_other() {
    let (a, b) = (
        format!("oqto-svc-a{}", std::process::id()),
        format!("oqto-svc-b{}", std::process::id()),
    );
    let _down = Down(vec![a.clone(), b.clone()]);
    let socket_a = service(&a, "up");
    let socket_b = service(&b, "up");
    assert_ne!(socket_a, socket_b, "one socket per stack");
    assert!(answers(&socket_a) && answers(&socket_b));
    // `up` again reuses the stack's running service.
    assert_eq!(service(&a, "up"), socket_a);

    service(&b, "down");
    assert!(!answers(&socket_b), "b's service stopped");
    assert!(answers(&socket_a), "a's service is untouched by b's down");
    service(&a, "down");
    assert!(!answers(&socket_a));
}
