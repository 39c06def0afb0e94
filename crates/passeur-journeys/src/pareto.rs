//! The league's Pareto plot: bookings against diversification points per young person, one point per
//! policy with its 95 % intervals on both axes, the non-dominated policies joined, and the target's
//! corner (≥ +25 % points, ≥ −5 % bookings against the baseline) drawn. Plotted by `plotters` as SVG.

use crate::error::{JourneyError, Result};
use crate::league_run::PolicySummary;
use plotters::prelude::*;

fn plot_error(e: impl std::fmt::Display) -> JourneyError {
    JourneyError::Engine(format!("drawing the Pareto plot: {e}"))
}

/// The policies no other policy beats on both bookings and points (by their means), by bookings.
pub fn frontier(summaries: &[PolicySummary]) -> Vec<usize> {
    let xy: Vec<(f64, f64)> = summaries
        .iter()
        .map(|s| (s.get("bookings").map_or(f64::NAN, |e| e.mean), s.get("points").map_or(f64::NAN, |e| e.mean)))
        .collect();
    let mut out: Vec<usize> = (0..xy.len())
        .filter(|&i| {
            xy[i].0.is_finite()
                && !xy
                    .iter()
                    .enumerate()
                    .any(|(j, &(x, y))| j != i && x >= xy[i].0 && y >= xy[i].1 && (x > xy[i].0 || y > xy[i].1))
        })
        .collect();
    out.sort_by(|&a, &b| xy[a].0.total_cmp(&xy[b].0));
    out
}

/// A policy's point: name, bookings and its half-width, points and its half-width.
type Point = (String, f64, f64, f64, f64);

/// The plot as an SVG document.
pub fn pareto_svg(title: &str, summaries: &[PolicySummary], baseline: &str) -> Result<String> {
    let points: Vec<Point> = summaries
        .iter()
        .filter_map(|s| {
            let (b, p) = (s.get("bookings")?, s.get("points")?);
            let hw = |h: f64| if h.is_finite() { h } else { 0.0 };
            Some((s.policy.clone(), b.mean, hw(b.half_width), p.mean, hw(p.half_width)))
        })
        .collect();
    if points.is_empty() {
        return Err(JourneyError::Config { field: "summaries".into(), reason: "no policy to plot".into() });
    }
    let lo = |v: &dyn Fn(&Point) -> f64| points.iter().map(v).fold(f64::INFINITY, f64::min);
    let hi = |v: &dyn Fn(&Point) -> f64| points.iter().map(v).fold(f64::NEG_INFINITY, f64::max);
    let (x0, x1) = (lo(&|p| p.1 - p.2), hi(&|p| p.1 + p.2));
    let (y0, y1) = (lo(&|p| p.3 - p.4), hi(&|p| p.3 + p.4));
    let pad = |a: f64, b: f64| ((b - a).max(1e-6)) * 0.08;
    let (px, py) = (pad(x0, x1), pad(y0, y1));
    let base = summaries.iter().find(|s| s.policy == baseline);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (820, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d((x0 - px)..(x1 + 3.0 * px), (y0 - py)..(y1 + py))
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("bookings per young person (12 weeks)")
            .y_desc("diversification points per young person")
            .x_label_formatter(&|v| format!("{v:.2}"))
            .y_label_formatter(&|v| format!("{v:.2}"))
            .draw()
            .map_err(plot_error)?;
        if let Some(b) = base
            && let (Some(bk), Some(pt)) = (b.get("bookings"), b.get("points"))
        {
            let (tx, ty) = (0.95 * bk.mean, 1.25 * pt.mean);
            let style = ShapeStyle { color: GREEN.mix(0.8), filled: false, stroke_width: 1 };
            chart
                .draw_series(LineSeries::new(vec![(tx, ty), (x1 + 3.0 * px, ty)], style))
                .map_err(plot_error)?
                .label("target: ≥ +25 % points, ≥ −5 % bookings vs the baseline")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            chart.draw_series(LineSeries::new(vec![(tx, ty), (tx, y1 + py)], style)).map_err(plot_error)?;
        }
        let order = frontier(summaries);
        let line: Vec<(f64, f64)> = order
            .iter()
            .filter_map(|&i| {
                let s = &summaries[i];
                Some((s.get("bookings")?.mean, s.get("points")?.mean))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(line, RED.stroke_width(2)))
            .map_err(plot_error)?
            .label("Pareto frontier")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
        let bar = BLUE.mix(0.6);
        chart
            .draw_series(
                points.iter().map(|p| ErrorBar::new_vertical(p.1, p.3 - p.4, p.3, p.3 + p.4, bar.stroke_width(1), 6)),
            )
            .map_err(plot_error)?;
        chart
            .draw_series(
                points.iter().map(|p| ErrorBar::new_horizontal(p.3, p.1 - p.2, p.1, p.1 + p.2, bar.stroke_width(1), 6)),
            )
            .map_err(plot_error)?
            .label("policy, 95 % intervals over seeds")
            .legend(move |(x, y)| Circle::new((x + 9, y), 4, bar.filled()));
        chart
            .draw_series(points.iter().map(|p| {
                EmptyElement::at((p.1, p.3))
                    + Circle::new((0, 0), 4, BLUE.filled())
                    + Text::new(p.0.clone(), (7, -12), ("sans-serif", 12))
            }))
            .map_err(plot_error)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::league_run::Estimate;

    fn summary(policy: &str, bookings: f64, points: f64) -> PolicySummary {
        let e = |mean| Estimate { mean, half_width: 0.05 };
        PolicySummary {
            policy: policy.into(),
            behaviour: "b".into(),
            seeds: 5,
            metrics: vec![("bookings".into(), e(bookings)), ("points".into(), e(points))],
            points_gain: e(0.0),
            bookings_change: e(0.0),
            mission_ratio: None,
            meets_target: false,
            lists: 1.0,
            user_weeks_per_s: 1.0,
        }
    }

    #[test]
    fn the_frontier_keeps_the_non_dominated_policies_by_bookings() {
        let s = vec![summary("a", 4.0, 4.0), summary("b", 3.0, 5.0), summary("c", 2.0, 3.0), summary("d", 4.5, 3.0)];
        assert_eq!(frontier(&s), vec![1, 0, 3], "c is dominated by a and b");
    }

    #[test]
    fn the_plot_has_axes_ticks_labels_and_a_legend() {
        let s = vec![summary("lambda-0", 4.5, 4.6), summary("floor-95", 4.4, 5.9), summary("random", 2.3, 3.0)];
        let svg = pareto_svg("behaviour default", &s, "lambda-0").unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        for text in [
            "bookings per young person",
            "diversification points per young person",
            "floor-95",
            "random",
            "Pareto frontier",
            "target",
        ] {
            assert!(svg.contains(text), "no {text:?} in the plot");
        }
        // Tick labels with values on both axes.
        assert!(svg.contains(">4.00<") || svg.contains(">4.0<") || svg.contains("4.00"), "no tick value");
        assert!(pareto_svg("empty", &[], "x").is_err());
    }
}
