//! One headline figure of a benchmark, as it is recorded and reported.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How many samples a figure keeps for its plot.
pub const KEPT_SAMPLES: usize = 500;

/// The environment variable naming the file figures are appended to.
pub const RECORD_ENV: &str = "OQTO_BENCH_RECORD";

/// What a figure's numbers count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Milliseconds (latencies; samples too).
    Ms,
    /// Microseconds, for latencies far below a millisecond.
    Us,
    /// Kibibytes (memory per connection).
    Kib,
    /// Mebibytes (memory).
    Mib,
    /// Operations per second (throughput).
    PerSecond,
    /// Seconds (CPU time, long phases).
    Seconds,
}

impl Unit {
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::Us => "µs",
            Unit::Kib => "KiB",
            Unit::Mib => "MiB",
            Unit::PerSecond => "/s",
            Unit::Seconds => "s",
        }
    }
}

/// Which way a change is an improvement, for the comparison of two runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Latency, memory, CPU.
    #[default]
    Lower,
    /// Throughput.
    Higher,
}

impl Better {
    fn is_lower(&self) -> bool {
        *self == Better::Lower
    }
}

/// A figure: a distribution (p50/p95/p99 of its samples) or one value (memory, throughput).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// The benchmark's name (`runner_start`, `relay`, ...).
    pub bench: String,
    /// What was measured, unique within the bench; a reference is named by it.
    pub what: String,
    pub unit: Unit,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
    /// A single figure (memory, throughput); distributions leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The `what` of the figure in the same bench this one is compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Better::is_lower")]
    pub better: Better,
    /// A goal the issue named, in words ("p50 ≤ 300 ms"), shown beside the figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The plot this figure's distribution is drawn in (figures sharing it share the axes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plot: Option<String>,
    /// The samples, in `unit`, kept for the plots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<f64>,
}

