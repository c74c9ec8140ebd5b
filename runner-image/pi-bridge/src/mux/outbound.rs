//! The sending half of one WebSocket connection. Producers (conversations, terminals, file
//! workers) never wait for a slow client: a full queue drops the frame and counts it, and the
//! next agent event that fits is preceded by `stream.resync_required` so the client knows to
//! reload state instead of silently missing events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use oqto_proto::canonical::{Event, EventKind};
use oqto_proto::mux::{
    BrowserEvent, Channel, FilesEvent, HstryEvent, ServerFrame, SessionName, TerminalEvent,
};
use tokio::sync::mpsc;

/// Frames waiting for one client's socket.
pub const OUTBOUND_QUEUE: usize = 4096;

#[derive(Clone, Debug)]
pub struct Outbound {
    connection: u64,
    /// The bridge's Session: every frame of the files, terminal, hstry and browser channels
    /// names it.
    session: SessionName,
    tx: mpsc::Sender<ServerFrame>,
    dropped: Arc<AtomicU64>,
    /// Frames of the browser channel in the queue (the receiver counts them out).
    browser_queued: Arc<AtomicUsize>,
}

/// The receiving half: the connection's writer takes frames from it.
#[derive(Debug)]
pub struct OutboundRx {
    rx: mpsc::Receiver<ServerFrame>,
    browser_queued: Arc<AtomicUsize>,
}

impl OutboundRx {
    /// The next frame; `None` when every sender is gone. Cancel-safe.
    pub async fn recv(&mut self) -> Option<ServerFrame> {
        let frame = self.rx.recv().await;
        self.count_out(frame.as_ref());
        frame
    }

    pub fn try_recv(&mut self) -> Result<ServerFrame, mpsc::error::TryRecvError> {
        let frame = self.rx.try_recv();
        self.count_out(frame.as_ref().ok());
        frame
    }

