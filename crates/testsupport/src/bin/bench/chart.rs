//! SVG charts next to the results: ExternalSecrets Ready over time (S1) and RSS over N (S5), one line per
//! operator. plotters' SVG backend only: text is written as SVG `<text>`, no font files are read.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

const COLORS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

/// One line: its label and (x, y) points.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// S1: for each operator, how many ExternalSecrets are Ready `t` seconds after its process started.
pub fn ready_series(label: &str, sorted_ready: &[f64]) -> Series {
    let mut points = vec![(0.0, 0.0)];
    for (i, t) in sorted_ready.iter().enumerate() {
        points.push((*t, i as f64));
        points.push((*t, (i + 1) as f64));
    }
    Series { label: label.to_string(), points }
}

/// Writes a line chart of `series` to `path` (SVG).
pub fn line_chart(path: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<()> {
    let max = |f: fn(&(f64, f64)) -> f64| {
        series.iter().flat_map(|s| s.points.iter().map(f)).fold(0.0_f64, f64::max).max(1e-9) * 1.05
    };
    let (x_max, y_max) = (max(|p| p.0), max(|p| p.1));
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| err(&e))?;
    // Whole numbers on an axis that spans more than ten units (ExternalSecrets, seconds of a long run).
    let tick = |max: f64| move |v: &f64| if max > 10.0 { format!("{v:.0}") } else { format!("{v:.1}") };
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&tick(x_max))
        .y_label_formatter(&tick(y_max))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_svg_with_each_operators_label() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready.svg");
        let series = [ready_series("ours", &[0.5, 1.0, 2.0]), ready_series("eso", &[1.0, 3.0, 9.0])];
        line_chart(&path, "S1", "seconds", "Ready", &series).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("ours") && svg.contains("eso"));
    }
}
