//! Two runs side by side: each figure's headline (p50 or value) before and after, and the change.

use std::fmt::Write;

use crate::table::format;
use crate::{Better, Figure, Run};

/// A change smaller than this (either way) is called noise, not a regression: runs on a 2-core
/// machine move by a few percent from one run to the next.
pub const NOISE: f64 = 0.10;

/// What a change from `before` to `after` means, given which way is better.
pub fn verdict(before: f64, after: f64, better: Better) -> &'static str {
    if before <= 0.0 {
        return "";
    }
    let change = (after - before) / before;
    let improved = match better {
        Better::Lower => change < 0.0,
        Better::Higher => change > 0.0,
    };
    match (change.abs() > NOISE, improved) {
        (false, _) => "",
        (true, true) => "better",
        (true, false) => "WORSE",
    }
}

pub fn render(before: &Run, after: &Run) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}) -> {} ({})",
        before.commit, before.date, after.commit, after.date
    );
    if before.machine != after.machine || before.quick != after.quick {
        let _ = writeln!(
            out,
            "note: the runs differ in machine or counts ({} cores {}, {} cores {}): compare with care",
            before.machine.cores,
            if before.quick { "quick" } else { "full" },
            after.machine.cores,
            if after.quick { "quick" } else { "full" },
        );
    }
    out.push_str("\n| bench | what | before | after | change | |\n|---|---|---|---|---|---|\n");
    let cell = |f: Option<&Figure>| {
        f.and_then(|f| f.headline().map(|v| format(v, f.unit)))
            .unwrap_or_else(|| "–".into())
    };
    for figure in &after.figures {
        let old = before.find(&figure.bench, &figure.what);
        let (change, verdict) = match (old.and_then(Figure::headline), figure.headline()) {
            (Some(a), Some(b)) if a > 0.0 => (
                format!("{:+.1}%", (b - a) / a * 100.0),
                verdict(a, b, figure.better),
            ),
            (None, _) => ("new".into(), ""),
            _ => (String::new(), ""),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {change} | {verdict} |",
            figure.bench,
            figure.what,
            cell(old),
            cell(Some(figure))
        );
    }
    for gone in before
        .figures
        .iter()
        .filter(|f| after.find(&f.bench, &f.what).is_none())
    {
        let _ = writeln!(
            out,
            "| {} | {} | {} | – | not measured |  |",
            gone.bench,
            gone.what,
            cell(Some(gone))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Unit;
    use crate::run::sample;

    #[test]
    fn a_regression_is_named_in_the_direction_that_matters() {
        assert_eq!(verdict(100.0, 120.0, Better::Lower), "WORSE");
        assert_eq!(verdict(100.0, 120.0, Better::Higher), "better");
        assert_eq!(verdict(100.0, 80.0, Better::Higher), "WORSE");
        assert_eq!(verdict(100.0, 105.0, Better::Lower), "", "within noise");
        assert_eq!(verdict(0.0, 5.0, Better::Lower), "");
    }

    #[test]
    fn figures_are_matched_by_bench_and_what() {
        let before = sample(vec![
            Figure::distribution("relay", "gateway", Unit::Us, vec![100.0]),
            Figure::value("relay", "RSS", Unit::Mib, 40.0),
        ]);
        let mut after = sample(vec![
            Figure::distribution("relay", "gateway", Unit::Us, vec![150.0]),
            Figure::value("hstry", "writes", Unit::PerSecond, 9000.0).higher_is_better(),
        ]);
        after.quick = false;
        let text = render(&before, &after);
        assert!(
            text.contains("| relay | gateway | 100.0 µs | 150.0 µs | +50.0% | WORSE |"),
            "{text}"
        );
        assert!(
            text.contains("| hstry | writes | – | 9000/s | new |  |"),
            "{text}"
        );
        assert!(
            text.contains("| relay | RSS | 40.0 MiB | – | not measured |  |"),
            "{text}"
        );
        assert!(text.contains("compare with care"), "{text}");
    }
}