    fn count_out(&self, frame: Option<&ServerFrame>) {
        if frame.is_some_and(|f| f.channel() == Channel::Browser) {
            self.browser_queued.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Outbound {
    pub fn new(connection: u64, session: SessionName) -> (Self, OutboundRx) {
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
        let browser_queued = Arc::new(AtomicUsize::new(0));
        let outbound = Self {
            connection,
            session,
            tx,
            dropped: Arc::default(),
            browser_queued: browser_queued.clone(),
        };
        (outbound, OutboundRx { rx, browser_queued })
    }

    /// The connection this queue belongs to.
    pub fn connection(&self) -> u64 {
        self.connection
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Frames (of every channel) waiting for the socket.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Browser-channel frames waiting for the socket: the screencast, whose frames go stale,
    /// sends nothing while the client is behind on them (other channels' traffic aside).
    pub fn queued_browser(&self) -> usize {
        self.browser_queued.load(Ordering::Relaxed)
    }

    /// Queues a frame; false when the client is gone or too slow (the frame is dropped).
    /// Every browser-channel frame is counted in here, whoever sends it (a refusal of a bad
    /// browser frame too), as the receiver counts every one out.
    pub fn send(&self, frame: ServerFrame) -> bool {
        let browser = frame.channel() == Channel::Browser;
        // Counted before it can be received (and counted out), uncounted when refused.
        if browser {
            self.browser_queued.fetch_add(1, Ordering::Relaxed);
        }
        let sent = match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        };
        if browser && !sent {
            self.browser_queued.fetch_sub(1, Ordering::Relaxed);
        }
        sent
    }

    pub fn files(&self, event: FilesEvent) -> bool {
        self.send(ServerFrame::files(&self.session, event))
    }

    pub fn terminal(&self, event: TerminalEvent) -> bool {
        self.send(ServerFrame::terminal(&self.session, event))
    }

    pub fn hstry(&self, event: HstryEvent) -> bool {
        self.send(ServerFrame::hstry(&self.session, event))
    }

    pub fn browser(&self, event: BrowserEvent) -> bool {
        self.send(ServerFrame::browser(&self.session, event))
    }

    /// Queues an agent event, first telling the client how many events it missed, if any.
    pub fn send_event(&self, event: &Event) -> bool {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let notice = Event {
                session_id: event.session_id.clone(),
                runner_id: event.runner_id.clone(),
                ts: event.ts,
                kind: EventKind::StreamResyncRequired {
                    dropped_count: dropped,
                    reason: "the client did not keep up; events were dropped".into(),
                },
            };
            if !self.send(ServerFrame::Agent(notice)) {
                // Still full: keep counting, including this notice's predecessors.
                self.dropped.fetch_add(dropped, Ordering::Relaxed);
                return false;
            }
        }
        self.send(ServerFrame::Agent(event.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64) -> Event {
        Event {
            session_id: "s".into(),
            runner_id: "r".into(),
            ts: n,
            kind: EventKind::AgentIdle {
                message_version: None,
            },
        }
    }

    #[tokio::test]
    async fn a_slow_client_gets_a_resync_notice_instead_of_blocking() {
        let (out, mut rx) = Outbound::new(1, SessionName::parse("s").unwrap());
        for n in 0..OUTBOUND_QUEUE as i64 {
            assert!(out.send_event(&event(n)));
        }
        assert!(!out.send_event(&event(-1)), "full: dropped, not awaited");
        assert!(!out.send_event(&event(-2)));
        // The client catches up.
        while rx.try_recv().is_ok() {}
        assert!(out.send_event(&event(7)));
        let notice = rx.try_recv().unwrap();
        match notice {
            ServerFrame::Agent(Event {
                kind: EventKind::StreamResyncRequired { dropped_count, .. },
                ..
            }) => assert_eq!(dropped_count, 2),
            other => panic!("expected a resync notice, got {other:?}"),
        }
        assert!(matches!(
            rx.try_recv().unwrap(),
            ServerFrame::Agent(Event { ts: 7, .. })
        ));
    }

    #[tokio::test]
    async fn browser_frames_are_counted_apart_from_the_other_channels() {
        let (out, mut rx) = Outbound::new(1, SessionName::parse("s").unwrap());
        for n in 0..100 {
            assert!(out.send_event(&event(n)));
        }
        assert_eq!(
            out.queued_browser(),
            0,
            "agent events are not browser frames"
        );
        for _ in 0..3 {
            assert!(out.browser(BrowserEvent::Error {
                id: None,
                error: "x".into(),
            }));
        }
        assert_eq!((out.queued(), out.queued_browser()), (103, 3));
        for _ in 0..100 {
            rx.recv().await.unwrap();
        }
        assert_eq!(out.queued_browser(), 3);
        rx.recv().await.unwrap();
        assert!(rx.try_recv().is_ok());
        assert_eq!(out.queued_browser(), 1);
    }

    /// A refusal of a bad browser frame goes out through `send`, not `browser`: counted in as
    /// well as out, so the count never wraps below zero (which froze the screencast).
    #[tokio::test]
    async fn a_browser_refusal_is_counted_in_and_out() {
        let (out, mut rx) = Outbound::new(1, SessionName::parse("s").unwrap());
        let refusal = oqto_proto::mux::Refusal {
            channel: Some(Channel::Browser),
            session_id: None,
            id: Some("b1".into()),
            op: Some("mouse".into()),
            error: "take control first".into(),
        };
        assert!(out.send(refusal.to_frame("runner")));
        assert_eq!(out.queued_browser(), 1);
        assert_eq!(rx.recv().await.unwrap().channel(), Channel::Browser);
        assert_eq!(out.queued_browser(), 0);
        assert!(out.browser(BrowserEvent::Error {
            id: None,
            error: "x".into(),
        }));
        assert_eq!(out.queued_browser(), 1);
    }
}
