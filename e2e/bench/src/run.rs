//! One run of `hack/bench.sh`: its figures with the commit, the machine and the date.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::Figure;

/// The machine a run measured on: figures only compare on like machines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_mib: u64,
    /// The CPU's model name, as /proc/cpuinfo gives it.
    #[serde(default)]
    pub cpu: String,
}

impl Machine {
    /// This machine, from the scheduler and /proc/meminfo.
    pub fn this() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let memory_mib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
                let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kib / 1024)
            })
            .unwrap_or(0);
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                let line = text.lines().find(|l| l.starts_with("model name"))?;
                Some(line.split_once(':')?.1.trim().to_owned())
            })
            .unwrap_or_default();
        Self {
            cores,
            memory_mib,
            cpu,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub commit: String,
    /// UTC, RFC 3339, as `date -u +%FT%TZ` gives it.
    pub date: String,
    pub machine: Machine,
    /// `--quick`: smaller counts than the issues name.
    pub quick: bool,
    /// Benchmarks that did not finish, with the reason (their figures may be missing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    pub figures: Vec<Figure>,
}

impl Run {
    /// Reads the figures benches appended to `records` (one JSON line each). A line that is not
    /// a figure is an error naming its line number: a run must not silently lose figures.
    pub fn figures_from(records: &Path) -> anyhow::Result<Vec<Figure>> {
        let text = std::fs::read_to_string(records)
            .with_context(|| format!("reading the records {}", records.display()))?;
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str::<Figure>(line)
                    .with_context(|| format!("{}:{}: not a figure", records.display(), i + 1))
            })
            .collect()
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the run {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a bench run", path.display()))
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }

    /// The figure `what` of `bench`.
    pub fn find(&self, bench: &str, what: &str) -> Option<&Figure> {
        self.figures
            .iter()
            .find(|f| f.bench == bench && f.what == what)
    }

    /// A figure's ratio to its reference (headline over headline), when both are there.
    pub fn ratio(&self, figure: &Figure) -> Option<f64> {
        let reference = self.find(&figure.bench, figure.reference.as_deref()?)?;
        let (value, base) = (figure.headline()?, reference.headline()?);
        (base > 0.0).then(|| value / base)
    }
}

/// A run on the bench machine of the tests, holding `figures`.
#[cfg(test)]
pub(crate) fn sample(figures: Vec<Figure>) -> Run {
    {
        Run {
            commit: "abc1234".into(),
            date: "2026-12-04T17:00:00Z".into(),
            machine: Machine {
                cores: 2,
                memory_mib: 24000,
                cpu: "AMD EPYC".into(),
            },
            quick: true,
            failed: Vec::new(),
            figures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Unit;

    #[test]
    fn a_ratio_divides_by_the_reference_of_the_same_bench_only() {
        let floor = Figure::distribution("start", "floor", Unit::Ms, vec![1000.0]);
        let cold = Figure::distribution("start", "cold", Unit::Ms, vec![2190.0]).against("floor");
        let other = Figure::distribution("other", "cold", Unit::Ms, vec![5.0]).against("floor");
        let run = sample(vec![floor, cold.clone(), other.clone()]);
        assert_eq!(run.ratio(&cold), Some(2.19));
        assert_eq!(run.ratio(&other), None, "no floor in bench `other`");
    }

    #[test]
    fn a_saved_run_names_its_commit_machine_and_date_and_loads_back_the_same() {
        let dir = std::env::temp_dir().join(format!("oqto-bench-save-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.json");
        let mut run = sample(vec![Figure::distribution(
            "b",
            "w",
            Unit::Ms,
            vec![1.0, 2.0],
        )]);
        run.failed.push("relay: exited".into());
        run.save(&path).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["commit"], "abc1234");
        assert_eq!(json["date"], "2026-12-04T17:00:00Z");
        assert_eq!(json["machine"]["cores"], 2);
        assert_eq!(json["machine"]["memory_mib"], 24000);
        assert_eq!(Run::load(&path).unwrap(), run);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_line_that_is_not_a_figure_is_named() {
        let dir = std::env::temp_dir().join(format!("oqto-bench-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("records.jsonl");
        let good = serde_json::to_string(&Figure::value("b", "w", Unit::Mib, 1.0)).unwrap();
        std::fs::write(&path, format!("{good}\n\n{{\"bench\":1}}\n")).unwrap();
        let error = format!("{:#}", Run::figures_from(&path).unwrap_err());
        assert!(error.contains("records.jsonl:3: not a figure"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
