//! The runner's activity report (pi-bridge `/activity`), for idle suspend.

pub use crate::core::idle::Activity;

/// Asks the runner at `base` (`http://host:port`); None when it does not answer (then it is not
/// idle: it may be starting).
pub async fn fetch_from(http: &reqwest::Client, base: &str) -> Option<Activity> {
    let response = http.get(format!("{base}/activity")).send().await.ok()?;
    response.error_for_status().ok()?.json().await.ok()
}

/// The same for a pod IP and port.
pub async fn fetch(http: &reqwest::Client, pod_ip: &str, port: u16) -> Option<Activity> {
    let host = if pod_ip.contains(':') {
        format!("[{pod_ip}]")
    } else {
        pod_ip.to_owned()
    };
    fetch_from(http, &format!("http://{host}:{port}")).await
}
