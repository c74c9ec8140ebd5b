//! The run as one Markdown table: readable in a terminal and pasted as is into BENCHMARKS.md.

use std::fmt::Write;

use crate::{Figure, Run, Unit};

/// A number in its unit, milliseconds past a second shown as seconds.
pub fn format(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Ms if value >= 1000.0 => format!("{:.2} s", value / 1000.0),
        Unit::Us if value >= 1000.0 => format(value / 1000.0, Unit::Ms),
        Unit::Ms | Unit::Us | Unit::Seconds | Unit::Mib | Unit::Kib if value < 10.0 => {
            format!("{value:.2} {}", unit.suffix())
        }
        Unit::PerSecond => format!("{value:.0}{}", unit.suffix()),
        _ => format!("{value:.1} {}", unit.suffix()),
    }
}

/// "p50 / p95 / p99", or the single value.
pub fn figure_cell(figure: &Figure) -> String {
    if let Some(value) = figure.value {
        return format(value, figure.unit);
    }
    [figure.p50, figure.p95, figure.p99]
        .iter()
        .map(|v| v.map_or("–".into(), |v| format(v, figure.unit)))
        .collect::<Vec<_>>()
        .join(" / ")
}

pub fn render(run: &Run) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} run of {} on {} cores ({}), {} MiB, {}\n",
        if run.quick { "Quick" } else { "Full" },
        run.commit,
        run.machine.cores,
        run.machine.cpu,
        run.machine.memory_mib,
        run.date
    );
    out.push_str(
        "| bench | what | figure: p50 / p95 / p99, or value | reference (same run): p50 or value | ratio | target |\n",
    );
    out.push_str("|---|---|---|---|---|---|\n");
    for figure in &run.figures {
        let reference = figure
            .reference
            .as_deref()
            .map(|what| match run.find(&figure.bench, what) {
                Some(r) => format!(
                    "{what}: {}",
                    r.headline().map_or("–".into(), |v| format(v, r.unit))
                ),
                None => format!("{what}: not measured"),
            })
            .unwrap_or_default();
        let ratio = run
            .ratio(figure)
            .map(|r| format!("{r:.2}×"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            figure.bench,
            figure.what,
            figure_cell(figure),
            reference,
            ratio,
            figure.target.as_deref().unwrap_or("")
        );
    }
    for failed in &run.failed {
        let _ = writeln!(out, "\nnot finished: {failed}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::sample;

    #[test]
    fn numbers_read_in_their_unit() {
        assert_eq!(format(1990.0, Unit::Ms), "1.99 s");
        assert_eq!(format(289.4, Unit::Ms), "289.4 ms");
        assert_eq!(format(4.5, Unit::Ms), "4.50 ms");
        assert_eq!(format(1500.0, Unit::Us), "1.50 ms");
        assert_eq!(format(31.25, Unit::Mib), "31.2 MiB");
        assert_eq!(format(12345.6, Unit::PerSecond), "12346/s");
    }

    #[test]
    fn a_row_gives_the_figure_its_reference_and_their_ratio() {
        let floor = Figure::distribution("runner_start", "floor", Unit::Ms, vec![1000.0; 3]);
        let cold = Figure::distribution("runner_start", "cold", Unit::Ms, vec![2000.0, 2500.0])
            .against("floor")
            .target("≤ 1.5 × floor");
        let lost = Figure::value("relay", "via nginx", Unit::Mib, 3.0).against("direct");
        let mut run = sample(vec![floor, cold, lost]);
        run.failed.push("operator_scale: no control plane".into());
        let table = render(&run);
        assert!(
            table.contains(
                "| runner_start | cold | 2.00 s / 2.50 s / 2.50 s | floor: 1.00 s | 2.00× | ≤ 1.5 × floor |"
            ),
            "{table}"
        );
        assert!(table.contains("| direct: not measured |  |"), "{table}");
        assert!(table.contains("not finished: operator_scale"), "{table}");
        assert!(
            table.starts_with("Quick run of abc1234 on 2 cores (AMD EPYC)"),
            "{table}"
        );
    }
}
