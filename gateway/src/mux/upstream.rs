//! One client's connection to one session's runner (pi-bridge): opened on the first frame
//! for that session, waking the session when it is suspended, and opened again after the
//! runner went away. A frame goes straight from the client's loop to the runner's socket when
//! that is immediate (connected, nothing queued ahead of it, room in the socket's buffer): no
//! task in between. Otherwise it waits in the link's queues for the link's task; agent frames
//! have their own queue and go first, so a burst of file operations never holds a prompt or an
//! abort back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use oqto_proto::canonical::{AgentPhase, EventKind};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

use oqto_proto::mux::{Envelope, PEER_SILENCE, Refusal, SessionName};

use super::budget::{Outbound, Reserved, SessionSlot};
use super::frame;
use super::out::{ClientOut, Outgoing};
use super::reach;
use crate::state::AppState;
#[cfg(test)]
use serde_json::Value;

/// Frames waiting for one session, per queue. Full → the client gets "busy".
pub const AGENT_QUEUE: usize = 256;
pub const OTHER_QUEUE: usize = 128;
/// Largest frame accepted from a runner (file reads can be large).
const MAX_RUNNER_FRAME: usize = 256 * 1024 * 1024;

pub struct Queued {
    pub text: String,
    pub envelope: Envelope,
    /// The frame's bytes in the user's budget, given back once it is written to the runner.
    pub _reserved: Reserved,
}

/// The client's side of a session link; dropping it closes the runner connection.
pub struct Link {
    pub agent: mpsc::Sender<Queued>,
    pub other: mpsc::Sender<Queued>,
    direct: Arc<Direct>,
    task: JoinHandle<()>,
    _slot: SessionSlot,
}

/// The runner's socket while connected, shared by the link's task and the client's loop.
#[derive(Default)]
struct Direct {
    sink: tokio::sync::Mutex<Option<SplitSink<Runner, Message>>>,
    /// Frames queued for the link's task and not yet written by it: a direct write may not
    /// overtake them.
    queued: AtomicUsize,
    /// A direct write left bytes in the socket's buffer: the task flushes them.
    flush: Notify,
}

impl Link {
    /// Writes `text` to the runner now, if that needs no waiting: the socket is connected and
    /// free, nothing is queued ahead, and its buffer takes the frame. `false`: queue it.
    pub fn try_direct(&self, text: &str) -> bool {
        let Ok(mut guard) = self.direct.sink.try_lock() else {
            return false;
        };
        if self.direct.queued.load(Ordering::Acquire) != 0 {
            return false;
        }
        let Some(sink) = guard.as_mut() else {
            return false;
        };
        // Polled once, without waiting: whatever would wait goes the queued way instead.
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        if !matches!(sink.poll_ready_unpin(&mut cx), Poll::Ready(Ok(()))) {
            return false;
        }
        if sink
            .start_send_unpin(Message::Text(text.to_owned().into()))
            .is_err()
        {
            // Broken: the task reconnects, and the frame goes the queued way.
            *guard = None;
            return false;
        }
        match sink.poll_flush_unpin(&mut cx) {
            Poll::Ready(Ok(())) => true,
            Poll::Pending => {
                self.direct.flush.notify_one();
                true
            }
            Poll::Ready(Err(_)) => {
                *guard = None;
                false
            }
        }
    }

    /// Counts a frame about to be queued (see `Direct::queued`); `unqueued` if it was not.
    pub fn queueing(&self) {
        self.direct.queued.fetch_add(1, Ordering::AcqRel);
    }

