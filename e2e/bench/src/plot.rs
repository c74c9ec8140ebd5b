//! One SVG per plot group: the empirical distribution (CDF) of each figure's samples, so a
//! figure and its reference share the axes (start latency next to the floor, the relay next to
//! nginx and a direct connection).

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use plotters::prelude::*;

use crate::{Figure, Run};

/// Draws every plot group of `run` into `dir`, returning the files written.
pub fn draw(run: &Run, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut groups: Vec<&str> = run
        .figures
        .iter()
        .filter_map(|f| f.plot.as_deref())
        .collect();
    groups.dedup();
    groups.sort_unstable();
    groups.dedup();
    let mut written = Vec::new();
    for group in groups {
        let figures: Vec<&Figure> = run
            .figures
            .iter()
            .filter(|f| f.plot.as_deref() == Some(group) && !f.samples.is_empty())
            .collect();
        let Some(first) = figures.first() else {
            continue;
        };
        // One unit per axis: a figure in another unit would be drawn at the wrong scale.
        let figures: Vec<&Figure> = figures
            .iter()
            .copied()
            .filter(|f| f.unit == first.unit)
            .collect();
        let path = dir.join(format!("{}.svg", file_name(group)));
        let title = format!("{group} ({}, {})", run.commit, run.date);
        cdf(&path, &title, &figures).map_err(|e| anyhow!("drawing {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Colours told apart also in print and by most colour-blind readers (matplotlib's tab10).
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn file_name(group: &str) -> String {
    group
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn cdf(path: &Path, title: &str, figures: &[&Figure]) -> Result<(), Box<dyn std::error::Error>> {
    let unit = figures.first().map_or("", |f| f.unit.suffix());
    let most = figures
        .iter()
        .flat_map(|f| f.samples.last())
        .fold(0.0_f64, |a, &b| a.max(b));
    // Log scale: latency tails run an order of magnitude past the p50s being compared.
    let least = figures
        .iter()
        .flat_map(|f| f.samples.first())
        .fold(f64::MAX, |a, &b| a.min(b))
        .max(1e-3);
    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(
            (least * 0.8..(most * 1.25).max(least)).log_scale(),
            0.0..1.0,
        )?;
    chart
        .configure_mesh()
        .x_desc(format!("latency ({unit}, log scale)"))
        .y_desc("share of samples at or below")
        .draw()?;
    for (i, figure) in figures.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()].to_rgba();
        let n = figure.samples.len() as f64;
        // A step per sample: the share rises at each sample's value.
        let steps = figure
            .samples
            .iter()
            .enumerate()
            .flat_map(|(k, &x)| [(x, k as f64 / n), (x, (k + 1) as f64 / n)]);
        chart
            .draw_series(LineSeries::new(steps, color.stroke_width(2)))?
            .label(format!("{} (n = {})", figure.what, figure.samples.len()))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Unit;
    use crate::run::sample;

    #[test]
    fn each_group_is_one_svg_with_a_line_and_a_legend_per_figure() {
        let dir = std::env::temp_dir().join(format!("oqto-bench-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let run = sample(vec![
            Figure::distribution("s", "floor", Unit::Ms, vec![900.0, 1000.0, 1100.0])
                .plotted_in("start latency"),
            Figure::distribution("s", "cold", Unit::Ms, vec![2000.0, 2200.0])
                .plotted_in("start latency"),
            Figure::distribution("r", "relay", Unit::Us, vec![1.0]).plotted_in("relay"),
            Figure::value("r", "RSS", Unit::Mib, 3.0).plotted_in("relay"),
            Figure::distribution("r", "unplotted", Unit::Us, vec![1.0]),
        ]);
        let files = draw(&run, &dir).unwrap();
        assert_eq!(
            files,
            [dir.join("relay.svg"), dir.join("start-latency.svg")]
        );
        let svg = std::fs::read_to_string(dir.join("start-latency.svg")).unwrap();
        assert!(
            svg.contains("floor (n = 3)") && svg.contains("cold (n = 2)"),
            "{svg}"
        );
        assert!(
            svg.contains("latency (ms, log scale)"),
            "the axis names the unit"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
