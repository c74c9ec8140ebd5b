//! Session start in single-node mode, end to end through a running stack (`hack/up.sh`): a
//! Session created over REST until the gateway reports it `Running`, and until the first
//! streamed text of a prompt sent right then. 10 Sessions, one after another, in one Workspace
//! (its volumes exist after the first). Prints p50/p95; never pass/fail.
//!
//! `hack/up.sh && cargo bench -p oqto-e2e --bench stack_session_start`
//! ($OQTO_STACK_URL or $OQTO_PORT, $OQTO_HOME as for hack/up.sh; $OQTO_BENCH_STARTS, default 10,
//! 5 with OQTO_BENCH_QUICK). `hack/bench.sh` runs it and records its figures.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A bench that cannot set up has nothing to report.

use std::time::{Duration, Instant};

use oqto_bench::Figure;
use oqto_e2e::mux::{MuxClient, is_event};
use serde_json::{Value, json};

fn summary(name: &str, mut times: Vec<Duration>) {
    Figure::latency("stack_session_start", name, &times).record();
    times.sort();
    let at = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{name:<48} p50 {:>10.2?}  p95 {:>10.2?}",
        at(0.50),
        at(0.95)
    );
}

#[tokio::main]
async fn main() {
    let starts = oqto_bench::count("OQTO_BENCH_STARTS", 10, 5);
    let port = std::env::var("OQTO_PORT").unwrap_or_else(|_| "8080".into());
    let url =
        std::env::var("OQTO_STACK_URL").unwrap_or_else(|_| format!("http://127.0.0.1:{port}"));
    let home = std::env::var("OQTO_HOME")
        .unwrap_or_else(|_| format!("{}/.local/share/oqto", std::env::var("HOME").unwrap()));
    let password = std::fs::read_to_string(format!("{home}/admin-password"))
        .expect("no stack: run hack/up.sh first");
    let http = reqwest::Client::new();
    let call =
        |method: reqwest::Method, path: String, token: Option<String>, body: Option<Value>| {
            let mut request = http.request(method, format!("{url}{path}"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(&body);
            }
            async move {
                let response = request.send().await.unwrap();
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                assert!(status.is_success(), "{status} {body}");
                body
            }
        };
    let login = call(
        reqwest::Method::POST,
        "/api/auth/login".into(),
        None,
        Some(json!({"username":"admin","password":password.trim()})),
    )
    .await;
    let token = login["token"].as_str().unwrap().to_owned();
    let workspace = format!("bench-{}", std::process::id());
    call(
        reqwest::Method::POST,
        "/api/workspaces".into(),
        Some(token.clone()),
        Some(json!({"name": workspace})),
    )
    .await;
    let ws_url = format!("{}/api/ws/mux", url.replacen("http://", "ws://", 1));
    let mut mux = MuxClient::connect(&ws_url, Some(&token)).await.unwrap();
    let (mut running, mut first_text) = (Vec::new(), Vec::new());
    for n in 0..starts {
        let session = format!("{workspace}-s{n}");
        let started = Instant::now();
        call(
            reqwest::Method::POST,
            format!("/api/workspaces/{workspace}/sessions"),
            Some(token.clone()),
            Some(json!({"name": session})),
        )
        .await;
        loop {
            let got = call(
                reqwest::Method::GET,
                format!("/api/workspaces/{workspace}/sessions/{session}"),
                Some(token.clone()),
                None,
            )
            .await;
            if got["status"]["phase"] == "Running" {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(180), "{got}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        running.push(started.elapsed());
        mux.create_session(&session).await.unwrap();
        mux.send(json!({"channel":"agent","session_id":session,"id":"p","cmd":"prompt","message":"hello"}))
            .await
            .unwrap();
        mux.until(|f| is_event(f, "stream.text_delta"))
            .await
            .unwrap();
        first_text.push(started.elapsed());
        mux.until(|f| is_event(f, "agent.idle")).await.unwrap();
    }
    println!("single-node session start, {starts} sessions, through the gateway");
    summary("REST create -> phase Running", running);
    summary("REST create -> first streamed text of a prompt", first_text);
    call(
        reqwest::Method::DELETE,
        format!("/api/workspaces/{workspace}"),
        Some(token),
        None,
    )
    .await;
}
