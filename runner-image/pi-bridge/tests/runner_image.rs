//! The runner image as Podman runs it: built from the offline base (runner-image/build.sh), it
//! answers /healthz and completes a prompt round trip with the real Pi inside, against the
//! scripted LLM on the host.
//!
//! $OQTO_RUNNER_IMAGE names an image already built (hack/test.sh builds it once); without it the
//! test builds the image itself, which takes minutes. Podman missing is a failure, not a skip.
//! The container shares the host's network so it reaches the scripted LLM on loopback.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use common::{Client, TOKEN, is_event, repo_root};
use oqto_scripted_llm::{Script, ScriptedLlm};
use serde_json::json;

fn image() -> String {
    if let Ok(image) = std::env::var("OQTO_RUNNER_IMAGE") {
        return image;
    }
    let output = Command::new(repo_root().join("runner-image/build.sh"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("runner-image/build.sh runs");
    assert!(output.status.success(), "building the runner image failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Removes the container however the test ends.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        // -v: the image's VOLUMEs this test does not mount became anonymous volumes; they go
        // with the container instead of piling up on the host.
        let _ = Command::new("podman")
            .args(["rm", "-f", "-v", "-t", "2", &self.0])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_serves_healthz_and_a_prompt_round_trip() {
    let image = image();
    let script: Script = serde_json::from_value(json!({"rules":[
        {"when_user_contains":"hello","steps":[{"kind":"text","chunks":["Hello from ", "the container."]}]}
    ]}))
    .unwrap();
    let llm = ScriptedLlm::spawn(script, "127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    std::fs::write(
        agent_dir.join("models.json"),
        oqto_scripted_llm::models_json(&llm.base_url()).to_string(),
    )
    .unwrap();
    // The runner runs as uid 1000: it must be able to create Pi's session directory here.
    Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(dir.path())
        .status()
        .unwrap();

    let port = free_port();
    let name = format!("oqto-runner-test-{port}");
    let run = Command::new("podman")
        .args(["run", "-d", "--name", &name, "--network", "host"])
        .args(["-e", &format!("PI_BRIDGE_LISTEN=127.0.0.1:{port}")])
        .args([
            "-e",
            "PI_BRIDGE_PROVIDER=scripted",
            "-e",
            "PI_BRIDGE_MODEL=scripted",
            "-e",
            "PI_BRIDGE_SESSION=s",
        ])
        .args(["-e", &format!("PI_BRIDGE_TOKEN={TOKEN}")])
        .arg("-v")
        .arg(format!("{}:/home/oqto/.pi/agent:Z", agent_dir.display()))
        .arg(&image)
        .output()
        .expect("podman runs");
    assert!(
        run.status.success(),
        "podman run: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let _container = Container(name.clone());

    let health = format!("http://127.0.0.1:{port}/healthz");
    let mut healthy = false;
    for _ in 0..120 {
        if let Ok(response) = reqwest::get(&health).await
            && response.status().is_success()
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if !healthy {
        let logs = Command::new("podman")
            .args(["logs", &name])
            .output()
            .unwrap();
        panic!(
            "no /healthz within 60 s; container logs:\n{}{}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr)
        );
    }

    let mut client = Client::connect(&format!("ws://127.0.0.1:{port}/ws")).await;
    client.create_session("s").await;
    let response = client
        .command("s", "p1", "prompt", json!({"message":"hello"}))
        .await;
    assert_eq!(response["success"], true, "{response}");
    let frames = client.until(|f| is_event(f, "agent.idle")).await;
    let text: String = frames
        .iter()
        .filter(|f| is_event(f, "stream.text_delta"))
        .filter_map(|f| f["delta"].as_str())
        .collect();
    assert_eq!(text, "Hello from the container.");
    assert_eq!(
        frames.last().unwrap()["message_version"]["message_count"],
        2,
        "history written by hstry in the container"
    );
}
