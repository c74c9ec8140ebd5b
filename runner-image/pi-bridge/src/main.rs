use std::io::Write;

use anyhow::Context;
use clap::Parser;
use oqto_pi_bridge::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::parse();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let delegate_listener = oqto_pi_bridge::app::bind_delegate_api(&config).await?;
    // Tests and the runner script read the first line to learn the port; tests of delegation
    // the second, when the delegate API is served. Both are bound before they are announced.
    let mut announce = format!("pi-bridge listening on http://{}\n", listener.local_addr()?);
    if let Some(delegate) = &delegate_listener {
        announce.push_str(&format!(
            "pi-bridge delegate API on http://{}\n",
            delegate.local_addr()?
        ));
    }
    // One write: a reader that takes the first line and closes the pipe must not make a second
    // write fail; and a closed stdout is no reason to stop serving.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(announce.as_bytes())
        .and_then(|()| stdout.flush());
    drop(stdout);
    oqto_pi_bridge::app::run_with(config, listener, delegate_listener, shutdown_signal()).await
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
