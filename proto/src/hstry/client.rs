//! Dialling hstry at a [`ListenAddr`], for the bridge, the tests and the benchmark.

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use super::listen::ListenAddr;

/// A channel to hstry; the generated clients (`oqto_proto::hstry::*_client`) wrap it.
pub async fn connect(addr: &ListenAddr) -> Result<Channel, tonic::transport::Error> {
    match addr {
        ListenAddr::Tcp(socket) => {
            Endpoint::from_shared(format!("http://{socket}"))?
                .connect()
                .await
        }
        ListenAddr::Unix(path) => {
            let path = path.clone();
            // The URI is required by the API but unused: the connector dials the socket.
            Endpoint::from_static("http://hstry.invalid")
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move { UnixStream::connect(path).await.map(TokioIo::new) }
                }))
                .await
        }
    }
}

/// A channel that connects on first use and reconnects after hstry restarts: a client (the
/// bridge) can start before hstry is up.
pub fn connect_lazy(addr: &ListenAddr) -> Result<Channel, tonic::transport::Error> {
    let endpoint = match addr {
        ListenAddr::Tcp(socket) => Endpoint::from_shared(format!("http://{socket}"))?,
        ListenAddr::Unix(_) => Endpoint::from_static("http://hstry.invalid"),
    }
    .connect_timeout(std::time::Duration::from_secs(5));
    Ok(match addr {
        ListenAddr::Tcp(_) => endpoint.connect_lazy(),
        ListenAddr::Unix(path) => {
            let path = path.clone();
            endpoint.connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move { UnixStream::connect(path).await.map(TokioIo::new) }
            }))
        }
    })
}
