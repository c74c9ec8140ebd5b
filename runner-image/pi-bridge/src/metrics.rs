//! Prometheus metrics of the bridge, served on `/metrics` in the OpenMetrics text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabel {
    pub channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StartLabel {
    /// `ahead` (the Pi started before the first command, adopted) or `on_demand`.
    pub how: String,
}

/// Every metric the bridge exports.
pub struct Metrics {
    registry: Registry,
    pub frames_received: Family<ChannelLabel, Counter>,
    pub frames_sent: Family<ChannelLabel, Counter>,
    pub frames_rejected: Family<ReasonLabel, Counter>,
    pub pi_events: Counter,
    pub pi_restarts: Counter,
    pub pi_starts: Family<StartLabel, Counter>,
    pub connected_clients: Gauge,
    /// Seconds from reading a Pi stdout line to queueing its canonical event for the socket.
    pub translate_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pi_bridge");
        let frames_received = Family::<ChannelLabel, Counter>::default();
        let frames_sent = Family::<ChannelLabel, Counter>::default();
        let frames_rejected = Family::<ReasonLabel, Counter>::default();
        let pi_events = Counter::default();
        let pi_restarts = Counter::default();
        let pi_starts = Family::<StartLabel, Counter>::default();
        let connected_clients = Gauge::default();
        let translate_seconds = Histogram::new(exponential_buckets(1e-6, 4.0, 10));
        registry.register(
            "frames_received",
            "WebSocket frames received, by channel",
            frames_received.clone(),
        );
        registry.register(
            "frames_sent",
            "WebSocket frames sent, by channel",
            frames_sent.clone(),
        );
        registry.register(
            "frames_rejected",
            "Frames answered with an error, by reason",
            frames_rejected.clone(),
        );
        registry.register(
            "pi_events",
            "Events read from Pi's stdout",
            pi_events.clone(),
        );
        registry.register(
            "pi_restarts",
            "Pi processes restarted after dying or stalling",
            pi_restarts.clone(),
        );
        registry.register(
            "pi_starts",
            "Pi processes a conversation began with: adopted from the one started ahead, or started on demand",
            pi_starts.clone(),
        );
        registry.register(
            "connected_clients",
            "Open WebSocket connections",
            connected_clients.clone(),
        );
        registry.register(
            "translate_seconds",
            "Time from a Pi stdout line to its canonical event being queued",
            translate_seconds.clone(),
        );
        Self {
            registry,
            frames_received,
            frames_sent,
            frames_rejected,
            pi_events,
            pi_restarts,
            pi_starts,
            connected_clients,
            translate_seconds,
        }
    }

    pub fn received(&self, channel: &str) {
        self.frames_received
            .get_or_create(&ChannelLabel {
                channel: channel.to_owned(),
            })
            .inc();
    }

    pub fn sent(&self, channel: &str) {
        self.frames_sent
            .get_or_create(&ChannelLabel {
                channel: channel.to_owned(),
            })
            .inc();
    }

    pub fn rejected(&self, reason: &str) {
        self.frames_rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// A conversation's Pi began: `ahead` when it was the one started before the first command.
    pub fn pi_started(&self, ahead: bool) {
        let how = if ahead { "ahead" } else { "on_demand" };
        self.pi_starts
            .get_or_create(&StartLabel {
                how: how.to_owned(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_appear_in_the_exposition() {
        let m = Metrics::new();
        m.received("agent");
        m.received("agent");
        m.rejected("bad_json");
        m.translate_seconds.observe(0.000_02);
        m.pi_started(true);
        let text = m.render();
        assert!(
            text.contains(r#"pi_bridge_pi_starts_total{how="ahead"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"pi_bridge_frames_received_total{channel="agent"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"pi_bridge_frames_rejected_total{reason="bad_json"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("pi_bridge_translate_seconds_count 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
