//! Binding and serving: the gRPC services plus gRPC health on a Unix socket or loopback TCP,
//! until a shutdown future resolves. Binding is separate from serving so that a caller knows
//! the address is live (and, for `tcp:…:0`, which port it got) before it starts clients.

use std::future::Future;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::time::Duration;

use anyhow::Context;
use oqto_proto::hstry::read_service_server::ReadServiceServer;
use oqto_proto::hstry::search_service_server::SearchServiceServer;
use oqto_proto::hstry::write_service_server::WriteServiceServer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::oneshot;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tokio_stream::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::transport::Server;
use tonic::transport::server::{Connected, Router};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::closable_io::ClosableIo;
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

/// Serves the store on `listener` until `shutdown` resolves, then reports NOT_SERVING and lets
/// running calls finish for at most [`SHUTDOWN_GRACE`]. Returns once every connection is
/// closed and, for a Unix socket, the socket file is removed.
pub async fn serve(
    listener: Listener,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with_grace(listener, store, shutdown, SHUTDOWN_GRACE).await
}

/// [`serve`] with a chosen grace period: connections still open `grace` after `shutdown`
/// resolved are cut (a client that stopped reading never completes HTTP/2's goodbye).
pub async fn serve_with_grace(
    listener: Listener,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
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
    let router = Server::builder()
        .add_service(health_service)
        .add_service(WriteServiceServer::new(service.clone()))
        .add_service(ReadServiceServer::new(service.clone()))
        .add_service(SearchServiceServer::new(service));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(listen = %addr, "hstry serving");
    }
    let shutdown = Shutdown {
        signal: shutdown,
        grace_starts,
        grace,
    };
    let (served, socket_path) = match listener {
        Listener::Unix { listener, path } => (
            serve_incoming(router, UnixListenerStream::new(listener), shutdown).await,
            Some(path),
        ),
        Listener::Tcp(listener) => (
            serve_incoming(router, TcpListenerStream::new(listener), shutdown).await,
            None,
        ),
    };
    if let Some(path) = socket_path
        && let Err(err) = std::fs::remove_file(&path)
    {
        tracing::warn!(socket = %path.display(), error = %err, "could not remove socket");
    }
    Ok(served?)
}

/// When serving stops, and how long connections then have to close on their own.
struct Shutdown<F> {
    signal: F,
    /// Resolves once `signal` has resolved and health reports NOT_SERVING.
    grace_starts: oneshot::Receiver<()>,
    grace: Duration,
}

/// Serves `incoming` until the shutdown signal, then waits for the open connections, cutting
/// those still open when the grace period is over.
async fn serve_incoming<IO>(
    router: Router,
    incoming: impl Stream<Item = io::Result<IO>>,
    shutdown: Shutdown<impl Future<Output = ()>>,
) -> Result<(), tonic::transport::Error>
where
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
{
    let cut = CancellationToken::new();
    let incoming = {
        let cut = cut.clone();
        incoming.map(move |accepted| accepted.map(|io| ClosableIo::new(io, &cut)))
    };
    let mut serving = pin!(router.serve_with_incoming_shutdown(incoming, shutdown.signal));
    let grace_over = async {
        if shutdown.grace_starts.await.is_ok() {
            tokio::time::sleep(shutdown.grace).await;
        } else {
            // The signal was dropped unresolved: serving ended by itself.
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = &mut serving => return served,
        () = grace_over => {}
    }
    tracing::warn!(grace = ?shutdown.grace, "clients still connected; closing their connections");
    cut.cancel();
    // Cut connections end at their next poll, so this returns promptly, and only once no
    // connection task holds the store any more.
    serving.await
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
