//! The operator's Prometheus metrics: reconcile duration and failures by reason, Sessions by
//! phase, and how long Sessions take to start.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    pub controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabel {
    pub controller: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabel {
    pub phase: String,
}

pub struct Metrics {
    registry: Registry,
    pub reconcile_seconds: Family<ControllerLabel, Histogram>,
    pub reconcile_failures: Family<FailureLabel, Counter>,
    pub sessions: Family<PhaseLabel, Gauge>,
    pub session_start_seconds: Histogram,
    pub schedule_runs: Family<OutcomeLabel, Counter>,
    /// Last known phase per Session (namespace/name), from which `sessions` is computed.
    phases: Mutex<HashMap<String, String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("oqto_operator");
        let reconcile_seconds = Family::<ControllerLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 14))
        });
        let reconcile_failures = Family::<FailureLabel, Counter>::default();
        let sessions = Family::<PhaseLabel, Gauge>::default();
        let session_start_seconds = Histogram::new(exponential_buckets(0.5, 2.0, 12));
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            reconcile_seconds.clone(),
        );
        registry.register(
            "reconcile_failures",
            "Failed reconciles by reason",
            reconcile_failures.clone(),
        );
        registry.register("sessions", "Sessions by phase", sessions.clone());
        registry.register(
            "session_start_seconds",
            "From a Session's creation (or resume) to its runner being ready",
            session_start_seconds.clone(),
        );
        let schedule_runs = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "schedule_runs",
            "Finished or skipped Schedule runs by outcome",
            schedule_runs.clone(),
        );
        Self {
            registry,
            reconcile_seconds,
            reconcile_failures,
            sessions,
            session_start_seconds,
            schedule_runs,
            phases: Mutex::default(),
        }
    }

    pub fn observe_reconcile(&self, controller: &str, seconds: f64) {
        self.reconcile_seconds
            .get_or_create(&ControllerLabel {
                controller: controller.into(),
            })
            .observe(seconds);
    }

    pub fn schedule_run(&self, outcome: &str) {
        self.schedule_runs
            .get_or_create(&OutcomeLabel {
                outcome: outcome.into(),
            })
            .inc();
    }

    pub fn failed(&self, controller: &str, reason: &str) {
        self.reconcile_failures
            .get_or_create(&FailureLabel {
                controller: controller.into(),
                reason: reason.into(),
            })
            .inc();
    }

    /// Records a Session's phase (None: the Session is gone) and refreshes the per-phase gauge.
    pub fn session_phase(&self, key: &str, phase: Option<&str>) {
        let Ok(mut phases) = self.phases.lock() else {
            return;
        };
        match phase {
            Some(phase) => phases.insert(key.to_owned(), phase.to_owned()),
            None => phases.remove(key),
        };
        let mut counts: HashMap<&str, i64> = HashMap::new();
        for phase in phases.values() {
            *counts.entry(phase.as_str()).or_default() += 1;
        }
        for phase in [
            "Pending",
            "Starting",
            "Running",
            "Suspended",
            "Failed",
            "Terminating",
        ] {
            self.sessions
                .get_or_create(&PhaseLabel {
                    phase: phase.into(),
                })
                .set(counts.get(phase).copied().unwrap_or(0));
        }
    }

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
    fn sessions_are_counted_by_their_last_phase() {
        let metrics = Metrics::new();
        metrics.session_phase("ns/a", Some("Running"));
        metrics.session_phase("ns/b", Some("Running"));
        metrics.session_phase("ns/a", Some("Suspended"));
        metrics.session_phase("ns/b", None);
        metrics.failed("session", "ApiError");
        let text = metrics.render();
        assert!(
            text.contains(r#"oqto_operator_sessions{phase="Suspended"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"oqto_operator_sessions{phase="Running"} 0"#),
            "{text}"
        );
        assert!(text.contains(r#"oqto_operator_reconcile_failures_total{controller="session",reason="ApiError"} 1"#), "{text}");
    }
}
