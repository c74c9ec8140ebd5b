//! The runner's activity report (pi-bridge `/activity`), for idle suspend.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Activity {
    pub busy: bool,
    pub connected_clients: u64,
    pub last_activity_ms: i64,
}

/// Asks the runner; None when it does not answer (it is not idle then: it may be starting).
pub async fn fetch(http: &reqwest::Client, pod_ip: &str, port: u16) -> Option<Activity> {
    let host = if pod_ip.contains(':') {
        format!("[{pod_ip}]")
    } else {
        pod_ip.to_owned()
    };
    let response = http
        .get(format!("http://{host}:{port}/activity"))
        .send()
        .await
        .ok()?;
    response.error_for_status().ok()?.json().await.ok()
}