    pub fn unqueued(&self, frames: usize) {
        self.direct.queued.fetch_sub(frames, Ordering::AcqRel);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Runner = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub fn spawn(
    session: SessionName,
    state: Arc<AppState>,
    out: ClientOut,
    outbound: Outbound,
    slot: SessionSlot,
) -> Link {
    let (agent, agent_rx) = mpsc::channel(AGENT_QUEUE);
    let (other, other_rx) = mpsc::channel(OTHER_QUEUE);
    let queues = (agent_rx, other_rx);
    let direct = Arc::new(Direct::default());
    let task = tokio::spawn(run(session, state, queues, direct.clone(), out, outbound));
    Link {
        agent,
        other,
        direct,
        task,
        _slot: slot,
    }
}

async fn run(
    session: SessionName,
    state: Arc<AppState>,
    (mut agent_rx, mut other_rx): (mpsc::Receiver<Queued>, mpsc::Receiver<Queued>),
    direct: Arc<Direct>,
    out: ClientOut,
    outbound: Outbound,
) {
    let mut pending: Option<Queued> = None;
    loop {
        if pending.is_none() {
            // Connect lazily: only when there is something to deliver.
            pending = tokio::select! {
                biased;
                frame = agent_rx.recv() => frame,
                frame = other_rx.recv() => frame,
            };
            if pending.is_none() {
                return;
            }
        }
        let runner = match connect(&session, &state, &out).await {
            Ok(runner) => runner,
            Err(error) => {
                // Everything waiting gets the same answer; later frames try again.
                let mut refused: Vec<Queued> = pending.take().into_iter().collect();
                while let Ok(frame) = agent_rx.try_recv() {
                    refused.push(frame);
                }
                while let Ok(frame) = other_rx.try_recv() {
                    refused.push(frame);
                }
                direct.queued.fetch_sub(refused.len(), Ordering::AcqRel);
                for frame in refused {
                    if out
                        .send(frame::refusal(&frame.envelope.refuse(error.clone())).into())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                continue;
            }
        };
        let (sink, stream) = runner.split();
        *direct.sink.lock().await = Some(sink);
        // Stops with this task (the link dropped), not only when the runner closes.
        let mut reader = AbortOnDrop(tokio::spawn(forward_runner_frames(
            stream,
            session.clone(),
            out.clone(),
            outbound.clone(),
        )));
        loop {
            let next = match pending.take() {
                Some(frame) => Some(frame),
                None => tokio::select! {
                    biased;
                    _ = &mut reader.0 => break,
                    _ = direct.flush.notified() => {
                        let mut guard = direct.sink.lock().await;
                        let flushed = match guard.as_mut() {
                            Some(sink) => sink.flush().await.is_ok(),
                            None => false,
                        };
                        if flushed {
                            continue;
                        }
                        break;
                    }
                    frame = agent_rx.recv() => frame,
                    frame = other_rx.recv() => frame,
                },
            };
            let Some(frame) = next else {
                // The client is gone.
                drop(reader);
                if let Some(mut sink) = direct.sink.lock().await.take() {
                    let _ = sink.close().await;
                }
                return;
            };
            let mut guard = direct.sink.lock().await;
            let sent = match guard.as_mut() {
                Some(sink) => sink
                    .send(Message::Text(frame.text.clone().into()))
                    .await
                    .is_ok(),
                None => false,
            };
            if !sent {
                // Not delivered: it goes out first on the next connection.
                pending = Some(frame);
                drop(guard);
                drop(reader);
                break;
            }
            // Written while the socket is held: a direct write after this one follows it.
            direct.queued.fetch_sub(1, Ordering::AcqRel);
        }
        *direct.sink.lock().await = None;
        let closed = Refusal::system(
            Some(session.clone()),
            format!(
                "the connection to the runner of session {session} closed; send session.create again to re-attach"
            ),
        );
        if out.send(frame::refusal(&closed).into()).await.is_err() {
            return;
        }
    }
}

/// Runner → client: the frames that name the session, unchanged. A runner silent for
/// `PEER_SILENCE` (it pings every `PING_EVERY`) is gone: its pod vanished without closing
/// the connection, and the client is told so instead of waiting forever.
async fn forward_runner_frames<E>(
    mut stream: impl futures::Stream<Item = Result<Message, E>> + Unpin,
    session: SessionName,
    out: ClientOut,
    outbound: Outbound,
) {
    while let Ok(Some(message)) = tokio::time::timeout(PEER_SILENCE, stream.next()).await {
        match message {
            Ok(Message::Text(text)) => {
                if !frame::from_runner(text.as_str(), &session) {
                    continue;
                }
                // Waits while the client is behind: the runner is read no further meanwhile.
                let Some(reserved) = outbound.reserve(text.len()).await else {
                    return;
                };
                let outgoing = Outgoing::Frame(text.as_str().to_owned(), Some(reserved));
                if out.send(outgoing).await.is_err() {
                    return;
                }
            }
            Ok(Message::Close(_)) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The runner's WebSocket, once the session can take frames (`reach`: waking it when
/// suspended, waiting while it starts, the route followed while it changes).
async fn connect(
    session: &SessionName,
    state: &AppState,
    out: &ClientOut,
) -> Result<Runner, String> {
    let mut gateway = Gateway {
        session,
        state,
        out,
    };
    reach::reach(session, &state.routes, &mut gateway).await
}

/// What `reach` does through this gateway: the store for wakes, the client for progress, the
/// runner's token for dials.
struct Gateway<'a> {
    session: &'a SessionName,
    state: &'a AppState,
    out: &'a ClientOut,
}

impl reach::Reacher for Gateway<'_> {
    type Runner = Runner;

    async fn wake(&mut self) -> Result<(), String> {
        self.state
            .resources
            .set_suspended(self.session.as_str(), false)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn starting(&mut self) {
        let starting = frame::agent_event(
            self.session,
            EventKind::AgentWorking {
                phase: AgentPhase::Initializing,
                detail: Some("starting the session's runner".into()),
            },
        );
        let _ = self.out.send(starting.into()).await;
    }

    async fn dial(&mut self, url: &str, uid: &str) -> Result<Runner, String> {
        let session = self.session;
        let mut config = WebSocketConfig::default();
        config.max_message_size = Some(MAX_RUNNER_FRAME);
        config.max_frame_size = Some(MAX_RUNNER_FRAME);
        // The runner serves only who presents its token; pages and other processes get nothing.
        let mut request = url
            .into_client_request()
            .map_err(|e| format!("the runner address of session {session} is invalid: {e}"))?;
        let bearer = self.state.runner_key.token(uid).bearer();
        request.headers_mut().insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&bearer).map_err(|e| e.to_string())?,
        );
        // No Nagle: stream deltas are small frames that must not wait for each other.
        connect_async_with_config(request, Some(config), true)
            .await
            .map(|(runner, _)| runner)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mux::budget::{Budgets, Limits};

    fn outbound() -> Outbound {
        let budgets = Budgets::new(Limits {
            connections: 1,
            sessions: 1,
            queued_bytes: 1 << 20,
        });
        budgets.hold("alice").unwrap().outbound()
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_runner_counts_as_gone() {
        let (out, mut frames) = crate::mux::out::testing::client_out(4);
        let silent = futures::stream::pending::<Result<Message, ()>>();
        let started = tokio::time::Instant::now();
        forward_runner_frames(silent, SessionName::parse("s1").unwrap(), out, outbound()).await;
        assert_eq!(started.elapsed(), PEER_SILENCE);
        assert!(frames.recv().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn runner_frames_of_the_session_pass_and_pings_keep_the_connection() {
        let (out, mut frames) = crate::mux::out::testing::client_out(4);
        let ping = || Ok::<_, ()>(Message::text(r#"{"channel":"system","type":"ping"}"#));
        let stream = futures::stream::iter([
            ping(),
            Ok(Message::text(
                r#"{"channel":"files","session_id":"s2","type":"stat_result"}"#,
            )),
            Ok(Message::text(
                r#"{"channel":"files","session_id":"s1","type":"stat_result"}"#,
            )),
            ping(),
        ])
        .chain(futures::stream::pending());
        let session = SessionName::parse("s1").unwrap();
        let task = tokio::spawn(forward_runner_frames(
            Box::pin(stream),
            session,
            out,
            outbound(),
        ));
        let passed: Value = serde_json::from_str(&frames.recv().await.unwrap()).unwrap();
        assert_eq!(passed["session_id"], "s1", "the frame for s2 was dropped");
        task.await.unwrap();
    }
}
