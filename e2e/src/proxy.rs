//! TCP forwarders for tests: one that a test can cut and restore (what a client behind it sees
//! when the network to a server goes away, connections reset and new ones refused, and comes
//! back on the same address), and one in front of replicas that sends each connection to the
//! first that accepts it (what a Service does once a dead replica's endpoint is gone).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct CuttableProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    upstream: SocketAddr,
    serving: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl CuttableProxy {
    /// Forwards a free loopback port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut proxy = Self {
            addr: listener.local_addr()?,
            upstream,
            serving: None,
            connections: Arc::default(),
        };
        proxy.serve(listener);
        Ok(proxy)
    }

    fn serve(&mut self, listener: TcpListener) {
        let (upstream, connections) = (self.upstream, self.connections.clone());
        self.serving = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let forward = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                if let Ok(mut open) = connections.lock() {
                    open.retain(|c| !c.is_finished());
                    open.push(forward);
                }
            }
        }));
    }

    /// The network goes away: open connections drop, new ones are refused.
    pub fn cut(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.abort();
        }
        if let Ok(mut open) = self.connections.lock() {
            for connection in open.drain(..) {
                connection.abort();
            }
        }
    }

    /// The network is back, on the same address.
    pub async fn restore(&mut self) -> anyhow::Result<()> {
        self.cut();
        let listener = TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Each connection goes to the first of `upstreams` that accepts it; a connection whose
/// replica dies is dropped, as a Service's would be.
pub struct Failover {
    pub addr: SocketAddr,
    serving: JoinHandle<()>,
}

impl Failover {
    pub async fn start(upstreams: Vec<SocketAddr>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let serving = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstreams = upstreams.clone();
                tokio::spawn(async move {
                    for upstream in upstreams {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            return;
                        }
                    }
                });
            }
        });
        Ok(Self { addr, serving })
    }
}

impl Drop for Failover {
    fn drop(&mut self) {
        self.serving.abort();
    }
}
