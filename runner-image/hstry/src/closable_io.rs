//! Accepted connections that the server can cut off.
//!
//! tonic serves every connection on a task of its own and, on a graceful shutdown, waits until
//! each one has said goodbye (HTTP/2 GOAWAY answered by a PING). A client that stopped reading
//! never answers, so its connection (and the store it holds) would outlive `serve`. Wrapping
//! each accepted stream lets the server end such connections once the grace period is over:
//! reads see end-of-stream and writes fail, so hyper drops the connection and its task ends.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::transport::server::Connected;

/// A stream that behaves like `io` until `cut` is cancelled, and like a closed peer after.
pub struct ClosableIo<IO> {
    io: IO,
    cut: CancellationToken,
    /// Polled while the connection waits for I/O, so that cutting wakes it up.
    cut_signal: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<IO> ClosableIo<IO> {
    pub fn new(io: IO, cut: &CancellationToken) -> Self {
        Self {
            io,
            cut: cut.clone(),
            cut_signal: Box::pin(cut.clone().cancelled_owned()),
        }
    }

    /// Whether the connection is cut; otherwise registers the task to be woken when it is.
    fn poll_cut(&mut self, cx: &mut Context<'_>) -> bool {
        // Checked first so that a finished `cut_signal` is never polled again.
        self.cut.is_cancelled() || self.cut_signal.as_mut().poll(cx).is_ready()
    }
}

fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "hstry closed the connection: shutdown grace period over",
    )
}

impl<IO: AsyncRead + Unpin> AsyncRead for ClosableIo<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.poll_cut(cx) {
            // Nothing read: end of stream.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for ClosableIo<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.poll_cut(cx) {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.poll_cut(cx) {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.poll_cut(cx) {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.poll_cut(cx) {
            // Dropping the stream closes it; there is nobody left to flush for.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl<IO: Connected> Connected for ClosableIo<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn passes_bytes_through_until_cut() {
        let cut = CancellationToken::new();
        let (near, mut far) = tokio::io::duplex(64);
        let mut io = ClosableIo::new(near, &cut);
        io.write_all(b"ping").await.unwrap();
        let mut got = [0; 4];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        far.write_all(b"pong").await.unwrap();
        io.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"pong");
    }

    #[tokio::test]
    async fn cutting_ends_a_read_that_waits_for_a_silent_peer() {
        let cut = CancellationToken::new();
        // `_far` stays open and silent: without the cut this read would wait forever.
        let (near, _far) = tokio::io::duplex(64);
        let mut io = ClosableIo::new(near, &cut);
        let reader = tokio::spawn(async move {
            let mut buf = Vec::new();
            let read = io.read_to_end(&mut buf).await;
            (read.map_err(|err| err.kind()), io)
        });
        // Let the reader park on the silent stream before cutting.
        tokio::task::yield_now().await;
        cut.cancel();
        let (read, mut io) = reader.await.unwrap();
        assert_eq!(read, Ok(0), "a cut connection reads as end of stream");
        let write = io.write_all(b"late").await.unwrap_err();
        assert_eq!(write.kind(), io::ErrorKind::ConnectionAborted);
        assert!(io.flush().await.is_err());
        assert!(io.shutdown().await.is_ok());
    }

    #[tokio::test]
    async fn cutting_ends_a_write_blocked_on_a_full_peer() {
        let cut = CancellationToken::new();
        // A 4-byte pipe that nobody reads: the second write blocks.
        let (near, _far) = tokio::io::duplex(4);
        let mut io = ClosableIo::new(near, &cut);
        let writer =
            tokio::spawn(async move { io.write_all(&[0; 64]).await.map_err(|e| e.kind()) });
        tokio::task::yield_now().await;
        cut.cancel();
        assert_eq!(writer.await.unwrap(), Err(io::ErrorKind::ConnectionAborted));
    }
}
