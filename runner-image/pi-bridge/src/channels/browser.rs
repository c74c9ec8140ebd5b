//! The `browser` channel of one connection. Control operations never wait behind input: a
//! busy page (a renderer spinning) can hold up input, but `release_control` and `unwatch` are
//! applied as they arrive, `take_control` too (its page connection follows in the control
//! worker, with `watch`). Input goes to the browser in order through a bounded queue of its
//! own, in which mouse moves are coalesced once it is more than a few deep.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use oqto_proto::mux::{BrowserEvent, BrowserMouseEvent, BrowserRequest};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::browser::{BrowserHub, NO_BROWSER};
use crate::mux::outbound::Outbound;

/// `watch` and `take_control` waiting to connect to the page.
const CONTROL_QUEUE: usize = 16;
/// Input waiting for the browser.
pub const INPUT_QUEUE: usize = 128;
/// Queue depth from which a mouse move replaces the move queued last instead of queueing.
pub const COALESCE_MOVES_AFTER: usize = 3;

/// The reader's handle on the channel: it submits each request, never waiting.
pub struct BrowserChannel {
    hub: Arc<BrowserHub>,
    connection: u64,
    out: Outbound,
    control: mpsc::Sender<BrowserRequest>,
    input: Arc<InputQueue>,
    /// Whether the last of this connection's `watch`/`unwatch` was a `watch`.
    watching: Arc<AtomicBool>,
}

#[derive(Default)]
struct InputQueue {
    items: Mutex<VecDeque<BrowserRequest>>,
    ready: Notify,
}

impl InputQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<BrowserRequest>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl BrowserChannel {
    /// The channel of `connection`, and its two workers (control and input).
    pub fn spawn(
        hub: Arc<BrowserHub>,
        connection: u64,
        out: Outbound,
    ) -> (Self, [JoinHandle<()>; 2]) {
        let (control, control_rx) = mpsc::channel(CONTROL_QUEUE);
        let input = Arc::new(InputQueue::default());
        let watching = Arc::new(AtomicBool::new(false));
        let workers = [
            tokio::spawn(control_worker(
                hub.clone(),
                connection,
                control_rx,
                out.clone(),
                watching.clone(),
            )),
            tokio::spawn(input_worker(
                hub.clone(),
                connection,
                input.clone(),
                out.clone(),
            )),
        ];
        let channel = Self {
            hub,
            connection,
            out,
            control,
            input,
            watching,
        };
        (channel, workers)
    }

    /// Applies or queues `request`; false when its queue is full (the caller refuses it).
    pub fn submit(&self, request: BrowserRequest) -> bool {
        if !self.hub.enabled() {
            self.out.browser(BrowserEvent::Error {
                id: request.id().map(str::to_owned),
                error: NO_BROWSER.into(),
            });
            return true;
        }
        match request {
            BrowserRequest::Unwatch { .. } => {
                self.watching.store(false, Ordering::SeqCst);
                self.hub.unwatch(self.connection);
                true
            }
            BrowserRequest::ReleaseControl { .. } => {
                self.hub.release_control(self.connection, &self.out);
                true
            }
            BrowserRequest::TakeControl { .. } => {
                // In control at once, so that the input sent right after is taken; the
                // page connection (if there is none yet) follows. A full control queue
                // only skips that: input connects too.
                self.hub.take_control(self.connection, &self.out);
                let _ = self.control.try_send(request);
                true
            }
            BrowserRequest::Watch { .. } => {
                self.watching.store(true, Ordering::SeqCst);
                self.control.try_send(request).is_ok()
            }
            input => {
                let queued = enqueue(&mut self.input.lock(), input);
                if queued {
                    self.input.ready.notify_one();
                }
                queued
            }
        }
    }
}

