//! `hstry`: serves the chat history of one workspace over gRPC until SIGTERM or Ctrl-C.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use oqto_hstry::listen::ListenAddr;
use oqto_hstry::server::{Listener, serve};
use oqto_hstry::store::Store;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "hstry",
    about = "The runner's chat-history gRPC service (SQLite + FTS5)."
)]
struct Args {
    /// The SQLite database, on the workspace's storage so history outlives the pod.
    #[arg(long, env = "HSTRY_DB")]
    db: PathBuf,
    /// `unix:/path/to.sock` or `tcp:127.0.0.1:PORT` (loopback only).
    #[arg(long, env = "HSTRY_LISTEN")]
    listen: ListenAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    if let Some(dir) = args.db.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the database directory {}", dir.display()))?;
    }
    let store = Store::open(&args.db).with_context(|| format!("opening {}", args.db.display()))?;
    tracing::info!(db = %args.db.display(), "database ready");
    let listener = Listener::bind(&args.listen).await?;
    serve(listener, store, shutdown_signal()).await
}

/// Resolves on SIGTERM (how Kubernetes and Podman stop a container) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