impl Figure {
    /// A latency distribution from its samples, in milliseconds.
    pub fn latency(bench: &str, what: &str, times: &[Duration]) -> Self {
        let samples: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e3).collect();
        Self::distribution(bench, what, Unit::Ms, samples)
    }

    /// A latency distribution in microseconds (sub-millisecond paths).
    pub fn latency_us(bench: &str, what: &str, times: &[Duration]) -> Self {
        let samples: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e6).collect();
        Self::distribution(bench, what, Unit::Us, samples)
    }

    /// A distribution of samples in any unit.
    pub fn distribution(bench: &str, what: &str, unit: Unit, mut samples: Vec<f64>) -> Self {
        samples.retain(|s| s.is_finite());
        samples.sort_by(f64::total_cmp);
        Self {
            p50: percentile(&samples, 0.50),
            p95: percentile(&samples, 0.95),
            p99: percentile(&samples, 0.99),
            samples,
            ..Self::empty(bench, what, unit)
        }
        .thinned()
    }

    /// At most [`KEPT_SAMPLES`] of the (sorted) samples, evenly spaced by rank with the least
    /// and the greatest kept: the plots' curves look the same, and a run's JSON stays small
    /// (a bench timing 20 000 chunks would otherwise keep them all). The percentiles were
    /// taken from every sample before.
    pub fn thinned(mut self) -> Self {
        let n = self.samples.len();
        if n > KEPT_SAMPLES {
            let last = (n - 1) as f64;
            let step = last / (KEPT_SAMPLES - 1) as f64;
            self.samples = (0..KEPT_SAMPLES)
                .filter_map(|i| {
                    self.samples
                        .get((i as f64 * step).round() as usize)
                        .copied()
                })
                .collect();
        }
        self
    }

    /// One value (memory, throughput, CPU seconds).
    pub fn value(bench: &str, what: &str, unit: Unit, value: f64) -> Self {
        Self {
            value: Some(value),
            ..Self::empty(bench, what, unit)
        }
    }

    fn empty(bench: &str, what: &str, unit: Unit) -> Self {
        Self {
            bench: bench.into(),
            what: what.into(),
            unit,
            p50: None,
            p95: None,
            p99: None,
            value: None,
            reference: None,
            better: Better::Lower,
            target: None,
            plot: None,
            samples: Vec::new(),
        }
    }

    /// Compared with the figure `what` of the same bench.
    pub fn against(mut self, what: &str) -> Self {
        self.reference = Some(what.into());
        self
    }

    pub fn higher_is_better(mut self) -> Self {
        self.better = Better::Higher;
        self
    }

    pub fn target(mut self, goal: &str) -> Self {
        self.target = Some(goal.into());
        self
    }

    /// Drawn in the plot `name`, beside the other figures of that name.
    pub fn plotted_in(mut self, name: &str) -> Self {
        self.plot = Some(name.into());
        self
    }

    /// The number the table leads with and ratios use: the p50, or the value.
    pub fn headline(&self) -> Option<f64> {
        self.p50.or(self.value)
    }

    /// Appends this figure to `$OQTO_BENCH_RECORD`, if set. A bench that cannot record says
    /// so and goes on: its printed output still stands.
    pub fn record(&self) {
        let Ok(path) = std::env::var(RECORD_ENV) else {
            return;
        };
        if let Err(e) = self.record_to(Path::new(&path)) {
            eprintln!("could not record {:?} in {path}: {e}", self.what);
        }
    }

    /// Appends this figure to `path` as one JSON line.
    pub fn record_to(&self, path: &Path) -> std::io::Result<()> {
        let line = serde_json::to_string(self).map_err(std::io::Error::other)?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        // One write per line, so benches recording at once do not interleave.
        file.write_all(format!("{line}\n").as_bytes())
    }
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_of_the_sorted_samples() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let figure = Figure::distribution("b", "w", Unit::Ms, samples);
        assert_eq!(
            (figure.p50, figure.p95, figure.p99),
            (Some(50.0), Some(95.0), Some(99.0))
        );
        assert_eq!(
            figure.samples.first(),
            Some(&1.0),
            "samples are kept sorted"
        );
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn a_large_distribution_keeps_its_ends_and_percentiles_but_few_samples() {
        let samples: Vec<f64> = (1..=20_000).map(f64::from).collect();
        let figure = Figure::distribution("b", "w", Unit::Us, samples);
        assert_eq!(figure.samples.len(), KEPT_SAMPLES);
        assert_eq!(figure.samples.first(), Some(&1.0));
        assert_eq!(figure.samples.last(), Some(&20_000.0));
        assert_eq!(figure.p99, Some(19_800.0), "taken from every sample");
        assert!(
            figure.samples.windows(2).all(|w| w[0] <= w[1]),
            "still sorted"
        );
    }

    #[test]
    fn a_distribution_drops_samples_that_are_not_numbers() {
        let figure = Figure::distribution("b", "w", Unit::Ms, vec![f64::NAN, 2.0, f64::INFINITY]);
        assert_eq!(figure.samples, vec![2.0]);
        assert_eq!(figure.headline(), Some(2.0));
    }

    #[test]
    fn latencies_are_recorded_in_milliseconds_or_microseconds() {
        let times = [Duration::from_micros(1500)];
        assert_eq!(Figure::latency("b", "w", &times).p50, Some(1.5));
        assert_eq!(Figure::latency_us("b", "w", &times).p50, Some(1500.0));
    }

    #[test]
    fn a_figure_survives_its_json_line() {
        let figure = Figure::value("relay", "gateway RSS", Unit::Mib, 31.5)
            .against("at rest")
            .higher_is_better()
            .target("≤ 64 MiB")
            .plotted_in("memory");
        let line = serde_json::to_string(&figure).unwrap();
        assert_eq!(serde_json::from_str::<Figure>(&line).unwrap(), figure);
        assert!(!line.contains("samples"), "no empty sample list: {line}");
    }

    #[test]
    fn records_append_one_line_each() {
        let dir = std::env::temp_dir().join(format!("oqto-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("records.jsonl");
        let _ = std::fs::remove_file(&path);
        Figure::value("b", "one", Unit::Mib, 1.0)
            .record_to(&path)
            .unwrap();
        Figure::value("b", "two", Unit::Mib, 2.0)
            .record_to(&path)
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let whats: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<Figure>(l).unwrap().what)
            .collect();
        assert_eq!(whats, ["one", "two"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