/// Queues one input operation: refused (false) when the queue is full; a mouse move replaces
/// the move queued last once the queue is `COALESCE_MOVES_AFTER` deep (only the latest pointer
/// position matters to a page that is behind).
pub fn enqueue(queue: &mut VecDeque<BrowserRequest>, request: BrowserRequest) -> bool {
    if is_move(&request)
        && queue.len() >= COALESCE_MOVES_AFTER
        && let Some(last) = queue.back_mut()
        && is_move(last)
    {
        *last = request;
        return true;
    }
    if queue.len() >= INPUT_QUEUE {
        return false;
    }
    queue.push_back(request);
    true
}

fn is_move(request: &BrowserRequest) -> bool {
    matches!(
        request,
        BrowserRequest::Mouse {
            event: BrowserMouseEvent::Move,
            ..
        }
    )
}

async fn control_worker(
    hub: Arc<BrowserHub>,
    connection: u64,
    mut rx: mpsc::Receiver<BrowserRequest>,
    out: Outbound,
    watching: Arc<AtomicBool>,
) {
    while let Some(request) = rx.recv().await {
        let id = request.id().map(str::to_owned);
        match request {
            BrowserRequest::Watch { .. } => hub.watch(connection, &out, id, &watching).await,
            BrowserRequest::TakeControl { .. } => hub.ensure_page(connection, &out, id).await,
            _ => {}
        }
    }
}

async fn input_worker(
    hub: Arc<BrowserHub>,
    connection: u64,
    queue: Arc<InputQueue>,
    out: Outbound,
) {
    loop {
        let next = queue.lock().pop_front();
        match next {
            Some(request) => hub.input(connection, &out, request).await,
            None => queue.ready.notified().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oqto_proto::mux::BrowserKeyEvent;

    fn mouse(event: BrowserMouseEvent, x: f64) -> BrowserRequest {
        BrowserRequest::Mouse {
            id: None,
            event,
            x,
            y: 0.0,
            button: None,
            click_count: None,
            modifiers: None,
            delta_x: None,
            delta_y: None,
        }
    }

    fn key() -> BrowserRequest {
        BrowserRequest::Key {
            id: None,
            event: BrowserKeyEvent::Down,
            key: "a".into(),
            code: None,
            text: Some("a".into()),
            modifiers: None,
        }
    }

    fn x(request: &BrowserRequest) -> f64 {
        match request {
            BrowserRequest::Mouse { x, .. } => *x,
            _ => f64::NAN,
        }
    }

    #[test]
    fn moves_queue_in_order_while_the_queue_is_short() {
        let mut queue = VecDeque::new();
        for n in 0..COALESCE_MOVES_AFTER {
            assert!(enqueue(
                &mut queue,
                mouse(BrowserMouseEvent::Move, n as f64)
            ));
        }
        assert_eq!(queue.len(), COALESCE_MOVES_AFTER);
    }

    #[test]
    fn moves_coalesce_to_the_latest_when_the_queue_is_deep() {
        let mut queue = VecDeque::new();
        for n in 0..1000 {
            assert!(enqueue(
                &mut queue,
                mouse(BrowserMouseEvent::Move, f64::from(n))
            ));
        }
        assert_eq!(
            queue.len(),
            COALESCE_MOVES_AFTER,
            "a burst of moves stays short"
        );
        assert_eq!(x(queue.back().unwrap()), 999.0, "the latest position wins");
        // A press is never coalesced, and the moves after it queue behind it.
        assert!(enqueue(&mut queue, mouse(BrowserMouseEvent::Down, 5.0)));
        assert!(enqueue(&mut queue, mouse(BrowserMouseEvent::Move, 6.0)));
        assert!(enqueue(&mut queue, mouse(BrowserMouseEvent::Move, 7.0)));
        let order: Vec<f64> = queue.iter().map(x).collect();
        assert_eq!(order[COALESCE_MOVES_AFTER..], [5.0, 7.0]);
    }

    #[test]
    fn other_input_is_refused_once_the_queue_is_full() {
        let mut queue = VecDeque::new();
        for _ in 0..INPUT_QUEUE {
            assert!(enqueue(&mut queue, key()));
        }
        assert!(!enqueue(&mut queue, key()), "full: refused, not queued");
        assert_eq!(queue.len(), INPUT_QUEUE);
    }
}
