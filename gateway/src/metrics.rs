//! Prometheus metrics of the gateway (`/metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    pub queue: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

pub struct Metrics {
    pub registry: Registry,
    pub connections: Gauge,
    frames_relayed: Family<QueueLabel, Counter>,
    frames_refused: Family<ReasonLabel, Counter>,
    pub logins_failed: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("oqto_gateway");
        let connections = Gauge::default();
        let frames_relayed = Family::<QueueLabel, Counter>::default();
        let frames_refused = Family::<ReasonLabel, Counter>::default();
        let logins_failed = Counter::default();
        registry.register(
            "mux_connections",
            "Open mux WebSocket connections",
            connections.clone(),
        );
        registry.register(
            "frames_relayed",
            "Client frames queued for a runner",
            frames_relayed.clone(),
        );
        registry.register(
            "frames_refused",
            "Client frames answered with an error, by reason",
            frames_refused.clone(),
        );
        registry.register(
            "logins_failed",
            "Failed or rate-limited logins",
            logins_failed.clone(),
        );
        Self {
            registry,
            connections,
            frames_relayed,
            frames_refused,
            logins_failed,
        }
    }

    pub fn relayed(&self, queue: &'static str) {
        self.frames_relayed
            .get_or_create(&QueueLabel { queue })
            .inc();
    }

    pub fn refused(&self, reason: &'static str) {
        self.frames_refused
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
