//! The screencast's bounds: Chrome sends the next frame only after the previous one is
//! acknowledged, so holding acks back caps the frame rate; and each watcher's frames are
//! metered by a byte budget, so a slow or distant client drops frames instead of queueing them.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::mux::outbound::Outbound;

/// Bytes of frames one connection may receive per second (and at once).
pub const BYTES_PER_SECOND: f64 = 1024.0 * 1024.0;
/// Browser-channel frames already waiting for a connection's socket beyond which a screencast
/// frame is dropped: a stale frame is worth nothing, a queue of them is memory. Other channels'
/// frames (the agent streaming text) do not count: they would starve the screencast.
pub const MAX_QUEUED_FRAMES: usize = 4;
/// The frame rate when none is configured, and its bounds.
pub const DEFAULT_FPS: u32 = 4;
pub const MAX_FPS: u32 = 10;

/// `Page.startScreencast`'s parameters. `maxFramesInFlight` (honoured by Chrome, missing from
/// older protocol docs) keeps one frame at most waiting for its ack.
pub fn start_params() -> Value {
    json!({
        "format": "jpeg",
        "quality": 55,
        "maxWidth": 1280,
        "maxHeight": 800,
        "maxFramesInFlight": 1,
    })
}

/// The time between acks for `fps` frames per second (clamped to 1..=MAX_FPS).
pub fn ack_interval(fps: u32) -> Duration {
    Duration::from_secs(1) / fps.clamp(1, MAX_FPS)
}

/// When to acknowledge a frame that arrived `now`, the previous ack having gone at `last`.
pub fn next_ack(last: Option<Instant>, now: Instant, interval: Duration) -> Instant {
    match last {
        Some(last) => (last + interval).max(now),
        None => now,
    }
}

/// A token bucket of bytes, refilled continuously.
#[derive(Debug)]
pub struct ByteBudget {
    tokens: f64,
    refilled: Instant,
}

impl ByteBudget {
    pub fn new(now: Instant) -> Self {
        Self {
            tokens: BYTES_PER_SECOND,
            refilled: now,
        }
    }

    /// Takes `bytes` if the budget has them; false (and nothing taken) otherwise.
    pub fn take(&mut self, bytes: usize, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * BYTES_PER_SECOND).min(BYTES_PER_SECOND);
        self.refilled = now;
        let bytes = bytes as f64;
        if bytes > self.tokens {
            return false;
        }
        self.tokens -= bytes;
        true
    }
}

/// Whether a frame of `bytes` may go to a watcher now: its budget has the bytes and its socket
/// is keeping up.
pub fn admit(budget: &mut ByteBudget, out: &Outbound, bytes: usize, now: Instant) -> bool {
    out.queued_browser() < MAX_QUEUED_FRAMES && budget.take(bytes, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oqto_proto::canonical::{Event, EventKind};
    use oqto_proto::mux::{BrowserEvent, SessionName};

    #[tokio::test]
    async fn other_channels_traffic_does_not_starve_the_screencast() {
        let (out, _rx) = Outbound::new(1, SessionName::parse("s").unwrap());
        for ts in 0..50 {
            out.send_event(&Event {
                session_id: "s".into(),
                runner_id: "r".into(),
                ts,
                kind: EventKind::AgentIdle {
                    message_version: None,
                },
            });
        }
        let now = Instant::now();
        let mut budget = ByteBudget::new(now);
        assert!(admit(&mut budget, &out, 1000, now), "agent text queued");
        for _ in 0..MAX_QUEUED_FRAMES {
            out.browser(BrowserEvent::Error {
                id: None,
                error: "frame".into(),
            });
        }
        assert!(
            !admit(&mut budget, &out, 1000, now),
            "the client is behind on browser frames"
        );
    }

    #[test]
    fn the_budget_refills_at_its_rate_and_never_beyond_one_second() {
        let start = Instant::now();
        let mut budget = ByteBudget::new(start);
        assert!(budget.take(600 * 1024, start));
        assert!(!budget.take(600 * 1024, start), "over budget: dropped");
        let later = start + Duration::from_millis(200);
        assert!(
            budget.take(600 * 1024, later),
            "424 KiB left + 200 ms of refill"
        );
        let much_later = start + Duration::from_secs(60);
        assert!(
            !budget.take(1024 * 1024 + 1, much_later),
            "one second's worth at most"
        );
    }

    #[test]
    fn acks_are_spaced_by_the_frame_interval() {
        let now = Instant::now();
        let interval = ack_interval(4);
        assert_eq!(interval, Duration::from_millis(250));
        assert_eq!(next_ack(None, now, interval), now);
        assert_eq!(next_ack(Some(now), now, interval), now + interval);
        let late = now + Duration::from_secs(1);
        assert_eq!(next_ack(Some(now), late, interval), late);
        assert_eq!(ack_interval(0), Duration::from_secs(1));
        assert_eq!(ack_interval(100), Duration::from_millis(100));
    }

    #[test]
    fn the_screencast_is_jpeg_at_most_1280_by_800_one_frame_in_flight() {
        let params = start_params();
        assert_eq!(params["format"], "jpeg");
        assert_eq!(params["quality"], 55);
        assert_eq!(
            (params["maxWidth"].clone(), params["maxHeight"].clone()),
            (json!(1280), json!(800))
        );
        assert_eq!(params["maxFramesInFlight"], 1);
    }
}
