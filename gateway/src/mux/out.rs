//! The client's side of the socket, written to directly by whoever has a frame for it: the
//! connection's own loop (refusals), each session link's runner reader, the pinger. One writer
//! at a time (a fair lock), and no task in between: a runner's frame goes from the runner's
//! socket to the client's without another hop. A client that does not read holds back only the
//! writers waiting for it (its own runners), and each holds at most the one frame it has, whose
//! bytes its budget (`budget::Outbound`) counts.

use std::pin::Pin;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message};
use futures::{Sink, SinkExt};

use super::budget::Reserved;

/// What goes to the client: a frame, with the bytes it holds in the connection's budget until
/// it is written, or the close of the connection.
pub enum Outgoing {
    Frame(String, Option<Reserved>),
    Close(u16, String),
}

impl From<String> for Outgoing {
    fn from(text: String) -> Self {
        Self::Frame(text, None)
    }
}

type BoxSink = Pin<Box<dyn Sink<Message, Error = ()> + Send>>;

/// The client is gone (or the connection was closed): nothing more can be sent.
#[derive(Debug)]
pub struct Gone;

#[derive(Clone)]
pub struct ClientOut(Arc<tokio::sync::Mutex<Option<BoxSink>>>);

impl ClientOut {
    pub fn new<S, E>(sink: S) -> Self
    where
        S: Sink<Message, Error = E> + Send + 'static,
    {
        Self(Arc::new(tokio::sync::Mutex::new(Some(Box::pin(
            sink.sink_map_err(|_| ()),
        )))))
    }

    /// Writes one frame (or the close); `Gone` once the client cannot be written to.
    pub async fn send(&self, outgoing: Outgoing) -> Result<(), Gone> {
        let mut guard = self.0.lock().await;
        let sink = guard.as_mut().ok_or(Gone)?;
        let result = match outgoing {
            // The reservation goes when the frame is written.
            Outgoing::Frame(text, _reserved) => sink.send(Message::Text(text.into())).await,
            Outgoing::Close(code, reason) => {
                let close = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                let _ = sink.send(Message::Close(Some(close))).await;
                let _ = sink.close().await;
                Err(())
            }
        };
        if result.is_err() {
            *guard = None;
            return Err(Gone);
        }
        Ok(())
    }

    /// Closes the socket (once; later sends are `Gone`).
    pub async fn close(&self) {
        if let Some(mut sink) = self.0.lock().await.take() {
            let _ = sink.close().await;
        }
    }
}

#[cfg(test)]
pub mod testing {
    use super::*;
    use futures::StreamExt;

    /// A `ClientOut` whose frames arrive as text on the returned receiver.
    pub fn client_out(capacity: usize) -> (ClientOut, tokio::sync::mpsc::Receiver<String>) {
        let (sink, mut messages) = futures::channel::mpsc::channel::<Message>(capacity);
        let (texts, received) = tokio::sync::mpsc::channel(capacity.max(1));
        tokio::spawn(async move {
            while let Some(message) = messages.next().await {
                if let Message::Text(text) = message
                    && texts.send(text.as_str().to_owned()).await.is_err()
                {
                    return;
                }
            }
        });
        (ClientOut::new(sink), received)
    }

    #[tokio::test]
    async fn frames_arrive_in_order_and_a_close_ends_the_connection() {
        let (out, mut received) = client_out(4);
        out.send("a".to_owned().into()).await.unwrap();
        out.send("b".to_owned().into()).await.unwrap();
        assert_eq!(received.recv().await.as_deref(), Some("a"));
        assert_eq!(received.recv().await.as_deref(), Some("b"));
        assert!(out.send(Outgoing::Close(1000, "bye".into())).await.is_err());
        assert!(out.send("c".to_owned().into()).await.is_err(), "closed");
    }
}
