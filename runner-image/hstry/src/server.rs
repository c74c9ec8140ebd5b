//! Binding and serving: the gRPC services plus gRPC health on a Unix socket or loopback TCP,
//! until a shutdown future resolves. Binding is separate from serving so that a caller knows
//! the address is live (and, for `tcp:…:0`, which port it got) before it starts clients.

use std::future::Future;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use oqto_proto::hstry::read_service_server::ReadServiceServer;
use oqto_proto::hstry::search_service_server::SearchServiceServer;
use oqto_proto::hstry::write_service_server::WriteServiceServer;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::oneshot;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::server::NamedService;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::listen::ListenAddr;
use crate::service::Hstry;
use crate::store::{SharedStore, Store};

/// Owner and group may dial the socket: the bridge runs as the runner's user.
const SOCKET_MODE: u32 = 0o660;
/// How long running calls may take to finish once shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A bound listening socket.
pub enum Listener {
    Unix {
        listener: UnixListener,
        path: PathBuf,
    },
    Tcp(TcpListener),
}

impl Listener {
    pub async fn bind(addr: &ListenAddr) -> anyhow::Result<Self> {
        match addr {
            ListenAddr::Unix(path) => {
                remove_stale_socket(path)?;
                let listener = UnixListener::bind(path)
                    .with_context(|| format!("binding unix socket {}", path.display()))?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
                    .with_context(|| format!("setting the mode of {}", path.display()))?;
                Ok(Self::Unix {
                    listener,
                    path: path.clone(),
                })
            }
            ListenAddr::Tcp(addr) => Ok(Self::Tcp(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {addr}"))?,
            )),
        }
    }

    /// Where clients reach this listener (the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<ListenAddr> {
        match self {
            Self::Unix { path, .. } => Ok(ListenAddr::Unix(path.clone())),
            Self::Tcp(listener) => Ok(ListenAddr::Tcp(listener.local_addr()?)),
        }
    }
}

/// A socket file left by a previous run that died would make bind fail; anything that is not
/// a socket is someone else's file and stays.
fn remove_stale_socket(path: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .with_context(|| format!("removing stale socket {}", path.display())),
        Ok(_) => anyhow::bail!("{} exists and is not a socket", path.display()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("checking {}", path.display())),
    }
}

/// Serves the store on `listener` until `shutdown` resolves, then reports NOT_SERVING, lets
/// running calls finish (for at most [`SHUTDOWN_GRACE`]) and, for a Unix socket, removes the
/// socket file.
pub async fn serve(
    listener: Listener,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let service = Hstry::new(SharedStore::new(store));
    let (health, health_service) = tonic_health::server::health_reporter();
    set_status(&health, ServingStatus::Serving).await;
    let (signalled, grace_starts) = oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        tracing::info!("shutting down");
        set_status(&health, ServingStatus::NotServing).await;
        let _ = signalled.send(());
    };
    // A client that stops reading (it never answers HTTP/2's GOAWAY ping) would otherwise hold
    // the shutdown forever.
    let grace_over = async {
        if grace_starts.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let router = Server::builder()
        .add_service(health_service)
        .add_service(WriteServiceServer::new(service.clone()))
        .add_service(ReadServiceServer::new(service.clone()))
        .add_service(SearchServiceServer::new(service));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(listen = %addr, "hstry serving");
    }
    let (served, socket_path) = match listener {
        Listener::Unix { listener, path } => {
            let incoming = UnixListenerStream::new(listener);
            let serving = router.serve_with_incoming_shutdown(incoming, shutdown);
            (within_grace(serving, grace_over).await, Some(path))
        }
        Listener::Tcp(listener) => {
            let incoming = TcpListenerStream::new(listener);
            let serving = router.serve_with_incoming_shutdown(incoming, shutdown);
            (within_grace(serving, grace_over).await, None)
        }
    };
    if let Some(path) = socket_path
        && let Err(err) = std::fs::remove_file(&path)
    {
        tracing::warn!(socket = %path.display(), error = %err, "could not remove socket");
    }
    Ok(served?)
}

async fn within_grace(
    serving: impl Future<Output = Result<(), tonic::transport::Error>>,
    grace_over: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    tokio::select! {
        served = serving => served,
        () = grace_over => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "clients still connected; closing anyway");
            Ok(())
        }
    }
}

async fn set_status(health: &HealthReporter, status: ServingStatus) {
    health
        .set_service_status(WriteServiceServer::<Hstry>::NAME, status)
        .await;
    health
        .set_service_status(ReadServiceServer::<Hstry>::NAME, status)
        .await;
    health
        .set_service_status(SearchServiceServer::<Hstry>::NAME, status)
        .await;
    // "" is the server as a whole, what a plain `grpc_health_probe` asks for.
    health.set_service_status("", status).await;
}
